"""The task trainer: fit a digit CNN, the paper's gaze CNN, a stacked hourglass or a part-segmentation U-Net
on (mixes of) datasets.

One function, :func:`train_task`, reads top to bottom:

1. check the datasets: every ``--train`` set, the fine-tune set and the test set must have the run's task
   (segment: per-pixel masks) and agree on image size and channels (and class names), else
   :class:`InputError` naming the dataset;
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

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simgan import atomic, distributed
from simgan.amp import memory_format, use_amp
from simgan.config import config_to_dict, save_config
from simgan.data.augment import Augmenter
from simgan.data.equalize import equalized, resolve_equalize
from simgan.data.simgan_dir import mask_classes
from simgan.data.source import DatasetInfo, Source, open_source
from simgan.device import seed_everything, select_device
from simgan.distributed import SINGLE, Ranks
from simgan.errors import InputError
from simgan.loggers import DEFAULT as DEFAULT_LOGGERS
from simgan.loggers import open_loggers, parse_log_to
from simgan.nn.gaze_net import gaze_feature_shape
from simgan.nn.segment import check_segment_size
from simgan.nn.task_model import build_task_model
from simgan.train.adapt_dann import DannLearner
from simgan.train.adapt_learner import Learner, target_augmenter, to_device
from simgan.train.adapt_self_train import SelfTrainLearner
from simgan.train.task_config import ADAPT_METHODS, TaskConfig
from simgan.train.task_data import (
    TargetData,
    TaskData,
    check_source,
    check_target,
    class_prior,
    curve_data,
    fits_in_memory,
    num_outputs,
    split,
)
from simgan.train.task_loop import fit, planned_epochs
from simgan.train.task_scores import atc_threshold_on, test_scores

__all__ = ["ADAPT_METHODS", "TaskConfig", "train_task", "planned_epochs"]


# on_curves(path, history, task, test_metrics): draws RUN/curves.png (simgan.viz.curves.plot_curves)
CurvePlotter = Callable[[Path, list[dict[str, Any]], str, dict[str, Any] | None], None]


# --- the run ------------------------------------------------------------------------------------------


def _check_run(
    cfg: TaskConfig,
    train: Sequence[Source],
    finetune: Source | None,
    test: Source | None,
    target: Source | None,
) -> DatasetInfo:
    """Step 1: refuse a bad config or a dataset the run cannot use; returns the first training set's info."""
    cfg.validate()
    if not train:
        raise InputError("train-task: at least one --train dataset is needed")
    if cfg.adapt != "none" and target is None:
        raise InputError(f"train-task: --adapt {cfg.adapt} needs --target DIR (the unlabelled real images)")
    if cfg.adapt == "none" and target is not None:
        raise InputError("train-task: --target is only used with --adapt dann or --adapt self-train")
    ref = train[0]
    for src in train:
        check_source(src, "--train", cfg.task, ref)
    if finetune is not None:
        check_source(finetune, "--finetune", cfg.task, ref)
    if test is not None:
        check_source(test, "--test", cfg.task, ref)
    if target is not None:
        check_target(target, ref)
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
    if cfg.task == "segment":
        try:
            check_segment_size(info.height, info.width, cfg.seg_depth)
        except ValueError as e:
            raise InputError.at(info.path, f"{e}: choose a smaller seg_depth") from None
    return info


