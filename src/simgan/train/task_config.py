"""What a ``train-task`` run depends on: :class:`TaskConfig`, saved as ``RUN/config.json`` and in every
checkpoint, and the adaptation methods it may name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simgan.errors import InputError

__all__ = ["ADAPT_METHODS", "TaskConfig"]

ADAPT_METHODS = ("none", "dann", "self-train")


@dataclass(frozen=True)
class TaskConfig:
    """Everything a ``train-task`` run depends on; saved as ``RUN/config.json`` and in every checkpoint.

    Attributes:
        task: classify, gaze or handpose (must match every dataset's task), or segment (learns the
            per-pixel masks a dataset carries, whatever its task: ``simulate hands`` writes part masks).
        epochs: training epochs on the ``--train`` sets (at least; ``min_steps`` may add more).
        min_steps: the step floor: the train phase takes at least this many optimizer steps, adding
            epochs when ``epochs`` would take fewer (a small set converges; docs/train_task.md).
        batch_size: samples per step (the paper used 512 for gaze; 128 is faster per image on a CPU).
        optimizer: sgd, momentum, nesterov, adagrad, rmsprop or adam (``simgan.train.optim``).
        lr: learning rate (the paper: a constant 0.001).
        momentum: momentum for ``momentum`` / ``nesterov``.
        weight_decay: L2 penalty on the weights.
        scheduler: none, step (lr *= lr_gamma every lr_step epochs) or exponential (lr *= lr_gamma ** (1 /
            lr_step) every epoch, so both schedules halve the rate over the same span by default).
        lr_step: epochs per StepLR decay, and the span of one lr_gamma factor for ExponentialLR.
        lr_gamma: the decay factor.
        augment: op names from ``simgan.data.augment`` (flip, crop, rotate, jitter), or ``auto``: the
            task's default (``simgan.data.augment.AUTO``: crop for classify, none for gaze, handpose and
            segment).
        val_fraction: share of the training data held out (seeded) for model selection.
        patience: stop after this many epochs without a better validation score (0: never stop early);
            never before ``min_steps`` steps.
        finetune_epochs: epochs on the fine-tune set (0: half of ``epochs``, at least 1).
        finetune_lr_factor: the fine-tune learning rate is ``lr * finetune_lr_factor``.
        width: network width (0: the default, 16 for the digit CNN and the U-Net, 64 for the hourglass);
            unused by the gaze CNN, whose widths are the paper's.
        gaze_hidden: units of the gaze CNN's hidden FC layer (paper: 1000).
        hg_stacks: hourglass stacks (paper: 2).
        hg_depth: halvings inside each hourglass.
        hg_stride: heatmap stride, 2 or 4 (heatmaps at 1/2 or 1/4 of the input).
        hg_sigma: target Gaussian std in heatmap pixels.
        hg_decode: argmax or soft-argmax.
        seg_depth: segment: the U-Net's 2x down-samplings (image sides must be divisible by 2**seg_depth).
        seed: seeds the weights, the validation split, shuffling and augmentation.
        device: auto, cpu, cuda, ...
        workers: DataLoader workers when streaming from disk.
        in_memory_mb: load a dataset into memory when its float pixels fit in this many MiB.
        checkpoint_interval_s: write best.pt / last.pt at most this often during a phase (and always at
            its end); the best weights are kept in memory meanwhile.
        plot: draw ``curves.png`` (matplotlib, about half a second); ``curves.json`` is always written.
        amp: bf16 autocast and channels_last for training where the device does bf16 natively (CUDA; CPUs
            with AMX or AVX512-BF16; simgan.amp), fp32 elsewhere; ``metrics.json: amp`` records the choice.
            Validation and testing run in fp32.
        equalize: histogram-equalise every image the model sees, training, validation, test, fine-tune and
            target alike (simgan.data.equalize, MPIIGaze's normalisation); None (auto): on for gaze.
            The run's config and ``metrics.json: equalize`` record the resolved choice.
        tta: also score the test set with test-time augmentation (the 10-crop of simgan.eval.tta: corner
            and centre shifts, each mirrored where the task allows), as ``<metric>_tta`` in metrics.json.
        adapt: none; dann (a domain classifier on the task net's features through gradient reversal); or
            self-train (a mean teacher labels the unlabelled real images). Both need ``target``.
        adapt_weight: dann: lambda, the largest reversal weight of the ramp; self-train: the weight of
            the unlabelled loss. 0: the method's default (dann 0.3, self-train 1.0).
        pseudo_threshold: self-train, classify: the teacher's confidence a pseudo-label needs.
        pseudo_align: self-train, classify: distribution alignment of the teacher's probabilities toward the
            source labels' class frequencies (simgan.train.adapt_self_train) before thresholding.
        pseudo_max_error: self-train, gaze / handpose: the largest teacher-student disagreement (degrees
            / pixels) a pseudo-label may have. 0: the task's default (gaze 3 degrees, handpose 2 px).
        ema_decay: self-train: the mean teacher's EMA decay per step.
        adapt_lr_factor: self-train: the adaptation phase's learning rate is ``lr * adapt_lr_factor``.
        domain_hidden: dann: units of each hidden layer of the domain classifier G_d.
        domain_layers: dann: hidden layers of G_d.
    """

    task: Literal["classify", "gaze", "handpose", "segment"] = "classify"
    epochs: int = 10
    min_steps: int = 1500
    batch_size: int = 128
    optimizer: Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: Literal["none", "step", "exponential"] = "none"
    lr_step: int = 5
    lr_gamma: float = 0.5
    augment: tuple[str, ...] = ("auto",)
    val_fraction: float = 0.1
    patience: int = 0
    finetune_epochs: int = 0
    finetune_lr_factor: float = 0.1
    width: int = 0
    gaze_hidden: int = 1000
    hg_stacks: int = 2
    hg_depth: int = 3
    hg_stride: int = 4
    hg_sigma: float = 1.5
    hg_decode: Literal["argmax", "soft-argmax"] = "argmax"
    seg_depth: int = 3
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    in_memory_mb: int = 1024
    checkpoint_interval_s: float = 60.0
    plot: bool = True
    amp: bool = True
    equalize: bool | None = None
    tta: bool = False
    adapt: Literal["none", "dann", "self-train"] = "none"
    adapt_weight: float = 0.0
    pseudo_threshold: float = 0.9
    pseudo_align: bool = True
    pseudo_max_error: float = 0.0
    ema_decay: float = 0.99
    adapt_lr_factor: float = 0.3
    domain_hidden: int = 100
    domain_layers: int = 1

    def validate(self) -> None:
        """Raise InputError for values no run can use (ranges the type system does not express)."""
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.min_steps >= 0, "min_steps must be >= 0"),
            (self.adapt in ADAPT_METHODS, f"adapt must be one of {', '.join(ADAPT_METHODS)}"),
            (self.adapt_weight >= 0, "adapt_weight must be >= 0"),
            (0 <= self.pseudo_threshold <= 1, "pseudo_threshold must be in [0, 1]"),
            (self.pseudo_max_error >= 0, "pseudo_max_error must be >= 0"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)"),
            (self.adapt_lr_factor > 0, "adapt_lr_factor must be > 0"),
            (
                self.domain_hidden >= 1 and self.domain_layers >= 1,
                "domain_hidden and domain_layers must be >= 1",
            ),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.lr_step >= 1, "lr_step must be >= 1"),
            (0 < self.lr_gamma <= 1, "lr_gamma must be in (0, 1]"),
            (0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)"),
            (self.patience >= 0, "patience must be >= 0"),
            (self.finetune_epochs >= 0, "finetune_epochs must be >= 0"),
            (self.finetune_lr_factor > 0, "finetune_lr_factor must be > 0"),
            (self.width >= 0, "width must be >= 0"),
            (self.hg_stride in (2, 4), "hg_stride must be 2 or 4"),
            (self.hg_sigma > 0, "hg_sigma must be > 0"),
            (1 <= self.seg_depth <= 6, "seg_depth must be in 1..6"),
            # Not yet: TTA undoes no view of a mask, and the adapters have no per-pixel pseudo-labels.
            (not (self.task == "segment" and self.tta), "tta is not available for task segment"),
            (
                self.task != "segment" or self.adapt == "none",
                "adapt (dann, self-train) is not available for task segment",
            ),
        ]
        for ok, problem in checks:
            if not ok:
                raise InputError(f"config: {problem}")
