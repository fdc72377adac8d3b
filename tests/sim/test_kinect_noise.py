"""The Kinect-like degradation: axial noise, disparity quantisation, shadows, holes at discontinuities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from simgan.sim.kinect_noise import KinectNoise, _spread3x3, axial_sigma_mm, degrade_depth

QUIET = KinectNoise(edge_holes=(0.0, 0.0), dropout=(0.0, 0.0), lateral_px=0.0)


def test_axial_sigma_known_values() -> None:
    np.testing.assert_allclose(axial_sigma_mm(np.array([400.0, 900.0, 1400.0])), [1.2, 1.675, 3.1])


def test_noise_grows_with_depth_and_matches_the_model() -> None:
    depths = np.array([500.0, 700.0, 900.0])
    planes = np.broadcast_to(depths[:, None, None], (3, 96, 96)).astype(np.float32)
    out, _ = degrade_depth(np.random.default_rng(0), planes, 1.0, QUIET)
    assert (out > 0).all()  # a flat plane has no discontinuity, so QUIET loses nothing
    std = (out - planes).std(axis=(1, 2))
    assert std[0] < std[1] < std[2]
    fb = QUIET.focal_px * QUIET.baseline_mm
    step = depths**2 / fb / QUIET.subpixel  # depth step of one 1/8 px disparity step
    expected = np.sqrt(axial_sigma_mm(depths) ** 2 + step**2 / 12)
    np.testing.assert_allclose(std, expected, rtol=0.15)


def test_depth_is_quantised_in_disparity() -> None:
    plane = np.full((1, 32, 32), 812.3, dtype=np.float32)
    out, _ = degrade_depth(np.random.default_rng(1), plane, 1.0, QUIET)
    steps = QUIET.subpixel * QUIET.focal_px * QUIET.baseline_mm / out.astype(np.float64)
    np.testing.assert_allclose(steps, np.rint(steps), atol=2e-3)
    assert len(np.unique(out)) > 3  # the axial noise spreads it over several steps


def test_projector_shadow_left_of_a_near_bar() -> None:
    depth = np.full((1, 8, 40), 800.0, dtype=np.float32)
    depth[:, :, 20:24] = 500.0  # a near bar; disparities 72 vs 45 px differ by 27 > shadow_max_px
    out, _ = degrade_depth(
        np.random.default_rng(2), depth, 1.0, dataclasses.replace(QUIET, edge_spread_px=1e9)
    )
    lost = out[0] == 0
    assert lost[:, 20 - QUIET.shadow_max_px : 20].all()  # the shadow: just left of the bar
    assert not lost[:, : 20 - QUIET.shadow_max_px].any() and not lost[:, 20:].any()


def test_holes_concentrate_at_discontinuities() -> None:
    depth = np.full((16, 48, 48), np.inf, dtype=np.float32)
    depth[:, :, :24] = 700.0  # a surface on the left half, nothing on the right
    out, params = degrade_depth(np.random.default_rng(3), depth, 2.0, KinectNoise(shadow=False))
    lost = out == 0
    surface_edge = lost[:, 2:-2, 22:24].mean()  # the last surface columns before the step
    interior = lost[:, 2:-2, 2:18].mean()
    assert surface_edge > 0.15 and surface_edge > 5 * interior
    assert ((out > 0) == np.isfinite(depth))[:, :, 30:].all()  # no reading appears out of nothing
    assert params["edge_hole_rate"].shape == (16,) and params["focal_px"] == 480.0


def test_same_seed_same_output() -> None:
    depth = np.full((2, 24, 24), 650.0, dtype=np.float32)
    depth[:, 8:16, 8:16] = 600.0
    a = degrade_depth(np.random.default_rng(9), depth, 1.5)[0]
    b = degrade_depth(np.random.default_rng(9), depth, 1.5)[0]
    c = degrade_depth(np.random.default_rng(10), depth, 1.5)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rejects_a_single_image_without_batch_axis() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        degrade_depth(np.random.default_rng(0), np.ones((8, 8)))


def test_discontinuity_spread_matches_scipy_filters() -> None:
    x = np.random.default_rng(0).random((3, 17, 23)).astype(np.float32)
    size = (1, 3, 3)
    ref = ndimage.maximum_filter(x, size=size, mode="nearest") - ndimage.minimum_filter(
        x, size=size, mode="nearest"
    )
    np.testing.assert_array_equal(_spread3x3(x), ref)
