"""refine(shard=(I, N)) and ``simgan refine --shard I/N``: N processes write one dataset, which ends with
exactly the input's ids, each once, in input order, and the pixels of an unsharded refine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.atomic import FolderLock
from simgan.data import DatasetWriter, open_dataset
from simgan.errors import InputError
from simgan.refinement import refine
from simgan.train.refiner import RefinerTrainConfig, train_refiner

N_IMAGES = 23  # blocks of 12 and 11: shard sizes differ, as they do in general
HEADER = {"height": 8, "width": 8, "channels": 1, "task": "classify", "classes": [str(d) for d in range(10)]}


def _write(path: Path, n: int, seed: int, low: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, **HEADER) as w:
        for i in range(n):
            w.add(f"id{i:03d}", rng.integers(low, 256, (8, 8, 1), dtype=np.uint8), (3 * i) % 10)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An input set, a trained refiner (it changes pixels) and the unsharded refine of the input."""
    root = tmp_path_factory.mktemp("shard")
    cfg = RefinerTrainConfig(
        preset="digits", steps=6, batch_size=8, history_size=8, pretrain_d_steps=1, lr_r=3e-3, lr_d=3e-3
    )
    syn, real = _write(root / "in", N_IMAGES, seed=5), _write(root / "real", 16, seed=1, low=200)
    train_refiner(syn, real, root / "run", cfg, device="cpu", progress=False)
    refine(root / "run", syn, root / "whole", batch_size=5, device="cpu", progress=False)
    return {"in": syn, "run": root / "run", "whole": root / "whole", "real": real}


