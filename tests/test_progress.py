"""``simgan.progress``: bars on a terminal only, and none (nor notices) under ``--quiet``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simgan import progress


def test_off_hides_bars_asked_away_or_quieted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(progress.ENV, raising=False)
    assert progress.off(False) is True and progress.off(True) is None  # None: tqdm asks the terminal
    progress.set_quiet()
    assert progress.quiet() and progress.off(True) is True
    progress.set_quiet(False)
    assert not progress.quiet() and os.environ.get(progress.ENV) is None


def test_no_bar_lines_in_a_log_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != progress.ENV}
    cmd = [sys.executable, "-m", "simgan", "simulate", "digits", "--n", "40", "--out", str(tmp_path / "d")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert done.stderr == "" and "wrote 40" in done.stdout  # stderr is a pipe here, not a terminal


def test_quiet_drops_notices_and_keeps_the_result(
    run_cli, tmp_path: Path, write_toy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(progress.ENV, raising=False)  # restored after the test: --quiet sets it
    syn = write_toy(tmp_path / "syn", "classify", 24, 0)
    args = ["train-refiner", "--synthetic", syn, "--real", syn, "--batch-size", "8", "--history-size", "8"]
    args += ["--pretrain-r-steps", "1", "--pretrain-d-steps", "1", "--steps", "1", "--device", "cpu"]
    args += ["--monitor-every", "0"]
    code, out, err = run_cli(*args, "--out", tmp_path / "loud")
    assert code == 0 and "monitor off" in err
    code, out, err = run_cli(*args, "--out", tmp_path / "quiet", "--quiet")
    assert code == 0 and err == "" and "trained refiner" in out
    assert not progress.quiet()  # the command's quiet mode ends with it (in-process callers stay loud)
