"""The data side of a task run: seeded splits, the memory budget, in-memory vs streamed batches, checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.data import DatasetWriter, open_dataset
from simgan.errors import InputError
from simgan.train.task_data import TaskData, check_source, fits_in_memory, num_outputs, split


def _classes(path: Path, n: int, size: int = 4, classes: list[str] | None = None, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    kw = {"classes": classes} if classes is not None else {}
    with DatasetWriter(path, height=size, width=size, channels=1, task="classify", **kw) as w:
        for k in range(n):
            w.add(f"s{k}", rng.integers(0, 256, (size, size), dtype=np.uint8), int(k % 3))
    return path


def test_split_is_seeded_disjoint_and_keeps_one_of_each() -> None:
    train, val = split(10, 0.25, seed=3)
    assert len(train) == 8 and len(val) == 2  # round(2.5) = 2
    assert sorted([*train, *val]) == list(range(10)) and list(train) == sorted(train)
    again = split(10, 0.25, seed=3)
    assert again[1].tolist() == val.tolist() and split(10, 0.25, seed=4)[1].tolist() != val.tolist()
    assert [len(p) for p in split(3, 0.01, seed=0)] == [2, 1]  # at least one validation sample
    assert [len(p) for p in split(3, 0.99, seed=0)] == [1, 2]  # and at least one training sample
    assert [len(p) for p in split(5, 0.0, seed=0)] == [5, 0]


def test_memory_budget_boundary(tmp_path: Path) -> None:
    info = open_dataset(_classes(tmp_path / "d", 1, size=16)).info
    per_image = 16 * 16 * 1 * 4  # float32 bytes
    assert fits_in_memory(info, 2**20 // per_image, 1)
    assert not fits_in_memory(info, 2**20 // per_image + 1, 1)
    assert fits_in_memory(info, 0, 0) and not fits_in_memory(info, 1, 0)


def test_in_memory_and_streamed_batches_are_identical(tmp_path: Path) -> None:
    sources = [open_dataset(_classes(tmp_path / "a", 7)), open_dataset(_classes(tmp_path / "b", 5, seed=1))]
    idx = np.array([0, 2, 3, 6, 7, 9, 11])  # spans both sources (global indices)
    mem = TaskData(sources, idx, in_memory=True)
    disk = TaskData(sources, idx, in_memory=False)
    assert mem.x is not None and mem.x.shape == (7, 1, 4, 4) and disk.x is None
    assert len(mem) == 7 and mem.num_batches(3) == 3
    for shuffle in (False, True):
        a = list(mem.batches(3, shuffle=shuffle, seed=5))
        b = list(disk.batches(3, shuffle=shuffle, seed=5))
        assert [len(x) for x, _ in a] == [3, 3, 1]
        ys_a = torch.cat([y for _, y in a])
        if not shuffle:
            assert ys_a.tolist() == [0, 2, 0, 0, 0, 2, 1]  # labels k % 3; 7, 9, 11 are b's 0, 2, 4
            assert all(
                torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True)
            )
        else:  # each shuffles its own way, but only by seed: the same multiset, the same order on a rerun
            assert sorted(ys_a.tolist()) == sorted(torch.cat([y for _, y in b]).tolist())
            again = torch.cat([y for _, y in mem.batches(3, shuffle=True, seed=5)])
            assert torch.equal(again, ys_a)


def test_check_source_names_the_dataset_and_what_differs(tmp_path: Path) -> None:
    ref = open_dataset(_classes(tmp_path / "ref", 3, classes=["a", "b", "c"]))
    check_source(ref, "--train", "classify", ref)
    big = open_dataset(_classes(tmp_path / "big", 3, size=6, classes=["a", "b", "c"]))
    with pytest.raises(InputError, match=r"big.*--test dataset has 6x6x1 images, but .*ref has 4x4x1"):
        check_source(big, "--test", "classify", ref)
    other = open_dataset(_classes(tmp_path / "other", 3, classes=["x", "y", "z"]))
    with pytest.raises(InputError, match=r"--finetune dataset has classes \['x', 'y', 'z'\]"):
        check_source(other, "--finetune", "classify", ref)
    with pytest.raises(InputError, match="labelled for task 'classify', but this run trains task 'gaze'"):
        check_source(ref, "--train", "gaze", None)


def test_num_outputs_per_task(tmp_path: Path) -> None:
    named = open_dataset(_classes(tmp_path / "named", 2, classes=["a", "b", "c", "d", "e"]))
    assert num_outputs("classify", [named]) == 5  # from the class names, even if unused
    unnamed = open_dataset(_classes(tmp_path / "unnamed", 5))
    assert num_outputs("classify", [unnamed]) == 3  # labels 0..2: the largest label + 1
    assert num_outputs("gaze", [named]) == 3
    with DatasetWriter(tmp_path / "hand", height=4, width=4, channels=1, task="handpose") as w:
        w.add("h", np.zeros((4, 4), np.uint8), {"uv": [[1.0, 1.0]] * 14, "xyz": [[0.0, 0.0, 0.0]] * 14})
    assert num_outputs("handpose", [open_dataset(tmp_path / "hand")]) == 14
