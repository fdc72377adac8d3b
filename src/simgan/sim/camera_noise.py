"""A webcam-like degradation model: the *pseudo-real* target domain for simulators without real data.

This is a **simulated target for experiments, not real data**. It stands in for the low-quality laptop
camera images of MPIIGaze ("extreme illumination", sensor noise, soft focus, JPEG) so that the SimGAN loop
(refine synthetic renders toward an unlabelled target) can be run and measured end to end without a real
dataset. Results against it say how well a refiner learns *this* model of a camera, nothing more.

The stages follow the path light takes through a cheap camera, on float images in [0, 1] treated as
scene radiance (B, H, W):

1. illumination gradient: a linear ramp and a soft shadow edge multiply the scene (uneven room light);
2. optics blur: Gaussian defocus times a linear motion blur, applied as an analytic optical transfer
   function (OTF) in the Fourier domain, per image, after reflect padding;
3. exposure and sensor noise: gain (under-exposure), then shot noise with variance ``y / photons`` and
   Gaussian read noise ``read**2`` (the Poisson-Gaussian model, Gaussian approximation), clipped at
   saturation;
4. camera response: gamma, contrast around mid-grey and a brightness offset, then 8-bit quantisation;
5. JPEG: the baseline JPEG luminance path, 8x8 orthonormal DCT of each block, quantisation with the
   ITU-T T.81 Annex K luminance table scaled to ``quality`` by the IJG rule, inverse DCT (entropy coding
   is lossless and therefore skipped). It produces the real codec's blocking and ringing.

Every per-image parameter is returned as a JSON-ready dict so labels can record it. The default ranges
make the target darker, lower in contrast and noisier than the renders (what real webcam eyes look like
next to UnityEyes); tests check those directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simgan.sim.randomize import adjust_contrast

__all__ = [
    "CameraNoiseConfig",
    "sample_degradation",
    "degrade",
    "illumination_gradient",
    "blur_otf",
    "sensor_noise",
    "tone_curve",
    "jpeg_quantize",
    "jpeg_quant_table",
]

# ITU-T T.81 Annex K, Table K.1: luminance quantisation table at quality 50.
_JPEG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float32,
)


def _dct_matrix(n: int = 8) -> np.ndarray:
    """Orthonormal DCT-II matrix D (rows are basis functions); JPEG's FDCT is D X D^T."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d = np.sqrt(2.0 / n) * np.cos((2 * x + 1) * k * np.pi / (2 * n))
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


_DCT8 = _dct_matrix(8)


@dataclass(frozen=True)
class CameraNoiseConfig:
    """Ranges (uniform unless said otherwise) of the per-image degradation parameters."""

    gradient_strength: tuple[float, float] = (0.1, 0.5)  # ramp amplitude across the image
    shadow_prob: float = 0.5  # chance of a soft shadow edge
    shadow_depth: tuple[float, float] = (0.2, 0.55)  # fraction of light lost in the shadow
    defocus_sigma_px: tuple[float, float] = (0.3, 0.85)  # Gaussian sigma, pixels of the output
    motion_prob: float = 0.3
    motion_length_px: tuple[float, float] = (0.5, 2.0)
    exposure: tuple[float, float] = (0.65, 1.0)  # gain; < 1 is under-exposure
    photons: tuple[float, float] = (200.0, 1500.0)  # electrons at full scale (log-uniform); fewer = noisier
    read_noise: tuple[float, float] = (0.006, 0.02)  # std, fraction of full scale
    gamma: tuple[float, float] = (0.8, 1.2)
    contrast: tuple[float, float] = (0.7, 1.0)
    brightness: tuple[float, float] = (-0.06, 0.06)
    jpeg_quality: tuple[int, int] = (40, 90)


def sample_degradation(rng: np.random.Generator, n: int, config: CameraNoiseConfig) -> dict[str, np.ndarray]:
    """Draw the per-image parameters of :func:`degrade` (arrays of length ``n``)."""
    c = config

    def uni(r: tuple[float, float]) -> np.ndarray:
        return rng.uniform(r[0], r[1], n)

    p = {
        "gradient_angle": rng.uniform(-np.pi, np.pi, n),
        "gradient_strength": uni(c.gradient_strength),
        "shadow_angle": rng.uniform(-np.pi, np.pi, n),
        "shadow_offset": rng.uniform(-0.6, 0.6, n),
        "shadow_depth": uni(c.shadow_depth) * (rng.random(n) < c.shadow_prob),
        "shadow_softness": rng.uniform(0.1, 0.4, n),
        "defocus_sigma": uni(c.defocus_sigma_px),
        "motion_length": uni(c.motion_length_px) * (rng.random(n) < c.motion_prob),
        "motion_angle": rng.uniform(0.0, np.pi, n),
        "exposure": uni(c.exposure),
        "photons": np.exp(uni((float(np.log(c.photons[0])), float(np.log(c.photons[1]))))),
        "read_noise": uni(c.read_noise),
        "gamma": uni(c.gamma),
        "contrast": uni(c.contrast),
        "brightness": uni(c.brightness),
        "jpeg_quality": rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1, n),
    }
    return p


