"""The task trainer: fit a digit CNN, the paper's gaze CNN or a stacked hourglass on (mixes of) datasets.

One function, :func:`train_task`, reads top to bottom:

1. check the datasets: every ``--train`` set, the fine-tune set and the test set must have the run's task
   and agree on image size and channels (and class names), else :class:`InputError` naming the dataset;
2. split a seeded validation fraction off the (concatenated) training sets; it picks the best epoch
   and drives early stopping, so the test set is touched exactly once, at the end;
3. train with the optimizer and scheduler named in the config (``simgan.train.optim``), batched kornia
   augmentation (``simgan.data.augment``), one ``history.jsonl`` line per epoch, and ``best.pt`` /
   ``last.pt`` checkpoints (plain dicts, written atomically, loadable with ``weights_only=True``);
4. optionally fine-tune the best model on a few real labels (``finetune``): a fresh optimizer at
   ``lr * finetune_lr_factor`` for ``finetune_epochs`` (default: half the epochs), validation split from
   the fine-tune set itself;
5. restore the best checkpoint, :func:`evaluate` it on the test set, write ``metrics.json``,
   ``curves.json`` and ``curves.png``.

Losses (paper section 3): cross-entropy for digits; the "Euclidean loss" on the 3-D gaze vector
(squared L2 norm of the difference, mean over the batch); MSE to Gaussian heatmaps at every hourglass
stack (intermediate supervision, :func:`simgan.nn.hourglass.heatmap_loss`).

Small datasets (the float pixels fit ``in_memory_mb``) are loaded once into tensors, so a few epochs over
~2000 8x8 digits take seconds on a CPU; larger ones stream from disk through a DataLoader.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import ConcatDataset, Subset
from tqdm import tqdm

from simgan import atomic
from simgan.config import config_to_dict, save_config
from simgan.data.augment import Augmenter
from simgan.data.source import Source
from simgan.data.torch_dataset import ImageDataset, label_to_target, make_loader
from simgan.device import seed_everything, select_device
from simgan.errors import InputError
from simgan.eval.metrics import METRICS, selection_metric, task_metrics
from simgan.nn.classifier import DigitCNN
from simgan.nn.gaze_net import GazeNet, gaze_feature_shape
from simgan.nn.hourglass import HourglassNet
from simgan.train.optim import build_optimizer, build_scheduler

__all__ = [
    "CHECKPOINT_FORMAT",
    "TaskConfig",
    "train_task",
    "evaluate",
    "build_task_model",
    "model_from_spec",
    "load_task_model",
    "task_loss",
]

CHECKPOINT_FORMAT = "simgan-task-checkpoint"


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


# --- models -------------------------------------------------------------------------------------------


def build_task_model(
    cfg: TaskConfig, *, channels: int, height: int, width: int, num_outputs: int
) -> tuple[nn.Module, dict[str, Any]]:
    """The task's network and its ``spec`` (a plain dict that rebuilds it: :func:`model_from_spec`).

    ``num_outputs`` is the number of classes (classify) or joints (handpose); gaze ignores it.
    """
    if cfg.task == "classify":
        spec = {"arch": "digit_cnn", "kwargs": {"in_channels": channels, "num_classes": num_outputs}}
        spec["kwargs"]["width"] = cfg.width or 16
    elif cfg.task == "gaze":
        kwargs = {"in_channels": channels, "height": height, "width": width, "hidden": cfg.gaze_hidden}
        spec = {"arch": "gaze_net", "kwargs": kwargs}
    else:
        kwargs = {
            "in_channels": channels,
            "num_joints": num_outputs,
            "stacks": cfg.hg_stacks,
            "channels": cfg.width or 64,
            "depth": cfg.hg_depth,
            "stride": cfg.hg_stride,
            "decode": cfg.hg_decode,
            "sigma": cfg.hg_sigma,
        }
        spec = {"arch": "hourglass", "kwargs": kwargs}
    return model_from_spec(spec), spec


def model_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Rebuild a task network from the ``model_spec`` stored in a checkpoint."""
    arch = {"digit_cnn": DigitCNN, "gaze_net": GazeNet, "hourglass": HourglassNet}.get(spec.get("arch"))
    if arch is None:
        raise InputError(f"checkpoint: unknown model architecture {spec.get('arch')!r}")
    return arch(**spec["kwargs"])


