"""The history of refined images (paper, section 2.3 and Fig. 4).

A buffer of B refined images made by earlier refiners. Each discriminator step uses b/2 images refined by
the current R and b/2 drawn from the buffer; after the step, b/2 randomly chosen buffer slots are replaced
by the b/2 new images. The buffer's size stays B.

Unlike the image pool of pix2pix/CycleGAN (a coin flip per image), this is the paper's rule. Before the
buffer is full, :meth:`HistoryBuffer.push` appends instead of replacing, so the training loop fills it
from its first refined batches (an empty or never-filled buffer is a bug of several reimplementations).

The buffer lives on the CPU (B images can be large; the accelerator keeps only the batch) and is part of
every checkpoint (:meth:`state_dict`), including its random generator, so a resumed run draws the same
slots as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["HistoryBuffer"]


class HistoryBuffer:
    """A fixed-capacity buffer of refined images with the paper's sample-and-replace rule.

    Args:
        capacity: B, the number of images kept.
        seed: seed of the buffer's own generator (slot choices).

    Shape:
        images go in and out as (N, C, H, W) float tensors; storage is float32 on the CPU.
    """

    def __init__(self, capacity: int, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"history capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.images: torch.Tensor | None = None  # (B, C, H, W), allocated on first push
        self.count = 0
        self.generator = torch.Generator()
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return self.count

    @property
    def full(self) -> bool:
        return self.count == self.capacity

    def _check(self, images: torch.Tensor) -> None:
        if images.ndim != 4:
            raise ValueError(f"expected refined images (N, C, H, W), got {tuple(images.shape)}")
        if self.images is not None and images.shape[1:] != self.images.shape[1:]:
            raise ValueError(
                f"expected images of shape (N, {', '.join(map(str, self.images.shape[1:]))}), "
                f"got {tuple(images.shape)}"
            )

    def sample(self, n: int) -> torch.Tensor:
        """``n`` distinct stored images chosen uniformly at random (fewer if fewer are stored).

        Shape:
            returns (min(n, len), C, H, W) float32 on the CPU.
        """
        if self.images is None or self.count == 0:
            raise ValueError("the history buffer is empty: push refined images before sampling")
        idx = torch.randperm(self.count, generator=self.generator)[:n]
        return self.images[idx].clone()

    @torch.no_grad()
    def push(self, images: torch.Tensor) -> None:
        """Add newly refined images: append while not full, then overwrite random distinct slots.

        Shape:
            images: (N, C, H, W) with N <= B.
        """
        self._check(images)
        images = images.detach().to("cpu", torch.float32)
        if images.shape[0] > self.capacity:
            raise ValueError(f"cannot push {images.shape[0]} images into a buffer of {self.capacity}")
        if self.images is None:
            self.images = torch.empty((self.capacity, *images.shape[1:]), dtype=torch.float32)
        n_append = min(images.shape[0], self.capacity - self.count)
        if n_append:
            self.images[self.count : self.count + n_append] = images[:n_append]
            self.count += n_append
        rest = images[n_append:]
        if rest.shape[0]:
            # Paper, section 2.3: "randomly replace b/2 samples in the buffer with the newly generated".
            slots = torch.randperm(self.capacity, generator=self.generator)[: rest.shape[0]]
            self.images[slots] = rest

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors and ints (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "capacity": self.capacity,
            "count": self.count,
            "images": None if self.images is None else self.images[: self.count].clone(),
            "shape": None if self.images is None else list(self.images.shape[1:]),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity:
            raise ValueError(f"buffer capacity {self.capacity} does not match the saved {state['capacity']}")
        self.count = int(state["count"])
        if state["shape"] is None:
            self.images = None
        else:
            self.images = torch.empty((self.capacity, *state["shape"]), dtype=torch.float32)
            self.images[: self.count] = state["images"]
        self.generator.set_state(state["generator"])
