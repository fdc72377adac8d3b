"""SimGAN training (paper, Algorithm 1 with the history of section 2.3): the refiner R against the local
discriminator D.

The schedule is data: three phases run one after another, counted by one global step.

| phase | steps | one step |
| --- | --- | --- |
| ``pretrain_R`` | N_R = ``pretrain_r_steps`` | an R update on self-regularization only (eq. 4, second term) |
| ``pretrain_D`` | N_D = ``pretrain_d_steps`` | a D update (eq. 2) |
| ``adversarial`` | T = ``steps`` | K_g R updates on the full L_R (eq. 4), then K_d D updates |

A D update uses b real images and b refined ones: b/2 refined by the current R and b/2 drawn from the
history buffer (B = ``history_size`` images), after which the b/2 new images replace random buffer slots.
The buffer is filled from the first refined batches before D's first update. With ``history=False``, D
sees b current refined images. D's weights never change in an R update (its parameters are frozen and
its optimizer untouched) and R's never in a D update (refined images are made under ``no_grad``).

The run folder ``RUN``:

    RUN/config.json       the final config (simgan.config.save_config; ``_non_default`` lists changes)
    RUN/checkpoint.pt     latest checkpoint (simgan.train.checkpoint), written atomically
    RUN/stats.jsonl       one JSON object per logged step: step, phase, iteration, loss/..., acc/..., lr/...
    RUN/grids/step_XXXXXXX.png   synthetic | refined | |difference| | real
    RUN/tb/               TensorBoard event files

Resuming (``resume=True``) restarts from ``RUN/checkpoint.pt`` (models, optimizers, schedulers, buffer,
stream positions, RNG state, log accumulators): on the CPU with a fixed seed the result equals an
uninterrupted run. Logged lines after the checkpoint's step are dropped first, so none is duplicated.
A non-finite loss stops the run with :class:`NonFiniteLossError`; the checkpoint on disk stays the last
good one because checkpoints are only written after steps whose losses were finite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from simgan import atomic, losses
from simgan.config import config_from_dict, config_to_dict, save_config
from simgan.data.source import Source, open_dataset
from simgan.device import seed_everything, select_device
from simgan.errors import InputError
from simgan.nn.discriminator import (
    DISCRIMINATOR_PRESETS,
    Discriminator,
    build_discriminator,
    output_size,
    receptive_field,
)
from simgan.nn.refiner import REFINER_PRESETS, Refiner, build_refiner
from simgan.train.batches import ImagesOnly, ImageStream
from simgan.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from simgan.train.history import HistoryBuffer
from simgan.train.optim import OPTIMIZERS, SCHEDULERS, build_optimizer, build_scheduler
from simgan.viz.grids import save_refiner_grid

__all__ = [
    "RefinerTrainConfig",
    "RefinerTrainResult",
    "NonFiniteLossError",
    "Phase",
    "schedule",
    "resolve_preset",
    "refiner_step",
    "discriminator_step",
    "train_refiner",
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


@dataclass
class RefinerTrainResult:
    """What :func:`train_refiner` returns: the run folder, steps done, last logged stats, the trained R."""

    run: Path
    step: int
    iteration: int
    stats: dict[str, Any]
    refiner: Refiner
    config: RefinerTrainConfig


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the run stopped and the checkpoint on disk is the last good one."""


@dataclass(frozen=True)
class Phase:
    """One phase of Algorithm 1: ``name`` and its ``length`` in global steps."""

    name: Literal["pretrain_R", "pretrain_D", "adversarial"]
    length: int


def schedule(config: RefinerTrainConfig) -> list[Phase]:
    """Algorithm 1's phases in order: pretrain R (N_R), pretrain D (N_D), adversarial (T)."""
    return [
        Phase("pretrain_R", config.pretrain_r_steps),
        Phase("pretrain_D", config.pretrain_d_steps),
        Phase("adversarial", config.steps),
    ]


def _phase_at(phases: list[Phase], step: int) -> tuple[Phase, int]:
    """The phase holding global step ``step`` (0-based) and the step's index within it."""
    start = 0
    for phase in phases:
        if step < start + phase.length:
            return phase, step - start
        start += phase.length
    raise IndexError(step)


def resolve_preset(height: int, width: int) -> str:
    """The preset for ``auto``: ``digits`` up to 16 px, ``eyes`` up to 96 px, else ``hands``."""
    side = max(height, width)
    if side <= 16:
        return "digits"
    if side <= 96:
        return "eyes"
    return "hands"


def _validate(cfg: RefinerTrainConfig) -> None:
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


