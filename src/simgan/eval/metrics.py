"""Task metrics as pure functions on predictions and targets, and the registry that names them.

A metric is registered with :func:`register_metric` under the key it writes into ``metrics.json``;
:func:`task_metrics` computes every metric of a task, so the trainer's validation, ``train-task``'s test
report and ``experiment gap`` all use the same code. Keys (DESIGN.md):

| task | key | value |
| --- | --- | --- |
| classify | ``accuracy`` | fraction of correct argmax predictions |
| classify | ``confusion`` | K x K counts, row = true class, column = predicted class |
| gaze | ``angular_error_deg`` | mean angle between predicted and true gaze vectors, degrees |
| gaze | ``within_deg`` | {"0": f, ..., "20": f}: fraction of samples with error <= d degrees |
| handpose | ``mean_error_px`` | mean 2-D joint error over all frames and joints, pixels |
| handpose | ``within_px`` | {"0": f, ..., "20": f}: fraction of *joints* (all frames) with error <= d |
| handpose | ``frames_within_px`` | {"0": f, ..., "20": f}: fraction of *frames* whose worst joint is <= d |
| segment | ``miou`` | mean IoU over the parts (ids >= 1) present in the targets |
| segment | ``iou`` | {"0": f, "1": f, ...}: IoU of each id present in the targets (0 = background) |
| segment | ``pixel_accuracy`` | fraction of pixels whose predicted id is right (background included) |

Both hand aggregations are reported because which one SimGAN's Figure 9 used is not stated
(FORMATS.md); per-frame is the stricter one. Inputs may be NumPy arrays or CPU torch tensors.

Segment IoU is counted over the whole set, not averaged per image: IoU_k = |pred = k and target = k| /
|pred = k or target = k| over every pixel of every image. An id absent from the targets has no IoU (a
prediction of it costs the other ids' IoU through their missed pixels); mIoU is the mean over the parts
present, leaving out the background, which dominates the pixels and would hide the small parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simgan.gaze import angular_error

__all__ = [
    "Metric",
    "METRICS",
    "WITHIN_THRESHOLDS",
    "register_metric",
    "task_metrics",
    "selection_metric",
    "predicted_classes",
    "accuracy",
    "confusion_matrix",
    "angular_errors_deg",
    "keypoint_errors",
    "within_curve",
    "part_confusion",
    "part_ious",
    "mean_iou",
]

WITHIN_THRESHOLDS = tuple(range(21))  # d = 0..20 (degrees for gaze, pixels for hands)


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``fn(pred, target) -> JSON value`` for ``task`` (None: not a task metric)."""

    name: str
    fn: Callable[[Any, Any], Any]
    task: str | None
    higher_is_better: bool | None


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, *, task: str | None = None, higher_is_better: bool | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``fn`` under ``name`` (its ``metrics.json`` key), optionally for one task.

    ``higher_is_better`` is set for scalar metrics usable for model selection.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        METRICS[name] = Metric(name, fn, task, higher_is_better)
        return fn

    return wrap


def task_metrics(task: str, pred: Any, target: Any) -> dict[str, Any]:
    """Every registered metric of ``task``, keyed by name, in registration order.

    Shape:
        classify: pred (N, K) scores or (N,) classes, target (N,); gaze: pred (N, 3), target (N, 3);
        handpose: pred (N, J, 2), target (N, J, 2) pixels.
    """
    found = {m.name: m.fn(pred, target) for m in METRICS.values() if m.task == task}
    if not found:
        raise ValueError(f"no metrics registered for task {task!r}")
    return found


_SELECTION = {
    "classify": "accuracy",
    "gaze": "angular_error_deg",
    "handpose": "mean_error_px",
    "segment": "miou",
}


def selection_metric(task: str) -> Metric:
    """The scalar metric that picks the best checkpoint on the validation split for ``task``."""
    return METRICS[_SELECTION[task]]


