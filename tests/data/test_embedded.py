"""The embedded real domain: scikit-learn's 1797 handwritten 8x8 digits, disjoint seeded splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits, split_indices, write_sklearn_digits


def test_load_shapes_and_ranges() -> None:
    images, labels = load_sklearn_digits()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.uint8
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 255  # ink counts 0..16 scaled to 8 bits
    assert set(np.unique(labels)) == set(range(10))
    from sklearn.datasets import load_digits

    raw = load_digits()
    np.testing.assert_array_equal(images[..., 0], np.rint(raw.images * 255 / 16).astype(np.uint8))


def test_split_is_disjoint_complete_and_seeded() -> None:
    parts = split_indices(1797, {"unlabelled": 0.5, "labelled": 0.2, "test": 0.3}, seed=4)
    assert [len(v) for v in parts.values()] == [898, 359, 540]
    together = np.concatenate(list(parts.values()))
    assert sorted(together.tolist()) == list(range(1797))  # every index once: no overlap, none lost
    again = split_indices(1797, {"unlabelled": 0.5, "labelled": 0.2, "test": 0.3}, seed=4)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    other = split_indices(1797, {"unlabelled": 0.5, "labelled": 0.2, "test": 0.3}, seed=5)
    assert not np.array_equal(parts["test"], other["test"])
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(10, {"a": 0.5, "b": 0.4})


def test_write_subset(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    idx = np.array([3, 10, 1796])
    info = write_sklearn_digits(tmp_path / "real", idx)
    assert (info.count, info.height, info.width, info.channels, info.dtype) == (3, 8, 8, 1, "uint8")
    assert info.task == "classify" and info.classes == DIGIT_CLASSES
    src = open_dataset(tmp_path / "real")
    for k, i in enumerate(idx):
        s = src.read(k)
        assert s.id == f"sk{i:04d}" and s.label == labels[i]
        np.testing.assert_array_equal(s.image, images[i])
    before = (tmp_path / "real" / "labels.jsonl").read_bytes()
    write_sklearn_digits(tmp_path / "real", idx)  # rerun: nothing added
    assert (tmp_path / "real" / "labels.jsonl").read_bytes() == before


def test_write_unlabelled(tmp_path: Path) -> None:
    info = write_sklearn_digits(tmp_path / "u", np.arange(5), labelled=False)
    assert info.task is None and info.classes is None and info.count == 5
    src = open_dataset(tmp_path / "u")
    assert [src.label(k) for k in range(5)] == [None] * 5


def test_upsampled_copy_keeps_labels_and_ink(tmp_path: Path) -> None:
    idx = np.array([0, 5, 17])
    info = write_sklearn_digits(tmp_path / "d28", idx, size=(28, 28))
    src, small = open_dataset(tmp_path / "d28"), load_sklearn_digits()
    assert (info.height, info.width, info.count) == (28, 28, 3)
    for k, i in enumerate(idx):
        s = src.read(k)
        assert s.image.shape == (28, 28, 1) and s.label == small[1][i]
        # Block means of the 28x28 image follow the 8x8 original (bicubic keeps the stroke layout).
        big = s.image[..., 0].astype(float)
        coarse = np.array([[big[r * 28 // 8 : (r + 1) * 28 // 8, c * 28 // 8 : (c + 1) * 28 // 8].mean()
                            for c in range(8)] for r in range(8)])  # fmt: skip
        assert np.corrcoef(coarse.ravel(), small[0][i, ..., 0].ravel())[0, 1] > 0.9
    meta = (tmp_path / "d28" / "dataset.json").read_text()
    assert '"resized"' in meta and "bicubic" in meta
