"""Per-image statistics that tell two image domains apart without training anything (``inspect --stats``).

Intensities are scaled to [0, 1] (by 255 or 65535), channels averaged to grey. For each image:

| key | statistic |
| --- | --- |
| ``mean`` | mean intensity (reported as mean and std over images: brightness and its spread) |
| ``std`` | std of the intensities within the image (0.289 for a flat histogram, i.e. equalised) |
| ``gradient`` | mean absolute forward difference, horizontal and vertical averaged |
| ``hf`` | high-frequency energy: mean abs(x - its 3x3 box blur), edges replicated |
| ``p05``, ``p95`` | the 5th and 95th percentiles of the intensities |
| ``dark`` | share of pixels below 0.25 |

Every value but ``mean_std`` is the mean over images. A simulator whose output differs from the real
images in these numbers by far more than the real images vary will be spotted by a patch discriminator
at once (docs/simulate_eyes.md gives the MPIIGaze figures).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from simgan.data.source import Source
from simgan.progress import off

__all__ = ["STAT_KEYS", "MPIIGAZE_CROPS", "image_statistics", "array_statistics", "grey01"]

STAT_KEYS = ("mean", "mean_std", "std", "gradient", "hf", "p05", "p95", "dark")

# The statistics of 144 real MPIIGaze eye crops (35x55 grey, unlabelled, from a public SimGAN repository),
# as measured when issue 18 was filed; simgan does not ship them. The simulated eyes are held to these
# (benchmarks/bench_eye_stats.py, docs/simulate_eyes.md).
MPIIGAZE_CROPS = {
    "mean": 0.506,
    "mean_std": 0.006,
    "std": 0.289,
    "gradient": 0.053,
    "hf": 0.027,
    "p05": 0.05,
    "p95": 0.95,
    "dark": 0.24,
}


def grey01(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 / uint16 -> (H, W) float64 in [0, 1], channels averaged."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return image.astype(np.float64).mean(axis=-1) / scale


def _one(x: np.ndarray) -> dict[str, float]:
    """The statistics of one (H, W) image in [0, 1]."""
    padded = np.pad(x, 1, mode="edge")
    h, w = x.shape
    blur = sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
    dx = np.abs(np.diff(x, axis=1)).mean() if w > 1 else 0.0
    dy = np.abs(np.diff(x, axis=0)).mean() if h > 1 else 0.0
    p05, p95 = np.percentile(x, [5, 95])
    return {
        "mean": float(x.mean()),
        "std": float(x.std()),
        "gradient": float((dx + dy) / 2),
        "hf": float(np.abs(x - blur).mean()),
        "p05": float(p05),
        "p95": float(p95),
        "dark": float((x < 0.25).mean()),
    }


def image_statistics(source: Source, limit: int = 2000, progress: bool = False) -> dict[str, float]:
    """The statistics (:data:`STAT_KEYS`, see the module docstring) over at most ``limit`` images,
    evenly spaced through the dataset (all of them when it holds fewer), plus ``images``: how many.
    """
    n = len(source)
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    picks = np.unique(np.linspace(0, n - 1, num=min(n, limit)).round().astype(int)) if n else []
    images = (
        source.pixels(int(i))
        for i in tqdm(picks, desc="statistics", unit="img", disable=off(progress), leave=False)
    )
    return array_statistics(images)


def array_statistics(images: Iterable[np.ndarray]) -> dict[str, float]:
    """:func:`image_statistics` of images in memory, each (H, W, C) uint8 or uint16."""
    rows = [_one(grey01(image)) for image in images]
    if not rows:
        return {"images": 0}
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["mean_std"] = float(np.std([r["mean"] for r in rows]))
    return {"images": len(rows), **{k: round(out[k], 4) for k in STAT_KEYS}}
