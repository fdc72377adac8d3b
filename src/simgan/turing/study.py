"""A visual Turing test (the SimGAN paper, section 3.1 and Table 1): people shown real and refined images
one at a time, asked which each is.

:meth:`Study.open` draws ``n`` images from the real set (``--a``) and ``n`` from the refined set (``--b``)
with a seeded generator and shuffles the ``2n`` trials together, as the paper shows each subject 50 real
and 50 refined images in random order; or, where the folder already holds a study, reads it back and
resumes at the first unanswered trial. Each trial is named by a random token (``secrets``), so nothing the
page sees (a URL, a file name) says which set an image came from; images are re-encoded for display
(:mod:`simgan.turing.display`). Answers are recorded one at a time (:meth:`Study.record`), each on disk
before the page shows the next image. Files: :mod:`simgan.turing.records`.
"""

from __future__ import annotations

import datetime
import secrets
import threading
from pathlib import Path
from typing import Any

import numpy as np

from simgan.atomic import write_json
from simgan.data.source import Source, open_source
from simgan.errors import InputError, first_difference
from simgan.turing.display import display_png
from simgan.turing.records import (
    ANSWERS,
    TRIALS,
    TRUTHS,
    Answer,
    Trial,
    append_answer,
    clean_ms,
    drop_torn_line,
    read_answers,
    read_trials,
    write_trials,
)
from simgan.turing.score import score

__all__ = ["FLAGS", "StaleAnswer", "Study", "draw_trials"]

FLAGS = {"real": "--a", "refined": "--b"}  # the flag each set comes from, for error messages


class StaleAnswer(Exception):
    """An answer to a trial other than the current one (a second tab, a double key press)."""


def _size(src: Source) -> tuple[int, int, int, str]:
    i = src.info
    return i.height, i.width, i.channels, i.dtype


def _check_sets(sources: dict[str, Source], n: int) -> None:
    """Refuse two sets that differ in image size, channels or bit depth, one set given twice, or too few
    images for ``n`` per set."""
    real, refined = sources["real"], sources["refined"]
    if real.info.path.resolve() == refined.info.path.resolve():
        raise InputError(
            f"--a and --b are the same folder ({real.info.path}): give the real and the refined set"
        )
    if _size(real) != _size(refined):
        (h, w, c, d), (h2, w2, c2, d2) = _size(real), _size(refined)
        raise InputError(
            f"--a {real.info.path} holds {h}x{w}x{c} {d} images but --b {refined.info.path} holds "
            f"{h2}x{w2}x{c2} {d2} (both sets must have the same size, channels and bit depth)"
        )
    if n < 1:
        raise InputError(f"--n {n}: must be at least 1 (images shown from each set)")
    truth, src = min(sources.items(), key=lambda kv: len(kv[1]))  # name the smaller set
    if len(src) < n:
        raise InputError(
            f"{FLAGS[truth]} {src.info.path}: holds {len(src)} images, fewer than --n {n} "
            f"(choose --n {len(src)} or less)"
        )


def draw_trials(sources: dict[str, Source], n: int, rng: np.random.Generator) -> list[Trial]:
    """``n`` distinct images of each set, shuffled together, each under a fresh random token.

    The seeded ``rng`` decides which images and their order; the tokens come from :mod:`secrets`, so that
    a token says nothing, not even to someone who knows the seed.
    """
    drawn = [(truth, int(i)) for truth in TRUTHS for i in rng.choice(len(sources[truth]), n, replace=False)]
    order = rng.permutation(len(drawn))
    trials = []
    for k in order:
        truth, index = drawn[k]
        trials.append(Trial(secrets.token_urlsafe(16), truth, index, sources[truth].sample_id(index)))
    return trials


