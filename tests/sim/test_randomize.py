"""Domain-randomization primitives: geometry conventions, sampling, blur, noise fields, strokes."""

from __future__ import annotations

import numpy as np
import pytest

from simgan.sim import randomize as rz

# --- Affine maps ------------------------------------------------------------------------------------


def test_rotation_is_counter_clockwise_on_screen() -> None:
    m = rz.affine_matrices(np.array([90.0]))
    # y points down, so "right" (1, 0) turning counter-clockwise on screen goes "up": (0, -1).
    np.testing.assert_allclose(rz.transform_points(m, np.array([[1.0, 0.0]]))[0, 0], [0.0, -1.0], atol=1e-12)


def test_positive_shear_slants_the_top_forward() -> None:
    m = rz.affine_matrices(np.array([0.0]), shear_deg=np.array([45.0]))
    top, bottom = rz.transform_points(m, np.array([[0.0, -1.0], [0.0, 1.0]]))[0]
    assert top[0] == pytest.approx(1.0) and bottom[0] == pytest.approx(-1.0)


def test_affine_scale_translate_and_inverse_round_trip(rng: np.random.Generator) -> None:
    m = rz.affine_matrices(
        rng.uniform(-30, 30, 5),
        rng.uniform(-20, 20, 5),
        rng.uniform(0.5, 2, 5),
        rng.uniform(0.5, 2, 5),
        3.0,
        -2.0,
    )
    pts = rng.normal(size=(5, 7, 2))
    back = rz.transform_points(rz.invert_affine(m), rz.transform_points(m, pts))
    np.testing.assert_allclose(back, pts, atol=1e-10)
    m0 = rz.affine_matrices(np.zeros(1), 0.0, 2.0, 3.0, 1.0, 4.0)
    np.testing.assert_allclose(rz.transform_points(m0, np.array([[1.0, 1.0]]))[0, 0], [3.0, 7.0])


# --- Sampling and warping ---------------------------------------------------------------------------


def test_sample_bilinear_exact_at_centres_and_linear_between(rng: np.random.Generator) -> None:
    src = rng.random((3, 4, 5)).astype(np.float32)
    gx, gy = rz.pixel_grid(4, 5)
    idx = np.array([2, 0])
    got = rz.sample_bilinear(src, np.stack([gx, gx]), np.stack([gy, gy]), index=idx)
    np.testing.assert_allclose(got, src[idx], rtol=1e-6)
    mid = rz.sample_bilinear(src, np.array([[[1.0]]]), np.array([[[0.5]]]), index=np.array([1]))
    assert mid[0, 0, 0] == pytest.approx(src[1, 0, :2].mean(), rel=1e-6)


def test_sample_bilinear_border_and_constant_modes() -> None:
    src = np.arange(4, dtype=np.float32).reshape(1, 2, 2) + 1.0  # [[1, 2], [3, 4]]
    x, y = np.array([[[-5.0, 10.0]]]), np.array([[[0.5, 1.5]]])
    np.testing.assert_allclose(rz.sample_bilinear(src, x, y, mode="border")[0, 0], [1.0, 4.0])
    np.testing.assert_allclose(rz.sample_bilinear(src, x, y, mode="constant", fill=-1.0)[0, 0], [-1.0, -1.0])
    with pytest.raises(ValueError, match="mode"):
        rz.sample_bilinear(src, x, y, mode="wrap")


def test_sample_bilinear_channels_and_batch_mismatch(rng: np.random.Generator) -> None:
    src = rng.random((2, 3, 3, 4)).astype(np.float32)
    gx, gy = rz.pixel_grid(3, 3)
    out = rz.sample_bilinear(src, np.stack([gx, gx]), np.stack([gy, gy]))
    assert out.shape == (2, 3, 3, 4)
    np.testing.assert_allclose(out, src, rtol=1e-6)
    with pytest.raises(ValueError, match="2 images"):
        rz.sample_bilinear(src, gx[None], gy[None])


