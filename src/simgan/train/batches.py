"""Seeded, resumable, infinite streams of image batches for the refiner loop.

Algorithm 1 samples mini-batches of synthetic images x_i and real images y_j forever. For resumption to be
exact, batch k of a stream depends only on (seed, k): epoch e visits the dataset in the permutation drawn
from ``numpy.random.default_rng([seed, e])``, batches run across epoch boundaries, and a stream restarted
at batch k yields what the uninterrupted stream yielded from batch k on.

In a torchrun job (simgan.distributed) rank r of N takes its part of each global batch of ``b * N``
indices, so the ranks together see exactly the batches one process with batch ``b * N`` would see.

Small datasets (the 8x8 digits) are decoded once into one tensor and batches are gathered by indexing;
large ones stream from disk through a DataLoader (optionally with worker processes). Only pixels are read:
for a simgan dataset directory the image file is decoded without parsing its ``labels.jsonl`` line, so the
real set's labels, if it has any, are never even read.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from simgan.data.images import to_float
from simgan.data.source import Source
from simgan.distributed import SINGLE, Ranks

__all__ = ["SeededBatches", "ImagesOnly", "ImageStream"]

PRELOAD_LIMIT_BYTES = 256 * 2**20


class SeededBatches:
    """Index batches of size ``batch_size`` over ``range(n)``, forever; batch k depends only on (seed, k).

    Args:
        n: dataset size.
        batch_size: b.
        seed: the stream's seed.
        start: index of the first batch yielded (the number already consumed before a resume).
        ranks: in a job of N ranks, batch k is this rank's part of the global batch k of
            ``batch_size * N`` indices (:meth:`simgan.distributed.Ranks.part`).
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0, ranks: Ranks = SINGLE):
        if n < 1 or batch_size < 1 or start < 0:
            raise ValueError(f"need n >= 1, batch_size >= 1, start >= 0; got {n}, {batch_size}, {start}")
        self.n, self.batch_size, self.seed, self.start = n, batch_size, seed, start
        self.ranks = ranks
        self._epoch = -1
        self._perm = np.empty(0, dtype=np.int64)

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch = epoch
        return self._perm

    def batch(self, k: int) -> np.ndarray:
        """The indices of batch ``k`` (shape (batch_size,)): this rank's part of the global batch k."""
        size = self.batch_size * self.ranks.world
        pos = k * size
        out = np.empty(size, dtype=np.int64)
        filled = 0
        while filled < size:
            epoch, offset = divmod(pos + filled, self.n)
            take = min(size - filled, self.n - offset)
            out[filled : filled + take] = self._permutation(epoch)[offset : offset + take]
            filled += take
        return self.ranks.part(out)

    def __iter__(self) -> Iterator[list[int]]:
        k = self.start
        while True:
            yield self.batch(k).tolist()
            k += 1


class ImagesOnly(Dataset):
    """The pixels of a source as float (C, H, W) in [-1, 1]; labels are dropped.

    Shape:
        item: (C, H, W) float32.
    """

    def __init__(self, source: Source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(to_float(self.source.pixels(int(i))))  # pixels only, no label parsed


class ImageStream:
    """An infinite, seeded, resumable stream of image batches from a source.

    Args:
        source: the dataset.
        batch_size: images per batch.
        seed: stream seed (see :class:`SeededBatches`).
        start: batches already consumed (resume point).
        num_workers: DataLoader workers when streaming from disk.
        preload_limit_bytes: decode the whole set into memory when its float32 size is at most this.
        ranks: this process's ranks in a torchrun job (each batch is its part of the global one).

    Shape:
        each batch: (batch_size, C, H, W) float32 in [-1, 1] on the CPU.
    """

    def __init__(
        self,
        source: Source,
        batch_size: int,
        seed: int,
        start: int = 0,
        num_workers: int = 0,
        preload_limit_bytes: int = PRELOAD_LIMIT_BYTES,
        ranks: Ranks = SINGLE,
    ):
        self.source = source
        self.position = start  # batches handed out so far (the resume point)
        self.sampler = SeededBatches(len(source), batch_size, seed, start, ranks)
        info = source.info
        nbytes = len(source) * info.channels * info.height * info.width * 4
        self._images: torch.Tensor | None = None
        self._loader: Iterator[torch.Tensor] | None = None
        self._num_workers = num_workers
        if nbytes <= preload_limit_bytes:
            items = ImagesOnly(source)
            self._images = torch.stack([items[i] for i in range(len(items))])  # (N, C, H, W)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        if self._images is not None:
            batch = self._images[torch.from_numpy(self.sampler.batch(self.position))]  # (b, C, H, W)
        else:
            if self._loader is None:
                self.sampler.start = self.position
                loader = DataLoader(
                    ImagesOnly(self.source), batch_sampler=self.sampler, num_workers=self._num_workers
                )
                self._loader = iter(loader)
            batch = next(self._loader)
        self.position += 1
        return batch