class Study:
    """A study in progress: its folder, the two opened sets, the trials and the answers so far.

    Build one with :meth:`open`; :meth:`save` before serving it. Methods are safe to call from the
    threads of a server (one lock around the answers).
    """

    def __init__(
        self,
        folder: Path,
        sources: dict[str, Source],
        meta: dict[str, Any],
        trials: list[Trial],
        answers: list[Answer],
        saved: bool,
    ) -> None:
        self.folder = folder
        self.sources = sources
        self.meta = meta
        self.trials = trials
        self.answers = answers
        self.saved = saved
        self._by_token = {t.token: t for t in trials}
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, a: str | Path | Source, b: str | Path | Source, out: str | Path, *, n: int = 50, seed: int = 0
    ) -> Study:
        """The study in ``out``: resumed where ``out/trials.json`` exists, else freshly drawn (nothing is
        written until :meth:`save`).

        Args:
            a: the real images (any dataset layout simgan reads).
            b: the refined images (same size, channels and bit depth as ``a``).
            out: the study folder.
            n: images shown from each set (2n trials).
            seed: which images, in which order.

        Raises:
            InputError: a set is missing, empty or unreadable; the sets differ in size; ``n`` is below 1
                or above a set's size; ``out`` holds a study of other settings, or one whose images
                have changed since.
        """
        folder = Path(out)
        sources = {"real": open_source(a, "--a"), "refined": open_source(b, "--b")}
        _check_sets(sources, n)
        h, w, c, dtype = _size(sources["real"])
        meta = {
            "settings": {
                "real": str(sources["real"].info.path.resolve()),
                "refined": str(sources["refined"].info.path.resolve()),
                "n": n,
                "seed": seed,
            },
            "image": {"height": h, "width": w, "channels": c, "dtype": dtype},
        }
        if not (folder / TRIALS).exists():
            trials = draw_trials(sources, n, np.random.default_rng(seed))
            return cls(folder, sources, meta, trials, [], saved=False)
        old, trials = read_trials(folder)
        diff = first_difference(old.get("settings"), meta["settings"], "settings")
        if diff is not None:
            key, there, now = diff
            raise InputError.at(
                folder,
                f"holds a study of other settings ({key}: {there} there, {now} now): rerun with the same "
                "--a, --b, --n and --seed to resume it, or choose another --out",
            )
        for t in trials:
            src = sources[t.truth]
            if t.index >= len(src) or src.sample_id(t.index) != t.id:
                raise InputError(
                    f"{FLAGS[t.truth]} {src.info.path}: image {t.id!r} of the study in {folder} is gone or "
                    "has moved (the set changed since the study began): choose another --out"
                )
        return cls(
            folder,
            sources,
            {**meta, "created": old.get("created")},
            trials,
            read_answers(folder, trials),
            True,
        )

    def save(self) -> None:
        """Write ``trials.json`` (once) and cut a torn last answer line; the study can then be served."""
        if not self.saved:
            self.meta["created"] = _now()
            write_trials(self.folder, self.meta, self.trials)
            self.saved = True
        drop_torn_line(self.folder)

    @property
    def answered(self) -> int:
        return len(self.answers)

    @property
    def complete(self) -> bool:
        return len(self.answers) >= len(self.trials)

    def current(self) -> Trial | None:
        """The trial to show now: the first one not answered (None when all are)."""
        done = {a.token for a in self.answers}
        return next((t for t in self.trials if t.token not in done), None)

    def state(self) -> dict[str, Any]:
        """What the page shows: progress, the current token, and the score once the study is complete.
        It holds no truth of an unanswered trial."""
        with self._lock:
            trial = self.current()
            image = self.meta["image"]
            return {
                "total": len(self.trials),
                "answered": len(self.answers),
                "token": None if trial is None else trial.token,
                "height": image["height"],
                "width": image["width"],
                "results": score(self.trials, self.answers) if trial is None else None,
            }

    def image_png(self, token: str) -> bytes:
        """The display PNG of the trial named ``token``. Raises KeyError for a token not in the study."""
        trial = self._by_token[token]
        return display_png(self.sources[trial.truth].read(trial.index).image)

    def record(self, token: str, answer: str, ms: Any = None) -> Answer:
        """Record ``answer`` (``real`` or ``refined``) to the current trial, on disk before returning.

        Raises:
            ValueError: ``answer`` is neither real nor refined.
            StaleAnswer: ``token`` is not the current trial (already answered, or not reached yet).
        """
        if answer not in TRUTHS:
            raise ValueError(f"answer must be one of {', '.join(TRUTHS)}, got {answer!r}")
        with self._lock:
            trial = self.current()
            if trial is None or trial.token != token:
                raise StaleAnswer("not the current trial")
            given = Answer(self.trials.index(trial), token, answer, clean_ms(ms), _now())
            append_answer(self.folder, given)
            self.answers.append(given)
            if self.complete:
                write_json(self.folder / "metrics.json", score(self.trials, self.answers))
            return given

    def describe(self) -> str:
        """One line: trials, answered, and where the answers go."""
        half = len(self.trials) // 2
        return (
            f"{len(self.trials)} trials ({half} real from --a, {half} refined from --b), "
            f"{self.answered} answered; answers go to {self.folder / ANSWERS}"
        )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
