"""A Kinect-like depth degradation: the *pseudo-real* target domain of the ``hands`` simulator.

There is no real NYU data in this repository, so experiments need a stand-in "real" domain: the same
simulated hands as seen through a model of a structured-light sensor. The degradation is a simulated
target for experiments, not real data, and a refiner that learns it has learnt this model, nothing more.
It follows the published error models (FORMATS.md):

1. **Lateral jitter** (Handa et al. 2014): each pixel reads its depth from a neighbour offset by
   Gaussian noise of ``lateral_px`` sensor pixels (nearest neighbour, so edges turn jagged rather
   than blurred).
2. **Axial noise** (Nguyen et al. 2012): ``sigma_z = a + b (z_m - z0)^2`` mm with z_m in metres,
   ``a = 1.2``, ``b = 1.9``, ``z0 = 0.4``; it grows with depth.
3. **Disparity quantization**: disparity ``d = f b / z`` (``f = 480`` px, ``b = 75`` mm) is rounded to
   ``1 / subpixel`` = 1/8 px, so depth comes in steps that grow as ``z^2``.
4. **Projector shadows**: the projector sits ``b`` to the side of the camera, so a surface just to the
   left of a nearer one receives no pattern and reads nothing (0): a pixel is shadowed if a pixel
   ``k`` sensor pixels to its right is nearer by more than ``k`` pixels of disparity.
5. **Holes at depth discontinuities**: where the disparity spread in a 3x3 window exceeds
   ``edge_spread_px`` (silhouettes, fingers over the palm), a per-image fraction ``edge_holes`` of the
   pixels is lost, in blobs (a smooth random field decides which), giving the broken, non-smooth
   silhouettes the SimGAN paper names as the main gap in real hand depth.
6. **Dropouts**: a per-image fraction ``dropout`` of isolated pixels reads nothing.

Everything is vectorised over the batch. Images of a crop are coarser than the sensor: ``sensor_px``
(sensor pixels per image pixel, the crop box width over the image width) converts the sensor-pixel
parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

__all__ = ["KinectNoise", "DEFAULT", "axial_sigma_mm", "degrade_depth"]


@dataclass(frozen=True)
class KinectNoise:
    """Parameters of the Kinect-like degradation (module docstring; defaults from FORMATS.md).

    Attributes:
        focal_px: focal length of the disparity model (pixels).
        baseline_mm: projector-camera baseline.
        subpixel: disparity is quantised to ``1 / subpixel`` pixels.
        axial_a_mm, axial_b_mm, axial_z0_m: ``sigma_z = a + b (z_m - z0)^2`` (mm).
        lateral_px: standard deviation of the lateral jitter (sensor pixels).
        edge_spread_px: 3x3 disparity spread (sensor pixels) that marks a discontinuity.
        edge_holes: range of the per-image fraction of discontinuity pixels lost.
        dropout: range of the per-image fraction of isolated missing pixels.
        shadow: model projector shadows.
        shadow_max_px: longest shadow considered (image pixels).
    """

    focal_px: float = 480.0
    baseline_mm: float = 75.0
    subpixel: float = 8.0
    axial_a_mm: float = 1.2
    axial_b_mm: float = 1.9
    axial_z0_m: float = 0.4
    lateral_px: float = 0.8
    edge_spread_px: float = 1.5
    edge_holes: tuple[float, float] = (0.25, 0.6)
    dropout: tuple[float, float] = (0.0, 0.01)
    shadow: bool = True
    shadow_max_px: int = 6


DEFAULT = KinectNoise()
_CHUNK_PIXELS = 1 << 20


def axial_sigma_mm(z_mm: np.ndarray, noise: KinectNoise = DEFAULT) -> np.ndarray:
    """Axial noise standard deviation (mm) at depth ``z_mm`` (Nguyen et al. 2012), any shape."""
    z_m = np.asarray(z_mm, dtype=np.float64) / 1000.0
    return noise.axial_a_mm + noise.axial_b_mm * (z_m - noise.axial_z0_m) ** 2


def _spread3x3(x: np.ndarray) -> np.ndarray:
    """Max minus min over each pixel's 3x3 neighbourhood (edges repeated), separably.

    Works on the flattened padded batch so that every max / min is one long contiguous loop; the
    windows that wrap from one row (or image) into the next only ever start in padding, cut off below.

    Shape:
        x: (N, H, W) -> (N, H, W).
    """
    n, h, w = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    f = p.reshape(-1)
    wp = w + 2
    out = []
    for op in (np.maximum, np.minimum):
        rows = op(op(f[:-2], f[1:-1]), f[2:])  # [i] covers f[i : i + 3]
        win = op(op(rows[: -2 * wp], rows[wp:-wp]), rows[2 * wp :])  # and the two padded rows below
        full = np.empty(f.size, dtype=f.dtype)
        full[: win.size] = win
        out.append(full.reshape(n, h + 2, wp)[:, :h, :w])  # window starting at the top-left neighbour
    return out[0] - out[1]


def _lerp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) linear interpolation from ``n_in`` nodes spanning ``n_out`` samples (ends aligned)."""
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_in - 2)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    m[np.arange(n_out), i0] = 1.0 - (pos - i0)
    m[np.arange(n_out), i0 + 1] = pos - i0
    return m


