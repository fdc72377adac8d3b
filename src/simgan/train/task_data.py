"""The data side of a ``train-task`` run: check the datasets, split off validation, and batch them.

Small datasets (the float pixels fit ``in_memory_mb``) are loaded once into tensors, so a few epochs over
~2000 8x8 digits take seconds on a CPU; larger ones stream from disk through a DataLoader. Either way a
seeded shuffle gives the same order for a given seed. In a torchrun job (simgan.distributed) rank r of N
takes its part of each global batch of ``batch_size * N`` samples; together the ranks see the batches one
process with the global batch size would see.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset
from tqdm import tqdm

from simgan.data import DatasetInfo, ImageDataset, Source, label_to_target
from simgan.data.images import to_float
from simgan.data.simgan_dir import mask_classes
from simgan.distributed import SINGLE, Ranks
from simgan.errors import InputError
from simgan.eval.task_eval import check_labelled_for
from simgan.progress import off

__all__ = [
    "curve_data",
    "TaskData",
    "TargetData",
    "fits_in_memory",
    "check_source",
    "check_target",
    "num_outputs",
    "split",
]


class TaskData:
    """A subset (by global index) of one or more concatenated sources: in memory, or streamed from disk.

    Args:
        sources: the datasets, concatenated in order (global index = position in the concatenation).
        indices: the global indices of this subset.
        in_memory: load every ``(image, target)`` into two tensors now (see :func:`fits_in_memory`).
        workers: DataLoader workers when streaming.
        progress: show a progress bar while loading.
        desc: the progress bar's label.
        task: the run's task, which picks the targets (default: each dataset's own; ``segment``: masks).
    """

    def __init__(
        self,
        sources: Sequence[Source],
        indices: np.ndarray,
        *,
        in_memory: bool,
        workers: int = 0,
        progress: bool = False,
        desc: str = "load",
        task: str | None = None,
    ):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.workers = workers
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        parts = [ImageDataset(s, task=task) for s in sources]
        self.dataset = Subset(ConcatDataset(parts), self.indices.tolist())
        if in_memory and len(self.indices):
            items = [
                self.dataset[i]
                for i in tqdm(
                    range(len(self.indices)), desc=desc, unit="img", disable=off(progress), leave=False
                )
            ]
            self.x = torch.stack([im for im, _ in items])  # (N, C, H, W)
            self.y = torch.stack([t for _, t in items])  # (N,) / (N, 3) / (N, J, 2) / (N, H, W) uint8

    def __len__(self) -> int:
        return len(self.indices)

    def num_batches(self, batch_size: int, ranks: Ranks = SINGLE) -> int:
        """Batches per pass (the last one may be short; in a job, one too short to give every rank a
        sample is dropped)."""
        size = batch_size * ranks.world
        return len(self) // size + (len(self) % size >= ranks.world)

    def batches(
        self, batch_size: int, *, shuffle: bool, seed: int, ranks: Ranks = SINGLE
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches; with ``shuffle`` the order depends only on ``seed``.

        In a job of N ranks each batch is this rank's part of a global batch of ``batch_size * N``.

        Shape:
            x (B, C, H, W) float32 in [-1, 1]; y (B,) classes, (B, 3) gaze, (B, J, 2) joints or
            (B, H, W) masks.
        """
        order = _order(len(self), shuffle, seed)
        size = batch_size * ranks.world
        parts = [
            ranks.part(order[start : start + size])
            for start in range(0, len(self), size)
            if len(order[start : start + size]) >= ranks.world
        ]
        if self.x is not None and self.y is not None:
            for part in parts:
                idx = torch.from_numpy(part)
                yield self.x[idx], self.y[idx]
        else:
            yield from _loader(self.dataset, parts, seed, self.workers)