def test_warp_affine_identity_and_one_pixel_shift(rng: np.random.Generator) -> None:
    img = rng.random((2, 6, 7)).astype(np.float32)
    same = rz.warp_affine(img, rz.affine_matrices(np.zeros(2)))
    np.testing.assert_allclose(same, img, rtol=1e-6)
    shifted = rz.warp_affine(img, rz.affine_matrices(np.zeros(2), tx=1.0), fill=0.0)
    np.testing.assert_allclose(shifted[:, :, 1:], img[:, :, :-1], rtol=1e-6)
    assert np.all(shifted[:, :, 0] == 0.0)


# --- Blur, noise, contrast --------------------------------------------------------------------------


def test_gaussian_blur_per_sample_sigma() -> None:
    img = np.zeros((3, 15, 15), np.float32)
    img[:, 7, 7] = 1.0
    out = rz.gaussian_blur(img, np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(out[0], img[0], atol=1e-7)  # sigma 0: identity
    assert out[1, 7, 7] > out[2, 7, 7] > 0.0  # wider kernel, lower peak
    np.testing.assert_allclose(out.sum(axis=(1, 2)), 1.0, rtol=1e-5)  # mass kept away from the edges
    # Known value: the peak of a unit impulse blurred with sigma 1 (taps out to 3 * max sigma = 6).
    t = np.arange(-6, 7)
    k = np.exp(-0.5 * t**2)
    assert out[1, 7, 7] == pytest.approx((1.0 / k.sum()) ** 2, rel=1e-5)
    flat = rz.gaussian_blur(np.full((1, 5, 5, 3), 0.3, np.float32), 1.5)
    np.testing.assert_allclose(flat, 0.3, rtol=1e-5)


def test_smooth_noise_is_seeded_smooth_and_shaped() -> None:
    a = rz.smooth_noise(np.random.default_rng(0), 4, (32, 24), 3)
    b = rz.smooth_noise(np.random.default_rng(0), 4, (32, 24), 3)
    assert a.shape == (4, 32, 24) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    white = np.random.default_rng(1).standard_normal((4, 32, 24))
    step = np.abs(np.diff(a, axis=2)).mean() / a.std()
    assert step < 0.25 * np.abs(np.diff(white, axis=2)).mean() / white.std()
    assert rz.smooth_noise(np.random.default_rng(0), 2, (8, 8), (2, 3), channels=3).shape == (2, 8, 8, 3)


def test_gaussian_noise_and_contrast(rng: np.random.Generator) -> None:
    img = np.full((2, 64, 64), 0.5, np.float32)
    noisy = rz.add_gaussian_noise(rng, img, np.array([0.0, 0.1]))
    np.testing.assert_array_equal(noisy[0], img[0])
    assert noisy[1].std() == pytest.approx(0.1, rel=0.1)
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    x = rng.random((2, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(rz.adjust_contrast(x), x, rtol=1e-6)
    out = rz.adjust_contrast(x, np.array([0.0, 1.0]), np.array([0.0, 0.2]))
    np.testing.assert_allclose(out[0], 0.5)
    np.testing.assert_allclose(out[1], np.clip(x[1] + 0.2, 0, 1), rtol=1e-6)


# --- Strokes ----------------------------------------------------------------------------------------


def test_draw_segments_covers_the_line_only() -> None:
    seg = np.array([[[2.0, 5.5, 12.0, 5.5]], [[2.0, 5.5, 12.0, 5.5]]])
    cov = rz.draw_segments(seg, 2.0, (12, 16), active=np.array([[True], [False]]))
    assert cov.shape == (2, 12, 16)
    assert cov[0, 5, 7] == 1.0 and cov[0, 0, 7] == 0.0 and cov[0, 5, 15] == 0.0
    assert cov[1].max() == 0.0
    thick = rz.draw_segments(seg[:1], 5.0, (12, 16))
    assert thick.sum() > cov[0].sum()


def test_random_segments_lengths(rng: np.random.Generator) -> None:
    seg = rz.random_segments(rng, 50, 3, (20, 30), (4.0, 9.0))
    assert seg.shape == (50, 3, 4)
    length = np.hypot(seg[..., 2] - seg[..., 0], seg[..., 3] - seg[..., 1])
    assert length.min() >= 4.0 - 1e-9 and length.max() <= 9.0 + 1e-9
