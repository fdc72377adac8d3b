"""The evaluation side of the cross-domain matrix: seeded splits, compatibility checks, one row of cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from simgan.data import DatasetWriter, open_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits
from simgan.errors import InputError
from simgan.eval.matrix import check_compatible, score_row, split_source


def _digits(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    with DatasetWriter(path, height=8, width=8, channels=1, task="classify", classes=DIGIT_CLASSES) as w:
        for k, (img, y) in enumerate(zip(images, labels, strict=True)):
            w.add(f"i{k}", img, int(y))
    return path


class AlwaysClass(nn.Module):
    """A classifier that answers ``k`` for every image: its accuracy is the share of label ``k``."""

    def __init__(self, k: int, num_classes: int = 10):
        super().__init__()
        self.k, self.num_classes = k, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), self.num_classes)
        logits[:, self.k] = 1.0
        return logits


def test_split_is_disjoint_and_keeps_ids(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    src = open_dataset(_digits(tmp_path / "d", images[:20], labels[:20]))
    train, test = split_source(src, 0.3, seed=0)
    assert len(train) == 14 and len(test) == 6 and train.info.count == 14
    ids = {train.sample_id(i) for i in range(14)} | {test.sample_id(i) for i in range(6)}
    assert len(ids) == 20
    assert test.read(0).label == test.label(0)
    again, _ = split_source(src, 0.3, seed=0)
    assert again.indices.tolist() == train.indices.tolist()  # seeded
    with pytest.raises(InputError, match="at least 2 samples"):
        split_source(open_dataset(_digits(tmp_path / "one", images[:1], labels[:1])), 0.3, seed=0)


def test_score_row_scores_every_test_part_without_the_confusion(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    tests = {
        "a": open_dataset(_digits(tmp_path / "a", images[:40], labels[:40])),
        "b": open_dataset(_digits(tmp_path / "b", images[40:70], labels[40:70])),
    }
    row = score_row(AlwaysClass(3), "classify", tests)
    assert list(row) == ["a", "b"]
    assert row["a"]["accuracy"] == pytest.approx(float(np.mean(labels[:40] == 3)))
    assert row["b"]["accuracy"] == pytest.approx(float(np.mean(labels[40:70] == 3)))
    assert row["a"]["n"] == 40 and "confusion" not in row["a"] and "confusion" not in row["b"]


def test_incompatible_datasets_are_refused(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    ok = open_dataset(_digits(tmp_path / "ok", images[:10], labels[:10]))
    with DatasetWriter(tmp_path / "unl", height=8, width=8, channels=1) as w:
        w.add("a", images[0])
    with DatasetWriter(tmp_path / "big", height=9, width=8, channels=1, task="classify") as w:
        w.add("a", np.zeros((9, 8), np.uint8), 0)
    with pytest.raises(InputError, match="dataset 'unl' is unlabelled"):
        check_compatible("classify", {"ok": ok, "unl": open_dataset(tmp_path / "unl")})
    with pytest.raises(InputError, match="'big' has 9x8x1 images but 'ok' has 8x8x1"):
        check_compatible("classify", {"ok": ok, "big": open_dataset(tmp_path / "big")})
    with pytest.raises(InputError, match="matrix is for task 'gaze'"):
        check_compatible("gaze", {"ok": ok})
    check_compatible("classify", {"ok": ok, "again": ok})  # the same set twice is fine
