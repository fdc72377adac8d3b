"""Simulated eyes against real MPIIGaze crops, by per-image statistics (issue 18's targets).

Renders 2,000 eyes with ``simulate eyes`` defaults (seed 0), equalises them as every model input is
(:mod:`simgan.data.equalize`), and prints each statistic of :mod:`simgan.data.image_stats` beside the
real crops' (:data:`~simgan.data.image_stats.MPIIGAZE_CROPS`) as a ratio, with the raw simulator output
and the equalised pseudo-real target for context. The target: every statistic within 15 % of the real
column (``mean_std``, the spread of the image means, is a few thousandths in both and is shown, not held).
No timing: the numbers depend only on the seed.
"""

from __future__ import annotations

import numpy as np

from simgan.cli.common import print_table
from simgan.data.equalize import equalize
from simgan.data.image_stats import MPIIGAZE_CROPS, STAT_KEYS, array_statistics
from simgan.sim import get_simulator

__all__ = ["main", "eye_statistics"]

N = 2000
TOLERANCE = 0.15


def eye_statistics(n: int = N, seed: int = 0) -> dict[str, dict[str, float]]:
    """Statistics of ``n`` simulated eyes: raw, equalised, and the equalised pseudo-real target."""
    sim = get_simulator("eyes")
    out = {}
    for target in ("synthetic", "pseudo-real"):
        images, _ = sim.render(np.random.default_rng(seed), n, sim.default_size, target)  # (n, H, W, 1)
        if target == "synthetic":
            out["simulated, raw"] = array_statistics(images)
        out[f"{target}, equalised"] = array_statistics(equalize(images))
    return out


def main() -> None:
    stats = eye_statistics()
    eq = stats["synthetic, equalised"]
    rows = []
    for key in STAT_KEYS:
        real = MPIIGAZE_CROPS[key]
        ratio = eq[key] / real
        held = "-" if key == "mean_std" else ("yes" if abs(ratio - 1) <= TOLERANCE else "NO")
        cells = [f"{stats[name][key]:.4f}" for name in stats]
        rows.append([key, f"{real:.3f}", *cells, f"{ratio:.2f}", held])
    print_table(rows, ["statistic", "MPIIGaze crops", *stats, "ratio (eq.)", "within 15%"])
