"""Dataset throughput: reading a simgan dataset of 35x55 PNGs, and writing one, against plain baselines.

A simgan dataset of N grey 35x55 eye-sized images (classify labels) is written to a temp folder, then:

- read: images/s of one epoch through :class:`~simgan.data.ImageDataset` (index order), through
  :func:`~simgan.data.make_loader` (batch 64, shuffled) with 0 and with 2 workers, and of the second epoch
  of ``ImageDataset(cache=True)``; also how fast :func:`~simgan.data.open_dataset` indexes the folder.
  Baseline: decoding the same PNG bytes from memory with PIL, the cost no reader can avoid. The files were
  just written, so they come from the OS page cache: this measures the reader's work, not the disk's.
- write: images/s of :class:`~simgan.data.DatasetWriter` (PNG encoding, atomic temp + rename per image,
  one flushed ``labels.jsonl`` line per image) against ``np.save`` of each image to its own file, a plain
  write of as many files with neither encoding nor atomicity.

Each measurement is one pass over the N images, repeated ``repeats`` times with the variants taking turns
after one untimed round (warm caches, started workers); the median counts. ``SIMGAN_BENCH_SCALE``
(default 1) multiplies N. Standalone: ``python -m benchmarks.bench_data --n 8192 --repeats 5``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from simgan.cli.common import print_table
from simgan.data import DatasetWriter, ImageDataset, make_loader, open_dataset

__all__ = ["HEIGHT", "WIDTH", "eye_like_images", "median_seconds", "main"]

SCALE = float(os.environ.get("SIMGAN_BENCH_SCALE", "1"))
HEIGHT, WIDTH = 35, 55  # the paper's eye crops
CLASSES = [str(c) for c in range(10)]


def eye_like_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` smooth grey images with a dark blob and mild noise, so PNG sizes resemble real eye crops
    (pure noise would not compress and would overstate the decode cost).

    Shape:
        returns (n, HEIGHT, WIDTH, 1) uint8.
    """
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    cy = rng.uniform(12, 23, (n, 1, 1))
    cx = rng.uniform(18, 37, (n, 1, 1))
    radius = rng.uniform(5, 9, (n, 1, 1))
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))  # (n, H, W)
    base = 150 + 40 * (xx / WIDTH) - 110 * blob + rng.normal(0, 4, (n, HEIGHT, WIDTH))
    return np.clip(base, 0, 255).astype(np.uint8)[..., None]


def median_seconds(runs: list[Callable[[int], Any]], repeats: int) -> list[float]:
    """Median seconds of each ``run(k)`` (k = 0 the untimed warm-up round, then 1..repeats), the runs
    taking turns within every round so a change of machine load hits all of them alike."""
    for run in runs:
        run(0)
    times: list[list[float]] = [[] for _ in runs]
    for k in range(1, max(1, repeats) + 1):
        for run, record in zip(runs, times, strict=True):
            start = time.perf_counter()
            run(k)
            record.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def _write_rates(root: Path, images: np.ndarray, repeats: int) -> list[float]:
    """Seconds to write all ``images``: [np.save per file, DatasetWriter]; every round into a new folder."""
    n = len(images)

    def npy(k: int) -> None:
        folder = root / f"npy{k}"
        folder.mkdir()
        for i in range(n):
            np.save(folder / f"{i:08d}.npy", images[i])

    def writer(k: int) -> None:
        with DatasetWriter(
            root / f"ds{k}", height=HEIGHT, width=WIDTH, channels=1, task="classify", classes=CLASSES
        ) as w:
            for i in range(n):
                w.add(f"{i:07d}", images[i], i % len(CLASSES))

    seconds = median_seconds([npy, writer], repeats)
    for k in range(1, repeats + 1):  # keep round 0's dataset: the read benchmark uses it
        shutil.rmtree(root / f"npy{k}", ignore_errors=True)
        shutil.rmtree(root / f"ds{k}", ignore_errors=True)
    shutil.rmtree(root / "npy0", ignore_errors=True)
    return seconds