class _Pixels(Dataset):
    """The images of a source, never its labels (an adapter's unlabelled real set)."""

    def __init__(self, source: Source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(to_float(self.source.read(i).image))  # (C, H, W); the label is dropped


class TargetData:
    """The unlabelled real images an adapter sees: an endless, seeded stream of image batches.

    Only pixels are kept; whatever labels the dataset may hold are dropped on reading and never used.

    Args:
        source: the ``--target`` dataset (any layout, labelled or not).
        in_memory: load every image into one tensor now.
        workers: DataLoader workers when streaming.
        progress: show a progress bar while loading.
    """

    def __init__(self, source: Source, *, in_memory: bool, workers: int = 0, progress: bool = False):
        self.dataset = _Pixels(source)
        self.workers = workers
        self.x: torch.Tensor | None = None
        if in_memory:
            it = tqdm(range(len(source)), desc="load target", unit="img", disable=off(progress), leave=False)
            self.x = torch.stack([self.dataset[i] for i in it])  # (N, C, H, W)

    def __len__(self) -> int:
        return len(self.dataset)

    def stream(self, batch_size: int, seed: int, ranks: Ranks = SINGLE) -> Iterator[torch.Tensor]:
        """Yield image batches forever, reshuffled (seeded) on every pass; a pass's short tail is dropped,
        so every batch is full. In a job each batch is this rank's part of a global batch of N times it.

        Shape:
            -> (B, C, H, W) float32 in [-1, 1], B = ``min(batch_size, len(self) // N)`` (at least 1).
        """
        size = max(1, min(batch_size, len(self) // ranks.world)) * ranks.world
        for k in range(2**62):
            order = _order(len(self), True, seed + k)
            parts = [ranks.part(order[s : s + size]) for s in range(0, len(self) - size + 1, size)]
            if self.x is not None:
                for part in parts:
                    yield self.x[torch.from_numpy(part)]
            else:
                yield from _loader(self.dataset, parts, seed + k, self.workers)


def _order(n: int, shuffle: bool, seed: int) -> np.ndarray:
    """A pass's order of ``range(n)``: a permutation drawn from ``seed``, or ``0..n-1``."""
    if not shuffle:
        return np.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()


def _loader(dataset: Dataset, batches: list[np.ndarray], seed: int, workers: int) -> DataLoader:
    """A DataLoader that reads ``batches`` (index arrays) in order, from disk, with ``workers`` processes."""
    worker_seeds = torch.Generator().manual_seed(seed + 1)  # worker base seeds only, apart from the order
    lists = [b.tolist() for b in batches]
    return DataLoader(
        dataset, batch_sampler=lists, num_workers=workers, generator=worker_seeds, persistent_workers=False
    )


def check_target(src: Source, ref: Source) -> None:
    """Refuse a ``--target`` set whose images differ in size or channels from the training sets'.

    Raises:
        InputError: naming ``src``, its size and the training set's.
    """
    info, r = src.info, ref.info
    if len(src) == 0:
        raise InputError.at(info.path, "--target dataset holds no images")
    if (info.height, info.width, info.channels) != (r.height, r.width, r.channels):
        raise InputError.at(
            info.path,
            f"--target dataset has {_describe(info)} images, but {r.path} has {_describe(r)} "
            "(the unlabelled real images must have the training images' size and channels)",
        )


def fits_in_memory(info: DatasetInfo, n: int, budget_mb: int) -> bool:
    """Whether ``n`` images of ``info``'s size, as float32, fit in ``budget_mb`` MiB."""
    return n * info.height * info.width * info.channels * 4 <= budget_mb * 2**20


def _describe(info: DatasetInfo) -> str:
    return f"{info.height}x{info.width}x{info.channels}"


def check_source(src: Source, role: str, task: str, ref: Source | None) -> None:
    """Refuse a dataset whose task, size, channels or classes (mask classes, for segment) differ from the
    run's (naming it).

    Args:
        src: the dataset to check.
        role: how the run uses it (``--train``, ``--finetune``, ``--test``), for the message.
        task: the run's task.
        ref: the run's first training set, whose size, channels and classes every set must share.

    Raises:
        InputError: naming ``src`` and what differs.
    """
    check_labelled_for(src, task, role)
    if ref is None:
        return
    info, r = src.info, ref.info
    if (info.height, info.width, info.channels) != (r.height, r.width, r.channels):
        raise InputError.at(
            info.path,
            f"{role} dataset has {_describe(info)} images, but {r.path} has {_describe(r)} "
            "(every dataset of a run must share one size and channel count)",
        )
    if task == "classify" and info.classes and r.classes and tuple(info.classes) != tuple(r.classes):
        raise InputError.at(
            info.path, f"{role} dataset has classes {list(info.classes)}, but {r.path} has {list(r.classes)}"
        )
    if task == "segment" and mask_classes(src) != mask_classes(ref):
        raise InputError.at(
            info.path,
            f"{role} dataset has mask classes {list(mask_classes(src) or ())}, but {r.path} has "
            f"{list(mask_classes(ref) or ())} (the same ids must name the same parts)",
        )


def num_outputs(task: str, sources: Sequence[Source]) -> int:
    """Classes (from the class names, else the largest label), joints (from the first label) or mask
    classes (segment); 3 for gaze."""
    if task == "gaze":
        return 3
    if task == "segment":
        return len(mask_classes(sources[0]) or ())
    if task == "handpose":
        return int(label_to_target(task, sources[0].label(0)).shape[0])
    names = sources[0].info.classes
    if names:
        return len(names)
    return 1 + max(int(s.label(i)) for s in sources for i in range(len(s)))


def class_prior(train: Sequence[Source], classes: int) -> torch.Tensor:
    """(K,) class counts of the labelled training sets, read from their label files (no pixels)."""
    labels = [int(s.label(i)) for s in train for i in range(len(s))]
    return torch.bincount(torch.tensor(labels, dtype=torch.int64), minlength=classes).float()


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, val) indices of ``range(n)``; at least one of each when there is room.

    Shape:
        -> train (n - n_val,), val (n_val,), both sorted int64.
    """
    n_val = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def curve_data(history: Sequence[dict[str, Any]], test: dict[str, Any] | None) -> dict[str, Any]:
    """The ``curves.json`` dict: one list per record key (``epoch``, ``phase``, then sorted), plus ``test``.

    Args:
        history: the epoch records, in order; a key missing from a record becomes None in its list.
        test: the test metrics, or None; only its curve-valued entries (dicts) are kept.
    """
    curves: dict[str, Any] = {
        "epoch": [h["epoch"] for h in history],
        "phase": [h["phase"] for h in history],
        **{
            k: [h.get(k) for h in history]
            for k in sorted({k for h in history for k in h} - {"epoch", "phase"})
        },
    }
    if test is not None:
        curves["test"] = {k: v for k, v in test.items() if isinstance(v, dict)}
    return curves
