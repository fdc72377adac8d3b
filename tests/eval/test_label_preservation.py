"""Label preservation: id matching, a given digit oracle, the pupil detector, silhouettes and joint depths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from simgan.checkpoint import save_checkpoint
from simgan.data import DatasetWriter, Source, open_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits, split_indices
from simgan.errors import InputError
from simgan.eval.label_preservation import (
    LabelsConfig,
    check_oracle_data,
    foreground_mask,
    load_oracle,
    match_ids,
    measure_labels,
    oracle_checkpoint,
    pupil_center,
    silhouette_iou,
)
from simgan.nn.task_model import model_from_spec

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


def test_match_ids_pairs_by_id_not_by_order(digit_sets: dict[str, Path]) -> None:
    syn, ref = open_dataset(digit_sets["synthetic"]), open_dataset(digit_sets["faithful"])
    ii, jj, unmatched = match_ids(syn, ref)
    assert len(ii) == 400 and unmatched == {"synthetic": 0, "refined": 0}
    assert all(syn.sample_id(int(i)) == ref.sample_id(int(j)) for i, j in zip(ii, jj, strict=True))
    assert jj[0] == 399  # the refined set is stored in reverse order


def test_no_shared_ids_is_an_input_error(digit_sets: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="share no sample ids"):
        measure_labels(digit_sets["synthetic"], digit_sets["real"], FAST)


class AlwaysClass(nn.Module):
    """A digit oracle that answers ``k`` for every image."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), 10)
        logits[:, self.k] = 1.0
        return logits


def test_classify_reads_both_versions_with_the_given_oracle(
    digit_sets: dict[str, Path], tmp_path: Path
) -> None:
    calls: list[tuple[str, torch.device]] = []

    def oracle(syn: Source, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
        calls.append((syn.info.path.name, device))
        return AlwaysClass(7), {"oracle": "always 7"}

    r = measure_labels(digit_sets["synthetic"], digit_sets["shuffled"], FAST, oracle=oracle, out=tmp_path)
    syn = open_dataset(digit_sets["synthetic"])
    labels = np.array([syn.label(i) for i in range(len(syn))])
    assert calls == [("syn", torch.device("cpu"))]  # called once, with the synthetic set
    assert r["oracle"] == "always 7" and r["n_matched"] == 400
    assert r["oracle_accuracy_synthetic"] == pytest.approx(float(np.mean(labels == 7)))
    assert r["oracle_accuracy_refined"] == r["oracle_accuracy_synthetic"]  # same labels, same answers
    assert r["agreement"] == 1.0
    assert json.loads((tmp_path / "metrics.json").read_text())["agreement"] == 1.0
    with pytest.raises(InputError, match="needs an oracle classifier"):
        measure_labels(digit_sets["synthetic"], digit_sets["faithful"], FAST)


def _save_task_checkpoint(path: Path, num_classes: int, in_channels: int = 1) -> Path:
    spec = {
        "arch": "digit_cnn",
        "kwargs": {"in_channels": in_channels, "num_classes": num_classes, "width": 4},
    }
    state = {"model": model_from_spec(spec).state_dict(), "config": {"task": "classify"}, "model_spec": spec}
    path.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path / "best.pt", state, "task")
    return path / "best.pt"


