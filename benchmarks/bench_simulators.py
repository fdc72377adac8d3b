"""Simulator throughput: batched rendering against the same simulator one image at a time.

For every registered simulator at its default size (and digits at each of its sizes) this prints
images/s of ``render`` with the batch size ``simulate`` uses (:data:`simgan.sim.BATCH`), the baseline
measured in the same run (the same simulator rendering batches of one image, so the ratio is what
vectorising over the batch buys), and the end-to-end rate of ``simulate`` writing a dataset to disk
(PNG encoding and atomic writes included). Each measurement runs for about a second.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simgan.cli.common import print_table
from simgan.sim import BATCH, SIMULATORS, simulate

__all__ = ["main", "images_per_second"]

SECONDS = 1.0


def images_per_second(step: Callable[[int], int], seconds: float = SECONDS) -> float:
    """Call ``step(k)`` (returning how many images it made) for about ``seconds``; images per second."""
    step(0)  # warm up (caches, first allocation)
    done, k, start = 0, 1, time.perf_counter()
    while True:
        done += step(k)
        k += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def _render_rate(name: str, size: tuple[int, int], batch: int) -> float:
    sim = SIMULATORS[name]

    def step(k: int) -> int:
        sim.render(np.random.default_rng([0, k]), batch, size)
        return batch

    return images_per_second(step)


def _disk_rate(name: str, size: tuple[int, int]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        simulate(name, BATCH, Path(tmp) / "d", seed=0, size=size, progress=False)
        return BATCH / (time.perf_counter() - start)


def main() -> None:
    cases = [(name, sim.default_size) for name, sim in sorted(SIMULATORS.items())]
    if "digits" in SIMULATORS:
        cases += [("digits", (28, 28)), ("digits", (32, 32))]
    rows = []
    for name, size in cases:
        batched = _render_rate(name, size, BATCH)
        single = _render_rate(name, size, 1)
        disk = _disk_rate(name, size)
        channels = SIMULATORS[name].channels_for(size)
        rows.append(
            [
                name,
                f"{size[0]}x{size[1]}x{channels}",
                f"{batched:.0f}",
                f"{single:.0f}",
                f"{batched / single:.1f}x",
                f"{disk:.0f}",
            ]
        )
    print(f"render images/s: batch {BATCH} vs baseline batch 1 (same simulator, same run); disk = simulate()")
    print_table(rows, ["simulator", "size", f"batch {BATCH}", "batch 1", "ratio", "disk img/s"])
