"""The task trainer: fit a digit CNN, the paper's gaze CNN or a stacked hourglass on (mixes of) datasets.

One function, :func:`train_task`, reads top to bottom:

1. check the datasets: every ``--train`` set, the fine-tune set and the test set must have the run's task
   and agree on image size and channels (and class names), else :class:`InputError` naming the dataset;
2. split a seeded validation fraction off the (concatenated) training sets; it picks the best epoch
   and drives early stopping, so the test set is touched exactly once, at the end;
3. train with the optimizer and scheduler named in the config (``simgan.train.optim``), batched kornia
   augmentation (``simgan.data.augment``), one ``history.jsonl`` line per epoch, and ``best.pt`` /
   ``last.pt`` checkpoints (``simgan.checkpoint``, kind ``task``: plain dicts, written atomically,
   loadable with ``weights_only=True``);
4. optionally fine-tune the best model on a few real labels (``finetune``): a fresh optimizer at
   ``lr * finetune_lr_factor`` for ``finetune_epochs`` (default: half the epochs), validation split from
   the fine-tune set itself;
5. restore the best checkpoint, evaluate it on the test set (:func:`simgan.eval.task_eval.evaluate`),
   write ``metrics.json``, ``curves.json`` and, through ``on_curves``, ``curves.png``.

The pieces live where they belong: the networks, their losses (paper section 3) and checkpoint loading in
``simgan.nn.task_model``; dataset checks, the validation split and batching in ``simgan.train.task_data``;
validation and test scoring in ``simgan.eval.task_eval``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from simgan import atomic
from simgan.checkpoint import save_checkpoint
from simgan.config import config_to_dict, save_config
from simgan.data.augment import Augmenter
from simgan.data.source import DatasetInfo, Source
from simgan.device import seed_everything, select_device
from simgan.errors import InputError
from simgan.eval.metrics import METRICS, selection_metric
from simgan.eval.task_eval import evaluate, evaluate_batches
from simgan.nn.gaze_net import gaze_feature_shape
from simgan.nn.task_model import build_task_model, task_loss
from simgan.train.optim import build_optimizer, build_scheduler
from simgan.train.task_data import TaskData, check_source, curve_data, fits_in_memory, num_outputs, split

__all__ = ["TaskConfig", "train_task"]


# on_curves(path, history, task, test_metrics): draws RUN/curves.png (simgan.viz.curves.plot_curves)
CurvePlotter = Callable[[Path, list[dict[str, Any]], str, dict[str, Any] | None], None]


@dataclass(frozen=True)
class TaskConfig:
    """Everything a ``train-task`` run depends on; saved as ``RUN/config.json`` and in every checkpoint.

    Attributes:
        task: classify, gaze or handpose (must match every dataset's task).
        epochs: training epochs on the ``--train`` sets.
        batch_size: samples per step (the paper used 512 for gaze; 128 is faster per image on a CPU).
        optimizer: sgd, momentum, nesterov, adagrad, rmsprop or adam (``simgan.train.optim``).
        lr: learning rate (the paper: a constant 0.001).
        momentum: momentum for ``momentum`` / ``nesterov``.
        weight_decay: L2 penalty on the weights.
        scheduler: none, step (lr *= lr_gamma every lr_step epochs) or exponential (lr *= lr_gamma ** (1 /
            lr_step) every epoch, so both schedules halve the rate over the same span by default).
        lr_step: epochs per StepLR decay, and the span of one lr_gamma factor for ExponentialLR.
        lr_gamma: the decay factor.
        augment: op names from ``simgan.data.augment`` (flip, crop, rotate, jitter).
        val_fraction: share of the training data held out (seeded) for model selection.
        patience: stop after this many epochs without a better validation score (0: never stop early).
        finetune_epochs: epochs on the fine-tune set (0: half of ``epochs``, at least 1).
        finetune_lr_factor: the fine-tune learning rate is ``lr * finetune_lr_factor``.
        width: network width (0: the default, 16 for the digit CNN, 64 for the hourglass); unused by the
            gaze CNN, whose widths are the paper's.
        gaze_hidden: units of the gaze CNN's hidden FC layer (paper: 1000).
        hg_stacks: hourglass stacks (paper: 2).
        hg_depth: halvings inside each hourglass.
        hg_stride: heatmap stride, 2 or 4 (heatmaps at 1/2 or 1/4 of the input).
        hg_sigma: target Gaussian std in heatmap pixels.
        hg_decode: argmax or soft-argmax.
        seed: seeds the weights, the validation split, shuffling and augmentation.
        device: auto, cpu, cuda, ...
        workers: DataLoader workers when streaming from disk.
        in_memory_mb: load a dataset into memory when its float pixels fit in this many MiB.
        checkpoint_interval_s: write best.pt / last.pt at most this often during a phase (and always at
            its end); the best weights are kept in memory meanwhile.
        plot: draw ``curves.png`` (matplotlib, about half a second); ``curves.json`` is always written.
    """

    task: Literal["classify", "gaze", "handpose"] = "classify"
    epochs: int = 10
    batch_size: int = 128
    optimizer: Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: Literal["none", "step", "exponential"] = "none"
    lr_step: int = 5
    lr_gamma: float = 0.5
    augment: tuple[str, ...] = ()
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
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    in_memory_mb: int = 1024
    checkpoint_interval_s: float = 60.0
    plot: bool = True

    def validate(self) -> None:
        """Raise InputError for values no run can use (ranges the type system does not express)."""
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
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
        ]
        for ok, problem in checks:
            if not ok:
                raise InputError(f"config: {problem}")


# --- the loop -----------------------------------------------------------------------------------------


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics that can rank epochs (numbers with a direction), for the validation record."""
    return {k: v for k, v in metrics.items() if k in METRICS and METRICS[k].higher_is_better is not None}


def _train_epoch(
    model: nn.Module,
    task: str,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    augment: Augmenter,
    generator: torch.Generator,
    bar: tqdm,
) -> float:
    """One pass over ``batches``: augment, step; returns the mean training loss."""
    model.train()
    total, n = 0.0, 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if augment:
            x, y = augment(x, y, generator)  # parameters drawn on the CPU generator, pixels on device
        loss = task_loss(model, task, model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(x)
        n += len(x)
        bar.update(1)
    return total / max(n, 1)


def _fit(
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
) -> dict[str, Any]:
    """Train ``model`` in place for one phase; leave it holding the best-validation weights.

    Returns the best epoch's record (``epoch``, ``phase`` and validation scores).
    """
    optimizer = build_optimizer(
        cfg.optimizer, model.parameters(), lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum
    )
    gamma = cfg.lr_gamma if cfg.scheduler == "step" else cfg.lr_gamma ** (1.0 / cfg.lr_step)
    scheduler = build_scheduler(cfg.scheduler, optimizer, step_size=cfg.lr_step, gamma=gamma)
    select = selection_metric(cfg.task)
    sign = 1.0 if select.higher_is_better else -1.0
    best: dict[str, Any] = {}
    best_score: tuple[float, float] = (-np.inf, -np.inf)
    stale, last_write = 0, time.perf_counter()
    base_seed = cfg.seed * 1000 + (500 if phase == "finetune" else 0)
    bar = tqdm(
        total=epochs * train.num_batches(cfg.batch_size), desc=phase, unit="batch", disable=not progress
    )
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        batches = train.batches(cfg.batch_size, shuffle=True, seed=base_seed + epoch)
        record: dict[str, Any] = {
            "phase": phase,
            "epoch": epoch,
            "train/loss": _train_epoch(model, cfg.task, batches, optimizer, device, augment, generator, bar),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if scheduler is not None:
            scheduler.step()
        if len(val):
            val_batches = val.batches(max(cfg.batch_size, 256), shuffle=False, seed=0)
            val_loss, val_metrics = evaluate_batches(model, cfg.task, val_batches, device)
            record["val/loss"] = val_loss
            record.update({f"val/{k}": v for k, v in _scalar_metrics(val_metrics).items()})
            # Ties on the metric (common for accuracy on a small split) go to the lower validation loss.
            score = (sign * record[f"val/{select.name}"], -val_loss)
        else:
            score = (float(epoch), 0.0)  # no validation data: the last epoch is the best one
        record["time_s"] = round(time.perf_counter() - t0, 4)
        history.append(record)
        with open(out / "history.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        shown = {k.replace("/", "_"): f"{v:.4g}" for k, v in record.items() if k.startswith(("train", "val"))}
        bar.set_postfix(shown)
        last = _checkpoint(model.state_dict(), optimizer.state_dict(), phase, epoch, record, cfg, spec)
        if score > best_score or not best:  # (a NaN score never compares greater: keep epoch 1 then)
            best_score, stale = score, 0
            best = _checkpoint(_cpu_copy(model.state_dict()), None, phase, epoch, record, cfg, spec)
        else:
            stale += 1
        stop = bool(cfg.patience) and stale >= cfg.patience
        # Serialising every epoch would dominate short epochs: write at most every checkpoint_interval_s,
        # and always when the phase ends (so the files on disk end up exactly the returned state).
        if stop or epoch == epochs or time.perf_counter() - last_write >= cfg.checkpoint_interval_s:
            save_checkpoint(out / "last.pt", last, "task")
            save_checkpoint(out / "best.pt", best, "task")
            last_write = time.perf_counter()
        if stop:
            break
    bar.close()
    model.load_state_dict(best["model"])
    return best["record"]


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


# --- the run ------------------------------------------------------------------------------------------


def _check_run(
    cfg: TaskConfig, train: Sequence[Source], finetune: Source | None, test: Source | None
) -> DatasetInfo:
    """Step 1: refuse a bad config or a dataset the run cannot use; returns the first training set's info."""
    cfg.validate()
    if not train:
        raise InputError("train-task: at least one --train dataset is needed")
    ref = train[0]
    for src in train:
        check_source(src, "--train", cfg.task, ref)
    if finetune is not None:
        check_source(finetune, "--finetune", cfg.task, ref)
    if test is not None:
        check_source(test, "--test", cfg.task, ref)
    info = ref.info
    if cfg.task == "gaze":
        try:
            gaze_feature_shape(info.height, info.width)
        except ValueError as e:
            raise InputError.at(info.path, str(e)) from None
    if cfg.task == "handpose" and (info.height % cfg.hg_stride or info.width % cfg.hg_stride):
        raise InputError.at(
            info.path,
            f"hand images of {info.height}x{info.width} are not divisible by hg_stride {cfg.hg_stride}",
        )
    return info


def train_task(
    cfg: TaskConfig,
    train: Sequence[Source],
    test: Source | None,
    out: str | Path,
    *,
    finetune: Source | None = None,
    progress: bool = True,
    on_curves: CurvePlotter | None = None,
) -> dict[str, Any]:
    """Train the task network of ``cfg.task`` on the concatenated ``train`` sets; evaluate on ``test``.

    Args:
        cfg: the run's config (:class:`TaskConfig`).
        train: one or more labelled datasets, mixed (concatenated); they must agree on task, size,
            channels and class names.
        test: the labelled test set (touched once, after training), or None to skip testing.
        out: the run folder; receives config.json, history.jsonl, best.pt, last.pt, metrics.json,
            curves.json and (with ``on_curves`` and ``cfg.plot``) curves.png.
        finetune: a (small) labelled set to fine-tune on after pre-training on ``train``.
        progress: show progress bars.
        on_curves: draws ``curves.png`` as ``on_curves(path, history, task, test_metrics)``;
            :func:`simgan.viz.curves.plot_curves` fits (the CLI passes it). None draws nothing.

    Returns:
        The ``metrics.json`` dict: the task's test metrics (DESIGN.md keys; empty without ``test``) plus
        ``task``, ``n_train``, ``n_val``, ``n_test``, ``best`` (the selected epoch's record),
        ``train_seconds`` and, for classify, ``classes``.

    Raises:
        InputError: a dataset of another task, size, channel count or class list; an augmentation
            that would corrupt this task's labels; a bad config value.
    """
    # 1. Check the datasets and the config.
    info = _check_run(cfg, train, finetune, test)
    augment = Augmenter(cfg.task, cfg.augment)  # refuses ops that would corrupt the labels
    device = select_device(cfg.device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json")
    (out / "history.jsonl").write_text("", encoding="utf-8")  # a rerun into the same folder starts fresh

    # 2. Seeded validation split of the mixed training sets; data into memory when small.
    seed_everything(cfg.seed)
    n_total = sum(len(s) for s in train)
    train_idx, val_idx = split(n_total, cfg.val_fraction, cfg.seed)
    in_memory = fits_in_memory(info, n_total, cfg.in_memory_mb)
    data_kw = {"in_memory": in_memory, "workers": cfg.workers, "progress": progress}
    train_data = TaskData(train, train_idx, desc="load train", **data_kw)
    val_data = TaskData(train, val_idx, desc="load val", **data_kw)

    model, spec = build_task_model(
        cfg,
        channels=info.channels,
        height=info.height,
        width=info.width,
        num_outputs=num_outputs(cfg.task, train),
    )
    model = model.to(device)
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    history: list[dict[str, Any]] = []

    # 3. Train on the --train mix, keeping the best validation epoch.
    t0 = time.perf_counter()
    fit_kw = {"model": model, "cfg": cfg, "spec": spec, "device": device, "augment": augment}
    fit_kw.update({"generator": generator, "out": out, "history": history, "progress": progress})
    best = _fit(phase="train", train=train_data, val=val_data, epochs=cfg.epochs, lr=cfg.lr, **fit_kw)
    n_train, n_val = len(train_data), len(val_data)

    # 4. Fine-tune on the few real labels: lower lr, fewer epochs, its own validation split.
    if finetune is not None:
        ft_train, ft_val = split(len(finetune), cfg.val_fraction, cfg.seed)
        ft_mem = fits_in_memory(finetune.info, len(finetune), cfg.in_memory_mb)
        ft_kw = {"in_memory": ft_mem, "workers": cfg.workers, "progress": progress}
        epochs = cfg.finetune_epochs or max(1, cfg.epochs // 2)
        best = _fit(
            phase="finetune",
            train=TaskData([finetune], ft_train, desc="load finetune", **ft_kw),
            val=TaskData([finetune], ft_val, desc="load finetune val", **ft_kw),
            epochs=epochs,
            lr=cfg.lr * cfg.finetune_lr_factor,
            **fit_kw,
        )
        n_train, n_val = n_train + len(ft_train), n_val + len(ft_val)
    train_seconds = time.perf_counter() - t0

    # 5. The test set, once, with the selected weights.
    metrics: dict[str, Any] = {"task": cfg.task}
    test_metrics = None
    if test is not None:
        test_metrics = evaluate(model, test, cfg.task, device)
        metrics.update({k: v for k, v in test_metrics.items() if k != "n"})
    if cfg.task == "classify" and info.classes:
        metrics["classes"] = list(info.classes)
    metrics.update(
        {
            "n_train": n_train,
            "n_val": n_val,
            "n_test": len(test) if test is not None else 0,
            "best": best,
            "train_seconds": round(train_seconds, 3),
        }
    )
    atomic.write_json(out / "metrics.json", metrics)
    atomic.write_json(out / "curves.json", curve_data(history, test_metrics))
    if cfg.plot and on_curves is not None:  # training never draws: the caller passes the plotter
        on_curves(out / "curves.png", history, cfg.task, test_metrics)
    return metrics
