"""SimGAN training (paper, Algorithm 1 with the history of section 2.3): the refiner R against the local
discriminator D.

The schedule is data: :func:`schedule` lists three phases that run one after another, counted by one
global step; each phase carries what one of its steps runs.

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
    RUN/checkpoint.pt     latest checkpoint (simgan.train.refiner_state), written atomically
    RUN/stats.jsonl       one JSON object per logged step: step, phase, iteration, loss/..., acc/..., lr/...
    RUN/grids/step_XXXXXXX.png   written by the caller's ``on_grid`` (e.g. simgan.viz.grids.save_refiner_grid)
    RUN/tb/               TensorBoard event files

Resuming (``resume=True``) restarts from ``RUN/checkpoint.pt`` (models, optimizers, schedulers, buffer,
stream positions, RNG state, log accumulators; see simgan.train.refiner_state): on the CPU with a fixed
seed the result equals an uninterrupted run. Logged lines after the checkpoint's step are dropped first, so
none is duplicated. A non-finite loss stops the run with :class:`NonFiniteLossError`; the checkpoint on
disk stays the last good one because checkpoints are only written after steps whose losses were finite.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from simgan import distributed, losses
from simgan.amp import autocast, memory_format
from simgan.checkpoint import CHECKPOINT_NAME
from simgan.config import config_to_dict, save_config
from simgan.data.equalize import equalized, resolve_equalize
from simgan.data.source import Source, open_source
from simgan.device import select_device
from simgan.distributed import Ranks
from simgan.errors import InputError
from simgan.loggers import DEFAULT as DEFAULT_LOGGERS
from simgan.loggers import open_loggers, parse_log_to
from simgan.nn.refiner import Refiner, refine_images
from simgan.progress import off
from simgan.train.batches import ImagesOnly
from simgan.train.history import HistoryBuffer
from simgan.train.label_monitor import LabelMonitor, LabelPreservationError, build_monitor
from simgan.train.refiner_config import (
    RESUMABLE_FIELDS,
    RefinerTrainConfig,
    adversarial_iteration,
    resolve_preset,
    validate_config,
)
from simgan.train.refiner_consistency import ConsistencyTerm, load_consistency
from simgan.train.refiner_run import (
    BEST_NAME,
    GridWriter,
    NonFiniteLossError,
    check_data,
    check_finite,
    log_hparams,
    log_line,
    monitor_step,
    notice,
    postfix,
    save_state,
    write_grid,
)
from simgan.train.refiner_state import RefinerState, build_state, load_resume, truncate_stats

__all__ = [
    "RefinerTrainConfig",
    "RefinerTrainResult",
    "NonFiniteLossError",
    "LabelPreservationError",
    "BEST_NAME",
    "RESUMABLE_FIELDS",
    "GridWriter",
    "Phase",
    "schedule",
    "resolve_preset",
    "refiner_step",
    "discriminator_step",
    "train_refiner",
]


@dataclass
class RefinerTrainResult:
    """What :func:`train_refiner` returns: the run folder, steps done, last logged stats, the trained R
    (the last step's), and the step ``RUN/best.pt`` holds (-1: none)."""

    run: Path
    step: int
    iteration: int
    stats: dict[str, Any]
    refiner: Refiner
    config: RefinerTrainConfig
    best_step: int = -1


# ---------------------------------------------------------------------------------------------------------
# One update of each network


def refiner_step(
    refiner: nn.Module,
    discriminator: nn.Module | None,
    optimizer: torch.optim.Optimizer,
    synthetic: torch.Tensor,
    *,
    lambda_reg: float,
    psi: str = "identity",
    amp: bool = False,
    consistency: ConsistencyTerm | None = None,
    lambda_consistency: float = 1.0,
) -> dict[str, torch.Tensor]:
    """One update of R on a mini-batch of synthetic images x (Algorithm 1, inner K_g loop).

    With ``discriminator`` None this is a pretraining step on self-regularization only; otherwise R
    minimises eq. (4): the per-patch cross-entropy of D(R(x)) toward "real" plus
    ``lambda * ||psi(R(x)) - psi(x)||_1``, plus, with a ``consistency`` term (a frozen task model's
    semantic loss, CyCADA), ``lambda_consistency * consistency(x, R(x))``. D is frozen during the step:
    its parameters get no gradient and its optimizer is not touched.

    Shape:
        synthetic: (b, C, H, W) on R's device; returns detached scalar losses.
    """
    if discriminator is not None:
        discriminator.requires_grad_(False)
    try:
        with autocast(synthetic.device, amp):
            refined = refiner(synthetic)  # (b, C, H, W)
            reg = losses.self_regularization_loss(refined, synthetic, lambda_reg, psi)
            out = {"loss/R/reg": reg}
            total = reg
            if discriminator is not None:
                adv = losses.refiner_adversarial_loss(discriminator(refined))  # eq. (3), per patch
                total = adv + reg
                out["loss/R/adv"] = adv
                if consistency is not None:
                    semantic = consistency(synthetic, refined)  # the task model reads x and R(x) alike
                    total = total + lambda_consistency * semantic
                    out["loss/R/consistency"] = semantic
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
    current = refine_images(refiner, synthetic, amp=amp)  # (b/2, C, H, W): x~ from the current R
    refined = current
    if history is not None:
        old = history.sample(current.shape[0]).to(device)  # (b/2, C, H, W): x~ from earlier R's
        refined = torch.cat([current, old]).contiguous(memory_format=memory_format(amp))  # (b, C, H, W)
    with autocast(device, amp):
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
# The phases of Algorithm 1


def _r_update(state: RefinerState, adversarial: bool) -> dict[str, torch.Tensor]:
    cfg = state.config
    values = refiner_step(
        state.R_train,
        state.D if adversarial else None,  # D itself, not its DDP wrapper: it is frozen in an R update
        state.opt_R,
        state.batch("synthetic_R"),
        lambda_reg=cfg.lambda_reg,
        psi=cfg.psi,
        amp=state.amp,
        consistency=state.consistency,
        lambda_consistency=cfg.lambda_consistency,
    )
    if state.sched_R is not None:
        state.sched_R.step()
    return values


def _d_update(state: RefinerState) -> dict[str, torch.Tensor]:
    history = state.history
    if history is not None:
        # Section 2.3 needs B old refined images from the start: fill the buffer from the first batches.
        while not history.full:
            refined = refine_images(state.R, state.batch("synthetic_D"), amp=state.amp)
            history.push(refined[: history.capacity - len(history)])
    synthetic, real = state.batch("synthetic_D"), state.batch("real")
    values = discriminator_step(state.R, state.D_train, state.opt_D, synthetic, real, history, amp=state.amp)
    if state.sched_D is not None:
        state.sched_D.step()
    return values


def _pretrain_r(state: RefinerState) -> dict[str, torch.Tensor]:
    return _r_update(state, adversarial=False)  # self-regularization only


def _adversarial(state: RefinerState) -> dict[str, torch.Tensor]:
    parts = [_r_update(state, adversarial=True) for _ in range(state.config.k_g)]
    parts += [_d_update(state) for _ in range(state.config.k_d)]
    keys = dict.fromkeys(k for p in parts for k in p)
    return {k: torch.stack([p[k] for p in parts if k in p]).mean() for k in keys}


@dataclass(frozen=True)
class Phase:
    """One phase of Algorithm 1: its ``name``, ``length`` global steps from global step ``start``
    (0-based), and ``run``, one global step of the phase (updates the state, returns its losses)."""

    name: Literal["pretrain_R", "pretrain_D", "adversarial"]
    length: int
    start: int
    run: Callable[[RefinerState], dict[str, torch.Tensor]]

    @property
    def end(self) -> int:
        """The global step count when the phase is done (its last step is ``end - 1``)."""
        return self.start + self.length


def schedule(config: RefinerTrainConfig) -> list[Phase]:
    """Algorithm 1's phases in order: pretrain R (N_R), pretrain D (N_D), adversarial (T)."""
    n_r, n_d = config.pretrain_r_steps, config.pretrain_d_steps
    return [
        Phase("pretrain_R", n_r, 0, _pretrain_r),
        Phase("pretrain_D", n_d, n_r, _d_update),
        Phase("adversarial", config.steps, n_r + n_d, _adversarial),
    ]


# ---------------------------------------------------------------------------------------------------------
# The loop


def _resolve(
    run: Path,
    cfg: RefinerTrainConfig,
    synthetic: Source,
    real: Source,
    resume: bool,
    ranks: distributed.Ranks,
) -> tuple[RefinerTrainConfig, dict[str, Any] | None]:
    """The config to train with (the saved one when resuming; an ``auto`` preset and ``equalize`` resolved
    by what the images are) and the checkpoint to continue; refuses data the preset cannot take."""
    info = synthetic.info
    cfg, checkpoint = load_resume(run, cfg, info, real.info, resume=resume, ranks=ranks)
    distributed.barrier(ranks)  # every rank has read the run folder before rank 0 changes it
    if cfg.preset == "auto":
        preset = resolve_preset(info.height, info.width, info.channels, info.task)
        cfg = dataclasses.replace(cfg, preset=preset)
    if cfg.equalize is None:
        cfg = dataclasses.replace(cfg, equalize=resolve_equalize(None, info.task))
    check_data(synthetic, real, cfg.preset, cfg.global_adversarial)
    return cfg, checkpoint


def _grid_images(synthetic: Source, real: Source, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed images of every grid (the first ones of each set), so grids of different steps compare.

    Shape:
        returns (n, C, H, W) and (n, C, H', W'), n = min(rows, len(synthetic), len(real)).
    """
    n = min(rows, len(synthetic), len(real))
    return (
        torch.stack([ImagesOnly(synthetic)[i] for i in range(n)]),
        torch.stack([ImagesOnly(real)[i] for i in range(n)]),
    )


def _monitor(
    synthetic: Source,
    cfg: RefinerTrainConfig,
    run: Path,
    device: torch.device,
    classifier: nn.Module | None,
    ranks: distributed.Ranks,
) -> tuple[Any, str]:
    """The label monitor and the line that describes it (:func:`build_monitor`; its classifier trains
    under a forked RNG, so R's run is unchanged by it). In a job rank 0 trains and saves it first; the
    other ranks then load the same weights."""
    if ranks.main:
        found = build_monitor(synthetic, cfg, run, device, classifier)
    distributed.barrier(ranks)
    if not ranks.main:
        found = build_monitor(synthetic, cfg, run, device, classifier)
    return found


def _last_line(stats: Path) -> dict[str, Any]:
    """The last stats line of a run folder ({} when there is none)."""
    if not stats.is_file():
        return {}
    lines = stats.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[-1]) if lines else {}


@distributed.main_writer("out")
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
    on_grid: GridWriter | None = None,
    log_to: Sequence[str] = DEFAULT_LOGGERS,
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
        on_grid: called every ``grid_every`` steps and after the last as ``on_grid(path, synthetic,
            refined, real, rows)`` with ``path`` = ``RUN/grids/step_XXXXXXX.png`` and the first ``rows``
            images of each set (on the CPU); :func:`simgan.viz.grids.save_refiner_grid` fits. None: no grids.
        log_to: where the numbers, grid images and hyperparameters also go (:mod:`simgan.loggers`:
            ``tensorboard`` writes ``RUN/tb``, ``wandb`` when installed).

    Under torchrun (simgan.distributed) every rank calls this with the same arguments: ``batch_size`` is
    per rank, R and D train through DistributedDataParallel, and rank 0 alone writes the run folder
    (``on_grid`` too); every rank returns the same result.

    Returns:
        The run folder, steps done, the last logged stats and the trained refiner (on the CPU).

    Raises:
        InputError: missing or unreadable data, channels that differ between the sets, images too small
            for the preset, a bad config, an existing run without ``resume``, a corrupt checkpoint.
        NonFiniteLossError: a loss became NaN/inf (the checkpoint on disk is the last good one).
        LabelPreservationError: ``strict`` and the label monitor failed its threshold (ditto).
    """
    cfg = config or RefinerTrainConfig()
    validate_config(cfg)
    log_to = parse_log_to(log_to)  # an unknown or missing logger fails before any work
    ranks = distributed.setup()
    run, syn_src, real_src = Path(out), open_source(synthetic, "--synthetic"), open_source(real, "--real")
    ckpt_path, stats_path = run / CHECKPOINT_NAME, run / "stats.jsonl"
    cfg, checkpoint = _resolve(run, cfg, syn_src, real_src, resume, ranks)
    syn_src, real_src = equalized(syn_src, bool(cfg.equalize)), equalized(real_src, bool(cfg.equalize))
    dev = distributed.rank_device(select_device(None if device is None else str(device)), ranks)
    semantic = load_consistency(cfg, syn_src, dev)  # before any training: a bad --consistency fails fast
    state = build_state(cfg, syn_src, real_src, dev, checkpoint, ranks)
    state.consistency = semantic.term if semantic is not None else None
    if resume and ranks.main:
        truncate_stats(stats_path, state.step)  # drop lines logged after the checkpoint (no duplicates)
    phases = schedule(cfg)
    total = phases[-1].end
    if state.step > total:
        done = f"step {state.step} (iteration {adversarial_iteration(cfg, state.step)})"
        short = f"--steps {cfg.steps} would end before that: pass a larger --steps"
        raise InputError.at(run, f"the run is already at {done}; {short}")
    grid_syn, grid_real = _grid_images(syn_src, real_src, cfg.grid_rows)
    if ranks.main:
        run.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run / "config.json")
    classifier = semantic.model if semantic is not None and semantic.task == "classify" else None
    monitor, about = _monitor(syn_src, cfg, run, dev, classifier, ranks)
    if progress or monitor is None:
        notice(about)
    tb = None  # purge_step: a resumed run hides the events it will log again
    if ranks.main:
        tb = open_loggers(run, log_to, "refiner", purge_step=state.step + 1, config=config_to_dict(cfg))
    existed = ckpt_path.is_file()
    last_stats: dict[str, Any] = {}

    # --- Algorithm 1 -----------------------------------------------------------------------------------
    bar = tqdm(
        total=total,
        initial=state.step,
        desc="train-refiner",
        disable=off(progress and ranks.main),
        dynamic_ncols=True,
    )
    t0 = time.perf_counter()
    try:
        for phase in phases:
            while phase.start <= state.step < phase.end:
                values = distributed.mean_values(phase.run(state), ranks)  # every rank logs the same
                floats = check_finite(values, state.step + 1, phase.name, ckpt_path)
                state.step += 1
                done = state.step
                state.averages.add(floats)
                if on_step is not None:
                    on_step(done, floats)
                bar.update(1)
                stats = _log_step(state, cfg, monitor, phase, total, run, tb, t0, dev)
                if stats is not None:
                    last_stats = stats
                    bar.set_postfix(postfix(last_stats), refresh=False)
                grid = on_grid is not None or tb is not None
                if grid and ranks.main and (done % cfg.grid_every == 0 or done == total):
                    path = run / "grids" / f"step_{done:07d}.png"
                    write_grid(state, on_grid, path, grid_syn, grid_real, tb)
                if done % cfg.ckpt_every == 0 or done == total:
                    if tb is not None:
                        tb.flush()
                    save_state(state, ckpt_path)
                    existed = True
        if tb is not None and last_stats:
            log_hparams(tb, config_to_dict(cfg), last_stats)
    finally:
        bar.close()
        if tb is not None:
            tb.close()
    if not existed:
        save_state(state, ckpt_path)  # a run of zero steps: still a refiner
    return _finish(state, cfg, monitor, run, total, last_stats, ranks)


def _log_step(
    state: RefinerState,
    cfg: RefinerTrainConfig,
    monitor: LabelMonitor | None,
    phase: Phase,
    total: int,
    run: Path,
    tb: Any,
    t0: float,
    dev: torch.device,
) -> dict[str, Any] | None:
    """After step ``state.step``: its stats line when one is due (every ``log_every`` steps, at a phase's
    end, at the last step and with every label check), the label check when due (warn, ``--strict``,
    best.pt); None when no line is due."""
    done = state.step
    monitored = monitor is not None and (done % cfg.monitor_every == 0 or done == total)
    if not (done % cfg.log_every == 0 or done in (phase.end, total) or monitored):
        return None
    extra = monitor.measure(state.R, dev, state.amp) if monitor is not None and monitored else None
    stats = log_line(state, phase.name, run / "stats.jsonl", tb, t0, extra)
    if monitor is not None and monitored:
        monitor_step(state, monitor, stats, run, run / CHECKPOINT_NAME)  # warn, --strict, best.pt
    return stats


def _finish(
    state: RefinerState,
    cfg: RefinerTrainConfig,
    monitor: LabelMonitor | None,
    run: Path,
    total: int,
    last_stats: dict[str, Any],
    ranks: Ranks,
) -> RefinerTrainResult:
    """The run's result, once rank 0's files are complete (and a notice when no step kept the labels)."""
    if monitor is not None and not (run / BEST_NAME).is_file():
        notice(
            f"no measured step of the adversarial phase kept the labels ({monitor.key} threshold "
            f"{monitor.threshold:g}): no {BEST_NAME}; simgan refine will use {CHECKPOINT_NAME}"
        )
    distributed.barrier(ranks)  # rank 0's files are complete before any rank returns
    return RefinerTrainResult(
        run=run,
        step=total,
        iteration=adversarial_iteration(cfg, total),
        stats=last_stats or _last_line(run / "stats.jsonl"),  # nothing left to do: the file's last line
        refiner=state.R.cpu().eval(),
        config=cfg,
        best_step=state.monitor.best_step,
    )
