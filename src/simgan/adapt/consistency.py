"""The semantic-consistency loss of label-consistent refinement (CyCADA, Hoffman et al. 2018, eq. 4):
a frozen task model f trained on the synthetic data must read R(x) as it reads x.

| task | loss on f(x) (held fixed) and f(R(x)) |
| --- | --- |
| classify | KL(softmax f(x) \\|\\| softmax f(R(x))), mean over the batch |
| gaze | squared distance between the unit gaze vectors, mean over the batch |
| handpose | mean squared difference of the last stack's joint heatmaps |

Each is exactly zero when R is the identity and positive once R changes what f reads, so self-
regularization may relax while the label holds. f(x) is a fixed target (no gradient); the gradient reaches
R through f(R(x)) only, and f's own weights are frozen by the caller.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from simgan.nn.hourglass import HourglassNet

__all__ = ["consistency_loss"]


def consistency_loss(model: nn.Module, x: torch.Tensor, refined: torch.Tensor, task: str) -> torch.Tensor:
    """How far the frozen ``model``'s reading of ``refined`` departs from its reading of ``x``.

    Args:
        model: a task network in eval mode (classify: logits; gaze: 3-D vector; handpose: hourglass).
        x: the synthetic batch; refined: R(x).
        task: classify, gaze or handpose.

    Shape:
        x, refined: (B, C, H, W); returns a scalar.
    """
    with torch.no_grad():
        target = model(x).float()
    out = model(refined).float()
    if task == "classify":
        return F.kl_div(
            F.log_softmax(out, dim=1), F.log_softmax(target, dim=1), log_target=True, reduction="batchmean"
        )
    if task == "gaze":
        return ((F.normalize(out, dim=1) - F.normalize(target, dim=1)) ** 2).sum(dim=1).mean()
    if task == "handpose":
        if not isinstance(model, HourglassNet):
            raise TypeError(f"handpose consistency needs an HourglassNet, got {type(model).__name__}")
        return F.mse_loss(out[:, -1], target[:, -1])  # (B, J, h, w) heatmaps of the last stack
    raise ValueError(f"consistency_loss: unknown task {task!r}")