# ---------------------------------------------------------------------------------------------------------
# One update of each network


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def refiner_step(
    refiner: nn.Module,
    discriminator: nn.Module | None,
    optimizer: torch.optim.Optimizer,
    synthetic: torch.Tensor,
    *,
    lambda_reg: float,
    psi: str = "identity",
    amp: bool = False,
) -> dict[str, torch.Tensor]:
    """One update of R on a mini-batch of synthetic images x (Algorithm 1, inner K_g loop).

    With ``discriminator`` None this is a pretraining step on self-regularization only; otherwise R
    minimises eq. (4): the per-patch cross-entropy of D(R(x)) toward "real" plus
    ``lambda * ||psi(R(x)) - psi(x)||_1``. D is frozen during the step: its parameters get no gradient
    and its optimizer is not touched.

    Shape:
        synthetic: (b, C, H, W) on R's device; returns detached scalar losses.
    """
    if discriminator is not None:
        discriminator.requires_grad_(False)
    try:
        with _autocast(synthetic.device, amp):
            refined = refiner(synthetic)  # (b, C, H, W)
            reg = losses.self_regularization_loss(refined, synthetic, lambda_reg, psi)
            out = {"loss/R/reg": reg}
            total = reg
            if discriminator is not None:
                adv = losses.refiner_adversarial_loss(discriminator(refined))  # eq. (3), per patch
                total = adv + reg
                out["loss/R/adv"] = adv
        out["loss/R/total"] = total
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
    finally:
        if discriminator is not None:
            discriminator.requires_grad_(True)
    return {k: v.detach() for k, v in out.items()}


def discriminator_step(
    refiner: nn.Module,
    discriminator: nn.Module,
    optimizer: torch.optim.Optimizer,
    synthetic: torch.Tensor,
    real: torch.Tensor,
    history: HistoryBuffer | None = None,
    *,
    amp: bool = False,
) -> dict[str, torch.Tensor]:
    """One update of D (Algorithm 1, inner K_d loop; eq. 2 with the history of section 2.3).

    ``synthetic`` is refined by the current R under ``no_grad`` (R cannot change). With a ``history``,
    as many images are drawn from it and D's refined side is the union; afterwards the new refined
    images replace random buffer slots. Targets: refined 1, real 0, per patch.

    Shape:
        synthetic: (b/2, C, H, W) with a history, (b, C, H, W) without; real: (b, C, H', W').
        Returns detached scalars: D's losses and its patch accuracy on real and on refined images.
    """
    device = synthetic.device
    with torch.no_grad(), _autocast(device, amp):
        current = refiner(synthetic).float()  # (b/2, C, H, W): x~ from the current R
    refined = current
    if history is not None:
        old = history.sample(current.shape[0]).to(device)  # (b/2, C, H, W): x~ from earlier R's
        refined = torch.cat([current, old]).contiguous(  # (b, C, H, W)
            memory_format=torch.channels_last if amp else torch.contiguous_format
        )
    with _autocast(device, amp):
        logits_refined = discriminator(refined)  # (b, 2, h, w)
        logits_real = discriminator(real)  # (b, 2, h', w')
        loss_refined, loss_real = losses.discriminator_loss(logits_refined, logits_real)
        total = loss_refined + loss_real
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    if history is not None:
        history.push(current)  # section 2.3: b/2 random slots get the newly refined images
    return {
        "loss/D/refined": loss_refined.detach(),
        "loss/D/real": loss_real.detach(),
        "loss/D/total": total.detach(),
        "acc/D/refined": losses.patch_accuracy(logits_refined, losses.REFINED),
        "acc/D/real": losses.patch_accuracy(logits_real, losses.REAL),
    }


# ---------------------------------------------------------------------------------------------------------
# Run folder helpers


