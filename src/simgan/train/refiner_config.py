"""The refiner run's config (:class:`RefinerTrainConfig`), its checks, and the step arithmetic of Algorithm 1.

Kept apart from the loop (simgan.train.refiner) so that the run state (simgan.train.refiner_state) and
``simgan refine`` can read a saved config without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simgan import losses
from simgan.errors import InputError
from simgan.nn.discriminator import DISCRIMINATOR_PRESETS, output_size
from simgan.nn.refiner import REFINER_PRESETS
from simgan.train.optim import OPTIMIZERS, SCHEDULERS

__all__ = [
    "BEST_NAME",
    "RefinerTrainConfig",
    "RESUMABLE_FIELDS",
    "resolve_preset",
    "validate_config",
    "adversarial_iteration",
]

Preset = Literal["auto", "digits", "eyes", "hands"]
Psi = Literal["identity", "channel_mean", "downsample"]
Optimizer = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
Scheduler = Literal["none", "step", "exponential"]

# The refiner checkpoint that best balances realism and label preservation (simgan.train.label_monitor),
# beside the latest one (simgan.checkpoint.CHECKPOINT_NAME).
BEST_NAME = "best.pt"

# Fields a resumed run may change; every other one must match the run being resumed.
RESUMABLE_FIELDS = (
    "steps",
    "log_every",
    "ckpt_every",
    "grid_every",
    "grid_rows",
    "num_workers",
    "amp",
    "strict",
)


@dataclass(frozen=True)
class RefinerTrainConfig:
    """Everything that defines a refiner run (saved as ``RUN/config.json`` and in every checkpoint).

    Attributes:
        preset: network sizes (``digits``, ``eyes``, ``hands``); ``auto`` picks by what the images are
            (:func:`resolve_preset`).
        steps: T, adversarial iterations after pretraining (the run's total; resume continues up to it).
        batch_size: b, images per mini-batch (even: D takes b/2 current + b/2 history).
        lambda_reg: lambda, weight of self-regularization (eq. 4); both loss terms are means.
        psi: the self-regularization feature map (identity, channel_mean, downsample).
        history: use the history buffer (False is the ablation "without history").
        history_size: B, refined images in the buffer (>= b/2).
        global_adversarial: one decision per image instead of per patch (ablation).
        refiner_padding: R's conv padding, ``replicate`` (default: R cannot tell where it is) or ``zeros``
            (see simgan.nn.refiner).
        noise_channels: K noise maps concatenated to R's input (stochastic refinement, the paper's future
            work): one synthetic image then has many refinements (``refine --samples S``). 0: the paper's R.
        pretrain_r_steps: N_R, R updates on self-regularization only (paper: 1000 for eyes). R starts as
            the exact identity (see simgan.nn.refiner), where this loss and its gradient are 0, so the
            default is 0: the phase only matters for a refiner that does not start at the identity.
        pretrain_d_steps: N_D, D updates before the adversarial phase (paper: 200).
        k_g: K_g, R updates per iteration (paper: 2).
        k_d: K_d, D updates per iteration (paper: 1).
        optimizer_r, optimizer_d: optimizer per network (simgan.train.optim names).
        lr_r, lr_d: learning rates.
        momentum: for momentum / nesterov.
        weight_decay: L2 weight decay for both networks.
        scheduler_r, scheduler_d: none, step (StepLR) or exponential; stepped once per update of that
            network.
        scheduler_step_size, scheduler_gamma: StepLR period (in updates) and decay factor.
        log_every, ckpt_every, grid_every: intervals in global steps (the last step always does all three).
        grid_rows: rows of each image grid.
        seed: seeds weight initialisation, batch order and the buffer.
        amp: bf16 autocast and channels_last where the device does bf16 natively (CUDA; CPUs with AMX or
            AVX512-BF16, simgan.amp); fp32 elsewhere. The run records the choice (stats.jsonl: amp).
        equalize: histogram-equalise the synthetic and the real images before R and D see them
            (simgan.data.equalize, MPIIGaze's normalisation); None (auto): on for gaze data. The run's
            config.json records the resolved choice, and ``refine`` applies the same to its input.
        num_workers: DataLoader workers for datasets too large to hold in memory.
        consistency: a ``train-task`` run folder (or its ``best.pt``) trained on the synthetic data; its
            frozen model adds ``lambda_consistency * consistency_loss`` to L_R (CyCADA's semantic loss,
            simgan.adapt.consistency). Empty: off.
        lambda_consistency: weight of the consistency term.
        monitor_every: global steps between label-preservation measurements on a fixed held-out
            synthetic batch (simgan.train.label_monitor); 0 turns the monitor (and ``best.pt``) off.
        monitor_size: images in that batch (at most half the synthetic set).
        monitor_task_steps: classify without ``consistency``: Adam steps of the small digit CNN the run
            trains on the synthetic labels (not the monitor batch; at most 20 epochs) to read x and R(x).
        min_agreement: classify: preservation passes while the monitor model agrees on x and R(x) for at
            least this fraction of the batch.
        max_pupil_shift_px: gaze: ... while the mean pupil-centre shift is at most this many pixels.
        min_silhouette_iou: handpose: ... while the mean silhouette IoU is at least this.
        strict: stop the run (:class:`~simgan.train.label_monitor.LabelPreservationError`) the first time
            preservation fails, instead of warning.
    """

    preset: Preset = "auto"
    steps: int = 1000
    batch_size: int = 64
    lambda_reg: float = 0.2
    psi: Psi = "identity"
    history: bool = True
    history_size: int = 1024
    global_adversarial: bool = False
    refiner_padding: Literal["replicate", "zeros", "reflect"] = "replicate"
    noise_channels: int = 0
    pretrain_r_steps: int = 0
    pretrain_d_steps: int = 200
    k_g: int = 2
    k_d: int = 1
    optimizer_r: Optimizer = "adam"
    optimizer_d: Optimizer = "adam"
    lr_r: float = 1e-4
    lr_d: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler_r: Scheduler = "none"
    scheduler_d: Scheduler = "none"
    scheduler_step_size: int = 1000
    scheduler_gamma: float = 0.5
    log_every: int = 10
    ckpt_every: int = 200
    grid_every: int = 200
    grid_rows: int = 8
    seed: int = 0
    amp: bool = True
    equalize: bool | None = None
    num_workers: int = 0
    consistency: str = ""
    lambda_consistency: float = 0.1
    monitor_every: int = 100
    monitor_size: int = 256
    monitor_task_steps: int = 300
    min_agreement: float = 0.9
    max_pupil_shift_px: float = 1.5
    min_silhouette_iou: float = 0.9
    strict: bool = False


# Small grey images up to this side are glyphs (handwriting, printed characters): the digits preset.
GLYPH_MAX_SIDE = 32
# Larger than this (and not glyphs): the paper's hands preset (224x224 depth); from here to the eye
# discriminator's receptive field: the eyes preset (35x55 grey).
EYES_MAX_SIDE = 96


def _fits(preset: str, height: int, width: int) -> bool:
    h, w = output_size(DISCRIMINATOR_PRESETS[preset], height, width)
    return h >= 1 and w >= 1


def resolve_preset(height: int, width: int, channels: int = 1, task: str | None = None) -> str:
    """The preset for ``auto``, chosen by what the images are and then by their size.

    1. Glyphs get ``digits``: the dataset's task is ``classify``, or (no gaze or handpose labels) the
       images are single-channel with no side above :data:`GLYPH_MAX_SIDE` px (28x28 handwriting, 8x8
       scikit-learn digits). The digits D's 5x5 patches judge stroke texture, not the shape of a whole
       glyph, so R is not pushed to redraw strokes (the eyes D sees 23x23 patches, nearly a whole 28x28
       digit, and with it R thinned and broke the strokes).
    2. Otherwise by size: ``hands`` above :data:`EYES_MAX_SIDE` px (the paper's 224x224 depth; never for
       ``gaze`` labels), else ``eyes`` (the paper's 35x55 eyes). A preset whose D would not fit the images
       (a patch map under 1x1, e.g. the eyes D below 23 px) gives way to the next smaller one, down to
       ``digits``.
    """
    side = max(height, width)
    if task == "classify" or (task not in ("gaze", "handpose") and channels == 1 and side <= GLYPH_MAX_SIDE):
        return "digits"
    order = ["hands", "eyes"] if side > EYES_MAX_SIDE and task != "gaze" else ["eyes"]
    return next((p for p in order if _fits(p, height, width)), "digits")


def validate_config(cfg: RefinerTrainConfig) -> None:
    """Raise :class:`~simgan.errors.InputError` naming the first field of ``cfg`` that is out of range."""

    def bad(key: str, why: str) -> InputError:
        return InputError(f"config: {key}: {why}, got {getattr(cfg, key)!r}")

    for key in (
        "steps",
        "pretrain_r_steps",
        "pretrain_d_steps",
        "num_workers",
        "monitor_every",
        "noise_channels",
    ):
        if getattr(cfg, key) < 0:
            raise bad(key, "must be >= 0")
    for key in (
        "k_g",
        "k_d",
        "log_every",
        "ckpt_every",
        "grid_every",
        "grid_rows",
        "scheduler_step_size",
        "monitor_size",
        "monitor_task_steps",
    ):
        if getattr(cfg, key) < 1:
            raise bad(key, "must be >= 1")
    if cfg.batch_size < 2 or cfg.batch_size % 2:
        raise bad("batch_size", "must be even and >= 2 (D takes b/2 current and b/2 history images)")
    if cfg.history and cfg.history_size < cfg.batch_size // 2:
        raise bad("history_size", f"must be >= batch_size / 2 = {cfg.batch_size // 2}")
    for key in ("lr_r", "lr_d", "scheduler_gamma"):
        if not getattr(cfg, key) > 0:
            raise bad(key, "must be > 0")
    if cfg.lambda_reg < 0 or cfg.weight_decay < 0:
        raise bad("lambda_reg" if cfg.lambda_reg < 0 else "weight_decay", "must be >= 0")
    if cfg.optimizer_r not in OPTIMIZERS or cfg.optimizer_d not in OPTIMIZERS:
        raise bad("optimizer_r" if cfg.optimizer_r not in OPTIMIZERS else "optimizer_d", "unknown optimizer")
    if cfg.scheduler_r not in SCHEDULERS or cfg.scheduler_d not in SCHEDULERS:
        raise bad("scheduler_r" if cfg.scheduler_r not in SCHEDULERS else "scheduler_d", "unknown scheduler")
    if cfg.refiner_padding not in ("replicate", "zeros", "reflect"):
        raise bad("refiner_padding", "must be replicate, zeros or reflect")
    if cfg.psi not in losses.PSI:
        raise bad("psi", f"must be one of {', '.join(losses.PSI)}")
    if cfg.lambda_consistency < 0 or cfg.max_pupil_shift_px < 0:
        key = "lambda_consistency" if cfg.lambda_consistency < 0 else "max_pupil_shift_px"
        raise bad(key, "must be >= 0")
    for key in ("min_agreement", "min_silhouette_iou"):
        if not 0.0 <= getattr(cfg, key) <= 1.0:
            raise bad(key, "must lie in [0, 1]")
    if cfg.preset != "auto" and cfg.preset not in REFINER_PRESETS:
        raise bad("preset", f"must be auto or one of {', '.join(REFINER_PRESETS)}")


def adversarial_iteration(cfg: RefinerTrainConfig, step: int) -> int:
    """The adversarial iteration reached after global step ``step``: ``max(0, step - N_R - N_D)``."""
    return max(0, step - cfg.pretrain_r_steps - cfg.pretrain_d_steps)
