"""Refiner image grids: tile layout for N rows, the difference column's fixed scale, value conversion,
shape errors, and the PNG written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.data import read_image
from simgan.viz.grids import refiner_grid, save_refiner_grid, to_uint8

TILE, GAP = 32, 2  # 8x8 tiles are enlarged 4x; tiles are separated by 2 grey (128) pixels


def _tile(grid: np.ndarray, row: int, col: int, tile: int = TILE) -> np.ndarray:
    y0, x0 = row * (tile + GAP), col * (tile + GAP)
    return grid[y0 : y0 + tile, x0 : x0 + tile]


def test_to_uint8_maps_the_range_and_moves_channels_last() -> None:
    x = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]).reshape(1, 1, 2, 3)
    y = to_uint8(x)
    assert y.shape == (1, 2, 3, 1) and y.dtype == np.uint8
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 0, 128], [191, 255, 255]])  # clamped outside [-1, 1]
    rgb = to_uint8(torch.stack([torch.full((2, 2), v) for v in (-1.0, 0.0, 1.0)])[None])  # (1, 3, 2, 2)
    np.testing.assert_array_equal(rgb[0, 0, 0], [0, 128, 255])


@pytest.mark.parametrize(("n", "n_real", "max_rows", "rows"), [(3, 5, 8, 3), (10, 12, 8, 8), (6, 2, 8, 2)])
def test_rows_are_the_fewest_of_synthetic_real_and_max_rows(n: int, n_real: int, max_rows: int, rows: int):
    syn = torch.zeros(n, 1, 8, 8)
    grid = refiner_grid(syn, syn, torch.zeros(n_real, 1, 8, 8), max_rows=max_rows)
    assert grid.shape == (rows * TILE + (rows - 1) * GAP, 4 * TILE + 3 * GAP, 1) and grid.dtype == np.uint8
    assert (grid[TILE : TILE + GAP] == 128).all()  # the separator between rows 0 and 1
    assert (grid[:, TILE : TILE + GAP] == 128).all()  # and between columns 0 and 1


def test_columns_hold_synthetic_refined_difference_real_in_order() -> None:
    syn = -torch.ones(2, 1, 8, 8)  # black
    ref = syn.clone()
    ref[:, :, 0, 0] = 0.0  # a change of half the range: white in the difference column
    ref[1, :, 7, 7] = -0.5  # a quarter of the range: mid-grey
    real = torch.ones(5, 1, 8, 8)  # white
    grid = refiner_grid(syn, ref, real, max_rows=8)
    assert (_tile(grid, 0, 0) == 0).all()
    assert _tile(grid, 0, 1)[:4, :4].min() == 128 and _tile(grid, 0, 1)[4:, 4:].max() == 0
    diff = _tile(grid, 1, 2)[..., 0]
    assert diff[:4, :4].min() == 255 and diff[-4:, -4:].min() == diff[-4:, -4:].max() == 128
    assert diff[4:28, 4:28].max() == 0  # unchanged pixels are black
    assert (_tile(grid, 0, 3) == 255).all() and (_tile(grid, 1, 3) == 255).all()


def test_difference_is_absolute_and_saturates_at_half_the_range() -> None:
    syn = torch.zeros(1, 1, 8, 8)
    ref = syn.clone()
    ref[0, 0, 0] = -1.0  # |d| = 1 > 0.5: clipped to white, the sign does not matter
    ref[0, 0, 1] = 0.25  # |d| = 0.25: 0.25 * 2 - 1 = -0.5 -> 64
    diff = _tile(refiner_grid(syn, ref, syn), 0, 2)[..., 0]
    assert (diff[:4] == 255).all() and (diff[4:8] == 64).all() and (diff[8:] == 0).all()


@pytest.mark.parametrize(
    ("c", "h", "w", "scale"),
    [(3, 40, 50, 1), (1, 35, 55, 1), (1, 10, 20, 4), (1, 8, 8, 4)],  # the short side sets ceil(32 / side)
)
def test_small_images_are_enlarged_to_32_px_and_channels_kept(c: int, h: int, w: int, scale: int) -> None:
    x = torch.zeros(2, c, h, w)
    grid = refiner_grid(x, x, x)
    assert grid.shape == (2 * h * scale + GAP, 4 * w * scale + 3 * GAP, c)


def test_shape_errors_name_both_shapes() -> None:
    syn = torch.zeros(3, 1, 8, 8)
    with pytest.raises(ValueError, match=r"same shape .* \(3, 1, 8, 8\) and \(2, 1, 8, 8\)"):
        refiner_grid(syn, syn[:2], syn)
    with pytest.raises(ValueError, match=r"same shape .* \(1, 8, 8\) and \(1, 8, 8\)"):
        refiner_grid(syn[0], syn[0], syn)  # not a batch
    with pytest.raises(ValueError, match=r"real images must be \(M, 1, H', W'\), got \(3, 3, 8, 8\)"):
        refiner_grid(syn, syn, torch.zeros(3, 3, 8, 8))
    with pytest.raises(ValueError, match=r"real images must be \(M, 1, H', W'\), got \(1, 8, 8\)"):
        refiner_grid(syn, syn, syn[0])


def test_real_images_of_another_size_are_shown_at_the_synthetic_size() -> None:
    """train-refiner allows a real set of another size (D sees patches); its grid column is resized."""
    syn = torch.zeros(2, 1, 8, 8)
    real = torch.ones(2, 1, 35, 55)
    assert np.array_equal(refiner_grid(syn, syn, real), refiner_grid(syn, syn, torch.ones(2, 1, 8, 8)))


def test_save_writes_the_grid_as_png(tmp_path: Path) -> None:
    syn = torch.rand(3, 1, 8, 8) * 2 - 1
    ref = (syn + 0.1).clamp(-1, 1)
    path = tmp_path / "grids" / "step_0000010.png"
    path.parent.mkdir()
    save_refiner_grid(path, syn, ref, syn, max_rows=2)
    np.testing.assert_array_equal(read_image(path), refiner_grid(syn, ref, syn, max_rows=2))
    assert list(path.parent.iterdir()) == [path]  # atomic: no temp file left


def test_save_shows_the_first_channel_of_two_channel_images(tmp_path: Path) -> None:
    syn = torch.stack([torch.ones(8, 8), -torch.ones(8, 8)])[None]  # (1, 2, 8, 8)
    save_refiner_grid(tmp_path / "g.png", syn, syn, syn)
    img = read_image(tmp_path / "g.png")
    assert img.shape == (TILE, 4 * TILE + 3 * GAP, 1) and (_tile(img, 0, 0) == 255).all()
