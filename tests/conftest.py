"""Shared fixtures and test-data writers.

Tests run on CPU with one intra-op thread: the networks are tiny, and on a shared 2-core machine a second
thread mostly adds contention (measured up to 20x slower under load).

The writers are handed out by session-scoped fixtures (``write_toy``, ``write_images``) so that module-scoped
fixtures can build their data sets with them too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from simgan.cli import main as cli_main
from simgan.data import DatasetWriter

torch.set_num_threads(1)

TOY_SIZES = {"classify": 8, "gaze": 20, "handpose": 16}
TOY_CLASSES = ["a", "b", "c", "d"]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread in every test, restored afterwards (a test may change it, e.g. for DDP)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``simgan ARGS...`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str | Path) -> tuple[int, str, str]:
        try:
            code = cli_main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def toy_dataset(
    root: Path,
    task: str,
    n: int,
    seed: int,
    size: int | None = None,
    *,
    cycle_classes: bool = False,
    shared_hand: bool = True,
) -> Path:
    """A learnable toy set: a bright 3x3 blob on dark noise whose position encodes the label.

    classify: the blob sits in one of four quadrants (classes ``a``-``d``); gaze: the gaze vector points at
    the blob's offset from the centre; handpose: 14 joints at fixed offsets around the blob.

    Args:
        root: the simgan dataset folder to write.
        task: ``classify``, ``gaze`` or ``handpose``.
        n: samples.
        seed: the set's seed (pixels, blob positions, classes).
        size: image side in pixels; default 8 (classify), 20 (gaze), 16 (handpose).
        cycle_classes: classes ``i % 4`` (balanced) instead of drawn at random.
        shared_hand: one hand shape (joint offsets) in every set, so train and test sets agree; ``False``
            draws each set's own shape from its seed.
    """
    rng = np.random.default_rng(seed)
    hw = size or TOY_SIZES[task]
    kw = {"classes": TOY_CLASSES} if task == "classify" else {}
    offsets = (
        np.random.default_rng(99).uniform(-2, 2, (14, 2)) if shared_hand else rng.uniform(-2, 2, (14, 2))
    )
    with DatasetWriter(root, task=task, height=hw, width=hw, channels=1, **kw) as w:
        for i in range(n):
            img = rng.integers(0, 40, (hw, hw), dtype=np.uint8)
            label: object = None
            if task == "classify":
                k = i % 4 if cycle_classes else int(rng.integers(0, 4))
                u, v = (k % 2) * hw // 2 + hw // 4, (k // 2) * hw // 2 + hw // 4
                label = k
            else:
                u, v = (int(c) for c in rng.integers(3, hw - 3, 2))
            img[v - 1 : v + 2, u - 1 : u + 2] = 255
            if task == "gaze":
                g = np.array([(u - (hw - 1) / 2) / hw, (v - (hw - 1) / 2) / hw, -1.0])
                g /= np.linalg.norm(g)
                label = {"gaze": g.tolist(), "pitch": math.asin(-g[1]), "yaw": math.atan2(-g[0], -g[2])}
            elif task == "handpose":
                uv = np.clip(np.array([u, v]) + offsets, 0, hw - 1)
                label = {"uv": uv.tolist(), "xyz": np.zeros((14, 3)).tolist()}
            w.add(f"{i:04d}", img, label)
    return root


def images_dataset(
    root: Path,
    images: np.ndarray,
    labels: Sequence[Any] | None = None,
    *,
    task: str | None = None,
    classes: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
) -> Path:
    """Write an image array as a simgan dataset; labelled sets default to ``classify``.

    Shape:
        images: (N, H, W, C) uint8 or uint16; labels: N labels (int class indices for classify).
    """
    n, h, w, c = images.shape
    if labels is not None and task is None:
        task = "classify"
    ids = [f"s{k:05d}" for k in range(n)] if ids is None else ids
    with DatasetWriter(
        root, height=h, width=w, channels=c, dtype=str(images.dtype), task=task, classes=classes
    ) as d:
        for k in range(n):
            label = None if labels is None else labels[k]
            d.add(ids[k], images[k], int(label) if task == "classify" else label)
    return root


@pytest.fixture(scope="session")
def write_toy() -> Callable[..., Path]:
    """:func:`toy_dataset`: ``write_toy(root, task, n, seed, size=None, *, cycle_classes, shared_hand)``."""
    return toy_dataset


@pytest.fixture(scope="session")
def write_images() -> Callable[..., Path]:
    """:func:`images_dataset`: ``write_images(root, images, labels=None, *, task, classes, ids)``."""
    return images_dataset
