"""``simgan turing``: help, --score, bad input (one line, exit 2), and the server from a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from turing_fixtures import http, write_folder

from simgan.turing import Study

RunCli = Callable[..., tuple[int, str, str]]


def test_help_names_the_flags_keys_and_score(run_cli: RunCli) -> None:
    code, out, _ = run_cli("turing", "--help")
    assert code == 0
    for text in ("--a REAL", "--b REFINED", "--out RUN", "--n N", "--port P", "--score RUN", "(default: 50"):
        assert text in out
    assert "R/1/left for" in out and "F/2/right for refined" in out and "Clopper-Pearson" in out
    code, out, _ = run_cli("--help")
    assert "turing" in out and "visual Turing test" in out


@pytest.fixture
def answered(pair: tuple[Path, Path], tmp_path: Path) -> Path:
    """A study of 2 + 2 images, 3 answered: 'real' to every one."""
    study = Study.open(*pair, tmp_path / "run", n=2, seed=0)
    study.save()
    for t in study.trials[:3]:
        study.record(t.token, "real")
    return study.folder


def test_score_prints_the_table_and_json(run_cli: RunCli, answered: Path) -> None:
    code, out, err = run_cli("turing", "--score", answered)
    assert code == 0, err
    assert out.startswith("visual Turing test: 3 of 4 trials answered (not finished)")
    assert "Clopper-Pearson" in out and "two-sided" in out
    code, out, _ = run_cli("turing", "--score", answered, "--json")
    result = json.loads(out)
    real = sum(v for v in result["confusion"]["real"].values())
    assert code == 0 and result["answered"] == 3 and result["confusion"]["real"]["real"] == real
    assert result["correct"] == real and result["ci_method"] == "clopper-pearson"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_bad_input_is_one_line_and_exit_2(
    run_cli: RunCli, pair: tuple[Path, Path], tmp_path: Path, busy_port: int
) -> None:
    (tmp_path / "empty").mkdir()
    big = write_folder(tmp_path / "big", [1, 2, 3], size=(9, 8))
    real, refined = (str(p) for p in pair)
    no_answers = Study.open(*pair, tmp_path / "fresh", n=1)
    no_answers.save()
    out = str(tmp_path / "out")
    serve = ["turing", "--a", real, "--b", refined, "--out", out, "--n", "2"]
    rows = [
        (["turing", "--a", str(tmp_path / "missing"), "--b", refined, "--out", out], "missing: no such file"),
        (
            ["turing", "--a", real, "--b", str(tmp_path / "empty"), "--out", out],
            "empty folder: no images found",
        ),
        (["turing", "--a", real, "--b", str(big), "--out", out], "holds 9x8x1 uint8 (both sets must have"),
        ([*serve, "--n", "9"], "holds 7 images, fewer than --n 9 (choose --n 7 or less)"),
        ([*serve, "--n", "0"], "--n 0: must be at least 1"),
        ([*serve, "--port", str(busy_port)], f"--port {busy_port}: already in use"),
        ([*serve, "--port", "-1"], "--port -1: must lie in 0..65535"),
        (["turing", "--score", str(no_answers.folder)], "answers.jsonl: no answers yet (0 of 2 trials)"),
        (["turing", "--score", str(tmp_path / "empty")], "trials.json: not found: not a study folder"),
        (
            ["turing", "--score", str(no_answers.folder), "--a", real],
            "--score RUN stands alone: leave out --a",
        ),
        (["turing", "--a", real, "--b", refined], "missing --out"),
        ([*serve, "--json"], "--json goes with --score"),
        (["turing", *serve[1:], "--n", "two"], "invalid int value"),
    ]
    for argv, expected in rows:
        code, stdout, err = run_cli(*argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and expected in lines[0], (argv, err)
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # no refused command left a folder behind


def test_the_command_serves_until_ctrl_c_and_resumes(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """The real command in its own process: it prints the address, answers over HTTP, stops on SIGINT
    (exit 0), and a second start resumes at the next trial."""
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "simgan", "turing", "--a", str(pair[0]), "--b", str(pair[1])]
    argv += ["--out", str(run), "--n", "2", "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for answered in (0, 1):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert f"4 trials (2 real from --a, 2 refined from --b), {answered} answered" in first, first
            url = proc.stdout.readline().split()[1]
            assert url.startswith("http://127.0.0.1:") and url.endswith("/")
            state = json.loads(http(url + "state")[2])
            assert state["answered"] == answered
            assert http(url + "answer", {"token": state["token"], "answer": "refined"})[0] == 200
        finally:
            proc.send_signal(signal.SIGINT)
            try:  # generous: once, with the full suite and two trainings sharing 2 cores, it took over 30 s
                out, err = proc.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                pytest.fail(f"simgan turing did not stop within 180 s of SIGINT; stderr: {err[-500:]}")
        assert proc.returncode == 0, err
        assert f"stopped: {answered + 1} of 4 answered (rerun the same command to resume)" in out
    assert len((run / "answers.jsonl").read_text().splitlines()) == 2
