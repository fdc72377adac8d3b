"""Image grids that show what a refiner does: one row per sample, columns synthetic | refined |
|difference| | real.

The difference column is ``|R(x) - x|`` on a fixed scale (a change of half the data range, 1.0 in [-1, 1],
is white), so grids from different steps compare directly. Real images are not paired with the synthetic
ones (S+U learning has no pairs); they show the target look. Small images (8x8 digits) are enlarged by
pixel repetition so that a grid is readable.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from simgan.data.images import write_png

__all__ = ["to_uint8", "refiner_grid", "save_refiner_grid"]

_GAP = 2  # separator pixels between tiles
_GAP_VALUE = 128
_MIN_TILE = 32  # enlarge tiles to at least this many pixels per side


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] to uint8 (N, H, W, C).

    Shape:
        x: (N, C, H, W) -> (N, H, W, C).
    """
    y = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return y.permute(0, 2, 3, 1).numpy()


def refiner_grid(
    synthetic: torch.Tensor, refined: torch.Tensor, real: torch.Tensor, max_rows: int = 8
) -> np.ndarray:
    """Tile ``max_rows`` rows of synthetic | refined | |refined - synthetic| | real.

    Args:
        synthetic: x, images in [-1, 1].
        refined: R(x), same shape as ``synthetic``.
        real: real images y (any count; the first rows are used), resized to x's size when theirs differs.
        max_rows: rows at most.

    Shape:
        synthetic, refined: (N, C, H, W); real: (M, C, H', W'); returns (H', W', C) uint8.
    """
    if synthetic.shape != refined.shape or synthetic.ndim != 4:
        raise ValueError(
            f"synthetic and refined must have the same shape (N, C, H, W), got {tuple(synthetic.shape)} "
            f"and {tuple(refined.shape)}"
        )
    if real.ndim != 4 or real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"real images must be (M, {synthetic.shape[1]}, H', W'), got {tuple(real.shape)}")
    if real.shape[2:] != synthetic.shape[2:]:  # a real set of another size: shown at x's size
        real = F.interpolate(real.float(), size=tuple(synthetic.shape[2:]), mode="bilinear", antialias=True)
    rows = min(max_rows, synthetic.shape[0], real.shape[0])
    diff = (refined[:rows] - synthetic[:rows]).abs() * 2.0 - 1.0  # |d| in [0, 1] -> [-1, 1] for display
    columns = [to_uint8(t[:rows]) for t in (synthetic, refined, diff, real)]  # each (rows, H, W, C)
    _, h, w, c = columns[0].shape
    s = max(1, math.ceil(_MIN_TILE / min(h, w)))
    th, tw = h * s, w * s
    grid = np.full((rows * (th + _GAP) - _GAP, 4 * (tw + _GAP) - _GAP, c), _GAP_VALUE, dtype=np.uint8)
    for j, col in enumerate(columns):
        big = col.repeat(s, axis=1).repeat(s, axis=2)  # (rows, th, tw, C)
        for i in range(rows):
            y0, x0 = i * (th + _GAP), j * (tw + _GAP)
            grid[y0 : y0 + th, x0 : x0 + tw] = big[i]
    return grid


def save_refiner_grid(
    path: str | Path, synthetic: torch.Tensor, refined: torch.Tensor, real: torch.Tensor, max_rows: int = 8
) -> None:
    """Write :func:`refiner_grid` as a PNG, atomically (3-channel images as RGB, others as grey).

    Shape:
        synthetic, refined: (N, C, H, W); real: (M, C, H, W).
    """
    grid = refiner_grid(synthetic, refined, real, max_rows)
    if grid.shape[2] not in (1, 3):
        grid = grid[:, :, :1]  # PNG holds grey or RGB: show the first channel of other images
    write_png(path, grid)
