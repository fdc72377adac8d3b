"""Test-time augmentation: the lecture's 10-crop, for networks of a fixed input size.

A view is the image shifted to one of the four corners or kept at the centre (by ``pad`` pixels, the border
replicated: the same pad-and-crop as the ``crop`` augmentation), each also mirrored where a mirror keeps the
label. The network reads every view; each prediction is moved back into the original image's frame, and
the views are averaged:

| task | views | undoing a view | average |
| --- | --- | --- | --- |
| classify | 5 (a mirrored digit is another glyph) | nothing: a class does not move | logits |
| gaze | 10 | mirror: x -> -x (yaw -> -yaw); a shift keeps the gaze | unit vectors, renormalised |
| handpose | 10 | mirror: u -> W - 1 - u; shift: (u, v) - (du, dv) | joints, in pixels |

One hand per image has no left and right joints to swap, so a mirror only moves u.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from simgan.data.augment import ALLOWED, flip, translate
from simgan.gaze import mirror_gaze
from simgan.nn.task_model import predictions

__all__ = ["View", "tta_views", "tta_pad", "tta_predictions"]


@dataclass(frozen=True)
class View:
    """One test-time view: a shift (du, dv) in pixels, then a mirror when ``mirrored``."""

    du: int
    dv: int
    mirrored: bool


def tta_pad(height: int, width: int) -> int:
    """The corner shift: 1/16 of the shorter side, at least 1 pixel (half the training crop's range)."""
    return max(1, round(min(height, width) / 16))


def tta_views(task: str, height: int, width: int) -> list[View]:
    """The 5 or 10 views of a ``task`` image (module docstring); the first is the image itself."""
    p = tta_pad(height, width)
    shifts = [(0, 0), (-p, -p), (p, -p), (-p, p), (p, p)]
    mirrors = (False, True) if "flip" in ALLOWED[task] else (False,)
    return [View(du, dv, m) for m in mirrors for du, dv in shifts]


def _dummy(task: str, b: int, device: torch.device) -> torch.Tensor:
    if task == "classify":
        return torch.zeros(b, dtype=torch.long, device=device)
    return torch.zeros((b, 3) if task == "gaze" else (b, 1, 2), device=device)


@torch.no_grad()
def tta_predictions(model: nn.Module, task: str, x: torch.Tensor) -> torch.Tensor:
    """The model's predictions averaged over the test-time views, in the original image's frame.

    Shape:
        x: (B, C, H, W); returns what :func:`simgan.nn.task_model.predictions` returns for one view:
        logits (B, K), unit gaze (B, 3) or joints (B, J, 2).
    """
    b, _, h, w = x.shape
    like = _dummy(task, b, x.device)
    total: torch.Tensor | None = None
    views = tta_views(task, h, w)
    for view in views:
        shift = torch.tensor([[view.du, view.dv]] * b)
        xv, _ = translate(x, like, task, shift)
        if view.mirrored:
            xv, _ = flip(xv, like, task, torch.ones(b, dtype=torch.bool))
        p = predictions(model, task, model(xv)).float()
        if task == "gaze" and view.mirrored:
            p = mirror_gaze(p)
        elif task == "handpose":
            if view.mirrored:
                p = torch.stack([(w - 1) - p[..., 0], p[..., 1]], dim=-1)
            p = p - torch.tensor([view.du, view.dv], dtype=p.dtype, device=p.device)
        total = p if total is None else total + p
    assert total is not None
    mean = total / len(views)
    return F.normalize(mean, dim=1) if task == "gaze" else mean
