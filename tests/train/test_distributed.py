"""torchrun jobs of two CPU processes (gloo): the refiner and the task trainer under DDP.

Each test starts real processes with ``python -m torch.distributed.run --standalone``, on tiny data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan import distributed
from simgan.checkpoint import load_checkpoint
from simgan.data import DatasetWriter, write_png
from simgan.train.batches import SeededBatches

WORKER = Path(__file__).with_name("dist_worker.py")
FAST = ["--history-size", "8", "--pretrain-r-steps", "1", "--pretrain-d-steps", "1", "--device", "cpu"]
FAST += ["--log-every", "1", "--ckpt-every", "2", "--grid-every", "2", "--monitor-every", "2"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _torchrun(*args: str | Path, nproc: int = 2, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return subprocess.run(
        [*cmd, *map(str, args)], env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _simgan(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "simgan", *map(str, args)]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240, check=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(0)
    syn = root / "syn"
    with DatasetWriter(syn, height=8, width=8, channels=1, task="classify", classes=["a", "b"]) as w:
        for i in range(40):
            image = 60 + 120 * (i % 2) + rng.integers(0, 40, (8, 8, 1))  # two classes: dark and light
            w.add(f"s{i:03d}", image.astype(np.uint8), i % 2)
    real = root / "real"
    real.mkdir()
    for i in range(30):
        write_png(real / f"{i:03d}.png", rng.integers(0, 256, (8, 8, 1), dtype=np.uint8))
    return syn, real


# --- the pieces, in one process -------------------------------------------------------------------------


def test_ranks_split_each_global_batch_without_overlap() -> None:
    whole = SeededBatches(50, 8, seed=3)
    parts = [SeededBatches(50, 4, seed=3, ranks=distributed.Ranks(r, 2)) for r in range(2)]
    for k in range(20):  # across several epochs of the permutation
        a, b = parts[0].batch(k), parts[1].batch(k)
        assert len(a) == len(b) == 4 and not set(a) & set(b)
        assert np.array_equal(np.concatenate([a, b]), whole.batch(k))


def test_uneven_parts_differ_by_at_most_one() -> None:
    sizes = [len(distributed.Ranks(r, 3).part(np.arange(10))) for r in range(3)]
    assert sorted(sizes) == [3, 3, 4] and sum(sizes) == 10


@pytest.mark.parametrize(
    ("env", "problem"),
    [({"WORLD_SIZE": "two"}, "WORLD_SIZE='two'"), ({"WORLD_SIZE": "2", "RANK": "2"}, "describe no job")],
)
def test_a_broken_environment_is_one_clear_error(
    env: dict[str, str], problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(distributed.InputError, match=problem):
        distributed.ranks_from_env()


def test_one_process_commands_are_refused_under_torchrun(tmp_path: Path) -> None:
    env = {**_env(), "WORLD_SIZE": "2", "RANK": "0"}
    cmd = [sys.executable, "-m", "simgan", "simulate", "digits", "--n", "4", "--out", str(tmp_path / "d")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "start it without torchrun" in done.stderr and not (tmp_path / "d").exists()


# --- two processes ----------------------------------------------------------------------------------------


def test_gradient_isolation_holds_under_ddp(tmp_path: Path) -> None:
    done = _torchrun(WORKER, "isolation", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]  # the worker asserts the isolation on each rank
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt")["weights"] for r in range(2))
    for (R0, D0), (R1, D1) in zip(r0, r1, strict=True):  # the ranks saw other images, kept one model
        assert torch.equal(R0, R1) and torch.equal(D0, D1)


def test_every_step_leaves_both_ranks_with_the_same_weights(data: tuple[Path, Path], tmp_path: Path) -> None:
    syn, real = data
    done = _torchrun(WORKER, syn, real, tmp_path, 4, 3, "history")
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    assert len(r0["weights"]) == 2 + 2 + 3  # N_R + N_D + T global steps
    for (R0, D0), (R1, D1) in zip(r0["weights"], r1["weights"], strict=True):
        assert torch.equal(R0, R1) and torch.equal(D0, D1)
    assert r0["losses"] == r1["losses"]  # the logged values are the ranks' mean, the same on both
    assert not torch.equal(r0["weights"][0][0], r0["weights"][-1][0])  # and training moved R


def test_two_ranks_of_half_the_batch_match_one_process(data: tuple[Path, Path], tmp_path: Path) -> None:
    """Without the history buffer the two ranks see exactly the global batch one process sees, so the
    averaged gradients are the same up to float rounding (docs: tolerance 1e-4)."""
    syn, real = data
    job = _torchrun(WORKER, syn, real, tmp_path / "job", 4, 3)
    one = subprocess.run(
        [sys.executable, str(WORKER), syn, real, tmp_path / "one", "8", "3"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert job.returncode == 0 and one.returncode == 0, job.stderr[-2000:] + one.stderr[-2000:]
    a, b = torch.load(tmp_path / "job" / "rank0.pt"), torch.load(tmp_path / "one" / "rank0.pt")
    for (Ra, Da), (Rb, Db) in zip(a["weights"], b["weights"], strict=True):
        assert torch.allclose(Ra, Rb, atol=1e-4) and torch.allclose(Da, Db, atol=1e-4)
    for la, lb in zip(a["losses"], b["losses"], strict=True):
        assert la.keys() == lb.keys() and all(abs(la[k] - lb[k]) < 1e-4 for k in la)


def test_a_two_rank_train_refiner_writes_one_run_and_resumes(data: tuple[Path, Path], tmp_path: Path) -> None:
    syn, real = data
    run = tmp_path / "run"
    args = ["-m", "simgan", "train-refiner", "--synthetic", syn, "--real", real, "--out", run, *FAST]
    first = _torchrun(*args, "--batch-size", "4", "--steps", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("trained refiner") == 1  # rank 0 reports for the job
    ckpt = load_checkpoint(run / "checkpoint.pt", "refiner")
    assert ckpt["world_size"] == 2 and len(ckpt["ranks"]) == 2 and ckpt["step"] == 4
    assert ckpt["ranks"][0]["history"]["images"].shape[0] == 8  # each rank's own full buffer
    assert not torch.equal(ckpt["ranks"][0]["history"]["images"], ckpt["ranks"][1]["history"]["images"])
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # one writer: no line twice
    assert {p.name for p in run.iterdir()} >= {"config.json", "checkpoint.pt", "grids", "tb"}

    again = _torchrun(*args, "--batch-size", "4", "--steps", "4", "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert load_checkpoint(run / "checkpoint.pt", "refiner")["step"] == 6
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]

    alone = _simgan(*args[2:], "--batch-size", "4", "--steps", "5", "--resume")
    assert alone.returncode == 2 and alone.stderr.count("\n") == 1, alone.stderr
    assert "trained by 2 process(es)" in alone.stderr
    assert load_checkpoint(run / "checkpoint.pt", "refiner")["step"] == 6  # nothing changed


def _task_args(syn: Path, out: Path, *extra: str | Path) -> list[str | Path]:
    args = ["-m", "simgan", "train-task", "classify", "--train", syn, "--test", syn, "--out", out]
    # fp32 and no augmentation: the equivalence tests compare DDP's arithmetic with one process's, and bf16
    # rounding or per-rank augmentation draws would differ by more than their tolerance.
    fixed = ["--no-amp", "--augment", "none"]
    return [
        *args,
        "--epochs",
        "3",
        "--min-steps",
        "0",
        "--val-fraction",
        "0",
        "--device",
        "cpu",
        *fixed,
        *extra,
    ]


def test_two_rank_train_task_of_half_the_batch_matches_one_process(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    syn, _ = data
    job = _torchrun(*_task_args(syn, tmp_path / "job", "--batch-size", "4", "--json"))
    one = _simgan(*_task_args(syn, tmp_path / "one", "--batch-size", "8", "--json")[2:])
    assert job.returncode == 0 and one.returncode == 0, job.stderr[-2000:] + one.stderr[-2000:]
    a, b = json.loads(job.stdout), json.loads(one.stdout)  # one JSON document: rank 0 alone prints
    assert a["steps"] == b["steps"] == 3 * 5  # 40 images, a global batch of 8
    assert a["accuracy"] == b["accuracy"]
    wa = load_checkpoint(tmp_path / "job" / "best.pt", "task")["model"]
    wb = load_checkpoint(tmp_path / "one" / "best.pt", "task")["model"]
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)
    lines = (tmp_path / "job" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]  # one writer


@pytest.mark.parametrize("method", ["dann", "self-train"])
def test_two_rank_adaptation_runs(method: str, data: tuple[Path, Path], tmp_path: Path) -> None:
    syn, real = data
    extra = ["--batch-size", "4", "--adapt", method, "--target", real, "--json"]
    job = _torchrun(*_task_args(syn, tmp_path / "run", *extra))
    assert job.returncode == 0, job.stderr[-3000:]
    metrics = json.loads(job.stdout)
    assert metrics["adapt"] == method and 0.0 <= metrics["accuracy"] <= 1.0
    assert (tmp_path / "run" / "best.pt").is_file()


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of the worker of ``rank`` that the torchrun process ``launcher`` started (None: not yet)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == launcher and f"RANK={rank}".encode() in environ:
            return int(stat.parent.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find a rank's process")
def test_a_dead_rank_stops_the_job_and_the_checkpoint_stays_whole(
    data: tuple[Path, Path], tmp_path: Path
) -> None:
    syn, real = data
    run = tmp_path / "run"
    args = ["train-refiner", "--synthetic", syn, "--real", real, "--out", run, *FAST, "--batch-size", "4"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m"]
    job = subprocess.Popen(
        [*cmd, "simgan", *map(str, args), "--steps", "100000", "--ckpt-every", "1"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoint.pt").is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        pid = _rank_pid(job.pid, 1)
        assert pid is not None and (run / "checkpoint.pt").is_file()
        os.kill(pid, signal.SIGKILL)
        _, err = job.communicate(timeout=120)
    finally:
        job.kill()
    assert job.returncode != 0
    assert "simgan train-refiner: rank 0: " in err and "rerun the job with --resume" in err, err[-2000:]
    assert "[rank0]:" not in err  # no traceback of rank 0 (torchrun's own report of the failure follows)
    ckpt = load_checkpoint(run / "checkpoint.pt", "refiner")  # whole: it loads
    again = _torchrun("-m", "simgan", *args, "--steps", str(ckpt["iteration"] + 2), "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert load_checkpoint(run / "checkpoint.pt", "refiner")["iteration"] == ckpt["iteration"] + 2