def _finetune(
    cfg: TaskConfig, finetune: Source, progress: bool, fit_kw: dict[str, Any]
) -> tuple[dict[str, Any], int, tuple[int, int]]:
    """Step 4: fine-tune the best model on ``finetune`` at ``lr * finetune_lr_factor``, with the set's own
    seeded validation split; returns the best record, the steps taken and the (train, val) sizes."""
    ft_train, ft_val = split(len(finetune), cfg.val_fraction, cfg.seed)
    ft_mem = fits_in_memory(finetune.info, len(finetune), cfg.in_memory_mb)
    ft_kw = {"in_memory": ft_mem, "workers": cfg.workers, "progress": progress, "task": cfg.task}
    best, steps = fit(
        phase="finetune",
        train=TaskData([finetune], ft_train, desc="load finetune", **ft_kw),
        val=TaskData([finetune], ft_val, desc="load finetune val", **ft_kw),
        epochs=cfg.finetune_epochs or max(1, cfg.epochs // 2),
        lr=cfg.lr * cfg.finetune_lr_factor,
        **fit_kw,
    )
    return best, steps, (len(ft_train), len(ft_val))


def _open_run(out: Path, cfg: TaskConfig, overwrite: bool, ranks: Ranks) -> None:
    """Claim ``out`` (refusing a run already there unless ``overwrite``) and start it: config.json and
    an empty history.jsonl, written by rank 0."""
    _claim(out, overwrite, ranks)
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.json")
        (out / "history.jsonl").write_text("", encoding="utf-8")


def _load(
    cfg: TaskConfig, info: DatasetInfo, train: Sequence[Source], target: Source | None, progress: bool
) -> tuple[TaskData, TaskData, TargetData | None]:
    """Step 2: the seeded train / validation split of the mixed training sets, and the unlabelled target
    images; each in memory when its float pixels fit ``in_memory_mb``."""
    n_total = sum(len(s) for s in train)
    train_idx, val_idx = split(n_total, cfg.val_fraction, cfg.seed)
    in_memory = fits_in_memory(info, n_total, cfg.in_memory_mb)
    data_kw = {"in_memory": in_memory, "workers": cfg.workers, "progress": progress, "task": cfg.task}
    train_data = TaskData(train, train_idx, desc="load train", **data_kw)
    val_data = TaskData(train, val_idx, desc="load val", **data_kw)
    target_data = None
    if target is not None:
        t_mem = fits_in_memory(target.info, len(target), cfg.in_memory_mb)
        target_data = TargetData(target, in_memory=t_mem, workers=cfg.workers, progress=progress)
    return train_data, val_data, target_data


def _metrics(
    cfg: TaskConfig,
    info: DatasetInfo,
    test_metrics: dict[str, Any] | None,
    counts: dict[str, Any],
    history: list[dict[str, Any]],
    best: dict[str, Any],
    data: tuple[Sequence[Source], Source | None, Source | None, Source | None],
) -> dict[str, Any]:
    """The ``metrics.json`` dict (see :func:`train_task`'s Returns)."""
    train, test, finetune, target = data
    metrics: dict[str, Any] = {"task": cfg.task, "adapt": cfg.adapt, "amp": counts["amp"]}
    metrics["equalize"] = cfg.equalize
    if test_metrics is not None:
        metrics.update({k: v for k, v in test_metrics.items() if k != "n"})
    if cfg.task == "classify" and info.classes:
        metrics["classes"] = list(info.classes)
    if cfg.task == "segment":
        metrics["parts"] = list(mask_classes(train[0]) or ())  # the names of the ids in "iou"
    metrics.update(
        {
            "n_train": counts["n_train"],
            "n_val": counts["n_val"],
            "n_test": len(test) if test is not None else 0,
            "n_target": len(target) if target is not None else 0,
            "steps": counts["steps"],
            "epochs": len(history),
            "best_epoch": best["epoch"],
            "best": best,
            "train_seconds": counts["train_seconds"],
            "data": _data_record(train, test, finetune, target),
        }
    )
    if counts["atc_threshold"] is not None:
        metrics["atc_threshold"] = counts["atc_threshold"]
    return metrics


def _data_record(
    train: Sequence[Source], test: Source | None, finetune: Source | None, target: Source | None
) -> dict[str, Any]:
    """What the run trained and was tested on: each dataset's path, layout, count and provenance."""

    def one(src: Source) -> dict[str, Any]:
        info = src.info
        record = {"path": str(Path(info.path).resolve()), "layout": info.layout, "count": info.count}
        if "provenance" in info.extra:
            record["provenance"] = info.extra["provenance"]
        return record

    out: dict[str, Any] = {"train": [one(s) for s in train]}
    for role, src in (("test", test), ("finetune", finetune), ("target", target)):
        if src is not None:
            out[role] = one(src)
    return out


RESULTS = ("metrics.json", "history.jsonl", "best.pt", "last.pt", "curves.json", "curves.png")


def _claim(out: Path, overwrite: bool, ranks: Ranks) -> None:
    """Refuse a folder that holds a run (its results would be replaced without a word), or with
    ``overwrite`` delete those results first, so that an interrupted new run never sits beside an old
    run's metrics. Every rank looks before rank 0 deletes."""
    held = [name for name in RESULTS if (out / name).is_file()]
    distributed.barrier(ranks)
    if held and not overwrite:
        raise InputError.at(
            out,
            f"already holds a train-task run ({held[0]}): pass --overwrite to replace it, or another --out",
        )
    if ranks.main and held:
        for name in held:
            (out / name).unlink()
        shutil.rmtree(out / "tb", ignore_errors=True)  # the old run's TensorBoard events


def _adapt_weight(cfg: TaskConfig) -> float:
    """``adapt_weight``, or the method default when it is 0 (docs/train_task.md: how it was chosen)."""
    return cfg.adapt_weight or {"dann": 0.3, "self-train": 1.0}.get(cfg.adapt, 0.0)


def _learner(
    cfg: TaskConfig,
    phase_method: str,
    model: nn.Module,
    target: TargetData | None,
    device: torch.device,
    generator: torch.Generator,
    ranks: Ranks = SINGLE,
    prior: torch.Tensor | None = None,
) -> Learner | None:
    """The adapter of ``cfg.adapt`` when it is ``phase_method`` (dann joins the train phase; self-train
    runs its own phase after it), fed by its own seeded stream of target batches; None otherwise.
    ``prior``: the source class frequencies, for self-training's distribution alignment."""
    if cfg.adapt != phase_method or target is None:
        return None
    offset = {"dann": 300, "self-train": 700}[phase_method]
    stream = to_device(target.stream(cfg.batch_size, cfg.seed * 1000 + offset, ranks), device)
    common = {"weight": _adapt_weight(cfg), "generator": generator}
    if phase_method == "dann":
        augment = target_augmenter(cfg.task, cfg.augment)
        layers = {"hidden": cfg.domain_hidden, "layers": cfg.domain_layers}
        return DannLearner(model, cfg.task, stream, augment=augment, **layers, **common)
    return SelfTrainLearner(
        model,
        cfg.task,
        stream,
        prior=prior,
        confidence=cfg.pseudo_threshold,
        max_error=cfg.pseudo_max_error,
        ema_decay=cfg.ema_decay,
        **common,
    )


def _train_on_the_mix(
    cfg: TaskConfig,
    train: Sequence[Source],
    train_data: Any,
    val_data: Any,
    target_data: Any,
    fit_kw: dict[str, Any],
) -> tuple[Any, int]:
    """Steps 3 and 3b of :func:`train_task`: train on the --train mix (with DANN's domain loss when
    asked), then self-train from the best source-only model when asked; (best epoch's record, steps)."""
    model, device, generator, ranks = fit_kw["model"], fit_kw["device"], fit_kw["generator"], fit_kw["ranks"]
    epochs = planned_epochs(cfg, len(train_data), world=ranks.world)
    learner = _learner(cfg, "dann", model, target_data, device, generator, ranks)
    best, steps = fit(
        phase="train",
        train=train_data,
        val=val_data,
        epochs=epochs,
        lr=cfg.lr,
        learner=learner,
        min_steps=cfg.min_steps,
        **fit_kw,
    )

    # 3b. Self-training: from the best source-only model, a mean teacher labels the unlabelled real images.
    aligned = cfg.adapt == "self-train" and cfg.task == "classify" and cfg.pseudo_align
    prior = class_prior(train, num_outputs(cfg.task, train)) if aligned else None
    learner = _learner(cfg, "self-train", model, target_data, device, generator, ranks, prior)
    if learner is not None:
        best, more = fit(
            phase="self-train",
            train=train_data,
            val=val_data,
            epochs=epochs,
            lr=cfg.lr * cfg.adapt_lr_factor,
            learner=learner,
            min_steps=cfg.min_steps,
            **fit_kw,
        )
        steps += more
    return best, steps


@distributed.main_writer("out")
def train_task(
    cfg: TaskConfig,
    train: Sequence[Source | str | Path],
    test: Source | str | Path | None,
    out: str | Path,
    *,
    finetune: Source | str | Path | None = None,
    target: Source | str | Path | None = None,
    progress: bool = True,
    on_curves: CurvePlotter | None = None,
    overwrite: bool = False,
    log_to: Sequence[str] = DEFAULT_LOGGERS,
) -> dict[str, Any]:
    """Train the task network of ``cfg.task`` on the concatenated ``train`` sets; evaluate on ``test``.

    Args:
        cfg: the run's config (:class:`TaskConfig`).
        train: one or more labelled datasets, mixed (concatenated); they must agree on task, size,
            channels and class names. Each dataset argument is an opened Source or a folder (any
            layout :func:`simgan.data.open_dataset` reads).
        test: the labelled test set (touched once, after training), or None to skip testing.
        out: the run folder; receives config.json, history.jsonl, best.pt, last.pt, metrics.json,
            curves.json and curves.png.
        finetune: a (small) labelled set to fine-tune on after pre-training on ``train``.
        target: the unlabelled real images for ``cfg.adapt`` (dann, self-train); only their pixels are
            read, never their labels. Needed exactly when ``cfg.adapt`` is not none.
        progress: show progress bars.
        on_curves: draws ``curves.png`` when ``cfg.plot`` (the CLI passes
            :func:`simgan.viz.curves.plot_curves`); None: no picture, ``curves.json`` only.
        overwrite: replace the run ``out`` already holds (its results are deleted first); without it
            such a folder is refused.
        log_to: where each epoch's numbers also go (:mod:`simgan.loggers`: ``tensorboard`` writes
            ``RUN/tb``, ``wandb`` when installed).

    Under torchrun (simgan.distributed) every rank calls this with the same arguments: ``batch_size`` is
    per rank (a step takes ``batch_size * N`` images), the network trains through DDP, rank 0 alone
    writes ``out`` and scores the test set, and every rank returns its metrics.

    Returns:
        The ``metrics.json`` dict: the task's test metrics (DESIGN.md keys; empty without ``test``) plus
        ``task``, ``adapt``, ``n_train``, ``n_val``, ``n_test``, ``n_target``, ``steps`` (optimizer steps,
        all phases), ``epochs`` (epochs run, all phases), ``best_epoch`` and ``best`` (the selected epoch's
        record), ``train_seconds`` and, for classify, ``classes``; for segment, ``parts`` (the mask
        class names, in id order).

    Raises:
        InputError: a dataset of another task, size, channel count or class list (segment: without
            masks, or with other mask classes); an augmentation
            that would corrupt this task's labels; a bad config value; ``adapt`` without ``target``
            (or ``target`` without ``adapt``); an ``out`` holding a run, without ``overwrite``.
    """
    # 1. Check the datasets and the config; every image the model sees goes through the same equalisation.
    cfg = dataclasses.replace(cfg, equalize=resolve_equalize(cfg.equalize, cfg.task))
    train = [equalized(open_source(s, "--train"), cfg.equalize) for s in train]
    test, finetune, target = (
        None if s is None else equalized(open_source(s, flag), cfg.equalize)
        for s, flag in ((test, "--test"), (finetune, "--finetune"), (target, "--target"))
    )
    info = _check_run(cfg, train, finetune, test, target)
    augment = Augmenter(cfg.task, cfg.augment)  # refuses ops that would corrupt the labels
    log_to = parse_log_to(log_to)
    ranks = distributed.setup()
    device = distributed.rank_device(select_device(cfg.device), ranks)
    progress = progress and ranks.main
    out = Path(out)
    _open_run(out, cfg, overwrite, ranks)

    # 2. Seeded validation split of the mixed training sets; data into memory when small.
    seed_everything(cfg.seed)
    train_data, val_data, target_data = _load(cfg, info, train, target, progress)

    model, spec = build_task_model(
        cfg,
        channels=info.channels,
        height=info.height,
        width=info.width,
        num_outputs=num_outputs(cfg.task, train),
    )
    amp = use_amp(cfg.amp, device)  # bf16 + channels_last where the device does bf16 natively
    model = model.to(device, memory_format=memory_format(amp))
    generator = torch.Generator().manual_seed(cfg.seed + 1 + 1000 * ranks.rank)  # augmentation draws
    history: list[dict[str, Any]] = []

    # 3. Train on the --train mix (with DANN's domain loss when asked), keeping the best validation epoch.
    t0 = time.perf_counter()
    fit_kw = {"model": model, "cfg": cfg, "spec": spec, "device": device, "augment": augment}
    fit_kw.update({"generator": generator, "out": out, "history": history, "progress": progress})
    tb = open_loggers(out, log_to, "task", config=config_to_dict(cfg)) if ranks.main else None
    fit_kw.update({"ranks": ranks, "tb": tb, "amp": amp})
    best, steps = _train_on_the_mix(cfg, train, train_data, val_data, target_data, fit_kw)
    n_train, n_val = len(train_data), len(val_data)

    # 4. Fine-tune on the few real labels: lower lr, fewer epochs, its own validation split.
    if finetune is not None:
        best, more, ft_sizes = _finetune(cfg, finetune, progress, fit_kw)
        steps += more
        n_train, n_val = n_train + ft_sizes[0], n_val + ft_sizes[1]
    if tb is not None:
        tb.close()
    counts = {"n_train": n_train, "n_val": n_val, "steps": steps, "amp": amp}
    counts["atc_threshold"] = atc_threshold_on(model, val_data, cfg, device)
    counts["train_seconds"] = round(time.perf_counter() - t0, 3)

    # 5. The test set, once, with the selected weights.
    test_metrics = None
    if test is not None:
        test_metrics = test_scores(model, test, cfg, device) if ranks.main else None
        test_metrics = distributed.broadcast(test_metrics, ranks)  # scored once, by rank 0
    metrics = _metrics(cfg, info, test_metrics, counts, history, best, (train, test, finetune, target))
    if ranks.main:
        atomic.write_json(out / "metrics.json", metrics)
        atomic.write_json(out / "curves.json", curve_data(history, test_metrics))
        if cfg.plot and on_curves is not None:  # (no test panel for segment yet: its IoUs are a table)
            on_curves(out / "curves.png", history, cfg.task, None if cfg.task == "segment" else test_metrics)
    distributed.barrier(ranks)  # rank 0's files are complete before any rank returns
    return metrics
