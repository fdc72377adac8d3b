"""The task trainer's loop: epochs of a phase (:func:`planned_epochs`), one epoch of optimizer steps, and
:func:`fit`, which runs a phase (train, self-train, fine-tune) with validation every epoch, keeps the best
epoch's weights and writes ``history.jsonl``, ``best.pt`` and ``last.pt``. :mod:`simgan.train.task` runs
the phases.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from simgan import distributed
from simgan.amp import autocast, memory_format
from simgan.checkpoint import save_checkpoint
from simgan.config import config_to_dict
from simgan.data.augment import Augmenter
from simgan.distributed import SINGLE, Ranks
from simgan.eval.metrics import selection_metric
from simgan.eval.task_eval import evaluate_batches
from simgan.progress import off
from simgan.train.adapt_learner import Learner
from simgan.train.optim import build_optimizer, build_scheduler
from simgan.train.task_config import TaskConfig
from simgan.train.task_data import (
    TaskData,
)
from simgan.train.task_scores import scalar_metrics

__all__ = ["planned_epochs", "fit"]


def planned_epochs(cfg: TaskConfig, n_train: int, epochs: int | None = None, world: int = 1) -> int:
    """Epochs of a phase: ``epochs`` (default ``cfg.epochs``), raised to reach ``cfg.min_steps`` steps.

    With 900 training images at batch 128 (8 steps an epoch) and the default floor of 1500 steps that is
    188 epochs; with 100,000 images the 10 epochs (7820 steps) already pass the floor. In a job of
    ``world`` ranks a step takes ``batch_size * world`` images.
    """
    epochs = cfg.epochs if epochs is None else epochs
    per_epoch = max(1, -(-n_train // (cfg.batch_size * world)))
    return max(epochs, -(-cfg.min_steps // per_epoch))


def _train_epoch(
    learner: Learner,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    augment: Augmenter,
    generator: torch.Generator,
    bar: tqdm,
    step: int,
    total: int,
    ranks: Ranks = SINGLE,
    amp: bool = False,
) -> tuple[float, int]:
    """One pass over ``batches``: augment, step (in bf16 autocast with ``amp``, the resolved choice);
    returns the mean training loss (of all ranks, in a job) and the steps taken."""
    learner.train()
    sum_loss, n, taken = 0.0, 0, 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if augment:
            x, y = augment(x, y, generator)  # parameters drawn on the CPU generator, pixels on device
        with autocast(device, amp):
            loss = learner.loss(x.contiguous(memory_format=memory_format(amp)), y, step + taken, total)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        learner.after_step()
        sum_loss += float(loss.detach()) * len(x)
        n += len(x)
        taken += 1
        bar.update(1)
    sums = distributed.mean_values({"loss": torch.tensor(sum_loss), "n": torch.tensor(float(n))}, ranks)
    return float(sums["loss"]) / max(float(sums["n"]), 1.0), taken


def fit(
    *,
    phase: str,
    model: nn.Module,
    cfg: TaskConfig,
    spec: dict[str, Any],
    train: TaskData,
    val: TaskData,
    epochs: int,
    lr: float,
    device: torch.device,
    augment: Augmenter,
    generator: torch.Generator,
    out: Path,
    history: list[dict[str, Any]],
    progress: bool,
    learner: Learner | None = None,
    min_steps: int = 0,
    ranks: Ranks = SINGLE,
    tb: Any = None,
    amp: bool = False,
) -> tuple[dict[str, Any], int]:
    """Train ``model`` in place for one phase; leave it holding the best-validation weights.

    ``learner`` computes each step's loss (default: the supervised one); early stopping waits for
    ``min_steps`` optimizer steps. In a job of several ``ranks`` the learner trains through DDP on the
    rank's part of each batch; every rank validates on the whole split (the same weights give the same
    scores, so every rank selects the same epoch), and rank 0 alone writes. ``tb`` (a TensorBoard
    SummaryWriter, or None) gets each epoch's numbers, at the epoch's index over all phases.

    Returns:
        The best epoch's record (``epoch``, ``step``, ``phase`` and validation scores) and the number of
        optimizer steps the phase took.
    """
    learner = learner or Learner(model, cfg.task)
    learner.distribute(ranks)
    params = [*model.parameters(), *learner.parameters()]
    optimizer = build_optimizer(
        cfg.optimizer, params, lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum
    )
    gamma = cfg.lr_gamma if cfg.scheduler == "step" else cfg.lr_gamma ** (1.0 / cfg.lr_step)
    scheduler = build_scheduler(cfg.scheduler, optimizer, step_size=cfg.lr_step, gamma=gamma)
    select = selection_metric(cfg.task)
    sign = 1.0 if select.higher_is_better else -1.0
    best: dict[str, Any] = {}
    best_score: tuple[float, float] = (-np.inf, -np.inf)
    stale, last_write, step = 0, time.perf_counter(), 0
    base_seed = cfg.seed * 1000 + {"finetune": 500, "self-train": 700}.get(phase, 0)
    total = epochs * train.num_batches(cfg.batch_size, ranks)
    bar = tqdm(total=total, desc=phase, unit="batch", disable=off(progress))
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        batches = train.batches(cfg.batch_size, shuffle=True, seed=base_seed + epoch, ranks=ranks)
        train_loss, taken = _train_epoch(
            learner, batches, optimizer, device, augment, generator, bar, step, total, ranks, amp
        )
        step += taken
        record: dict[str, Any] = {"phase": phase, "epoch": epoch, "step": step, "train/loss": train_loss}
        stats = {k: torch.tensor(v) for k, v in learner.epoch_stats().items()}
        record.update({k: float(v) for k, v in distributed.mean_values(stats, ranks).items()})
        record["lr"] = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        if len(val):
            val_batches = val.batches(max(cfg.batch_size, 256), shuffle=False, seed=0)
            val_loss, val_metrics = evaluate_batches(learner.evaluated(), cfg.task, val_batches, device)
            record["val/loss"] = val_loss
            record.update({f"val/{k}": v for k, v in scalar_metrics(val_metrics).items()})
            # Ties on the metric (common for accuracy on a small split) go to the lower validation loss.
            score = (sign * record[f"val/{select.name}"], -val_loss)
        if learner.select_last or not len(val):
            score = (float(epoch), 0.0)  # the last epoch is the best one
        record["time_s"] = round(time.perf_counter() - t0, 4)
        history.append(record)
        if tb is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key not in ("epoch", "step"):
                    tb.add_scalar(f"{phase}/{key}", value, len(history))
        if ranks.main:
            with open(out / "history.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        shown = {k.replace("/", "_"): f"{v:.4g}" for k, v in record.items() if k.startswith(("train", "val"))}
        bar.set_postfix(shown)
        last = _checkpoint(model.state_dict(), optimizer.state_dict(), phase, epoch, record, cfg, spec)
        if score > best_score or not best:  # (a NaN score never compares greater: keep epoch 1 then)
            best_score, stale = score, 0
            kept = _cpu_copy(learner.evaluated().state_dict())
            best = _checkpoint(kept, None, phase, epoch, record, cfg, spec)
        else:
            stale += 1
        stop = bool(cfg.patience) and stale >= cfg.patience and step >= min_steps
        # Serialising every epoch would dominate short epochs: write at most every checkpoint_interval_s,
        # and always when the phase ends (so the files on disk end up exactly the returned state).
        due = stop or epoch == epochs or time.perf_counter() - last_write >= cfg.checkpoint_interval_s
        if due and ranks.main:
            save_checkpoint(out / "last.pt", last, "task")
            save_checkpoint(out / "best.pt", best, "task")
            last_write = time.perf_counter()
        if stop:
            break
    bar.close()
    learner.net = model  # let the phase's DDP wrapper go; the next phase wraps the model afresh
    model.load_state_dict(best["model"])
    return best["record"], step


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _checkpoint(
    model_state: dict[str, Any],
    optimizer_state: dict[str, Any] | None,
    phase: str,
    epoch: int,
    record: dict[str, Any],
    cfg: TaskConfig,
    spec: dict[str, Any],
) -> dict[str, Any]:
    """The checkpoint's state (``save_checkpoint`` adds format and version); best.pt carries no optimizer."""
    state = {
        "model": model_state,
        "phase": phase,
        "epoch": epoch,
        "record": record,
        "config": config_to_dict(cfg),
        "model_spec": spec,
    }
    if optimizer_state is not None:
        state["optimizer"] = optimizer_state
    return state
