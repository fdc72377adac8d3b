"""The gradient reversal layer of DANN (Ganin & Lempitsky 2015, "Unsupervised Domain Adaptation by
Backpropagation", ICML 2015; Ganin et al. 2016, "Domain-Adversarial Training of Neural Networks", JMLR)
and its adaptation-factor schedule.

The layer is the identity in the forward pass and multiplies the gradient by -alpha in the backward pass.
Placed between a feature extractor G_f and a domain classifier G_d, one backward pass then trains G_d to
*tell* the domains apart while it trains G_f to make them *indistinguishable*: the paper's saddle point of
E(theta_f, theta_y, theta_d) = L_y - lambda L_d, reached with ordinary SGD steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["grad_reverse", "GradReverse", "dann_alpha"]


class _GradReverse(torch.autograd.Function):
    """Identity forward; backward: grad -> -alpha * grad (no gradient for alpha)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, alpha: float) -> torch.Tensor:
        ctx.alpha = alpha  # type: ignore[attr-defined]
        return x.view_as(x)  # a view, so autograd records this node (returning x itself would not)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.alpha * grad, None  # type: ignore[attr-defined]


def grad_reverse(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Gradient reversal R_lambda (Ganin & Lempitsky 2015): R(x) = x, dR/dx = -alpha I.

    Args:
        x: any tensor, usually the features G_f(x) entering the domain classifier.
        alpha: the adaptation factor (the paper's lambda), >= 0; 0 blocks the gradient entirely.

    Returns:
        a tensor equal to ``x`` whose gradient is multiplied by ``-alpha`` on the way back.

    Shape:
        x: any; returns the same shape.
    """
    alpha = float(alpha)
    if not alpha >= 0.0:  # also refuses NaN
        raise ValueError(f"grad_reverse: alpha must be >= 0, got {alpha}")
    return _GradReverse.apply(x, alpha)


class GradReverse(nn.Module):
    """Module form of :func:`grad_reverse`; set ``.alpha`` each step to follow :func:`dann_alpha`.

    Args:
        alpha: the adaptation factor (the paper's lambda), >= 0.

    Shape:
        x: any; returns the same shape.
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


def dann_alpha(progress: float, gamma: float = 10.0) -> float:
    """The paper's adaptation-factor ramp lambda_p = 2 / (1 + exp(-gamma p)) - 1 (Ganin & Lempitsky 2015).

    It starts at 0, so the domain classifier's noisy early signal cannot disturb the feature extractor,
    and approaches 1 (0.99991 at p = 1 with the paper's gamma = 10).

    Args:
        progress: p, training progress from 0 to 1 (step / total steps).
        gamma: steepness (10 in the paper).

    Returns:
        lambda_p in [0, 1).
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"dann_alpha: progress must be in [0, 1], got {progress}")
    if not gamma > 0.0:
        raise ValueError(f"dann_alpha: gamma must be > 0, got {gamma}")
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0