def load_task_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Load a ``train-task`` checkpoint (``RUN/best.pt``) as an eval-mode model, plus its config dict.

    Loads with ``weights_only=True``: a checkpoint cannot run code.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError.at(path, "checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: name it, one line
        raise InputError.at(path, f"not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError.at(path, f'not a train-task checkpoint (expected "format": "{CHECKPOINT_FORMAT}")')
    model = model_from_spec(ckpt["model_spec"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt.get("config", {})


def task_loss(model: nn.Module, task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss of ``task`` for the network output ``out`` (module docstring).

    Shape:
        classify: out (B, K), y (B,); gaze: out (B, 3), y (B, 3); handpose: out (B, S, J, h, w), y (B, J, 2).
    """
    if task == "classify":
        return F.cross_entropy(out, y)
    if task == "gaze":
        return ((out - y) ** 2).sum(dim=1).mean()  # Euclidean loss on the 3-D gaze vector
    assert isinstance(model, HourglassNet)
    return model.loss(out, y)  # MSE to Gaussian heatmaps at every stack


def _predictions(model: nn.Module, task: str, out: torch.Tensor) -> torch.Tensor:
    """Network output -> what the metrics compare: logits, unit gaze vectors, or joints in pixels."""
    if task == "classify":
        return out
    if task == "gaze":
        return F.normalize(out, dim=1)
    assert isinstance(model, HourglassNet)
    return model.decode_joints(out[:, -1])


# --- data ---------------------------------------------------------------------------------------------


class _Data:
    """A subset (by global index) of one or more concatenated sources: in memory, or streamed from disk."""

    def __init__(
        self,
        sources: Sequence[Source],
        indices: np.ndarray,
        *,
        in_memory: bool,
        workers: int = 0,
        progress: bool = False,
        desc: str = "load",
    ):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.workers = workers
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        parts = [ImageDataset(s) for s in sources]
        self.dataset = Subset(ConcatDataset(parts), self.indices.tolist())
        if in_memory and len(self.indices):
            items = [
                self.dataset[i]
                for i in tqdm(
                    range(len(self.indices)), desc=desc, unit="img", disable=not progress, leave=False
                )
            ]
            self.x = torch.stack([im for im, _ in items])  # (N, C, H, W)
            self.y = torch.stack([t for _, t in items])  # (N,) / (N, 3) / (N, J, 2)

    def __len__(self) -> int:
        return len(self.indices)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def batches(
        self, batch_size: int, *, shuffle: bool, seed: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches; with ``shuffle`` the order depends only on ``seed``."""
        if self.x is not None and self.y is not None:
            n = len(self)
            if shuffle:
                order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
            else:
                order = torch.arange(n)
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                yield self.x[idx], self.y[idx]
        else:
            yield from make_loader(
                self.dataset, batch_size, shuffle=shuffle, seed=seed, num_workers=self.workers
            )


def _describe(src: Source) -> str:
    i = src.info
    return f"{i.height}x{i.width}x{i.channels}"


def _check_source(src: Source, role: str, task: str, ref: Source | None) -> None:
    """Refuse a dataset whose task, size, channels or classes differ from the run's (naming it)."""
    info = src.info
    if info.task != task:
        what = "unlabelled" if info.task is None else f"labelled for task {info.task!r}"
        raise InputError.at(info.path, f"{role} dataset is {what}, but this run trains task {task!r}")
    if ref is None:
        return
    r = ref.info
    if (info.height, info.width, info.channels) != (r.height, r.width, r.channels):
        raise InputError.at(
            info.path,
            f"{role} dataset has {_describe(src)} images, but {r.path} has {_describe(ref)} "
            "(every dataset of a run must share one size and channel count)",
        )
    if task == "classify" and info.classes and r.classes and tuple(info.classes) != tuple(r.classes):
        raise InputError.at(
            info.path, f"{role} dataset has classes {list(info.classes)}, but {r.path} has {list(r.classes)}"
        )


def _num_outputs(task: str, sources: Sequence[Source]) -> int:
    """Classes (from the class names, else the largest label) or joints (from the first label)."""
    if task == "gaze":
        return 3
    if task == "handpose":
        return int(label_to_target(task, sources[0].label(0)).shape[0])
    names = sources[0].info.classes
    if names:
        return len(names)
    return 1 + max(int(s.label(i)) for s in sources for i in range(len(s)))


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, val) indices of ``range(n)``; at least one of each when there is room."""
    n_val = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# --- evaluation ---------------------------------------------------------------------------------------


@torch.no_grad()
def _run_eval(
    model: nn.Module, task: str, data: _Data, device: torch.device, batch_size: int
) -> tuple[float, dict[str, Any]]:
    """Mean loss and every task metric of ``model`` on ``data`` (eval mode, restored afterwards)."""
    was_training = model.training
    model.eval()
    preds, targets, total, n = [], [], 0.0, 0
    for x, y in data.batches(batch_size, shuffle=False, seed=0):
        x, y = x.to(device), y.to(device)
        out = model(x)
        total += float(task_loss(model, task, out, y)) * len(x)
        n += len(x)
        preds.append(_predictions(model, task, out).float().cpu())
        targets.append(y.cpu())
    model.train(was_training)
    metrics = task_metrics(task, torch.cat(preds), torch.cat(targets))
    return total / max(n, 1), metrics


def evaluate(
    model: nn.Module,
    source: Source,
    task: str,
    device: str | torch.device = "cpu",
    *,
    batch_size: int = 256,
    indices: np.ndarray | None = None,
    in_memory_mb: int = 1024,
) -> dict[str, Any]:
    """Task metrics (``simgan.eval.metrics``) of a trained model on a labelled dataset.

    Args:
        model: a network from :func:`build_task_model` / :func:`load_task_model`.
        source: a dataset labelled for ``task``.
        task: classify, gaze or handpose.
        device: where to run.
        batch_size: evaluation batch size.
        indices: evaluate on this subset only.
        in_memory_mb: load the set into memory first when it fits.

    Returns:
        The task's metrics dict (the ``metrics.json`` keys of DESIGN.md), plus ``n`` (samples).

    Raises:
        InputError: ``source`` is not labelled for ``task``.
    """
    _check_source(source, "test", task, None)
    device = torch.device(device)
    idx = np.arange(len(source)) if indices is None else np.asarray(indices)
    data = _Data([source], idx, in_memory=_fits(source, len(idx), in_memory_mb))
    model = model.to(device)
    _, metrics = _run_eval(model, task, data, device, batch_size)
    return {**metrics, "n": len(idx)}


def _fits(src: Source, n: int, budget_mb: int) -> bool:
    i = src.info
    return n * i.height * i.width * i.channels * 4 <= budget_mb * 2**20


# --- checkpoints, history, curves ---------------------------------------------------------------------


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a plain-dict checkpoint atomically (temp file + rename)."""
    atomic.atomic_write(path, lambda f: torch.save(state, f))


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k in METRICS and METRICS[k].higher_is_better is not None}


def _plot_curves(path: Path, history: list[dict[str, Any]], task: str, test: dict[str, Any] | None) -> None:
    """``curves.png``: losses and the validation score per epoch, and the test within-d curves (or the
    confusion matrix for classify). Uses a bare Figure (Agg canvas), never pyplot's global state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.6))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.9, wspace=0.3)
    ax_loss, ax_val, ax_test = fig.subplots(1, 3)
    x = list(range(1, len(history) + 1))
    ax_loss.plot(x, [h["train/loss"] for h in history], label="train")
    val_loss = [h.get("val/loss") for h in history]
    if any(v is not None for v in val_loss):
        ax_loss.plot(x, [np.nan if v is None else v for v in val_loss], label="val")
    key = selection_metric(task).name
    ax_val.plot(x, [h.get(f"val/{key}", np.nan) for h in history], marker=".")
    for k, h in enumerate(history):
        if h["phase"] == "finetune":
            for ax in (ax_loss, ax_val):
                ax.axvline(k + 0.5, color="grey", linestyle="--", linewidth=0.8)
            break
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss", yscale="log")
    ax_loss.legend()
    ax_val.set(xlabel="epoch", ylabel=key, title=f"validation {key}")
    if test is None:
        ax_test.set_axis_off()
    elif task == "classify":
        ax_test.imshow(np.asarray(test["confusion"]), cmap="Blues")
        ax_test.set(xlabel="predicted", ylabel="true", title=f"test confusion (acc {test['accuracy']:.3f})")
    else:
        unit = "deg" if task == "gaze" else "px"
        curves = (
            {"within_deg": "samples"}
            if task == "gaze"
            else {"within_px": "joints", "frames_within_px": "frames"}
        )
        for k, label in curves.items():
            ax_test.plot([int(d) for d in test[k]], list(test[k].values()), label=label)
        ax_test.set(xlabel=f"error threshold d ({unit})", ylabel="fraction <= d", title="test", ylim=(0, 1))
        ax_test.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    atomic.write_bytes(path, buf.getvalue())


# --- the loop -----------------------------------------------------------------------------------------


def _fit(
    *,
    phase: str,
    model: nn.Module,
    cfg: TaskConfig,
    spec: dict[str, Any],
    train: _Data,
    val: _Data,
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
        model.train()
        total, n = 0.0, 0
        for x, y in train.batches(cfg.batch_size, shuffle=True, seed=base_seed + epoch):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if augment:
                x, y = augment(x, y, generator)  # parameters drawn on the CPU generator, pixels on device
            loss = task_loss(model, cfg.task, model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(x)
            n += len(x)
            bar.update(1)
        record: dict[str, Any] = {
            "phase": phase,
            "epoch": epoch,
            "train/loss": total / max(n, 1),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if scheduler is not None:
            scheduler.step()
        if len(val):
            val_loss, val_metrics = _run_eval(model, cfg.task, val, device, max(cfg.batch_size, 256))
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
            _save_checkpoint(out / "last.pt", last)
            _save_checkpoint(out / "best.pt", best)
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
    """The plain checkpoint dict (loads with ``weights_only=True``); best.pt carries no optimizer."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
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


def train_task(
    cfg: TaskConfig,
    train: Sequence[Source],
    test: Source | None,
    out: str | Path,
    *,
    finetune: Source | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the task network of ``cfg.task`` on the concatenated ``train`` sets; evaluate on ``test``.

    Args:
        cfg: the run's config (:class:`TaskConfig`).
        train: one or more labelled datasets, mixed (concatenated); they must agree on task, size,
            channels and class names.
        test: the labelled test set (touched once, after training), or None to skip testing.
        out: the run folder; receives config.json, history.jsonl, best.pt, last.pt, metrics.json,
            curves.json and curves.png.
        finetune: a (small) labelled set to fine-tune on after pre-training on ``train``.
        progress: show progress bars.

    Returns:
        The ``metrics.json`` dict: the task's test metrics (DESIGN.md keys; empty without ``test``) plus
        ``task``, ``n_train``, ``n_val``, ``n_test``, ``best`` (the selected epoch's record),
        ``train_seconds`` and, for classify, ``classes``.

    Raises:
        InputError: a dataset of another task, size, channel count or class list; an augmentation
            that would corrupt this task's labels; a bad config value.
    """
    # 1. Check the datasets and the config.
    cfg.validate()
    if not train:
        raise InputError("train-task: at least one --train dataset is needed")
    out = Path(out)
    ref = train[0]
    for src in train:
        _check_source(src, "--train", cfg.task, ref)
    if finetune is not None:
        _check_source(finetune, "--finetune", cfg.task, ref)
    if test is not None:
        _check_source(test, "--test", cfg.task, ref)
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
    augment = Augmenter(cfg.task, cfg.augment)  # refuses ops that would corrupt the labels
    device = select_device(cfg.device)

    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json")
    (out / "history.jsonl").write_text("", encoding="utf-8")  # a rerun into the same folder starts fresh

    # 2. Seeded validation split of the mixed training sets; data into memory when small.
    seed_everything(cfg.seed)
    n_total = sum(len(s) for s in train)
    train_idx, val_idx = _split(n_total, cfg.val_fraction, cfg.seed)
    in_memory = n_total * info.height * info.width * info.channels * 4 <= cfg.in_memory_mb * 2**20
    data_kw = {"in_memory": in_memory, "workers": cfg.workers, "progress": progress}
    train_data = _Data(train, train_idx, desc="load train", **data_kw)
    val_data = _Data(train, val_idx, desc="load val", **data_kw)

    model, spec = build_task_model(
        cfg,
        channels=info.channels,
        height=info.height,
        width=info.width,
        num_outputs=_num_outputs(cfg.task, train),
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
        ft_train, ft_val = _split(len(finetune), cfg.val_fraction, cfg.seed)
        ft_mem = _fits(finetune, len(finetune), cfg.in_memory_mb)
        ft_kw = {"in_memory": ft_mem, "workers": cfg.workers, "progress": progress}
        epochs = cfg.finetune_epochs or max(1, cfg.epochs // 2)
        best = _fit(
            phase="finetune",
            train=_Data([finetune], ft_train, desc="load finetune", **ft_kw),
            val=_Data([finetune], ft_val, desc="load finetune val", **ft_kw),
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
        test_metrics = evaluate(model, test, cfg.task, device, in_memory_mb=cfg.in_memory_mb)
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
    curves: dict[str, Any] = {
        "epoch": [h["epoch"] for h in history],
        "phase": [h["phase"] for h in history],
        **{
            k: [h.get(k) for h in history]
            for k in sorted({k for h in history for k in h} - {"epoch", "phase"})
        },
    }
    if test_metrics is not None:
        curves["test"] = {k: v for k, v in test_metrics.items() if isinstance(v, dict)}
    atomic.write_json(out / "curves.json", curves)
    if cfg.plot:
        _plot_curves(out / "curves.png", history, cfg.task, test_metrics)
    return metrics
