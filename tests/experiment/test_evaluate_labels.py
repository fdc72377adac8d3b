"""``simgan evaluate labels`` as a library call: the digit oracle trained on real or synthetic digits, or
loaded from a train-task run, then label preservation measured with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, open_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits, split_indices
from simgan.errors import InputError
from simgan.experiment.labels import LabelsConfig, build_oracle, evaluate_labels
from simgan.train.task import TaskConfig, train_task

FAST = LabelsConfig(oracle_epochs=6, oracle_min_steps=0)


def _write_digits(path: Path, images: np.ndarray, labels: np.ndarray, ids: list[str]) -> Path:
    with DatasetWriter(path, height=8, width=8, channels=1, task="classify", classes=DIGIT_CLASSES) as w:
        for sid, img, y in zip(ids, images, labels, strict=True):
            w.add(sid, img, int(y))
    return path


@pytest.fixture(scope="module")
def digit_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """synthetic (real digits as stand-in), a faithful refined copy, a label-destroying one, real data."""
    root = tmp_path_factory.mktemp("labels")
    images, labels = load_sklearn_digits()
    split = split_indices(len(images), {"syn": 0.3, "real": 0.7}, seed=0)
    syn_i, real_i = split["syn"][:400], split["real"][:600]
    ids = [f"d{k:04d}" for k in range(len(syn_i))]
    x, y = images[syn_i], labels[syn_i]
    noise = np.random.default_rng(0).normal(scale=6.0, size=x.shape)
    faithful = np.clip(np.rint(x + noise), 0, 255).astype(np.uint8)
    # Each refined image replaced by another sample's pixels: the label no longer matches.
    shuffled = x[np.random.default_rng(1).permutation(len(x))]
    return {
        "synthetic": _write_digits(root / "syn", x, y, ids),
        "faithful": _write_digits(root / "faithful", faithful[::-1], y[::-1], ids[::-1]),  # other order
        "shuffled": _write_digits(root / "shuffled", shuffled, y, ids),
        "real": _write_digits(
            root / "real", images[real_i], labels[real_i], [f"r{k}" for k in range(len(real_i))]
        ),
    }


def test_faithful_refinement_keeps_digit_labels(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    r = evaluate_labels(
        digit_sets["synthetic"], digit_sets["faithful"], FAST, oracle=digit_sets["real"], out=tmp_path
    )
    assert r["task"] == "classify" and r["n_matched"] == 400
    assert r["oracle_accuracy_synthetic"] > 0.8
    assert r["agreement"] > 0.9
    assert abs(r["oracle_accuracy_refined"] - r["oracle_accuracy_synthetic"]) < 0.1
    assert "real" in r["oracle"] and 0.0 <= r["oracle_val_accuracy"] <= 1.0
    assert r["config"]["oracle_epochs"] == 6
    assert json.loads((tmp_path / "metrics.json").read_text()) == r
    assert (tmp_path / "oracle" / "best.pt").is_file()


def test_label_destroying_refinement_is_caught(digit_sets: dict[str, Path]) -> None:
    r = evaluate_labels(digit_sets["synthetic"], digit_sets["shuffled"], FAST)  # oracle trained on synthetic
    assert r["agreement"] < 0.4
    assert r["oracle_accuracy_refined"] < r["oracle_accuracy_synthetic"] - 0.4
    assert "syn" in r["oracle"] and "6 epochs" in r["oracle"]


def test_oracle_loaded_from_a_task_run(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    train_task(
        TaskConfig(epochs=4, min_steps=0, device="cpu"),
        [open_dataset(digit_sets["real"])],
        None,
        tmp_path / "run",
        progress=False,
    )
    r = evaluate_labels(digit_sets["synthetic"], digit_sets["faithful"], FAST, oracle=tmp_path / "run")
    assert "train-task model" in r["oracle"] and r["agreement"] > 0.8
    assert "oracle_val_accuracy" not in r  # a loaded oracle was not validated here
    model, about = build_oracle(
        tmp_path / "run" / "best.pt", open_dataset(digit_sets["synthetic"]), FAST, tmp_path / "unused"
    )
    assert about["oracle"].endswith("best.pt") and not (tmp_path / "unused").exists()


def test_bad_oracles_and_inputs_are_refused(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "u", height=8, width=8, channels=1) as w:
        w.add("a", np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(InputError, match="oracle needs labelled digits"):
        evaluate_labels(digit_sets["synthetic"], digit_sets["faithful"], FAST, oracle=tmp_path / "u")
    with pytest.raises(InputError, match="share no sample ids"):  # refused before any oracle is trained
        evaluate_labels(digit_sets["synthetic"], digit_sets["real"], FAST, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()