def illumination_gradient(
    images: np.ndarray,
    angle: np.ndarray,
    strength: np.ndarray,
    shadow_angle: np.ndarray,
    shadow_offset: np.ndarray,
    shadow_depth: np.ndarray,
    shadow_softness: np.ndarray,
) -> np.ndarray:
    """Multiply each image by a light field: ramp ``1 + strength * t`` times a soft shadow edge.

    ``t`` runs from -1 to 1 across the image along ``angle``; the shadow darkens by ``shadow_depth`` on
    one side of a line at ``shadow_offset`` (in the same units), with a sigmoid edge of width
    ``shadow_softness``.

    Shape:
        - images: (B, H, W) float
        - parameters: (B,)
        - output: (B, H, W)
    """
    _, h, w = images.shape
    y = np.linspace(-1.0, 1.0, h, dtype=np.float32)[None, :, None]
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, None, :]

    def col(a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float32)[:, None, None]

    t = x * col(np.cos(angle)) + y * col(np.sin(angle))  # (B, H, W)
    field = 1.0 + col(strength) * t
    ts = x * col(np.cos(shadow_angle)) + y * col(np.sin(shadow_angle)) - col(shadow_offset)
    lit = 1.0 / (1.0 + np.exp(-ts / col(shadow_softness)))  # (B, H, W) 0 in shadow, 1 lit
    field = field * (1.0 - col(shadow_depth) * (1.0 - lit))
    return images * np.clip(field, 0.05, None)


def blur_otf(
    images: np.ndarray, sigma: np.ndarray, motion_length: np.ndarray, motion_angle: np.ndarray
) -> np.ndarray:
    """Per-image Gaussian defocus (``sigma`` px) and linear motion blur (``motion_length`` px at
    ``motion_angle`` radians from the image x axis), as a product of analytic OTFs.

    The Gaussian's transfer function is ``exp(-2 pi^2 sigma^2 |f|^2)``, a centred box of length L along
    direction d has ``sinc(L f.d)``; the images are reflect-padded so the FFT's wrap-around stays outside.

    Shape:
        - images: (B, H, W) float
        - sigma, motion_length, motion_angle: (B,)
        - output: (B, H, W)
    """
    b, h, w = images.shape
    pad = int(np.ceil(3 * max(float(np.max(sigma, initial=0.0)), 0.5) + np.max(motion_length, initial=0.0)))
    pad = min(pad, h - 1, w - 1)
    x = np.pad(images, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    hp, wp = x.shape[1:]
    fy = np.fft.fftfreq(hp).astype(np.float32)[None, :, None]
    fx = np.fft.rfftfreq(wp).astype(np.float32)[None, None, :]
    s = np.asarray(sigma, dtype=np.float32)[:, None, None]
    otf = np.exp(-2.0 * np.pi**2 * s * s * (fx * fx + fy * fy))  # (B, Hp, Wp//2+1)
    ln = np.asarray(motion_length, dtype=np.float32)[:, None, None]
    ang = np.asarray(motion_angle, dtype=np.float32)[:, None, None]
    otf = otf * np.sinc(ln * (fx * np.cos(ang) + fy * np.sin(ang)))
    out = np.fft.irfft2(np.fft.rfft2(x) * otf, s=(hp, wp))
    return out[:, pad : pad + h, pad : pad + w].astype(np.float32)


def sensor_noise(
    images: np.ndarray,
    rng: np.random.Generator,
    exposure: np.ndarray,
    photons: np.ndarray,
    read_noise: np.ndarray,
) -> np.ndarray:
    """Exposure gain, then Poisson-Gaussian sensor noise (Gaussian approximation), clipped to [0, 1].

    With y = exposure * radiance, the output is ``y + sqrt(y / photons + read_noise^2) * N(0, 1)``: shot
    noise grows with the signal, read noise does not.

    Shape:
        - images: (B, H, W) float in [0, 1]
        - exposure, photons, read_noise: (B,)
        - output: (B, H, W) in [0, 1]
    """

    def col(a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float32)[:, None, None]

    y = np.clip(images * col(exposure), 0.0, 1.0)
    std = np.sqrt(y / col(photons) + col(read_noise) ** 2)
    noise = rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(y + std * noise, 0.0, 1.0)


def tone_curve(
    images: np.ndarray, gamma: np.ndarray, contrast: np.ndarray, brightness: np.ndarray
) -> np.ndarray:
    """Camera response: ``clip(0.5 + brightness + contrast * (y^gamma - 0.5), 0, 1)``.

    Shape:
        - images: (B, H, W) float in [0, 1]
        - gamma, contrast, brightness: (B,)
        - output: (B, H, W)
    """

    y = np.power(np.clip(images, 0.0, 1.0), np.asarray(gamma, dtype=np.float32)[:, None, None])
    return adjust_contrast(y, contrast, brightness)


def jpeg_quant_table(quality: np.ndarray | int) -> np.ndarray:
    """Luminance quantisation tables for JPEG ``quality`` 1..100 (IJG scaling of Annex K, Table K.1).

    Shape:
        - quality: (B,) or scalar
        - output: (B, 8, 8) or (8, 8)
    """
    q = np.clip(np.asarray(quality, dtype=np.float32), 1, 100)
    scale = np.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)[..., None, None]
    return np.clip(np.floor((_JPEG_LUMA * scale + 50.0) / 100.0), 1.0, 255.0)


