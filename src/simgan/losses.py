"""SimGAN losses (paper, section 2): the local adversarial loss and self-regularization.

Symbols: D outputs per patch two logits, channel :data:`REAL` (0) and :data:`REFINED` (1); the paper's
D_phi(.) is the softmax probability of the refined ("fake") class.

- Discriminator, eq. (2): ``L_D = -sum_i log D(x~_i) - sum_j log(1 - D(y_j))``, i.e. cross-entropy with
  target 1 for every refined image x~_i and 0 for every real image y_j, per patch (section 2.2, Fig. 3).
- Refiner realism, eq. (3): ``l_real = -log(1 - D(R(x)))``, i.e. cross-entropy toward the *real* class,
  per patch.
- Self-regularization, eq. (4): ``lambda * ||psi(R(x)) - psi(x)||_1`` with the feature map psi one of
  :data:`PSI`: ``identity`` (the paper's default), ``channel_mean`` (mean of colour channels, Fig. 6) or
  ``downsample`` (2x2 average pooling: only low frequencies are tied to the simulator).

Reductions: the paper sums over patches and images; we average (``reduction="mean"``, the default) so a
loss's scale, and thus lambda, does not depend on the batch size or the number of patches and pixels.
``reduction="sum"`` gives the paper's sums.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "REAL",
    "REFINED",
    "PSI",
    "local_adversarial_loss",
    "discriminator_loss",
    "refiner_adversarial_loss",
    "patch_accuracy",
    "psi_identity",
    "psi_channel_mean",
    "psi_downsample",
    "self_regularization_loss",
    "SelfRegularizationLoss",
]

REAL = 0
REFINED = 1


def _check_logits(logits: torch.Tensor) -> None:
    if logits.ndim != 4 or logits.shape[1] != 2:
        raise ValueError(f"expected patch logits of shape (B, 2, h, w), got {tuple(logits.shape)}")


def local_adversarial_loss(logits: torch.Tensor, target: int, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of every patch's 2-class softmax toward class ``target`` (Fig. 3).

    Args:
        logits: D's output.
        target: :data:`REAL` or :data:`REFINED`, the class every patch should be.
        reduction: ``"mean"`` over images and patches, or ``"sum"`` (the paper's sum).

    Shape:
        logits: (B, 2, h, w); returns a scalar.
    """
    _check_logits(logits)
    if target not in (REAL, REFINED):
        raise ValueError(f"target must be REAL (0) or REFINED (1), got {target}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    # -log softmax(logits)[target] per patch; computed in float32 for stability under bf16 autocast.
    nll = -F.log_softmax(logits.float(), dim=1)[:, target]  # (B, h, w)
    return nll.mean() if reduction == "mean" else nll.sum()


def discriminator_loss(
    logits_refined: torch.Tensor, logits_real: torch.Tensor, reduction: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (2) as its two parts: refined patches toward class 1, real patches toward class 0.

    ``L_D`` is their sum.

    Shape:
        logits_refined: (B1, 2, h, w); logits_real: (B2, 2, h, w); returns two scalars (refined, real).
    """
    return (
        local_adversarial_loss(logits_refined, REFINED, reduction),
        local_adversarial_loss(logits_real, REAL, reduction),
    )


def refiner_adversarial_loss(logits_refined: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. (3): ``-log(1 - D(R(x)))`` per patch, the refined images' cross-entropy toward "real".

    Shape:
        logits_refined: (B, 2, h, w); returns a scalar.
    """
    return local_adversarial_loss(logits_refined, REAL, reduction)


@torch.no_grad()
def patch_accuracy(logits: torch.Tensor, target: int) -> torch.Tensor:
    """Fraction of patches D assigns to ``target`` (its accuracy on images whose true class is ``target``).

    Shape:
        logits: (B, 2, h, w); returns a scalar in [0, 1].
    """
    _check_logits(logits)
    return (logits.argmax(dim=1) == target).float().mean()


def psi_identity(x: torch.Tensor) -> torch.Tensor:
    """psi(x) = x, the paper's default feature map.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    return x


def psi_channel_mean(x: torch.Tensor) -> torch.Tensor:
    """psi(x) = mean over colour channels (paper, Fig. 6): colour may change, brightness may not.

    Shape:
        x: (B, C, H, W) -> (B, 1, H, W).
    """
    return x.mean(dim=1, keepdim=True)


def psi_downsample(x: torch.Tensor) -> torch.Tensor:
    """psi(x) = 2x2 average pooling (ceil mode, so odd sizes keep their last row/column): fine texture
    is free to change, the coarse image is not.

    Shape:
        x: (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)).
    """
    return F.avg_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)


PSI: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": psi_identity,
    "channel_mean": psi_channel_mean,
    "downsample": psi_downsample,
}


def self_regularization_loss(
    refined: torch.Tensor,
    synthetic: torch.Tensor,
    lambda_reg: float = 1.0,
    psi: str = "identity",
    reduction: str = "mean",
) -> torch.Tensor:
    """``lambda * ||psi(R(x)) - psi(x)||_1`` (eq. 4, second term).

    Args:
        refined: R(x).
        synthetic: x.
        lambda_reg: the weight lambda.
        psi: a key of :data:`PSI`.
        reduction: ``"mean"`` absolute difference per feature, or ``"sum"`` (the paper's L1 norm).

    Shape:
        refined, synthetic: (B, C, H, W), equal; returns a scalar.
    """
    if refined.shape != synthetic.shape or refined.ndim != 4:
        raise ValueError(
            f"refined and synthetic must have the same shape (B, C, H, W), got {tuple(refined.shape)} "
            f"and {tuple(synthetic.shape)}"
        )
    if psi not in PSI:
        raise ValueError(f"unknown psi {psi!r} (choose from {', '.join(PSI)})")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    f = PSI[psi]
    diff = (f(refined.float()) - f(synthetic.float())).abs()
    return lambda_reg * (diff.mean() if reduction == "mean" else diff.sum())


class SelfRegularizationLoss(nn.Module):
    """Module form of :func:`self_regularization_loss`.

    Shape:
        refined, synthetic: (B, C, H, W); returns a scalar.
    """

    def __init__(self, lambda_reg: float = 1.0, psi: str = "identity", reduction: str = "mean"):
        super().__init__()
        self.lambda_reg = lambda_reg
        self.psi = psi
        self.reduction = reduction

    def forward(self, refined: torch.Tensor, synthetic: torch.Tensor) -> torch.Tensor:
        return self_regularization_loss(refined, synthetic, self.lambda_reg, self.psi, self.reduction)