def _blobs(rng: np.random.Generator, n: int, h: int, w: int, cell: int = 6) -> np.ndarray:
    """Standardised random fields with blobs of about ``cell`` pixels: smooth noise plus a little white noise.

    Shape:
        -> (N, H, W) float32, zero mean and unit variance per image.
    """
    ch, cw = max(2, h // cell + 1), max(2, w // cell + 1)
    coarse = rng.standard_normal((n, ch, cw), dtype=np.float32)
    field = _lerp_matrix(h, ch) @ coarse @ _lerp_matrix(w, cw).T  # (N, H, W) bilinear upsampling
    field += 0.5 * rng.standard_normal((n, h, w), dtype=np.float32)
    field -= field.mean(axis=(1, 2), keepdims=True)
    field /= field.std(axis=(1, 2), keepdims=True)
    return field


def degrade_depth(
    rng: np.random.Generator,
    depth_mm: np.ndarray,
    sensor_px: np.ndarray | float = 1.0,
    noise: KinectNoise = DEFAULT,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Degrade clean depth maps like a structured-light sensor (steps 1-6 of the module docstring).

    Args:
        rng: the only source of randomness.
        depth_mm: clean depth (z, mm); ``inf``, NaN or <= 0 where there is no surface.
        sensor_px: sensor pixels per image pixel, per image or one for all.
        noise: the parameters.

    Returns:
        The degraded depth, float32, 0 = no reading; and the parameters used: every field of ``noise``
        plus the per-image draws ``edge_hole_rate`` and ``dropout_rate`` as (N,) arrays.

    Shape:
        depth_mm: (N, H, W); sensor_px: (N,) or scalar -> (N, H, W).
    """
    depth = np.asarray(depth_mm, dtype=np.float32)
    if depth.ndim != 3:
        raise ValueError(f"expected depth of shape (N, H, W), got {depth.shape}")
    n, h, w = depth.shape
    spx = np.broadcast_to(np.asarray(sensor_px, dtype=np.float64), (n,))
    p_edge = rng.uniform(*noise.edge_holes, n)
    p_drop = rng.uniform(*noise.dropout, n)
    # About a million pixels at a time: the dozens of full-size temporaries stay in cache (2-3x faster).
    step = max(1, _CHUNK_PIXELS // (h * w))
    out = np.empty_like(depth)
    for i in range(0, n, step):
        j = slice(i, i + step)
        out[j] = _degrade(rng, depth[j], spx[j], p_edge[j], p_drop[j], noise)
    params: dict[str, Any] = {**asdict(noise), "edge_hole_rate": p_edge, "dropout_rate": p_drop}
    return out, params


def _degrade(
    rng: np.random.Generator,
    depth: np.ndarray,
    spx: np.ndarray,
    p_edge: np.ndarray,
    p_drop: np.ndarray,
    noise: KinectNoise,
) -> np.ndarray:
    """:func:`degrade_depth` on one chunk of images with their per-image draws. Shape: (n, H, W)."""
    n, h, w = depth.shape
    fb = np.float32(noise.focal_px * noise.baseline_mm)  # disparity (px) = fb / z (mm)
    per_img = (n, 1, 1)

    # 1. Lateral jitter: nearest-neighbour look-up at a Gaussian offset (image pixels).
    sigma = (noise.lateral_px / spx).astype(np.float32).reshape(per_img)
    dr = np.rint(sigma * rng.standard_normal((n, h, w), dtype=np.float32)).astype(np.int32)
    dc = np.rint(sigma * rng.standard_normal((n, h, w), dtype=np.float32)).astype(np.int32)
    dr += np.arange(h, dtype=np.int32)[None, :, None]
    dc += np.arange(w, dtype=np.int32)[None, None, :]
    np.clip(dr, 0, h - 1, out=dr)
    np.clip(dc, 0, w - 1, out=dc)
    z = np.take_along_axis(depth.reshape(n, h * w), (dr * w + dc).reshape(n, h * w), axis=1).reshape(n, h, w)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(z) & (z > 0)
    z = np.where(valid, z, np.float32(1000.0))  # placeholder depth, masked out below

    # 2. Axial noise, growing with depth.
    z_m = z * np.float32(1e-3) - np.float32(noise.axial_z0_m)
    sigma_z = np.float32(noise.axial_a_mm) + np.float32(noise.axial_b_mm) * z_m * z_m
    z = np.maximum(z + sigma_z * rng.standard_normal((n, h, w), dtype=np.float32), np.float32(1.0))

    # 3. Disparity quantisation to 1/subpixel px.
    sub = np.float32(noise.subpixel)
    disp = np.rint(sub * fb / z) / sub  # (N, H, W) sensor px
    valid &= disp > 0
    disp = np.where(valid, disp, np.float32(0.0))

    # 4. Projector shadows: a nearer surface k image pixels to the right hides this pixel from the
    # projector when its disparity exceeds ours by more than the k * sensor_px sensor pixels between them.
    lost = np.zeros((n, h, w), dtype=bool)
    if noise.shadow:
        for k in range(1, min(noise.shadow_max_px, w - 1) + 1):
            lost[..., :-k] |= (disp[..., k:] - disp[..., :-k]) > (k * spx).astype(np.float32).reshape(per_img)
        lost &= valid

    # 5. Holes at discontinuities, in blobs: the field below the per-image quantile p_edge picks which
    # discontinuity pixels are lost.
    edge = valid & (_spread3x3(disp) > noise.edge_spread_px)
    lost |= edge & (_blobs(rng, n, h, w) < special.ndtri(p_edge).astype(np.float32).reshape(per_img))

    # 6. Isolated dropouts.
    lost |= rng.random((n, h, w), dtype=np.float32) < p_drop.astype(np.float32).reshape(per_img)

    keep = valid & ~lost
    return np.where(keep, fb / np.where(keep, disp, np.float32(1.0)), np.float32(0.0))