def _read_rates(folder: Path, repeats: int) -> tuple[list[tuple[str, float, str]], int]:
    """(variant, seconds per pass, note) rows, baseline first, and the mean PNG size in bytes."""
    src = open_dataset(folder)
    n = len(src)
    blobs = [(folder / f).read_bytes() for f in src.files]  # type: ignore[attr-defined]

    def decode(_: int) -> None:
        for b in blobs:
            with Image.open(io.BytesIO(b)) as im:
                np.asarray(im)

    def index(_: int) -> None:
        open_dataset(folder)

    plain = ImageDataset(src)

    def dataset(_: int) -> None:
        for i in range(n):
            plain[i]

    loader0 = make_loader(ImageDataset(src), 64, shuffle=True, seed=0, num_workers=0)
    loader2 = make_loader(ImageDataset(src), 64, shuffle=True, seed=0, num_workers=2)
    start = time.perf_counter()
    it = iter(loader2)  # persistent workers: started once, here, and reused by every later epoch
    startup = time.perf_counter() - start
    for _ in it:
        pass

    def epoch(loader: Any) -> Callable[[int], None]:
        def run(_: int) -> None:
            for _batch in loader:
                pass

        return run

    cached = ImageDataset(src, cache=True)

    def cache_epoch(_: int) -> None:
        for i in range(n):  # round 0 fills the cache; every timed round is a later epoch
            cached[i]

    variants: list[tuple[str, Callable[[int], None], str]] = [
        ("PIL decode from memory", decode, "baseline: the unavoidable decode"),
        ("open_dataset (index labels.jsonl)", index, "samples/s indexed, no pixels read"),
        ("ImageDataset[i]", dataset, "file read + decode + label + to_float"),
        ("make_loader, 0 workers", epoch(loader0), "batch 64, shuffled"),
        ("make_loader, 2 workers", epoch(loader2), f"persistent; worker start {startup:.2f} s not counted"),
        ("ImageDataset(cache=True), epoch 2", cache_epoch, "in-memory tensors"),
    ]
    seconds = median_seconds([run for _, run, _ in variants], repeats)
    rows = [(name, s, note) for (name, _, note), s in zip(variants, seconds, strict=True)]
    return rows, round(sum(len(b) for b in blobs) / n)


def main(n: int = 2048, repeats: int = 5) -> None:
    """Print the read and write tables for a dataset of ``n`` images (times ``SIMGAN_BENCH_SCALE``)."""
    n = max(64, round(n * SCALE))
    images = eye_like_images(n, np.random.default_rng(0))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    with tempfile.TemporaryDirectory(prefix="simgan-bench-data-") as tmp:
        root = Path(tmp)
        npy_s, writer_s = _write_rates(root, images, repeats)
        rows, png_bytes = _read_rates(root / "ds0", repeats)
    print(
        f"{n} grey {HEIGHT}x{WIDTH} PNGs (mean {png_bytes} bytes), load average {load}; "
        f"median of {repeats} passes after one warm-up"
    )
    baseline = rows[0][1]
    print("read images/s vs PIL decoding the same PNG bytes from memory")
    print_table(
        [[name, f"{n / s:.0f}", f"{baseline / s:.2f}x", note] for name, s, note in rows],
        ["variant", "img/s", "vs decode", "note"],
    )
    print("write images/s vs np.save of each image to its own file")
    print_table(
        [
            ["np.save per image", f"{n / npy_s:.0f}", "1.00x", "baseline: no encoding, no atomicity"],
            [
                "DatasetWriter.add",
                f"{n / writer_s:.0f}",
                f"{npy_s / writer_s:.2f}x",
                "PNG + temp/rename + labels line",
            ],
        ],
        ["variant", "img/s", "vs np.save", "note"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_data", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--n", type=int, default=2048, help="images in the dataset (times SIMGAN_BENCH_SCALE)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per variant")
    args = parser.parse_args()
    main(args.n, args.repeats)
