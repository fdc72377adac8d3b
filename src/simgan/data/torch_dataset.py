"""PyTorch views of a :class:`~simgan.data.source.Source`: a map-style Dataset and seeded loaders.

Images come out as float32 (C, H, W) in [-1, 1]; labels as a tensor target chosen by the task:

| task | target |
| --- | --- |
| classify | int64 class index, shape () |
| gaze | float32 unit gaze vector, shape (3,) |
| handpose | float32 joint pixels uv, shape (14, 2) |
| unlabelled | int64 -1, shape () |
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from simgan.data.images import to_float
from simgan.data.source import Source

__all__ = ["label_to_target", "ImageDataset", "make_loader"]


def label_to_target(task: str | None, label: Any) -> torch.Tensor:
    """Encode one label as the tensor a task model trains on (table in the module docstring)."""
    if task is None or label is None:
        return torch.tensor(-1, dtype=torch.int64)
    if task == "classify":
        return torch.tensor(int(label), dtype=torch.int64)
    if task == "gaze":
        return torch.tensor(label["gaze"], dtype=torch.float32)
    if task == "handpose":
        return torch.tensor(label["uv"], dtype=torch.float32)
    raise ValueError(f"unknown task {task!r}")


class ImageDataset(Dataset):
    """``(image, target)`` pairs read lazily from disk, one file per item.

    Args:
        source: any opened dataset.
        indices: optional subset (e.g. a split) of the source's indices, in the order given.
        cache: keep decoded images in memory after first read (only for small datasets).

    Shape:
        image: (C, H, W) float32 in [-1, 1]; target: see :func:`label_to_target`.
    """

    def __init__(self, source: Source, indices: np.ndarray | list[int] | None = None, cache: bool = False):
        self.source = source
        self.indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.task = source.info.task
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = int(self.indices[i])
        if self._cache is not None and j in self._cache:
            return self._cache[j]
        sample = self.source.read(j)
        item = torch.from_numpy(to_float(sample.image)), label_to_target(self.task, sample.label)
        if self._cache is not None:
            self._cache[j] = item
        return item


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader whose order depends only on ``seed`` (and the epoch count), not on global RNG state."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=gen,
        persistent_workers=num_workers > 0,
    )
