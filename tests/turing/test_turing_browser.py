"""The study page in a real headless Chromium, driven by real mouse clicks and key presses (Playwright
over the DevTools protocol, launched on the system's Chromium: nothing is downloaded).

A participant answers 4 images (a click, then keys F, 2 and the right arrow), closes the browser; the
server is restarted from the study folder; a new browser resumes at image 5 and the participant answers the
rest (left arrow, R, 1, a click). We check, after every answer, the progress shown and the line on disk;
at the end, the results view against the answers given and against ``simgan turing --score``; throughout,
that no request names a set, a file or an answer's truth, and that the page logs no error.

Skipped, with the reason, where Playwright or a Chromium is missing (``SIMGAN_CHROMIUM`` names one).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from simgan.turing import Study, TuringServer, score_folder
from simgan.turing.records import ANSWERS

# (how, what, the answer it gives), in the order given; the browser closes after the first four.
INPUTS = [
    ("click", "#real", "real"),
    ("key", "f", "refined"),
    ("key", "2", "refined"),
    ("key", "ArrowRight", "refined"),
    ("key", "ArrowLeft", "real"),
    ("key", "R", "real"),
    ("key", "1", "real"),
    ("click", "#refined", "refined"),
]


def _chromium() -> str | None:
    for name in (os.environ.get("SIMGAN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name) if name else None
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def playwright() -> Iterator[tuple[Any, str]]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found (install Debian's chromium, or set SIMGAN_CHROMIUM to a Chromium binary)"
        )
    with sync_playwright() as p:
        yield p, executable


class Participant:
    """One browser with one page on the study, recording the requests it makes and the errors it logs."""

    def __init__(self, playwright: tuple[Any, str], url: str) -> None:
        p, executable = playwright
        try:
            self.browser = p.chromium.launch(executable_path=executable, headless=True)
        except Exception as e:  # a Chromium that cannot start here (too old, no sandbox support...)
            pytest.skip(f"Chromium at {executable} did not start under Playwright: {str(e).splitlines()[0]}")
        self.page = self.browser.new_page()
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.urls.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(url)

    def shown(self) -> str:
        """The token of the image on screen, once it is shown and the buttons take answers."""
        self.page.wait_for_selector("#real:not([disabled])", timeout=10_000)
        width = self.page.eval_on_selector("#image", "img => img.complete ? img.naturalWidth : 0")
        assert width == 8, "the image did not decode"
        return urlsplit(self.page.get_attribute("#image", "src") or "").path.rsplit("/", 1)[-1]

    def answer(self, how: str, what: str) -> None:
        if how == "click":
            self.page.click(what)
        else:
            self.page.keyboard.press(what)

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector).strip()

    def close(self) -> None:
        self.browser.close()


def _serve(pair: tuple[Path, Path], run: Path) -> tuple[TuringServer, Study]:
    study = Study.open(*pair, run, n=4, seed=7)
    study.save()
    return TuringServer(study, port=0).start(), study


def test_a_participant_answers_with_clicks_and_keys_and_resumes(
    playwright: tuple[Any, str], pair: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    server, study = _serve(pair, run)
    truth = {t.token: t.truth for t in study.trials}
    requests: list[str] = []
    errors: list[str] = []
    shown: list[str] = []
    who = Participant(playwright, server.url)
    try:
        for k, (how, what, _) in enumerate(INPUTS):
            if k == 4:  # the participant closes the browser; the server stops and starts again
                requests += who.urls
                errors += who.errors
                who.close()
                server.close()
                server, study = _serve(pair, run)
                who = Participant(playwright, server.url)
            assert (who.text("#count"), who.text("#total")) == (str(k), "8")
            assert who.page.get_attribute("#progress", "max") == "8"
            assert who.page.eval_on_selector("#progress", "p => p.value") == k
            shown.append(who.shown())
            assert shown[-1] == study.trials[k].token  # the first unanswered trial, also after the restart
            who.answer(how, what)
            if k + 1 < len(INPUTS):
                who.page.wait_for_selector(f"#count:text-is('{k + 1}')", timeout=10_000)
            else:
                who.page.wait_for_selector("#results:not([hidden])", timeout=10_000)
            lines = (run / ANSWERS).read_text().splitlines()  # written as given
            assert len(lines) == k + 1 and json.loads(lines[-1])["answer"] == INPUTS[k][2]
        results = {
            key: who.text(f"#{key}") for key in ("accuracy", "correct", "answered", "interval", "pvalue")
        }
        cells = {
            (t, a): int(who.text(f"#c-{t}-{a}")) for t in ("real", "refined") for a in ("real", "refined")
        }
        assert who.page.is_hidden("#study")
        requests += who.urls
        errors += who.errors
    finally:
        who.close()
        server.close()

    given = [(truth[token], answer) for token, (_, _, answer) in zip(shown, INPUTS, strict=True)]
    expected = {(t, a): given.count((t, a)) for t in ("real", "refined") for a in ("real", "refined")}
    assert cells == expected
    correct = expected["real", "real"] + expected["refined", "refined"]
    score = score_folder(run)
    assert score["correct"] == correct and score["answered"] == 8
    assert results["accuracy"] == f"{correct / 8:.3f}" and results["correct"] == str(correct)
    assert results["interval"] == f"{score['ci95'][0]:.3f} to {score['ci95'][1]:.3f}"
    assert float(results["pvalue"]) == pytest.approx(score["p_value"], rel=1e-2)

    # nothing the browser asked for names a set, a file or a truth
    paths = {urlsplit(u).path for u in requests if not u.startswith("data:")}
    assert paths >= {"/", "/state", "/answer"}
    assert all(p in ("/", "/state", "/answer") or p.removeprefix("/image/") in truth for p in paths), paths
    ids = {t.id for t in study.trials}
    assert not [u for u in requests if any(word in u for word in ("real", "refined", *ids))]
    assert errors == []
