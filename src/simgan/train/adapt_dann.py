"""The DANN step of ``train-task --adapt dann`` (Ganin & Lempitsky 2015, "Unsupervised Domain Adaptation by
Backpropagation"): the task loss on a labelled source batch plus the domain loss of G_d on both domains'
features, seen through the gradient reversal layer.

Per step::

    out_s, f_s = net(x_s, with_features=True)          # source: synthetic or refined, labelled
    _, f_t = net(x_t, with_features=True)              # target: unlabelled real images
    alpha = adapt_weight * (2 / (1 + exp(-10 p)) - 1)  # the paper's ramp, p = step / total
    loss = task_loss(out_s, y_s) + L_d(G_d(R_alpha(f_s)), G_d(R_alpha(f_t)))

G_d minimises L_d; the reversal makes the features maximise it. The features are the task network's
``forward_with_features`` ones (digit CNN: its 100-unit hidden layer; gaze CNN: the hidden FC layer;
hourglass: the last stack's pooled features). The two domains go through the network in separate passes,
so a BatchNorm network (the hourglass) keeps per-domain batch statistics, as in the DANN paper's setup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import nn

from simgan import distributed
from simgan.adapt.dann import DomainAdversary
from simgan.adapt.grl import dann_alpha
from simgan.data.augment import Augmenter
from simgan.nn.task_model import task_loss
from simgan.train.adapt_learner import Learner, augment_images

__all__ = ["DannLearner"]


class DannLearner(Learner):
    """Task loss + domain-adversarial loss; logs ``domain/loss``, ``domain/accuracy`` and ``domain/alpha``.

    Args:
        model: the task network (must have ``feature_dim`` and ``forward(x, with_features=True)``).
        task: classify, gaze or handpose.
        target: endless stream of unlabelled target batches, already on the model's device.
        weight: lambda, the largest reversal weight (reached at the end of the ramp).
        hidden: units per hidden layer of G_d.
        layers: hidden layers of G_d.
        augment: the source batch's augmentation, applied to the target batch too (None: none).
        generator: draws the target batch's augmentation parameters.
    """

    def __init__(
        self,
        model: nn.Module,
        task: str,
        target: Iterator[torch.Tensor],
        *,
        weight: float,
        hidden: int,
        layers: int,
        augment: Augmenter | None,
        generator: torch.Generator,
    ):
        super().__init__(model, task)
        device = next(model.parameters()).device
        self.adversary = DomainAdversary(int(model.feature_dim), hidden, layers).to(device)
        self.adversary_net: nn.Module = self.adversary
        self.target = target
        self.weight = weight
        self.augment = augment
        self.generator = generator

    def parameters(self) -> Iterable[nn.Parameter]:
        return self.adversary.parameters()

    def distribute(self, ranks: distributed.Ranks) -> None:
        super().distribute(ranks)
        self.adversary_net = distributed.wrap(self.adversary, ranks)

    def train(self) -> None:
        self.model.train()
        self.adversary.train()

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: int, total: int) -> torch.Tensor:
        x_t = augment_images(self.augment, next(self.target), y, self.generator)  # (B_t, C, H, W)
        out_s, f_s = self.net(x, with_features=True)  # (B, ...), (B, F)
        _, f_t = self.net(x_t, with_features=True)  # (B_t, F)
        alpha = self.weight * dann_alpha(min(1.0, step / max(1, total)))
        adv = self.adversary_net(f_s, f_t, alpha=alpha)
        self.stats.add("domain/loss", float(adv.loss.detach()))
        self.stats.add("domain/accuracy", float(adv.accuracy))
        self.stats.add("domain/alpha", alpha)
        return task_loss(self.model, self.task, out_s, y) + adv.loss
