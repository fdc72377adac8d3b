"""Label preservation: id matching, the digit oracle, the pupil detector, silhouettes and joint depths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, open_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits, split_indices
from simgan.errors import InputError
from simgan.eval.label_preservation import (
    LabelsConfig,
    evaluate_labels,
    foreground_mask,
    match_ids,
    pupil_center,
    silhouette_iou,
)
from simgan.train.task import TaskConfig, train_task

FAST = LabelsConfig(oracle_epochs=6)


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
        evaluate_labels(digit_sets["synthetic"], digit_sets["real"], FAST)


def test_faithful_refinement_keeps_digit_labels(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    r = evaluate_labels(
        digit_sets["synthetic"], digit_sets["faithful"], FAST, oracle=digit_sets["real"], out=tmp_path
    )
    assert r["task"] == "classify" and r["n_matched"] == 400
    assert r["oracle_accuracy_synthetic"] > 0.8
    assert r["agreement"] > 0.9
    assert abs(r["oracle_accuracy_refined"] - r["oracle_accuracy_synthetic"]) < 0.1
    assert "real" in r["oracle"]
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "oracle" / "best.pt").is_file()


def test_label_destroying_refinement_is_caught(digit_sets: dict[str, Path]) -> None:
    r = evaluate_labels(digit_sets["synthetic"], digit_sets["shuffled"], FAST)  # oracle trained on synthetic
    assert r["agreement"] < 0.4
    assert r["oracle_accuracy_refined"] < r["oracle_accuracy_synthetic"] - 0.4


def test_oracle_loaded_from_a_task_run(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    train_task(
        TaskConfig(epochs=4, device="cpu"),
        [open_dataset(digit_sets["real"])],
        None,
        tmp_path / "run",
        progress=False,
    )
    r = evaluate_labels(digit_sets["synthetic"], digit_sets["faithful"], FAST, oracle=tmp_path / "run")
    assert "train-task model" in r["oracle"] and r["agreement"] > 0.8


def test_unlabelled_oracle_is_refused(digit_sets: dict[str, Path], tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "u", height=8, width=8, channels=1) as w:
        w.add("a", np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(InputError, match="oracle needs labelled digits"):
        evaluate_labels(digit_sets["synthetic"], digit_sets["faithful"], FAST, oracle=tmp_path / "u")


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
    r = evaluate_labels(syn, ref, FAST)
    assert r["pupil_shift_px_mean"] == pytest.approx(2.0, abs=0.3)
    assert r["pupil_shift_px_std"] < 0.3
    assert r["detector_error_synthetic_px_mean"] < 0.3 and r["image_width"] == 55
    same = evaluate_labels(syn, syn, FAST)
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
    r = evaluate_labels(tmp_path / "syn", tmp_path / "ref", FAST)
    assert r["silhouette_iou_mean"] == pytest.approx(360 / 400)
    assert r["joint_depth_change_mean"] == pytest.approx(1000 * 2 / 65535, rel=1e-4)
    assert r["joint_depth_change_mm_mean"] == pytest.approx(1000 * 2 / 65535 * 150, rel=1e-4)  # 300 mm cube


def test_unlabelled_or_resized_inputs_are_refused(tmp_path: Path, digit_sets: dict[str, Path]) -> None:
    with DatasetWriter(tmp_path / "u", height=8, width=8, channels=1) as w:
        w.add("d0000", np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(InputError, match="unlabelled"):
        evaluate_labels(tmp_path / "u", digit_sets["faithful"], FAST)
    with DatasetWriter(
        tmp_path / "big", height=16, width=16, channels=1, task="classify", classes=DIGIT_CLASSES
    ) as w:
        w.add("d0000", np.zeros((16, 16, 1), np.uint8), 0)
    with pytest.raises(InputError, match="keeps the synthetic size"):
        evaluate_labels(digit_sets["synthetic"], tmp_path / "big", FAST)