def _argv(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    """``simgan refine`` of the input with the trained refiner into ``out``."""
    argv = ["refine", "--refiner", str(data["run"]), "--input", str(data["in"]), "--out", str(out)]
    return [*argv, "--device", "cpu", "--batch-size", "4", *extra]


def _cli(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    """The same in a process of its own: ``python -m simgan refine ...``."""
    return [sys.executable, "-m", "simgan", *_argv(data, out, *extra)]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _refine_shard(data: dict[str, Path], out: Path, shard: tuple[int, int]) -> object:
    return refine(data["run"], data["in"], out, batch_size=4, device="cpu", progress=False, shard=shard)


def _check_complete(data: dict[str, Path], out: Path) -> None:
    """Exactly the input's ids, once each, in input order, with its labels and the unsharded pixels."""
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["complete"] is True and meta["count"] == N_IMAGES
    src, got, whole = open_dataset(data["in"]), open_dataset(out), open_dataset(data["whole"])
    assert got.ids == src.ids and len(set(got.ids)) == N_IMAGES
    assert [got.label(i) for i in range(N_IMAGES)] == [src.label(i) for i in range(N_IMAGES)]
    a = np.stack([got.read(i).image for i in range(N_IMAGES)]).astype(int)
    b = np.stack([whole.read(i).image for i in range(N_IMAGES)]).astype(int)
    assert np.abs(a - b).max() <= 1
    assert (a != np.stack([src.read(i).image for i in range(N_IMAGES)])).any()  # R changed pixels
    assert json.loads((out / "labels.jsonl").read_text().splitlines()[-1])["id"] == f"id{N_IMAGES - 1:03d}"
    left = sorted(p.name for p in out.iterdir())
    assert left == ["dataset.json", "images", "labels.jsonl"], left  # no shard file or lock left behind


def test_two_shard_processes_at_once_make_one_complete_dataset(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(_cli(data, out, "--shard", f"{i}/2"), env=_env(), stdout=subprocess.PIPE, text=True)
        for i in (0, 1)
    ]
    said = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], said
    assert any("shards are merged" in s for s in said), said  # the last to finish says so
    _check_complete(data, out)


@pytest.mark.parametrize("order", [(1, 0), (0, 1)], ids=["shard 1 first", "shard 0 first"])
def test_the_last_shard_to_finish_merges_whichever_it_is(
    data: dict[str, Path], tmp_path: Path, order: tuple[int, int]
) -> None:
    out = tmp_path / "out"
    assert _refine_shard(data, out, (order[0], 2)) is None  # not complete yet
    assert json.loads((out / "dataset.json").read_text())["complete"] is False
    with pytest.raises(InputError, match="incomplete dataset"):
        open_dataset(out)
    with pytest.raises(InputError, match="unfinished sharded write"):  # a whole-folder writer is refused
        refine(data["run"], data["in"], out, device="cpu", progress=False)
    info = _refine_shard(data, out, (order[1], 2))
    assert info is not None and info.count == N_IMAGES  # type: ignore[attr-defined]
    _check_complete(data, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert _refine_shard(data, out, (0, 2)) is not None  # a rerun on the complete dataset: a no-op
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


KILL_AFTER_4 = textwrap.dedent(
    """
    import os, signal, sys
    from simgan.cli import main
    from simgan.data import DatasetWriter

    add, n = DatasetWriter.add, [0]

    def add_then_die(self, *args, **kwargs):
        if n[0] == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        n[0] += 1
        add(self, *args, **kwargs)

    DatasetWriter.add = add_then_die
    sys.exit(main(sys.argv[1:]))
    """
)


def test_a_killed_shard_resumes(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    argv = _cli(data, out, "--shard", "0/2")
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_4, *argv[3:]], env=_env(), capture_output=True)
    assert killed.returncode == -9, killed.stderr
    assert len((out / "labels.shard-0-of-2.jsonl").read_text().splitlines()) == 4
    assert _refine_shard(data, out, (1, 2)) is None  # shard 1 finishes; shard 0 has not
    added: list[str] = []
    add = DatasetWriter.add

    def counted(self: DatasetWriter, sid: str, *args: object, **kwargs: object) -> None:
        added.append(sid)
        add(self, sid, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DatasetWriter, "add", counted)
    assert _refine_shard(data, out, (0, 2)) is not None  # the rerun resumes, then merges
    assert added == [f"id{i:03d}" for i in range(4, 12)]  # only what the killed run had not written
    _check_complete(data, out)


def test_whole_folder_writers_and_shards_exclude_each_other(
    data: dict[str, Path], tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    out = tmp_path / "out"
    whole = _argv(data, out)
    with DatasetWriter(out, **HEADER, shard=(0, 2)):  # a shard is writing
        for argv in (whole, ["simulate", "digits", "--n", "4", "--out", str(out)]):
            code, _, err = run_cli(*argv)
            assert code == 2 and len(err.strip().splitlines()) == 1, err
            assert "shards of a sharded write are writing here" in err, err
        code, _, err = run_cli(*whole, "--shard", "0/2")  # the same shard twice
        assert code == 2 and "another simgan process is writing shard 0/2 here (pid" in err, err
    other = tmp_path / "other"
    other.mkdir()
    with FolderLock(other):  # a whole-folder writer is writing
        code, _, err = run_cli(*_argv(data, other), "--shard", "1/2")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"another simgan process is writing here (pid {os.getpid()})" in err, err
        assert sorted(p.name for p in other.iterdir()) == [FolderLock.NAME]  # the shard wrote nothing


def test_shards_of_another_count_or_refiner_are_refused(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    _refine_shard(data, out, (0, 2))
    before = sorted(p.name for p in out.rglob("*"))
    other_count = r"out: holds shards of 2 \(labels.shard-0-of-2.jsonl\), this is shard 1/3"
    with pytest.raises(InputError, match=other_count):
        _refine_shard(data, out, (1, 3))
    with pytest.raises(InputError, match=r"different dataset \(provenance\.input\.path"):
        refine(data["run"], data["real"], out, device="cpu", progress=False, shard=(1, 2))
    assert sorted(p.name for p in out.rglob("*")) == before


def test_torchrun_environment_selects_the_shard(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(_cli(data, out), env=_env(WORLD_SIZE="2", RANK="1"), capture_output=True, text=True)
    assert done.returncode == 0 and "refined shard 1/2" in done.stdout, done.stderr
    lines = (out / "labels.shard-1-of-2.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"id{i:03d}" for i in range(12, N_IMAGES)]
    assert not (out / "labels.shard-0-of-2.jsonl").exists()
    _refine_shard(data, out, (0, 2))
    _check_complete(data, out)


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0), (True, 2)])
def test_bad_shards_are_refused(data: dict[str, Path], tmp_path: Path, shard: tuple[int, int]) -> None:
    with pytest.raises(InputError, match="expected I/N with N >= 1 and 0 <= I < N"):
        _refine_shard(data, tmp_path / "out", shard)
    assert not (tmp_path / "out").exists()
