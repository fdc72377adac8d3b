"""What one optimizer step of ``train-task`` computes: the supervised loss, or that loss plus an adapter's.

The task loop (:func:`simgan.train.task.train_task`) owns batching, augmentation of the labelled batch, the
optimizer, validation and checkpoints; a :class:`Learner` owns the loss of one step. The supervised learner
here is the plain source-only run; :mod:`simgan.train.adapt_dann` and :mod:`simgan.train.adapt_self_train`
add a term computed on a batch of unlabelled real images drawn from their own stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import nn

from simgan import distributed
from simgan.data.augment import Augmenter
from simgan.nn.task_model import task_loss

__all__ = ["Learner", "StepStats", "target_augmenter"]


class StepStats:
    """Per-epoch means of the scalars a learner logs (``domain/loss``, ``self_train/mask_rate``, ...)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, key: str, value: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        """The means since the last call, then a fresh start."""
        out = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums, self.counts = {}, {}
        return out


class Learner:
    """The supervised (source-only) step: the task loss of the labelled batch (paper section 3 losses).

    Subclasses add an unlabelled term and may own extra parameters (DANN's domain classifier G_d) or
    state updated after each optimizer step (the mean teacher's EMA).

    A step's forward passes go through ``self.net``: the model itself, or, after :meth:`distribute` in a
    torchrun job, the model in DistributedDataParallel. ``self.model`` stays the bare network (its
    state dict is what is validated and saved).

    Args:
        model: the task network being trained.
        task: classify, gaze or handpose.
    """

    def __init__(self, model: nn.Module, task: str):
        self.model = model
        self.net: nn.Module = model
        self.task = task
        self.stats = StepStats()

    def distribute(self, ranks: distributed.Ranks) -> None:
        """Train through DistributedDataParallel in a job of several ranks (no-op in one process)."""
        self.net = distributed.wrap(self.model, ranks)

    def parameters(self) -> Iterable[nn.Parameter]:
        """Parameters the optimizer updates besides the task network's (none for the supervised step)."""
        return []

    def train(self) -> None:
        """Put the trainable modules in training mode (called once per epoch)."""
        self.model.train()

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: int, total: int) -> torch.Tensor:
        """The loss of one step on the (already augmented) labelled batch.

        Args:
            x: labelled images.
            y: their targets.
            step: optimizer steps taken so far in this phase.
            total: the phase's planned steps (``step / total`` is the training progress p).

        Shape:
            x: (B, C, H, W); y: task targets (:func:`simgan.data.label_to_target`); returns a scalar.
        """
        return task_loss(self.model, self.task, self.net(x), y)

    def after_step(self) -> None:
        """Called after every optimizer step (no-op for the supervised step)."""

    def evaluated(self) -> nn.Module:
        """The network that is validated and saved as ``best.pt`` (the student; the mean teacher for
        self-training)."""
        return self.model

    select_last: bool = False  # keep the last epoch instead of the best validation epoch

    def epoch_stats(self) -> dict[str, float]:
        """The epoch's means of the logged scalars, for ``history.jsonl``."""
        return self.stats.means()


def target_augmenter(task: str, ops: tuple[str, ...]) -> Augmenter | None:
    """The labelled batch's augmentation, for the unlabelled images too (None when there is none).

    Applying the same ops to both domains keeps augmentation itself from becoming a domain cue.
    """
    aug = Augmenter(task, ops)
    return aug if aug else None


def augment_images(
    aug: Augmenter | None, x: torch.Tensor, like: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Augment unlabelled images with ``aug``, using zero targets shaped like one labelled target ``like``.

    Shape:
        x: (B, C, H, W); like: one batch of targets (its trailing shape is used); returns (B, C, H, W).
    """
    if aug is None:
        return x
    dummy = torch.zeros((x.shape[0], *like.shape[1:]), dtype=like.dtype, device=x.device)
    return aug(x, dummy, generator)[0]


def to_device(stream: Iterator[torch.Tensor], device: torch.device) -> Iterator[torch.Tensor]:
    """Move each batch of an endless image stream to ``device``."""
    for x in stream:
        yield x.to(device, non_blocking=True)
