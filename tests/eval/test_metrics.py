"""Task metrics against hand-computed values, and the metric registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simgan.eval.metrics import (
    METRICS,
    accuracy,
    angular_errors_deg,
    confusion_matrix,
    keypoint_errors,
    mean_iou,
    part_confusion,
    part_ious,
    register_metric,
    selection_metric,
    task_metrics,
    within_curve,
)


def test_accuracy_and_confusion_by_hand() -> None:
    target = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])  # 4 of 6 right
    assert accuracy(pred, target) == pytest.approx(4 / 6)
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])  # row = true, column = predicted
    np.testing.assert_array_equal(confusion_matrix(pred, target), expected)
    # Scores (N, K) give the same through argmax, and K comes from the score width.
    scores = np.eye(4)[pred] * 5.0 - 1.0
    assert accuracy(torch.from_numpy(scores), torch.from_numpy(target)) == pytest.approx(4 / 6)
    m = confusion_matrix(scores, target)
    assert m.shape == (4, 4) and m[:3, :3].tolist() == expected.tolist() and m[3].sum() == 0


def test_angular_error_of_known_vectors() -> None:
    t = math.radians(10.0)
    pred = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 0, -3.0], [0, 2.0, 0]])
    target = np.array([[0, 1.0, 0], [math.sin(t), 0, -math.cos(t)], [0, 0, -1.0], [0, -1.0, 0]])
    np.testing.assert_allclose(angular_errors_deg(pred, target), [90.0, 10.0, 0.0, 180.0], atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        angular_errors_deg(np.zeros((2, 2)), np.zeros((2, 2)))


def test_within_curve_is_cumulative_fraction() -> None:
    curve = within_curve(np.array([0.0, 0.5, 3.0, 25.0]))
    assert list(curve) == [str(d) for d in range(21)]
    assert curve["0"] == 0.25 and curve["1"] == 0.5 and curve["2"] == 0.5
    assert curve["3"] == 0.75 and curve["20"] == 0.75
    values = list(curve.values())
    assert values == sorted(values)


def test_handpose_per_joint_versus_per_frame() -> None:
    # Frame 0: joint errors 0 and 5 (a 3-4-5 triangle); frame 1: errors 1 and 2.
    target = np.zeros((2, 2, 2))
    pred = np.array([[[0, 0], [3, 4]], [[1, 0], [0, 2]]], dtype=float)
    np.testing.assert_allclose(keypoint_errors(pred, target), [[0, 5], [1, 2]])
    m = task_metrics("handpose", pred, target)
    assert m["mean_error_px"] == pytest.approx(2.0)
    # Per joint: 4 joints, errors 0, 1, 2, 5.
    assert [m["within_px"][d] for d in ("0", "1", "2", "4", "5")] == [0.25, 0.5, 0.75, 0.75, 1.0]
    # Per frame (worst joint): frame errors 5 and 2.
    assert [m["frames_within_px"][d] for d in ("1", "2", "4", "5")] == [0.0, 0.5, 0.5, 1.0]


def test_task_metrics_keys_follow_design() -> None:
    assert set(task_metrics("classify", np.eye(3), np.arange(3))) == {"accuracy", "confusion"}
    g = np.array([[0, 0, -1.0], [0.1, 0, -1.0]])
    gm = task_metrics("gaze", g, g)
    assert set(gm) == {"angular_error_deg", "within_deg"}
    assert gm["angular_error_deg"] == pytest.approx(0.0, abs=1e-6) and gm["within_deg"]["0"] == 1.0
    assert selection_metric("classify").higher_is_better is True
    assert selection_metric("gaze").higher_is_better is False
    assert selection_metric("handpose").name == "mean_error_px"


def test_registry_refuses_duplicates_and_empty_input() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_metric("accuracy")(lambda p, t: 0.0)
    assert METRICS["accuracy"].task == "classify"
    with pytest.raises(ValueError, match="non-empty"):
        accuracy(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="no metrics"):
        task_metrics("segmentation", np.zeros(2), np.zeros(2))


def test_segment_iou_by_hand() -> None:
    target = np.array([[[0, 1, 1, 2], [0, 1, 2, 2]]])  # (N=1, H=2, W=4)
    pred = np.array([[[0, 1, 2, 2], [1, 1, 2, 0]]])
    np.testing.assert_array_equal(part_confusion(pred, target), [[1, 1, 0], [0, 2, 1], [1, 0, 2]])
    ious = part_ious(pred, target)
    assert ious == pytest.approx({0: 1 / 3, 1: 2 / 4, 2: 2 / 4})  # hits / (predicted + true - hits)
    assert mean_iou(ious) == pytest.approx(0.5)  # parts only: the background is left out
    m = task_metrics(
        "segment", torch.from_numpy(pred).to(torch.uint8), torch.from_numpy(target).to(torch.uint8)
    )
    assert m["miou"] == pytest.approx(0.5) and m["pixel_accuracy"] == pytest.approx(5 / 8)
    assert m["iou"] == pytest.approx({"0": 1 / 3, "1": 0.5, "2": 0.5})
    assert selection_metric("segment").name == "miou" and METRICS["miou"].higher_is_better


def test_segment_iou_counts_parts_present_in_the_targets() -> None:
    target = np.zeros((2, 3, 3), dtype=np.uint8)
    target[0, 0, 0], target[1, 2, 2] = 1, 3  # parts 1 and 3 present; 2 absent
    assert mean_iou(part_ious(target, target)) == 1.0
    assert mean_iou(part_ious(np.zeros_like(target), target)) == 0.0  # all background: the trivial baseline
    pred = target.copy()
    pred[0, 1, 1] = 2  # a false part 2: no IoU of its own, and it costs the background
    ious = part_ious(pred, target)
    assert set(ious) == {0, 1, 3} and ious[0] == pytest.approx(15 / 16) and mean_iou(ious) == 1.0
    assert math.isnan(mean_iou(part_ious(np.zeros_like(target), np.zeros_like(target))))
    with pytest.raises(ValueError, match="one shape"):
        part_ious(pred[:1], target)