def test_oracle_checkpoints_are_found_and_checked(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    syn = open_dataset(digit_sets["synthetic"])
    good = _save_task_checkpoint(tmp_path / "run", 10)
    assert oracle_checkpoint(tmp_path / "run") == good and oracle_checkpoint(good) == good
    assert oracle_checkpoint(digit_sets["real"]) is None and oracle_checkpoint(None) is None
    model, about = load_oracle(good, syn)
    assert about == {"oracle": f"train-task model {good}"} and not model.training
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(InputError, match="not a digit classifier with 10 classes"):
        load_oracle(_save_task_checkpoint(tmp_path / "four", 4), syn)
    with pytest.raises(InputError, match="reads 3-channel images"):
        load_oracle(_save_task_checkpoint(tmp_path / "rgb", 10, in_channels=3), syn)


def test_oracle_training_data_must_match_the_digits(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    syn = open_dataset(digit_sets["synthetic"])
    check_oracle_data(open_dataset(digit_sets["real"]), syn)  # labelled digits of the same size: fine
    with DatasetWriter(tmp_path / "u", height=8, width=8, channels=1) as w:
        w.add("a", np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(InputError, match="oracle needs labelled digits of 8x8x1"):
        check_oracle_data(open_dataset(tmp_path / "u"), syn)
    with DatasetWriter(
        tmp_path / "ab", height=8, width=8, channels=1, task="classify", classes=["a", "b"]
    ) as w:
        w.add("a", np.zeros((8, 8, 1), np.uint8), 0)
    with pytest.raises(InputError, match="classes"):
        check_oracle_data(open_dataset(tmp_path / "ab"), syn)


# --- eyes -----------------------------------------------------------------------------------------------


def _eye(cx: float, cy: float, h: int = 35, w: int = 55, r: float = 4.0) -> np.ndarray:
    """A bright eye region with a dark, soft-edged pupil disc centred at (cx, cy)."""
    ys, xs = np.indices((h, w))
    d = np.hypot(xs - cx, ys - cy)
    img = 200.0 - 170.0 * np.clip(r + 0.5 - d, 0.0, 1.0)
    img[30:, 0:6] = 90.0  # a dark-ish corner: less dark than the pupil, must not pull the centre
    return np.rint(img).astype(np.uint8)[..., None]


def test_pupil_center_finds_a_disc_to_subpixel_accuracy() -> None:
    x, y = pupil_center(_eye(30.3, 17.6))
    assert x == pytest.approx(30.3, abs=0.25) and y == pytest.approx(17.6, abs=0.25)


def test_pupil_search_near_a_labelled_centre_ignores_darker_corners() -> None:
    img = _eye(30.0, 15.0)
    img[28:, :8] = 0  # an eye corner darker than the pupil
    assert pupil_center(img)[0] < 10  # the whole-image search is fooled ...
    x, y = pupil_center(img, 0.3, near=(29.0, 16.0), radius=4.5)  # ... the labelled window is not
    assert x == pytest.approx(30.0, abs=0.3) and y == pytest.approx(15.0, abs=0.3)


def _write_eyes(path: Path, centres: list[tuple[float, float]]) -> Path:
    with DatasetWriter(path, height=35, width=55, channels=1, task="gaze") as w:
        for k, (cx, cy) in enumerate(centres):
            w.add(
                f"e{k}",
                _eye(cx, cy),
                {"gaze": [0.0, 0.0, -1.0], "pitch": 0.0, "yaw": 0.0, "iris_center": [cx, cy]},
            )
    return path


def test_gaze_reports_the_pupil_shift_in_pixels(tmp_path: Path, rng: np.random.Generator) -> None:
    centres = [(float(rng.uniform(15, 40)), float(rng.uniform(10, 25))) for _ in range(12)]
    syn = _write_eyes(tmp_path / "syn", centres)
    ref = _write_eyes(tmp_path / "ref", [(cx + 2.0, cy) for cx, cy in centres])
    r = measure_labels(syn, ref, FAST)
    assert r["pupil_shift_px_mean"] == pytest.approx(2.0, abs=0.3)
    assert r["pupil_shift_px_std"] < 0.3
    assert r["detector_error_synthetic_px_mean"] < 0.3 and r["image_width"] == 55
    same = measure_labels(syn, syn, FAST)
    assert same["pupil_shift_px_mean"] == pytest.approx(0.0, abs=1e-9)


# --- hands ----------------------------------------------------------------------------------------------


def _depth(rows: slice, cols: slice, depth: int) -> np.ndarray:
    img = np.full((32, 32, 1), 65535, np.uint16)  # far plane
    img[rows, cols] = depth
    return img


def test_silhouette_iou_and_mask() -> None:
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    assert silhouette_iou(a, b) == pytest.approx(4 / 12)
    assert silhouette_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    d = np.array([[1.0, 0.95], [0.5, -1.0]])
    assert foreground_mask(d, 1.0, 0.05).tolist() == [[False, False], [True, True]]


def test_handpose_reports_iou_and_joint_depth_change(tmp_path: Path) -> None:
    uv = [[12.0 + (k % 4), 10.0 + k] for k in range(14)]  # inside the part both silhouettes share
    label = {"uv": uv, "xyz": [[0.0, 0.0, 500.0]] * 14, "centre_uvd": [320.0, 240.0, 500.0]}
    with DatasetWriter(
        tmp_path / "syn", height=32, width=32, channels=1, dtype="uint16", task="handpose"
    ) as w:
        w.add("h0", _depth(slice(8, 28), slice(8, 28), 30000), label)
    with DatasetWriter(
        tmp_path / "ref", height=32, width=32, channels=1, dtype="uint16", task="handpose"
    ) as w:
        w.add("h0", _depth(slice(8, 28), slice(8, 26), 31000), label)  # 2 columns eaten, 1000 deeper
    r = measure_labels(tmp_path / "syn", tmp_path / "ref", FAST)
    assert r["silhouette_iou_mean"] == pytest.approx(360 / 400)
    assert r["joint_depth_change_mean"] == pytest.approx(1000 * 2 / 65535, rel=1e-4)
    assert r["joint_depth_change_mm_mean"] == pytest.approx(1000 * 2 / 65535 * 150, rel=1e-4)  # 300 mm cube


def test_unlabelled_or_resized_inputs_are_refused(tmp_path: Path, digit_sets: dict[str, Path]) -> None:
    with DatasetWriter(tmp_path / "u", height=8, width=8, channels=1) as w:
        w.add("d0000", np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(InputError, match="unlabelled"):
        measure_labels(tmp_path / "u", digit_sets["faithful"], FAST)
    with DatasetWriter(
        tmp_path / "big", height=16, width=16, channels=1, task="classify", classes=DIGIT_CLASSES
    ) as w:
        w.add("d0000", np.zeros((16, 16, 1), np.uint8), 0)
    with pytest.raises(InputError, match="keeps the synthetic size"):
        measure_labels(digit_sets["synthetic"], tmp_path / "big", FAST)
