"""Domain-adversarial training (DANN; Ganin & Lempitsky 2015, Ganin et al. 2016): a domain classifier G_d
on the task network's features, trained through a gradient reversal layer.

Wiring, per step (a source batch with labels, a target batch of unlabelled real images)::

    out_s, f_s = net(x_s, with_features=True)          # (B, K) and (B, F)
    _, f_t = net(x_t, with_features=True)
    adv = adversary(f_s, f_t, alpha=dann_alpha(step / total))
    loss = task_loss(out_s, y_s) + adv.loss              # one backward trains net and G_d

The domain classifier minimises its cross-entropy; the reversed gradient makes the features maximise it,
so the features that survive are the ones that do not tell synthetic from real. ``adv.accuracy`` near 0.5
means the features are aligned (as far as G_d can see).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from simgan.adapt.grl import grad_reverse

__all__ = ["DomainClassifier", "dann_loss", "domain_accuracy", "DomainAdversary", "DomainLossOutput"]

SOURCE, TARGET = 0.0, 1.0  # domain labels: synthetic or refined = 0, unlabelled real = 1


class DomainClassifier(nn.Module):
    """G_d: an MLP from a feature vector to one domain logit (> 0: target / real).

    Ganin et al. use ``Linear(F, h) -> ReLU -> ... -> Linear(h, 1)`` with one hidden layer for digits and
    two (1024 wide) for larger nets; ``layers`` picks how many.

    Args:
        feature_dim: F, width of the features (the task network's ``feature_dim``).
        hidden: units of each hidden layer.
        layers: number of hidden layers (>= 1).

    Shape:
        feats: (B, F); returns logits (B,).
    """

    def __init__(self, feature_dim: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        if feature_dim < 1 or hidden < 1 or layers < 1:
            raise ValueError(
                f"DomainClassifier needs feature_dim >= 1, hidden >= 1, layers >= 1; got "
                f"{feature_dim}, {hidden}, {layers}"
            )
        self.feature_dim = feature_dim
        blocks: list[nn.Module] = []
        width = feature_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.ndim != 2 or feats.shape[1] != self.feature_dim:
            raise ValueError(f"DomainClassifier expects (B, {self.feature_dim}), got {tuple(feats.shape)}")
        return self.net(feats).squeeze(1)  # (B,)


def _check_logits(source: torch.Tensor, target: torch.Tensor) -> None:
    if source.ndim != 1 or target.ndim != 1 or source.numel() + target.numel() == 0:
        raise ValueError(
            f"domain logits must be (B_s,) and (B_t,) with B_s + B_t > 0, got {tuple(source.shape)} and "
            f"{tuple(target.shape)}"
        )


def dann_loss(domain_logits_source: torch.Tensor, domain_logits_target: torch.Tensor) -> torch.Tensor:
    """L_d: binary cross-entropy of the domain classifier, source = 0, target = 1 (Ganin & Lempitsky 2015).

    The mean is over all B_s + B_t samples, each counted once (the paper sums over samples of both
    domains), so a larger batch from one domain weighs in proportion. Computed in float32 for autocast.

    Shape:
        domain_logits_source: (B_s,); domain_logits_target: (B_t,); returns a scalar.
    """
    _check_logits(domain_logits_source, domain_logits_target)
    logits = torch.cat([domain_logits_source, domain_logits_target]).float()  # (B_s + B_t,)
    labels = torch.cat(
        [torch.full_like(domain_logits_source, SOURCE), torch.full_like(domain_logits_target, TARGET)]
    ).float()
    return F.binary_cross_entropy_with_logits(logits, labels)


@torch.no_grad()
def domain_accuracy(domain_logits_source: torch.Tensor, domain_logits_target: torch.Tensor) -> torch.Tensor:
    """Fraction of samples the domain classifier assigns to their own domain (0.5: indistinguishable).

    Shape:
        domain_logits_source: (B_s,); domain_logits_target: (B_t,); returns a scalar.
    """
    _check_logits(domain_logits_source, domain_logits_target)
    right = (domain_logits_source <= 0).sum() + (domain_logits_target > 0).sum()
    return right.float() / (domain_logits_source.numel() + domain_logits_target.numel())


class DomainLossOutput(NamedTuple):
    """What :class:`DomainAdversary` returns: the loss to add, and the domain accuracy to log."""

    loss: torch.Tensor
    accuracy: torch.Tensor


class DomainAdversary(nn.Module):
    """Gradient reversal + :class:`DomainClassifier` + :func:`dann_loss`: the DANN branch as one module.

    Its parameters (those of G_d) go into the task network's optimizer or their own; either way a single
    backward pass of ``task loss + output.loss`` trains both sides of the min-max.

    Args:
        feature_dim: F, the task network's ``feature_dim``.
        hidden: units of each hidden layer of G_d.
        layers: hidden layers of G_d.

    Shape:
        feats_source: (B_s, F); feats_target: (B_t, F); returns scalars (loss, accuracy).
    """

    def __init__(self, feature_dim: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        self.classifier = DomainClassifier(feature_dim, hidden, layers)

    def forward(
        self, feats_source: torch.Tensor, feats_target: torch.Tensor, alpha: float = 1.0
    ) -> DomainLossOutput:
        f = self.classifier.feature_dim
        if (
            feats_source.ndim != 2
            or feats_target.ndim != 2
            or {feats_source.shape[1], feats_target.shape[1]} != {f}
        ):
            raise ValueError(
                f"DomainAdversary expects features (B_s, {f}) and (B_t, {f}), "
                f"got {tuple(feats_source.shape)} and {tuple(feats_target.shape)}"
            )
        # One G_d pass over both domains: batch statistics (if G_d ever gets normalisation) see both.
        n = feats_source.shape[0]
        feats = grad_reverse(torch.cat([feats_source, feats_target]), alpha)  # (B_s + B_t, F)
        logits = self.classifier(feats)  # (B_s + B_t,)
        ls, lt = logits[:n], logits[n:]
        return DomainLossOutput(dann_loss(ls, lt), domain_accuracy(ls.detach(), lt.detach()))
