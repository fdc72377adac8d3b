"""Cross-domain matrix: train on each dataset, test on each (the lecture's cross-benchmark table)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits
from simgan.errors import InputError
from simgan.experiment.matrix import cross_domain_matrix, matrix_rows
from simgan.train.task import TaskConfig


def _digits(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    with DatasetWriter(path, height=8, width=8, channels=1, task="classify", classes=DIGIT_CLASSES) as w:
        for k, (img, y) in enumerate(zip(images, labels, strict=True)):
            w.add(f"i{k}", img, int(y))
    return path


def test_matrix_diagonal_beats_the_domain_gap(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    sets = {
        "upright": _digits(tmp_path / "up", images[:500], labels[:500]),
        "inverted": _digits(tmp_path / "inv", 255 - images[500:1000], labels[500:1000]),
    }
    cfg = TaskConfig(task="classify", epochs=10, min_steps=0, batch_size=32, device="cpu", augment=())
    r = cross_domain_matrix("classify", sets, tmp_path / "out", config=cfg, seed=0)
    t = r["table"]
    assert r["metric"] == "accuracy" and r["names"] == ["upright", "inverted"]
    assert t["upright"]["upright"] > 0.8 and t["inverted"]["inverted"] > 0.8
    assert t["upright"]["inverted"] < t["upright"]["upright"] - 0.3  # the gap shows off the diagonal
    assert r["n_test"] == {"upright": 150, "inverted": 150}
    assert r["cells"]["upright"]["inverted"]["accuracy"] == t["upright"]["inverted"]
    assert json.loads((tmp_path / "out" / "matrix.json").read_text())["table"] == t
    assert (tmp_path / "out" / "train_upright" / "best.pt").is_file()
    header, rows = matrix_rows(r)
    assert header[1:] == ["upright", "inverted"] and [row[0] for row in rows] == ["upright", "inverted"]


def test_matrix_rows_format_the_table() -> None:
    result = {
        "metric": "accuracy",
        "names": ["a", "b"],
        "table": {"a": {"a": 0.9, "b": 0.25}, "b": {"a": 1 / 3, "b": 1.0}},
    }
    header, rows = matrix_rows(result)
    assert header == ["train \\ test (accuracy)", "a", "b"]
    assert rows == [["a", "0.9", "0.25"], ["b", "0.3333", "1"]]


def test_incompatible_datasets_are_refused(tmp_path: Path) -> None:
    images, labels = load_sklearn_digits()
    ok = _digits(tmp_path / "ok", images[:10], labels[:10])
    with DatasetWriter(tmp_path / "unl", height=8, width=8, channels=1) as w:
        w.add("a", images[0])
    with pytest.raises(InputError, match="unlabelled"):
        cross_domain_matrix("classify", {"ok": ok, "unl": tmp_path / "unl"}, tmp_path / "o")
    with pytest.raises(InputError, match="at least one dataset"):
        cross_domain_matrix("classify", {}, tmp_path / "o")
    with pytest.raises(InputError, match="config is for task 'gaze'"):
        cross_domain_matrix("classify", {"ok": ok}, tmp_path / "o", config=TaskConfig(task="gaze"))
    with pytest.raises(InputError, match="test_fraction"):
        cross_domain_matrix("classify", {"ok": ok}, tmp_path / "o", test_fraction=1.0)
    assert not (tmp_path / "o").exists()
