"""Jobs on worker processes: each after those it waits for, with its share of threads; errors stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from simgan.errors import InputError
from simgan.experiment.parallel import Job, cpu_threads, resolve_workers, run_jobs


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
