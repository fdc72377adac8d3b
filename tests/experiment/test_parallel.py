"""Jobs on worker processes: each after those it waits for, with its share of threads; errors stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simgan.errors import InputError
from simgan.experiment.parallel import Job, WorkerLost, cpu_threads, resolve_workers, run_jobs


def _record(log: str, name: str, fail: bool = False) -> None:
    """A job: append its name and its worker's thread count to ``log`` (or fail, naming the file)."""
    import torch

    if fail:
        raise InputError.at(log, f"job {name} failed")
    with open(log, "a") as f:
        f.write(f"{name} {torch.get_num_threads()}\n")


def test_jobs_run_after_what_they_wait_for(tmp_path: Path) -> None:
    log, said = tmp_path / "log", []
    plan = [
        Job("c", _record, (str(log), "c"), after=("a", "b")),
        Job("a", _record, (str(log), "a")),
        Job("b", _record, (str(log), "b"), after=("a",)),
        Job("d", _record, (str(log), "d")),
    ]
    run_jobs(plan, 2, log=said.append)
    lines = [line.split() for line in log.read_text().splitlines()]
    order = [name for name, _ in lines]
    assert sorted(order) == ["a", "b", "c", "d"]
    assert order.index("a") < order.index("b") < order.index("c")
    assert {int(t) for _, t in lines} == {max(1, cpu_threads() // 2)}  # each worker's share
    assert len(said) == 4 and said[-1].endswith("(4/4)")
    assert any(m.startswith("[jobs] done c (") for m in said)


def test_a_failing_job_stops_the_plan(tmp_path: Path) -> None:
    log = tmp_path / "log"
    plan = [Job("a", _record, (str(log), "a", True)), Job("b", _record, (str(log), "b"), after=("a",))]
    with pytest.raises(InputError, match="job a failed"):
        run_jobs(plan, 2, log=lambda _: None)
    assert not log.exists()  # b never started


def _die() -> None:
    """A job whose worker the OS kills (as the out-of-memory killer would)."""
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_is_one_clear_error() -> None:
    with pytest.raises(WorkerLost, match=r"worker process ended abruptly .* while running a; rerun the same"):
        run_jobs([Job("a", _die)], 1, log=lambda _: None)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ([Job("a", _record), Job("a", _record)], "two jobs share a name"),
        ([Job("a", _record, after=("z",))], r"unknown jobs: \['z'\]"),
        ([Job("a", _record, after=("b",)), Job("b", _record, after=("a",))], "wait for each other"),
    ],
)
def test_bad_plans_are_refused(plan: list[Job], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_jobs(plan, 2, log=lambda _: None)


def test_workers_from_the_flag() -> None:
    assert resolve_workers("auto") == min(8, cpu_threads())
    assert resolve_workers(3) == 3
    with pytest.raises(ValueError, match="--jobs must be >= 1"):
        resolve_workers(0)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["starting", "training"])
def test_ctrl_c_stops_every_worker_in_one_line_and_the_rerun_resumes(tmp_path: Path, when: str) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "task: digits\nscale: 2\nn_synthetic: 256\nrepeats: 2\nrealism: false\n"
        "refiner: {preset: digits, steps: 400, pretrain_d_steps: 2, batch_size: 16, log_every: 50}\n"
        "task_model: {batch_size: 64, width: 4, augment: [none], amp: false, epochs: 1}\nmin_task_steps: 1\n"
    )
    out = tmp_path / "gap"
    cmd = [sys.executable, "-m", "simgan", "experiment", "gap", "--config", str(config), "--out", str(out)]
    cmd += ["--methods", "refined", "--jobs", "2", "-q"]
    # A terminal's Ctrl-C: SIGINT to the whole process group, with its default handler in the parent (a
    # background job of a non-interactive shell would start it ignored).
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # starting: while the workers import torch; training: once both repeats' refiners run
    sign = out / ("data/real_test/dataset.json" if when == "starting" else "refiner_r1/stats.jsonl")
    deadline = time.monotonic() + 120
    while not sign.is_file() and proc.poll() is None:
        assert time.monotonic() < deadline, f"never got to {sign}"
        time.sleep(0.05)
    time.sleep(0.3 if when == "starting" else 0.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["simgan experiment: interrupted; rerun the same command to resume"]
    if when == "starting":
        return
    # the rerun resumes; with --json the workers print nothing to stdout either, so it parses
    rerun = [a for a in cmd if a != "-q"] + ["--json"]
    done = subprocess.run(rerun, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["results"]) == {"synthetic", "refined", "real"}
    result = json.loads((out / "gap.json").read_text())
    assert [len(result["per_repeat"][row]) for row in ("synthetic", "refined", "real")] == [2, 2, 2]
