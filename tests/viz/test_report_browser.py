"""The report in a real browser: headless Chromium opens the page from file:// with networking off, and we
check that no console error is logged and that every image decoded.

How it sees problems: the page's inline script sets ``data-images`` / ``data-broken-images`` on <body> after
the load event (an image that failed to load has naturalWidth 0); ``--dump-dom`` prints the DOM after load.
Console messages (uncaught errors, CSP violations) appear on stderr as ``...:CONSOLE...`` lines with
``--enable-logging=stderr --v=0``; the page itself logs nothing, so any such line is a failure. The
negative tests prove both checks fire.

``SIMGAN_UPDATE_DOCS=1`` also saves the 1400x2000 screenshot as docs/report_screenshot.png (of the run in
``SIMGAN_REPORT_RUN`` when set, else of this file's example run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from simgan.data.embedded import load_sklearn_digits
from simgan.viz.grids import save_refiner_grid
from simgan.viz.report import build_report

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",  # let the load event and our marker script run before the dump
]


def _install_chromium() -> str | None:
    """Install the Debian ``chromium`` package; return the reason when that is impossible."""
    if shutil.which("apt-get") is None:
        return "chromium is missing and apt-get is not available to install it"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "chromium is missing and installing it with apt-get needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, capture_output=True, env=env, timeout=900).returncode == 0:
        return None
    # The package lists may be missing or stale: refresh them once and retry.
    subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
    done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"chromium could not be installed with apt-get ({tail[0][:200]})"
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        reason = _install_chromium()
        if reason is not None:
            pytest.skip(reason)
        found = shutil.which("chromium") or "/usr/bin/chromium"
    return found


def _run(chromium: str, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def open_page(chromium: str, page: Path, profile: Path) -> tuple[dict[str, int], list[str]]:
    """Load ``page``; return the image counts the page's script recorded, and console lines."""
    done = _run(chromium, page, profile, "--enable-logging=stderr", "--v=0", "--dump-dom")
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body is not None, f"no DOM dumped (exit {done.returncode}): {done.stderr[-2000:]}"
    marks = {k: int(v) for k, v in re.findall(r'data-(images|broken-images)="(\d+)"', body.group(1))}
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return marks, console


def make_example_run(run: Path) -> Path:
    """A small run folder with every section: real digits in the grids, plausible curves and tables."""
    run.mkdir(parents=True)
    config = {"steps": 400, "batch_size": 64, "lambda_reg": 0.5, "history_size": 640, "k_g": 2, "k_d": 1}
    (run / "config.json").write_text(json.dumps({**config, "note": "<script>x</script>", "_non_default": {}}))
    rng = np.random.default_rng(0)
    with open(run / "stats.jsonl", "w") as f:
        for s in range(0, 600, 10):
            adv = s >= 200
            rec = {
                "step": s,
                "phase": "adversarial" if adv else "pretrain_R",
                "loss/R/reg": 0.3 * np.exp(-s / 150),
            }
            if adv:
                t = (s - 200) / 400
                rec |= {"loss/R/adv": 1.2 - 0.4 * t + 0.05 * rng.normal(), "loss/D/real": 0.5 + 0.1 * t}
                rec |= {
                    "loss/D/refined": 0.45 + 0.15 * t,
                    "acc/D/real": 0.85 - 0.25 * t,
                    "acc/D/refined": 0.9 - 0.3 * t,
                }
                rec |= {"lr/R": 1e-3, "lr/D": 1e-3}
            f.write(json.dumps(rec) + "\n")
    images, _ = load_sklearn_digits()
    x = torch.from_numpy(images[:8].transpose(0, 3, 1, 2)).float() / 127.5 - 1  # (8, 1, 8, 8)
    real = torch.from_numpy(images[100:108].transpose(0, 3, 1, 2)).float() / 127.5 - 1
    for s in (200, 300, 400, 500, 590):
        refined = (x + 0.08 * (s - 200) / 400 * torch.randn_like(x)).clamp(-1, 1)
        save_refiner_grid(run / "grids" / f"step_{s:07d}.png", x, refined, real)
    curve = {
        c: {str(d): float(1 - np.exp(-d / k)) for d in range(21)}
        for c, k in [("synthetic", 9), ("refined", 6)]
    }
    results = {
        "synthetic": {
            "angular_error_deg": 11.8,
            "angular_error_deg_std": 0.3,
            "within_deg": curve["synthetic"],
        },
        "refined": {"angular_error_deg": 8.9, "angular_error_deg_std": 0.2, "within_deg": curve["refined"]},
    }
    (run / "gap.json").write_text(json.dumps({"task": "gaze", "results": results}))
    (run / "realism.json").write_text(
        json.dumps({"c2st_accuracy": 0.62, "c2st_ci": [0.58, 0.66], "fid": 2.1})
    )
    (run / "labels.json").write_text(json.dumps({"task": "gaze", "pupil_shift_px_mean": 1.1}))
    return run


def test_report_loads_without_console_errors_or_broken_images(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "site" / "report.html"
    build_report(make_example_run(tmp_path / "run"), page, title="example run (illustrative numbers)")
    marks, console = open_page(chromium, page, tmp_path / "profile")
    assert marks == {"images": 8, "broken-images": 0}, marks  # headline, curves, 5 grids, gap curves
    assert console == [], console

    real_run = os.environ.get("SIMGAN_REPORT_RUN")
    if real_run:  # also check a real run folder, and screenshot that one for the README
        page = tmp_path / "real" / "report.html"
        build_report(real_run, page)
        marks, console = open_page(chromium, page, tmp_path / "profile-real")
        assert marks["images"] > 0 and marks["broken-images"] == 0 and console == [], (marks, console)

    shot = tmp_path / "shot.png"
    _run(chromium, page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,2000")
    with Image.open(shot) as im:
        assert im.size == (1400, 2000)
        assert np.asarray(im.convert("L")).std() > 5  # not a blank page
    if os.environ.get("SIMGAN_UPDATE_DOCS") == "1":
        shutil.copyfile(shot, REPO / "docs" / "report_screenshot.png")


def test_a_broken_image_path_fails_the_check(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    build_report(make_example_run(tmp_path / "run"), page)
    (tmp_path / "report_files" / "curves.png").unlink()
    marks, _ = open_page(chromium, page, tmp_path / "profile")
    assert marks == {"images": 8, "broken-images": 1}


def test_a_script_error_shows_up_as_a_console_line(chromium: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    build_report(make_example_run(tmp_path / "run"), page)
    html = page.read_text()
    page.write_text(html.replace("</body>", "<script>notDefinedAnywhere();</script></body>"))
    _, console = open_page(chromium, page, tmp_path / "profile")
    assert any("notDefinedAnywhere" in line for line in console), console