def _array(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty array, got shape {arr.shape}")
    return arr


def predicted_classes(pred: Any) -> np.ndarray:
    """Classes from (N, K) scores (argmax) or (N,) class indices."""
    p = _array(pred, "pred")
    return p.argmax(axis=1) if p.ndim == 2 else p.astype(np.int64)


def accuracy(pred: Any, target: Any) -> float:
    """Fraction of samples whose predicted class equals the target.

    Shape:
        pred: (N, K) or (N,); target: (N,).
    """
    p, t = predicted_classes(pred), _array(target, "target").astype(np.int64)
    if p.shape != t.shape:
        raise ValueError(f"pred gives {p.shape[0]} classes for {t.shape[0]} targets")
    return float((p == t).mean())


def confusion_matrix(pred: Any, target: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts (K, K): row = true class, column = predicted class.

    K is ``num_classes``, else the score width of (N, K) predictions, else 1 + the largest index seen.
    """
    p, t = predicted_classes(pred), _array(target, "target").astype(np.int64)
    if p.shape != t.shape:
        raise ValueError(f"pred gives {p.shape[0]} classes for {t.shape[0]} targets")
    if num_classes is None:
        scores = _array(pred, "pred")
        num_classes = scores.shape[1] if scores.ndim == 2 else int(max(p.max(), t.max())) + 1
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def angular_errors_deg(pred: Any, target: Any) -> np.ndarray:
    """Angle between gaze vectors in degrees, per sample (:func:`simgan.gaze.angular_error`).

    Shape:
        pred, target: (N, 3) (need not be unit length); returns (N,).
    """
    a, b = _array(pred, "pred").astype(np.float64), _array(target, "target").astype(np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"gaze pred and target must both be (N, 3), got {a.shape} and {b.shape}")
    return angular_error(a, b)


def keypoint_errors(pred: Any, target: Any) -> np.ndarray:
    """Euclidean 2-D error per frame and joint, in pixels.

    Shape:
        pred, target: (N, J, 2); returns (N, J).
    """
    a, b = _array(pred, "pred").astype(np.float64), _array(target, "target").astype(np.float64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 2:
        raise ValueError(f"keypoint pred and target must both be (N, J, 2), got {a.shape} and {b.shape}")
    return np.linalg.norm(a - b, axis=2)


def part_confusion(pred: Any, target: Any) -> np.ndarray:
    """Pixel counts (K, K) over every image: row = true id, column = predicted id; K = 1 + the largest id.

    Shape:
        pred, target: (N, H, W) integer class ids (any shape, the same for both).
    """
    p, t = _array(pred, "pred").astype(np.int64), _array(target, "target").astype(np.int64)
    if p.shape != t.shape:
        raise ValueError(f"segment pred and target must have one shape, got {p.shape} and {t.shape}")
    if p.min() < 0 or t.min() < 0:
        raise ValueError("class ids must be >= 0")
    k = int(max(p.max(), t.max())) + 1
    return np.bincount((t * k + p).ravel(), minlength=k * k).reshape(k, k)


def part_ious(pred: Any, target: Any) -> dict[int, float]:
    """IoU of each id present in ``target``, over the whole set (module docstring).

    Shape:
        pred, target: (N, H, W) integer class ids.
    """
    c = part_confusion(pred, target)
    hits = np.diag(c)
    union = c.sum(0) + c.sum(1) - hits
    return {k: float(hits[k] / union[k]) for k in range(len(c)) if c[k].sum() > 0}


def mean_iou(ious: dict[int, float]) -> float:
    """The mean IoU of the parts (ids >= 1) in ``ious``; NaN when the targets hold no part at all."""
    parts = [v for k, v in ious.items() if k >= 1]
    return float(np.mean(parts)) if parts else float("nan")


def within_curve(errors: Any, thresholds: tuple[int, ...] = WITHIN_THRESHOLDS) -> dict[str, float]:
    """Fraction of ``errors`` <= d for each threshold d, keyed by ``str(d)`` (a cumulative curve).

    Shape:
        errors: any shape; every element counts once.
    """
    e = _array(errors, "errors").ravel()
    return {str(d): float((e <= d).mean()) for d in thresholds}


# --- classify -----------------------------------------------------------------------------------------


@register_metric("accuracy", task="classify", higher_is_better=True)
def _accuracy(pred: Any, target: Any) -> float:
    return accuracy(pred, target)


@register_metric("confusion", task="classify")
def _confusion(pred: Any, target: Any) -> list[list[int]]:
    return confusion_matrix(pred, target).tolist()


# --- gaze ---------------------------------------------------------------------------------------------


@register_metric("angular_error_deg", task="gaze", higher_is_better=False)
def _angular_error_deg(pred: Any, target: Any) -> float:
    return float(angular_errors_deg(pred, target).mean())


@register_metric("within_deg", task="gaze")
def _within_deg(pred: Any, target: Any) -> dict[str, float]:
    return within_curve(angular_errors_deg(pred, target))


# --- handpose -----------------------------------------------------------------------------------------


@register_metric("mean_error_px", task="handpose", higher_is_better=False)
def _mean_error_px(pred: Any, target: Any) -> float:
    return float(keypoint_errors(pred, target).mean())


@register_metric("within_px", task="handpose")
def _within_px(pred: Any, target: Any) -> dict[str, float]:
    return within_curve(keypoint_errors(pred, target))  # per joint: every (frame, joint) pair counts


@register_metric("frames_within_px", task="handpose")
def _frames_within_px(pred: Any, target: Any) -> dict[str, float]:
    return within_curve(keypoint_errors(pred, target).max(axis=1))  # per frame: its worst joint


# --- segment ------------------------------------------------------------------------------------------


@register_metric("miou", task="segment", higher_is_better=True)
def _miou(pred: Any, target: Any) -> float:
    return mean_iou(part_ious(pred, target))


@register_metric("iou", task="segment")
def _iou(pred: Any, target: Any) -> dict[str, float]:
    return {str(k): v for k, v in part_ious(pred, target).items()}


@register_metric("pixel_accuracy", task="segment", higher_is_better=True)
def _pixel_accuracy(pred: Any, target: Any) -> float:
    c = part_confusion(pred, target)
    return float(np.trace(c) / c.sum())
