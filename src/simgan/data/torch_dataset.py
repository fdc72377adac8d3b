"""PyTorch views of a :class:`~simgan.data.source.Source`: a map-style Dataset and seeded loaders.

Images come out as float32 (C, H, W) in [-1, 1]; labels as a tensor target chosen by the task:

| task | target |
| --- | --- |
| classify | int64 class index, shape () |
| gaze | float32 unit gaze vector, shape (3,) |
| handpose | float32 joint pixels uv, shape (14, 2) |
| segment | uint8 class id per pixel (the sample's mask, ``simgan_dir.read_mask``), shape (H, W) |
| unlabelled | int64 -1, shape () |

segment targets stay uint8 (a quarter of an int64 mask in memory); its loss casts them to int64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from simgan.data.images import to_float
from simgan.data.labels import TARGET_SHAPES, label_problem, mask_problem
from simgan.data.simgan_dir import mask_classes, read_mask
from simgan.data.source import Source
from simgan.errors import InputError

__all__ = ["label_to_target", "ImageDataset", "make_loader"]


def label_to_target(task: str | None, label: Any, n_classes: int | None = None) -> torch.Tensor:
    """Encode one label as the tensor a task model trains on (table in the module docstring).

    For ``segment`` the "label" is the sample's mask (H, W) uint8 and ``n_classes`` its class count.

    Raises:
        ValueError: the label breaks its task's rule (:func:`simgan.data.labels.label_problem`): a
            missing key, a wrong shape, NaN or inf, a class index outside ``n_classes``.
    """
    if task == "segment":
        if n_classes is None or not isinstance(label, np.ndarray):
            raise ValueError("a segment target is a mask (H, W) uint8 with its number of classes")
        problem = mask_problem(label, n_classes, label.shape)
        if problem is not None:
            raise ValueError(problem)
        return torch.tensor(label)  # a copy: a decoded mask may be read-only
    if task is None or label is None:
        return torch.tensor(-1, dtype=torch.int64)
    problem = label_problem(task, label, n_classes)
    if problem is not None:
        raise ValueError(problem)
    if task == "classify":
        return torch.tensor(int(label), dtype=torch.int64)
    return torch.tensor(label[TARGET_SHAPES[task][0]], dtype=torch.float32)


class ImageDataset(Dataset):
    """``(image, target)`` pairs read lazily from disk, one file per item.

    Args:
        source: any opened dataset.
        indices: optional subset (e.g. a split) of the source's indices, in the order given.
        cache: keep decoded images in memory after first read (only for small datasets).
        task: the target to give (default: the dataset's own task); ``segment`` gives each sample's
            mask, which the dataset must have (:func:`simgan.data.simgan_dir.mask_classes`).

    Shape:
        image: (C, H, W) float32 in [-1, 1]; target: see :func:`label_to_target`.

    Raises:
        InputError: ``segment`` asked of a dataset without masks.
    """

    def __init__(
        self,
        source: Source,
        indices: np.ndarray | list[int] | None = None,
        cache: bool = False,
        task: str | None = None,
    ):
        self.source = source
        self.indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.task = task or source.info.task
        self._n_classes = len(source.info.classes) if source.info.classes else None
        if self.task == "segment":
            names = mask_classes(source)
            if names is None:
                raise InputError.at(source.info.path, "has no per-pixel masks, which task segment learns")
            self._n_classes = len(names)
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = int(self.indices[i])
        if self._cache is not None and j in self._cache:
            return self._cache[j]
        sample = self.source.read(j)
        label = read_mask(self.source, j) if self.task == "segment" else sample.label
        try:
            target = label_to_target(self.task, label, self._n_classes)
        except ValueError as e:  # a malformed label on disk is bad input: name the dataset and the sample
            raise InputError.at(self.source.info.path, f"sample {sample.id!r}: {e}") from None
        item = torch.from_numpy(to_float(sample.image)), target
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
    """A DataLoader whose order depends only on ``seed`` (and the epoch count), not on global RNG state.

    The shuffle order is the same for any ``num_workers``: the sampler draws its permutations from its own
    generator. (With one shared generator, the loader also draws a worker base seed from it on every epoch
    without persistent workers but only once with them, so epoch 2 onwards would depend on the worker count.)
    """
    sampler: Sampler[int]
    if shuffle:
        order_gen = torch.Generator()
        order_gen.manual_seed(seed)
        sampler = RandomSampler(dataset, generator=order_gen)  # type: ignore[arg-type]
    else:
        sampler = SequentialSampler(dataset)  # type: ignore[arg-type]
    worker_gen = torch.Generator()
    worker_gen.manual_seed(seed + 1)  # worker base seeds only; kept apart from the order
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=worker_gen,
        persistent_workers=num_workers > 0,
    )
