"""The mean teacher of self-training (Tarvainen & Valpola 2017; French et al. 2018, "Self-ensembling for
visual domain adaptation"): a copy of the student whose weights are an exponential moving average of the
student's, theta_T <- d * theta_T + (1 - d) * theta_S after every optimizer step.

The teacher is smoother than the student, so its pseudo-labels on the unlabelled real images are steadier;
:class:`simgan.train.adapt_self_train.SelfTrainLearner` drives it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMATeacher"]


class EMATeacher:
    """An EMA copy of ``model``: frozen (no gradients), in eval mode, on the model's device.

    Args:
        model: the student; the teacher starts as an exact copy of it.
        decay: d in [0, 1); 0 makes the teacher the student's last weights.

    Buffers (BatchNorm running statistics, counters) are copied from the student, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMATeacher decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step toward the student's current weights."""
        for t, s in zip(self.module.parameters(), model.parameters(), strict=True):
            t.lerp_(s.detach(), 1.0 - self.decay)  # t + (1 - d) (s - t) = d t + (1 - d) s
        for t, s in zip(self.module.buffers(), model.buffers(), strict=True):
            t.copy_(s)
