"""The refiner run's config (:class:`RefinerTrainConfig`), its checks, and the step arithmetic of Algorithm 1.

Kept apart from the loop (simgan.train.refiner) so that the run state (simgan.train.refiner_state) and
``simgan refine`` can read a saved config without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simgan import losses
from simgan.errors import InputError
from simgan.nn.refiner import REFINER_PRESETS
from simgan.train.optim import OPTIMIZERS, SCHEDULERS

__all__ = [
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

# Fields a resumed run may change; every other one must match the run being resumed.
RESUMABLE_FIELDS = ("steps", "log_every", "ckpt_every", "grid_every", "grid_rows", "num_workers", "amp")


@dataclass(frozen=True)
class RefinerTrainConfig:
    """Everything that defines a refiner run (saved as ``RUN/config.json`` and in every checkpoint).

    Attributes:
        preset: network sizes (``digits``, ``eyes``, ``hands``); ``auto`` picks from the image size.
        steps: T, adversarial iterations after pretraining (the run's total; resume continues up to it).
        batch_size: b, images per mini-batch (even: D takes b/2 current + b/2 history).
        lambda_reg: lambda, weight of self-regularization (eq. 4); both loss terms are means.
        psi: the self-regularization feature map (identity, channel_mean, downsample).
        history: use the history buffer (False is the ablation "without history").
        history_size: B, refined images in the buffer (>= b/2).
        global_adversarial: one decision per image instead of per patch (ablation).
        refiner_padding: R's conv padding, ``replicate`` (default: R cannot tell where it is) or ``zeros``
            (see simgan.nn.refiner).
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
        amp: bf16 autocast and channels_last on CUDA (ignored on the CPU).
        num_workers: DataLoader workers for datasets too large to hold in memory.
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
    num_workers: int = 0


def resolve_preset(height: int, width: int) -> str:
    """The preset for ``auto``: ``digits`` up to 16 px, ``eyes`` up to 96 px, else ``hands``."""
    side = max(height, width)
    if side <= 16:
        return "digits"
    if side <= 96:
        return "eyes"
    return "hands"


def validate_config(cfg: RefinerTrainConfig) -> None:
    """Raise :class:`~simgan.errors.InputError` naming the first field of ``cfg`` that is out of range."""

    def bad(key: str, why: str) -> InputError:
        return InputError(f"config: {key}: {why}, got {getattr(cfg, key)!r}")

    for key in ("steps", "pretrain_r_steps", "pretrain_d_steps", "num_workers"):
        if getattr(cfg, key) < 0:
            raise bad(key, "must be >= 0")
    for key in ("k_g", "k_d", "log_every", "ckpt_every", "grid_every", "grid_rows", "scheduler_step_size"):
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
    if cfg.preset != "auto" and cfg.preset not in REFINER_PRESETS:
        raise bad("preset", f"must be auto or one of {', '.join(REFINER_PRESETS)}")


def adversarial_iteration(cfg: RefinerTrainConfig, step: int) -> int:
    """The adversarial iteration reached after global step ``step``: ``max(0, step - N_R - N_D)``."""
    return max(0, step - cfg.pretrain_r_steps - cfg.pretrain_d_steps)
