"""Cross-domain matrix: train on each dataset, test on each (the lecture's cross-benchmark table)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, open_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits
from simgan.errors import InputError
from simgan.eval.matrix import cross_domain_matrix, matrix_rows, split_source
from simgan.train.task import TaskConfig


def _digits(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    with DatasetWriter(path, height=8, width=8, channels=1, task="classify", classes=DIGIT_CLASSES) as w:
        for k, (img, y) in enumerate(zip(images, labels, strict=True)):
            w.add(f"i{k}", img, int(y))
    return path


def test_split_is_disjoint_and_keeps_ids(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    src = open_dataset(_digits(tmp_path / "d", images[:20], labels[:20]))
    train, test = split_source(src, 0.3, seed=0)
    assert len(train) == 14 and len(test) == 6 and train.info.count == 14
    ids = {train.sample_id(i) for i in range(14)} | {test.sample_id(i) for i in range(6)}
    assert len(ids) == 20
    assert test.read(0).label == test.label(0)


def test_matrix_diagonal_beats_the_domain_gap(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    sets = {
        "upright": _digits(tmp_path / "up", images[:500], labels[:500]),
        "inverted": _digits(tmp_path / "inv", 255 - images[500:1000], labels[500:1000]),
    }
    cfg = TaskConfig(task="classify", epochs=10, batch_size=32, device="cpu")
    r = cross_domain_matrix("classify", sets, tmp_path / "out", config=cfg, seed=0)
    t = r["table"]
    assert r["metric"] == "accuracy" and r["names"] == ["upright", "inverted"]
    assert t["upright"]["upright"] > 0.8 and t["inverted"]["inverted"] > 0.8
    assert t["upright"]["inverted"] < t["upright"]["upright"] - 0.3  # the gap shows off the diagonal
    assert r["n_test"] == {"upright": 150, "inverted": 150}
    assert json.loads((tmp_path / "out" / "matrix.json").read_text())["table"] == t
    assert (tmp_path / "out" / "train_upright" / "best.pt").is_file()
    header, rows = matrix_rows(r)
    assert header[1:] == ["upright", "inverted"] and [row[0] for row in rows] == ["upright", "inverted"]


def test_incompatible_datasets_are_refused(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    ok = _digits(tmp_path / "ok", images[:10], labels[:10])
    with DatasetWriter(tmp_path / "unl", height=8, width=8, channels=1) as w:
        w.add("a", images[0])
    with pytest.raises(InputError, match="unlabelled"):
        cross_domain_matrix("classify", {"ok": ok, "unl": tmp_path / "unl"}, tmp_path / "o")
    with pytest.raises(InputError, match="at least one dataset"):
        cross_domain_matrix("classify", {}, tmp_path / "o")
