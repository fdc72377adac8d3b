"""Optimizers and learning-rate schedulers by name, as the lectures teach them.

| name | update |
| --- | --- |
| sgd | theta -= lr * g |
| momentum | classical (heavy-ball) momentum, mu = ``momentum`` |
| nesterov | Nesterov accelerated gradient |
| adagrad | per-parameter lr scaled by the root of the summed squared gradients |
| rmsprop | per-parameter lr scaled by a running RMS of the gradients |
| adam | momentum + RMS scaling with bias correction |
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["OPTIMIZERS", "SCHEDULERS", "build_optimizer", "build_scheduler"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
SCHEDULERS = ("none", "step", "exponential")


def build_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    lr: float,
    *,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """Make the optimizer ``name`` (one of :data:`OPTIMIZERS`)."""
    if lr <= 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r} (choose from {', '.join(OPTIMIZERS)})")


def build_scheduler(
    name: str, optimizer: torch.optim.Optimizer, *, step_size: int = 1000, gamma: float = 0.5
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Make the scheduler ``name`` (one of :data:`SCHEDULERS`); ``none`` gives None.

    ``step``: lr *= gamma every ``step_size`` scheduler steps; ``exponential``: lr *= gamma every step.
    """
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    raise ValueError(f"unknown scheduler {name!r} (choose from {', '.join(SCHEDULERS)})")