def jpeg_quantize(images: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Baseline-JPEG luminance round trip of 8-bit images: 8x8 DCT, quantise, dequantise, inverse DCT.

    Images whose sides are not multiples of 8 are edge-padded (as encoders do) and cropped back.

    Shape:
        - images: (B, H, W) uint8
        - quality: (B,) ints in 1..100
        - output: (B, H, W) uint8
    """
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"jpeg_quantize: expected (B, H, W) uint8, got {images.shape} {images.dtype}")
    b, h, w = images.shape
    h8, w8 = -(-h // 8) * 8, -(-w // 8) * 8
    x = np.pad(images, ((0, 0), (0, h8 - h), (0, w8 - w)), mode="edge").astype(np.float32) - 128.0
    blocks = x.reshape(b, h8 // 8, 8, w8 // 8, 8).transpose(0, 1, 3, 2, 4)  # (B, hb, wb, 8, 8)
    coef = np.einsum("ij,bhwjk,lk->bhwil", _DCT8, blocks, _DCT8, optimize=True)
    table = jpeg_quant_table(quality)[:, None, None]  # (B, 1, 1, 8, 8)
    coef = np.round(coef / table) * table
    rec = np.einsum("ji,bhwjk,kl->bhwil", _DCT8, coef, _DCT8, optimize=True)
    out = rec.transpose(0, 1, 3, 2, 4).reshape(b, h8, w8)[:, :h, :w] + 128.0
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def degrade(
    images: np.ndarray, rng: np.random.Generator, config: CameraNoiseConfig | None = None
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Turn clean renders into pseudo-real camera images (all five stages, parameters drawn from ``rng``).

    Args:
        images: float renders in [0, 1].
        rng: the only source of randomness (parameters first, then noise).
        config: parameter ranges; defaults to :class:`CameraNoiseConfig`.

    Returns:
        uint8 images and, per image, a JSON-ready dict of the parameters used.

    Shape:
        - images: (B, H, W) float
        - output: (B, H, W) uint8
    """
    if images.ndim != 3:
        raise ValueError(f"degrade: expected (B, H, W), got {images.shape}")
    p = sample_degradation(rng, images.shape[0], config or CameraNoiseConfig())
    x = illumination_gradient(
        images.astype(np.float32, copy=False),
        p["gradient_angle"],
        p["gradient_strength"],
        p["shadow_angle"],
        p["shadow_offset"],
        p["shadow_depth"],
        p["shadow_softness"],
    )
    x = blur_otf(x, p["defocus_sigma"], p["motion_length"], p["motion_angle"])
    x = sensor_noise(x, rng, p["exposure"], p["photons"], p["read_noise"])
    x = tone_curve(x, p["gamma"], p["contrast"], p["brightness"])
    out = jpeg_quantize(np.round(x * 255.0).astype(np.uint8), p["jpeg_quality"])
    params = [
        {k: (int(v[i]) if k == "jpeg_quality" else round(float(v[i]), 5)) for k, v in p.items()}
        for i in range(images.shape[0])
    ]
    return out, params