def _truncate_stats(path: Path, last_step: int) -> None:
    """Keep the stats lines up to ``last_step`` (a resumed run logs the later ones again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a kill mid-write
        if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= last_step:
            kept.append(line)
    atomic.write_text(path, "".join(f"{line}\n" for line in kept))


def _open_data(path: str | Path | Source, flag: str) -> Source:
    if isinstance(path, Source):
        return path
    try:
        return open_dataset(path)
    except InputError as e:
        raise InputError(f"{flag} {e}") from None


def _check_data(synthetic: Source, real: Source, preset: str, global_adversarial: bool) -> None:
    s, r = synthetic.info, real.info
    if s.channels != r.channels:
        raise InputError.at(
            r.path,
            f"real images have {r.channels} channel(s) but the synthetic images ({s.path}) have {s.channels}",
        )
    if global_adversarial and (s.height, s.width) != (r.height, r.width):
        raise InputError.at(
            r.path,
            f"the global discriminator needs one image size: real {r.height}x{r.width}, "
            f"synthetic {s.height}x{s.width}",
        )
    spec = DISCRIMINATOR_PRESETS[preset]
    for info in (s, r):
        h, w = output_size(spec, info.height, info.width)
        if h < 1 or w < 1:
            need = receptive_field(spec)
            raise InputError.at(
                info.path,
                f"images of {info.height}x{info.width} are too small for the {preset!r} discriminator "
                f"(expected at least {need}x{need}; choose another --preset)",
            )


class _Averages:
    """Running sums of logged values between two log lines (saved in checkpoints for exact resumes)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def pop(self) -> dict[str, float]:
        out = {k: self.sums[k] / self.counts[k] for k in sorted(self.sums)}
        self.sums, self.counts = {}, {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums, self.counts = dict(state["sums"]), dict(state["counts"])


def _check_finite(values: dict[str, torch.Tensor], step: int, phase: str, ckpt: Path) -> dict[str, float]:
    floats = {k: float(v) for k, v in values.items()}
    bad = [k for k, v in floats.items() if not math.isfinite(v)]
    if bad:
        where = f"{ckpt}" if ckpt.is_file() else "none written yet"
        values_text = ", ".join(f"{k} = {floats[k]}" for k in bad)
        raise NonFiniteLossError(
            f"step {step} ({phase}): non-finite {values_text}; training stopped. "
            f"Last good checkpoint: {where}. Lower the learning rates (a new --out) and train again."
        )
    return floats


# ---------------------------------------------------------------------------------------------------------
# The loop


def train_refiner(
    synthetic: str | Path | Source,
    real: str | Path | Source,
    out: str | Path,
    config: RefinerTrainConfig | None = None,
    *,
    resume: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> RefinerTrainResult:
    """Train a SimGAN refiner on synthetic images x and unlabelled real images y (Algorithm 1).

    Args:
        synthetic: the synthetic dataset (a folder any layout, or an opened Source); labels unused.
        real: the real dataset; its labels, if any, are never read into training.
        out: the run folder RUN (created).
        config: hyperparameters; defaults to :class:`RefinerTrainConfig`.
        resume: continue ``RUN/checkpoint.pt`` if there is one (up to ``config.steps``); the config may
            differ from the saved one only in :data:`RESUMABLE_FIELDS`.
        device: ``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ...
        progress: show a progress bar.
        on_step: called after every global step with its 1-based number and its loss values.

    Returns:
        The run folder, steps done, the last logged stats and the trained refiner (on the CPU).

    Raises:
        InputError: missing or unreadable data, channels that differ between the sets, images too small
            for the preset, a bad config, an existing run without ``resume``, a corrupt checkpoint.
        NonFiniteLossError: a loss became NaN/inf (the checkpoint on disk is the last good one).
    """
    cfg = config or RefinerTrainConfig()
    _validate(cfg)
    run = Path(out)
    ckpt_path = run / CHECKPOINT_NAME
    stats_path = run / "stats.jsonl"
    syn_src = _open_data(synthetic, "--synthetic")
    real_src = _open_data(real, "--real")
    info = syn_src.info

    state: dict[str, Any] | None = None
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        saved = config_from_dict(RefinerTrainConfig, state["config"], str(ckpt_path))
        for f in dataclasses.fields(RefinerTrainConfig):
            if f.name in RESUMABLE_FIELDS or (f.name == "preset" and cfg.preset == "auto"):
                continue
            if getattr(saved, f.name) != getattr(cfg, f.name):
                raise InputError.at(
                    run,
                    f"cannot change {f.name} when resuming (the run has {getattr(saved, f.name)!r}, "
                    f"asked {getattr(cfg, f.name)!r}); train into a new --out instead",
                )
        cfg = dataclasses.replace(saved, **{k: getattr(cfg, k) for k in RESUMABLE_FIELDS})
        image = state["image"]
        if (image["channels"], image["height"], image["width"]) != (info.channels, info.height, info.width):
            raise InputError.at(
                info.path,
                f"synthetic images are {info.height}x{info.width}x{info.channels} but the run being "
                f"resumed trained on {image['height']}x{image['width']}x{image['channels']}",
            )
    elif not resume and (ckpt_path.is_file() or stats_path.is_file()):
        raise InputError.at(
            run, "already holds a refiner run: pass --resume to continue it, or choose another --out"
        )
    if cfg.preset == "auto":
        cfg = dataclasses.replace(cfg, preset=resolve_preset(info.height, info.width))
    _check_data(syn_src, real_src, cfg.preset, cfg.global_adversarial)
    dev = select_device(device if not isinstance(device, torch.device) else str(device))
    amp = cfg.amp and dev.type == "cuda"
    memory_format = torch.channels_last if amp else torch.contiguous_format

    # --- Networks, optimizers, buffer ------------------------------------------------------------------
    seed_everything(cfg.seed)  # weight initialisation; everything later uses its own generator
    R = build_refiner(cfg.preset, info.channels, cfg.refiner_padding)
    D: Discriminator = build_discriminator(
        cfg.preset, info.channels, (info.height, info.width) if cfg.global_adversarial else None
    )
    R.to(dev, memory_format=memory_format)
    D.to(dev, memory_format=memory_format)
    opt_R = build_optimizer(
        cfg.optimizer_r, R.parameters(), cfg.lr_r, weight_decay=cfg.weight_decay, momentum=cfg.momentum
    )
    opt_D = build_optimizer(
        cfg.optimizer_d, D.parameters(), cfg.lr_d, weight_decay=cfg.weight_decay, momentum=cfg.momentum
    )
    sched_R = build_scheduler(
        cfg.scheduler_r, opt_R, step_size=cfg.scheduler_step_size, gamma=cfg.scheduler_gamma
    )
    sched_D = build_scheduler(
        cfg.scheduler_d, opt_D, step_size=cfg.scheduler_step_size, gamma=cfg.scheduler_gamma
    )
    history = HistoryBuffer(cfg.history_size, seed=cfg.seed + 3) if cfg.history else None
    averages = _Averages()
    start = 0
    positions = {"synthetic_R": 0, "synthetic_D": 0, "real": 0}
    if state is not None:
        R.load_state_dict(state["R"])
        D.load_state_dict(state["D"])
        opt_R.load_state_dict(state["opt_R"])
        opt_D.load_state_dict(state["opt_D"])
        if sched_R is not None:
            sched_R.load_state_dict(state["sched_R"])
        if sched_D is not None:
            sched_D.load_state_dict(state["sched_D"])
        if history is not None:
            history.load_state_dict(state["history"])
        averages.load_state_dict(state["averages"])
        positions = dict(state["streams"])
        torch.set_rng_state(state["rng"]["torch"])
        start = int(state["step"])
    if resume:
        _truncate_stats(stats_path, start)  # drop lines logged after the checkpoint (no duplicates)

    phases = schedule(cfg)
    total = sum(p.length for p in phases)
    if start > total:
        raise InputError.at(
            run,
            f"the run is already at step {start} (iteration {start - total + cfg.steps}); "
            f"--steps {cfg.steps} would end before that: pass a larger --steps",
        )

    # Separate seeded streams: synthetic batches for R updates, for D updates, and real batches.
    half = cfg.batch_size // 2 if history is not None else cfg.batch_size
    streams = {
        "synthetic_R": ImageStream(
            syn_src, cfg.batch_size, cfg.seed + 0, positions["synthetic_R"], cfg.num_workers
        ),
        "synthetic_D": ImageStream(syn_src, half, cfg.seed + 1, positions["synthetic_D"], cfg.num_workers),
        "real": ImageStream(real_src, cfg.batch_size, cfg.seed + 2, positions["real"], cfg.num_workers),
    }

    def batch(name: str) -> torch.Tensor:
        return next(streams[name]).to(dev, non_blocking=True).contiguous(memory_format=memory_format)

    # Fixed images for the grids (the first ones of each set), so grids of different steps compare.
    n_grid = min(cfg.grid_rows, len(syn_src), len(real_src))
    grid_syn = torch.stack([ImagesOnly(syn_src)[i] for i in range(n_grid)])  # (n, C, H, W)
    grid_real = torch.stack([ImagesOnly(real_src)[i] for i in range(n_grid)])

    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run / "config.json")
    # Imported here: tensorboard is slow to import and only a training run needs it.
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(run / "tb"), purge_step=start + 1)  # hide events a resumed run logs again
    last_stats: dict[str, Any] = {}

    def save(step: int) -> None:
        save_checkpoint(
            ckpt_path,
            {
                "step": step,
                "iteration": max(0, step - cfg.pretrain_r_steps - cfg.pretrain_d_steps),
                "config": config_to_dict(cfg),
                "image": {
                    "channels": info.channels,
                    "height": info.height,
                    "width": info.width,
                    "dtype": info.dtype,
                },
                "data": {"synthetic": str(info.path), "real": str(real_src.info.path)},
                "R": R.state_dict(),
                "D": D.state_dict(),
                "opt_R": opt_R.state_dict(),
                "opt_D": opt_D.state_dict(),
                "sched_R": sched_R.state_dict() if sched_R is not None else None,
                "sched_D": sched_D.state_dict() if sched_D is not None else None,
                "history": history.state_dict() if history is not None else None,
                "averages": averages.state_dict(),
                "streams": {k: s.position for k, s in streams.items()},
                "rng": {"torch": torch.get_rng_state()},
            },
        )

    def grid(step: int) -> None:
        R.eval()
        with torch.no_grad(), _autocast(dev, amp):
            refined = R(grid_syn.to(dev).contiguous(memory_format=memory_format)).float().cpu()
        R.train()
        save_refiner_grid(run / "grids" / f"step_{step:07d}.png", grid_syn, refined, grid_real, cfg.grid_rows)

    def fill_history() -> None:
        # Section 2.3 needs B old refined images from the start: fill the buffer from the first batches.
        assert history is not None
        with torch.no_grad(), _autocast(dev, amp):
            while not history.full:
                history.push(R(batch("synthetic_D")).float()[: history.capacity - len(history)])

    def r_update(adversarial: bool) -> dict[str, torch.Tensor]:
        values = refiner_step(
            R,
            D if adversarial else None,
            opt_R,
            batch("synthetic_R"),
            lambda_reg=cfg.lambda_reg,
            psi=cfg.psi,
            amp=amp,
        )
        if sched_R is not None:
            sched_R.step()
        return values

    def d_update() -> dict[str, torch.Tensor]:
        if history is not None and not history.full:
            fill_history()
        values = discriminator_step(R, D, opt_D, batch("synthetic_D"), batch("real"), history, amp=amp)
        if sched_D is not None:
            sched_D.step()
        return values

    # --- Algorithm 1 -----------------------------------------------------------------------------------
    bar = tqdm(total=total, initial=start, desc="train-refiner", disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        for step in range(start, total):
            phase, _ = _phase_at(phases, step)
            done = step + 1
            if phase.name == "pretrain_R":  # self-regularization only
                values = r_update(adversarial=False)
            elif phase.name == "pretrain_D":
                values = d_update()
            else:  # K_g refiner updates, then K_d discriminator updates
                parts = [r_update(adversarial=True) for _ in range(cfg.k_g)]
                parts += [d_update() for _ in range(cfg.k_d)]
                keys = dict.fromkeys(k for p in parts for k in p)
                values = {k: torch.stack([p[k] for p in parts if k in p]).mean() for k in keys}
            floats = _check_finite(values, done, phase.name, ckpt_path)
            averages.add(floats)
            if on_step is not None:
                on_step(done, floats)
            bar.update(1)

            phase_end = done == sum(p.length for p in phases[: phases.index(phase) + 1])
            if done % cfg.log_every == 0 or phase_end or done == total:
                iteration = max(0, done - cfg.pretrain_r_steps - cfg.pretrain_d_steps)
                line = {"step": done, "phase": phase.name, "iteration": iteration, **averages.pop()}
                line["lr/R"] = opt_R.param_groups[0]["lr"]
                line["lr/D"] = opt_D.param_groups[0]["lr"]
                line["time/session_s"] = round(time.perf_counter() - t0, 3)
                with open(stats_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
                for k, v in line.items():
                    if "/" in k:
                        tb.add_scalar(k, v, done)
                last_stats = line
                bar.set_postfix(
                    {
                        k.removeprefix("loss/"): f"{v:.3f}"
                        for k, v in line.items()
                        if k.startswith(("loss/R/t", "loss/D/t", "acc/"))
                    },
                    refresh=False,
                )
            if done % cfg.grid_every == 0 or done == total:
                grid(done)
            if done % cfg.ckpt_every == 0 or done == total:
                tb.flush()
                save(done)
    finally:
        bar.close()
        tb.close()
    if start == total and not ckpt_path.is_file():
        save(total)  # a run of zero steps still leaves a loadable refiner
    if not last_stats and stats_path.is_file():
        lines = stats_path.read_text(encoding="utf-8").splitlines()
        last_stats = json.loads(lines[-1]) if lines else {}
    return RefinerTrainResult(
        run=run,
        step=total,
        iteration=max(0, total - cfg.pretrain_r_steps - cfg.pretrain_d_steps),
        stats=last_stats,
        refiner=R.cpu().eval(),
        config=cfg,
    )
