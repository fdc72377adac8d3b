"""What a valid label is, per task (DESIGN.md, "Labels"): one check that every reader and loader shares.

| task | label | valid when |
| --- | --- | --- |
| classify | class index (int) | 0 <= index < number of classes (when the classes are known) |
| gaze | ``{"gaze": [x, y, z], ...}`` | three finite numbers |
| handpose | ``{"uv": [[u, v] x 14], ...}`` | 14 x 2 finite numbers (``xyz`` too, when present) |
| segment | the sample's mask (H, W) uint8 (its ``"mask"`` file) | image-sized; every id < len(mask_classes) |

A label that breaks the rule is bad input: a NaN gaze would train on with a NaN loss, and a class index
of 42 among 10 classes ends in an IndexError deep in the loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TARGET_SHAPES", "label_problem", "mask_problem"]

# task -> (key of the training target, its shape)
TARGET_SHAPES = {"gaze": ("gaze", (3,)), "handpose": ("uv", (14, 2))}
_ALSO_FINITE = {"handpose": ("xyz", (14, 3))}


def label_problem(task: str | None, label: Any, n_classes: int | None = None) -> str | None:
    """What is wrong with ``label`` for ``task``, in a few words; None when it is valid.

    ``n_classes`` bounds classify labels (None: only non-negative is required). An unlabelled sample
    (``task`` or ``label`` None) is always valid.
    """
    if task is None or label is None:
        return None
    if task == "classify":
        if isinstance(label, bool) or not isinstance(label, int | np.integer):
            return f"classify label must be a class index, got {label!r:.80}"
        if label < 0 or (n_classes is not None and label >= n_classes):
            bound = f"0..{n_classes - 1}" if n_classes is not None else ">= 0"
            return f"class index {int(label)} is out of range ({bound})"
        return None
    if task not in TARGET_SHAPES:
        return f"unknown task {task!r}"
    checks = [(*TARGET_SHAPES[task], True)]
    if task in _ALSO_FINITE:
        checks.append((*_ALSO_FINITE[task], False))
    if not isinstance(label, dict):
        return f"{task} label must be an object with {TARGET_SHAPES[task][0]!r}, got {label!r:.80}"
    for key, shape, required in checks:
        if key not in label:
            if required:
                return f"{task} label must be an object with {key!r}, got {label!r:.80}"
            continue
        try:
            value = np.asarray(label[key], dtype=np.float64)
        except (TypeError, ValueError):
            return f"{task} label {key!r} is not numeric: {label[key]!r:.80}"
        if value.shape != shape:
            return f"{task} label {key!r} has shape {value.shape}, expected {shape}"
        if not np.isfinite(value).all():
            return f"{task} label {key!r} holds NaN or inf"
    return None


def mask_problem(mask: Any, n_classes: int, size: tuple[int, int]) -> str | None:
    """What is wrong with a segment target, in a few words; None when it is valid.

    Args:
        mask: the sample's mask, class ids per pixel.
        n_classes: the number of mask classes; every id must be below it.
        size: the image's (H, W), which the mask must match.

    Shape:
        mask: (H, W) uint8.
    """
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8:
        return f"segment target must be a uint8 mask, got {type(mask).__name__} {getattr(mask, 'dtype', '')}"
    if mask.shape != tuple(size):
        return f"mask has shape {mask.shape}, but the image is {size[0]}x{size[1]}"
    if mask.size and int(mask.max()) >= n_classes:
        return f"mask holds class id {int(mask.max())}, but there are {n_classes} mask classes"
    return None
