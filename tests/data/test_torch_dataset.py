"""The torch view: (image in [-1, 1], target) pairs read lazily; loader order fixed by the seed alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from simgan.data import (
    DatasetWriter,
    ImageDataset,
    Sample,
    Source,
    label_to_target,
    make_loader,
    open_dataset,
)
from simgan.data.source import DatasetInfo
from simgan.errors import InputError


class CountingSource(Source):
    """Wraps a source and counts decodes, to show nothing is read ahead of need."""

    def __init__(self, inner: Source):
        self.inner, self.info, self.reads = inner, inner.info, 0

    def read(self, index: int) -> Sample:
        self.reads += 1
        return self.inner.read(index)


def _classify(out: Path, n: int = 10, shape: tuple = (6, 7, 3), dtype: type = np.uint8) -> Path:
    h, wd, c = shape
    kind = np.dtype(dtype).name
    with DatasetWriter(
        out, height=h, width=wd, channels=c, dtype=kind, task="classify", classes=["x", "y", "z"]
    ) as w:
        for i in range(n):
            img = np.random.default_rng(i).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
            w.add(f"{i:03d}", img, i % 3)
    return out


def _batches(loader: torch.utils.data.DataLoader, epochs: int = 2) -> list[list[list[int]]]:
    """Per epoch, the batches as lists of sample indices (recovered from the class-coded targets)."""
    return [[y.tolist() for _, y in loader] for _ in range(epochs)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_items_are_float_chw_in_range_with_targets(tmp_path: Path, dtype: type) -> None:
    src = open_dataset(_classify(tmp_path / "ds", 4, (6, 7, 1) if dtype == np.uint16 else (6, 7, 3), dtype))
    ds = ImageDataset(src)
    assert len(ds) == 4
    for k in range(4):
        x, y = ds[k]
        sample = src.read(k)
        c = sample.image.shape[2]
        assert x.dtype == torch.float32 and x.shape == (c, 6, 7)  # (C, H, W)
        assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
        scale = float(np.iinfo(dtype).max)
        expected = sample.image.transpose(2, 0, 1) * (2.0 / scale) - 1.0
        np.testing.assert_allclose(x.numpy(), expected, atol=1e-6)
        assert y.dtype == torch.int64 and y.shape == () and int(y) == k % 3


def test_targets_per_task() -> None:
    uv = [[float(j), float(j + 1)] for j in range(14)]
    gaze = label_to_target("gaze", {"gaze": [0.0, 0.6, -0.8], "pitch": 0.1, "yaw": 0.2})
    assert gaze.dtype == torch.float32 and gaze.tolist() == pytest.approx([0.0, 0.6, -0.8])
    hand = label_to_target("handpose", {"uv": uv, "xyz": [[0.0] * 3] * 14})
    assert hand.shape == (14, 2) and hand.dtype == torch.float32 and hand[13].tolist() == [13.0, 14.0]
    cls = label_to_target("classify", 7)
    assert cls.dtype == torch.int64 and int(cls) == 7
    assert int(label_to_target(None, None)) == -1 and int(label_to_target("gaze", None)) == -1
    with pytest.raises(ValueError, match="unknown task"):
        label_to_target("detect", 1)


@pytest.mark.parametrize(
    ("task", "label", "problem"),
    [
        ("classify", "3", "class index"),
        ("classify", True, "class index"),
        ("gaze", {"gaze": [0.0, 1.0]}, r"shape \(2,\), expected \(3,\)"),
        ("gaze", {"pitch": 0.1}, "'gaze'"),
        ("gaze", [0.0, 0.0, 1.0], "'gaze'"),
        ("gaze", {"gaze": ["a", "b", "c"]}, "not numeric"),
        ("handpose", {"uv": [[0.0, 0.0]] * 13}, r"shape \(13, 2\), expected \(14, 2\)"),
        ("gaze", {"gaze": [0.0, float("nan"), 1.0]}, "NaN or inf"),
        ("gaze", {"gaze": [0.0, float("inf"), 1.0]}, "NaN or inf"),
        ("handpose", {"uv": [[0.0, float("nan")]] * 14}, "'uv' holds NaN or inf"),
        ("handpose", {"uv": [[0.0, 0.0]] * 14, "xyz": [[0.0, 0.0, float("inf")]] * 14}, "'xyz' holds NaN"),
    ],
)
def test_malformed_labels(tmp_path: Path, task: str, label: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        label_to_target(task, label)
    with DatasetWriter(tmp_path / "ds", height=2, width=2, channels=1, task=task) as w:
        w.add("ok", np.zeros((2, 2, 1), np.uint8), None)
        w.add("broken", np.zeros((2, 2, 1), np.uint8), label)
    with pytest.raises(InputError, match=problem) as info:  # refused when opened: file and line named
        open_dataset(tmp_path / "ds")
    assert str(tmp_path / "ds" / "labels.jsonl") in str(info.value) and "line 2" in str(info.value)


@pytest.mark.parametrize("label", [42, -3])
def test_class_index_outside_the_classes(label: int) -> None:
    with pytest.raises(ValueError, match=f"class index {label} is out of range"):
        label_to_target("classify", label, n_classes=10)
    assert int(label_to_target("classify", 9, n_classes=10)) == 9


def test_a_bad_label_from_another_layout_names_the_sample(tmp_path: Path) -> None:
    """Layouts that parse labels lazily (not the simgan layout) are checked when the sample is read."""
    with DatasetWriter(tmp_path / "ds", height=2, width=2, channels=1, task="gaze") as w:
        w.add("ok", np.zeros((2, 2, 1), np.uint8), {"gaze": [0.0, 0.0, -1.0]})
    src = open_dataset(tmp_path / "ds")
    src.label = lambda i: {"gaze": [float("nan")] * 3}  # type: ignore[method-assign]
    src.read = lambda i: Sample("x", np.zeros((2, 2, 1), np.uint8), src.label(i))  # type: ignore[method-assign]
    with pytest.raises(InputError, match="'x': gaze label 'gaze' holds NaN or inf") as info:
        ImageDataset(src)[0]
    assert str(tmp_path / "ds") in str(info.value)


def test_unlabelled_folder_targets(tmp_path: Path) -> None:
    from simgan.data import write_png

    for k in range(3):
        write_png(tmp_path / f"{k}.png", np.full((2, 3, 1), 40 * k, np.uint8))
    x, y = ImageDataset(open_dataset(tmp_path))[2]
    assert int(y) == -1 and x.shape == (1, 2, 3)
    assert float(x[0, 0, 0]) == pytest.approx(80 / 127.5 - 1)


def test_subset_indices_and_cache(tmp_path: Path) -> None:
    src = CountingSource(open_dataset(_classify(tmp_path / "ds")))
    ds = ImageDataset(src, indices=[7, 2, 5])
    assert len(ds) == 3 and [int(ds[k][1]) for k in range(3)] == [7 % 3, 2 % 3, 5 % 3]
    cached = ImageDataset(src, indices=[4], cache=True)
    before = src.reads
    a, b = cached[0], cached[0]
    assert src.reads == before + 1 and torch.equal(a[0], b[0])


def test_lazy_nothing_read_ahead(tmp_path: Path) -> None:
    src = CountingSource(open_dataset(_classify(tmp_path / "ds", 12)))
    loader = make_loader(ImageDataset(src), batch_size=4, seed=0)
    assert src.reads == 0  # opening, wrapping and building the loader decode nothing
    x, y = next(iter(loader))
    assert x.shape == (4, 3, 6, 7) and y.shape == (4,)  # (B, C, H, W)
    assert src.reads == 4  # one batch decoded, not the dataset


def test_order_depends_only_on_the_seed(tmp_path: Path) -> None:
    ds = ImageDataset(open_dataset(_classify(tmp_path / "ds", 12)))
    idx = ImageDataset(_IndexSource(12))
    torch.manual_seed(1)
    a = _batches(make_loader(idx, 4, seed=5))
    torch.manual_seed(2)  # global RNG state does not matter
    b = _batches(make_loader(idx, 4, seed=5))
    assert a == b
    assert a[0] != a[1]  # a new permutation each epoch ...
    assert sorted(sum(a[0], [])) == list(range(12))  # ... of every sample exactly once
    assert _batches(make_loader(idx, 4, seed=6)) != a
    assert _batches(make_loader(idx, 4, shuffle=False))[0] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert [len(b) for b in _batches(make_loader(idx, 5, seed=0, drop_last=True))[0]] == [5, 5]
    assert len(list(make_loader(ds, 5, seed=0))) == 3


def test_two_workers_give_the_same_batches_as_none(tmp_path: Path) -> None:
    src = open_dataset(_classify(tmp_path / "ds", 10))
    assert src.label(0) == 0  # the parent holds an open labels handle when the workers fork
    ds = ImageDataset(src)
    single = make_loader(ds, 3, seed=11)
    ref = [list(single) for _ in range(2)]
    loader = make_loader(ds, 3, seed=11, num_workers=2)
    got = [list(loader) for _ in range(2)]  # two epochs: persistent workers, same order
    assert len(got[0]) == len(ref[0]) == 4
    for epoch_ref, epoch_got in zip(ref, got, strict=True):
        for (xr, yr), (xg, yg) in zip(epoch_ref, epoch_got, strict=True):
            assert torch.equal(xr, xg) and torch.equal(yr, yg)
    # and the labels really are each sample's own (read through the workers' own file handles)
    for x, y in got[1]:
        for xi, yi in zip(x, y, strict=True):
            k = next(k for k in range(10) if torch.equal(ds[k][0], xi))
            assert int(yi) == k % 3
    src.close()


class _IndexSource(Source):
    """n tiny images whose classify label is their own index: batches show the sample order."""

    def __init__(self, n: int):
        self.info = DatasetInfo("folder", Path("."), n, 1, 1, 1, "uint8", task="classify")

    def read(self, index: int) -> Sample:
        return Sample(str(index), np.zeros((1, 1, 1), np.uint8), index)

    def label(self, index: int) -> Any:
        return index
