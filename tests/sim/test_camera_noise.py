"""The webcam degradation model behind the pseudo-real eyes: each stage against its definition."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from simgan.sim.camera_noise import (
    CameraNoiseConfig,
    blur_otf,
    degrade,
    illumination_gradient,
    jpeg_quant_table,
    jpeg_quantize,
    sensor_noise,
    tone_curve,
)
from simgan.sim.randomize import smooth_noise


def _textured(rng: np.random.Generator, n: int = 4, size: tuple[int, int] = (35, 55)) -> np.ndarray:
    x = 0.5 + 0.2 * smooth_noise(rng, n, size, (4, 6)) + 0.08 * rng.standard_normal((n, *size))
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def test_jpeg_matches_a_real_codec(rng: np.random.Generator) -> None:
    x = _textured(rng)
    for q in (30, 75):
        ours = jpeg_quantize(x, np.full(len(x), q)).astype(float)
        pil = []
        for im in x:
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, "JPEG", quality=q)
            pil.append(np.asarray(Image.open(buf)))
        pil = np.stack(pil).astype(float)
        distortion = np.abs(pil - x).mean()
        assert distortion > 3.0  # the codec really lost information
        assert np.abs(ours - pil).mean() < min(1.0, 0.1 * distortion)


def test_jpeg_quality_orders_the_error_and_100_is_near_lossless(rng: np.random.Generator) -> None:
    x = _textured(rng, size=(36, 60))
    errs = [np.abs(jpeg_quantize(x, np.full(len(x), q)).astype(float) - x).mean() for q in (20, 50, 90, 100)]
    assert errs[0] > errs[1] > errs[2] > errs[3]
    assert errs[3] < 0.5
    assert jpeg_quant_table(50)[0, 0] == 16 and jpeg_quant_table(100).max() == 1
    with pytest.raises(ValueError, match="uint8"):
        jpeg_quantize(x.astype(np.float32), np.full(len(x), 50))


def test_jpeg_makes_8x8_blocks(rng: np.random.Generator) -> None:
    x = _textured(rng, n=8, size=(64, 64))
    out = jpeg_quantize(x, np.full(8, 15)).astype(float)
    jumps = np.abs(np.diff(out, axis=2))  # (B, H, W-1): jump between columns c and c+1
    at_edges = jumps[:, :, 7::8].mean()
    inside = np.delete(jumps, np.s_[7::8], axis=2).mean()
    assert at_edges > 1.2 * inside


def test_blur_impulse_response_has_the_right_moments() -> None:
    img = np.zeros((2, 41, 41), dtype=np.float32)
    img[:, 20, 20] = 1.0
    # sigma >= 1 px keeps the OTF negligible at Nyquist, where the sampled kernel's moments are exact.
    out = blur_otf(img, np.array([1.5, 1.0]), np.array([0.0, 3.0]), np.array([0.0, 0.0]))
    np.testing.assert_allclose(out.sum((1, 2)), 1.0, atol=1e-4)
    yy, xx = np.mgrid[:41, :41] - 20.0
    var_x = (out * xx**2).sum((1, 2))
    var_y = (out * yy**2).sum((1, 2))
    # Gaussian: sigma^2 on both axes; a box of length L along x adds L^2 / 12 there only.
    np.testing.assert_allclose(var_y, [2.25, 1.0], rtol=0.03)
    np.testing.assert_allclose(var_x, [2.25, 1.0 + 9.0 / 12.0], rtol=0.03)


def test_sensor_noise_follows_the_poisson_gaussian_model(rng: np.random.Generator) -> None:
    flat = np.full((3, 64, 64), 0.5, dtype=np.float32)
    exposure = np.array([1.0, 0.6, 1.0])
    photons = np.array([1000.0, 1000.0, 100.0])
    read = np.array([0.01, 0.01, 0.01])
    out = sensor_noise(flat, rng, exposure, photons, read)
    y = 0.5 * exposure
    np.testing.assert_allclose(out.mean((1, 2)), y, atol=0.005)
    np.testing.assert_allclose(out.std((1, 2)), np.sqrt(y / photons + read**2), rtol=0.06)


def test_tone_curve_identity_and_known_value() -> None:
    x = np.linspace(0, 1, 11, dtype=np.float32)[None, None].repeat(2, 0)
    np.testing.assert_allclose(tone_curve(x, np.ones(2), np.ones(2), np.zeros(2)), x, atol=1e-6)
    out = tone_curve(np.full((1, 1, 1), 0.25, np.float32), np.array([2.0]), np.array([0.5]), np.array([0.1]))
    assert out.item() == pytest.approx(0.5 + 0.1 + 0.5 * (0.0625 - 0.5))


def test_illumination_gradient_darkens_the_far_side() -> None:
    img = np.full((1, 20, 40), 0.5, dtype=np.float32)
    none = np.zeros(1)
    out = illumination_gradient(img, none, np.array([0.5]), none, none, none, np.array([0.2]))
    assert out[0, :, :5].mean() < 0.5 < out[0, :, -5:].mean()  # angle 0: brighter toward +x
    shadow = illumination_gradient(img, none, none, none, none, np.array([0.6]), np.array([0.05]))
    np.testing.assert_allclose(shadow[0, :, 0], 0.5 * 0.4, rtol=1e-3)  # left of the edge at x = 0
    np.testing.assert_allclose(shadow[0, :, -1], 0.5, rtol=1e-3)


def test_degrade_is_seeded_and_records_json_parameters(rng: np.random.Generator) -> None:
    x = _textured(rng).astype(np.float32) / 255.0
    a, pa = degrade(x, np.random.default_rng(7))
    b, pb = degrade(x, np.random.default_rng(7))
    c, _ = degrade(x, np.random.default_rng(8))
    assert a.dtype == np.uint8 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert pa == pb and not np.array_equal(a, c)
    json.dumps(pa)
    cfg = CameraNoiseConfig()
    for p in pa:
        assert cfg.jpeg_quality[0] <= p["jpeg_quality"] <= cfg.jpeg_quality[1]
        assert cfg.exposure[0] <= p["exposure"] <= cfg.exposure[1]
