"""Domain-randomization primitives shared by the simulators, vectorised over a batch in NumPy.

Every function works on a whole batch at once: images carry a leading batch axis B, and per-sample
parameters are arrays of shape (B,). A simulator draws its parameters once per batch from its
``numpy.random.Generator`` (the only source of randomness, so a seed fixes the bytes) and applies them
in a few array operations; nothing loops over pixels in Python. NumPy rather than torch keeps the
results bit-identical whatever the thread count, which "same seed, same bytes" needs.

Conventions:
    * Images are float32 in [0, 1], shaped (B, H, W) or (B, H, W, C).
    * Pixel coordinates are (x, y) with x to the right and y *down*; pixel ``[i, j]`` covers
      ``[j, j + 1) x [i, i + 1)`` so its centre is ``(j + 0.5, i + 0.5)``.
    * An affine map is a (B, 2, 3) array ``M`` sending a point ``p`` to ``M[:, :, :2] @ p + M[:, :, 2]``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "affine_matrices",
    "invert_affine",
    "transform_points",
    "pixel_grid",
    "sample_bilinear",
    "warp_affine",
    "gaussian_blur",
    "smooth_noise",
    "add_gaussian_noise",
    "adjust_contrast",
    "random_segments",
    "draw_segments",
]


def _batch(a: np.ndarray | float, n: int) -> np.ndarray:
    """A per-sample parameter as a float64 array of shape (n,) (scalars broadcast)."""
    out = np.broadcast_to(np.asarray(a, dtype=np.float64), (n,))
    return out


def affine_matrices(
    rotation_deg: np.ndarray,
    shear_deg: np.ndarray | float = 0.0,
    scale_x: np.ndarray | float = 1.0,
    scale_y: np.ndarray | float = 1.0,
    tx: np.ndarray | float = 0.0,
    ty: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Per-sample affine maps ``p -> R(rotation) @ Shear(shear) @ diag(scale_x, scale_y) @ p + t``.

    A positive rotation turns the content counter-clockwise *as seen on screen* (y points down); a
    positive shear slants it forward like handwriting (the top moves right): ``x' = x - tan(shear) * y``.

    Args:
        rotation_deg: (B,) rotation in degrees.
        shear_deg: (B,) or scalar slant in degrees.
        scale_x: (B,) or scalar horizontal scale (applied first).
        scale_y: (B,) or scalar vertical scale.
        tx: (B,) or scalar translation along x.
        ty: (B,) or scalar translation along y.

    Returns:
        (B, 2, 3) float64 matrices.
    """
    rot = np.deg2rad(np.asarray(rotation_deg, dtype=np.float64))
    n = rot.shape[0]
    c, s = np.cos(rot), np.sin(rot)
    k = np.tan(np.deg2rad(_batch(shear_deg, n)))
    sx, sy = _batch(scale_x, n), _batch(scale_y, n)
    m = np.empty((n, 2, 3), dtype=np.float64)
    # R = [[c, s], [-s, c]] is counter-clockwise on screen because y grows downwards; Sh = [[1, -k], [0, 1]].
    m[:, 0, 0] = c * sx
    m[:, 0, 1] = (-c * k + s) * sy
    m[:, 1, 0] = -s * sx
    m[:, 1, 1] = (s * k + c) * sy
    m[:, 0, 2] = _batch(tx, n)
    m[:, 1, 2] = _batch(ty, n)
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of each (2, 3) affine map: (B, 2, 3) -> (B, 2, 3)."""
    a = m[:, :, :2]
    inv_a = np.linalg.inv(a)  # (B, 2, 2)
    out = np.empty_like(m)
    out[:, :, :2] = inv_a
    out[:, :, 2] = -np.einsum("bij,bj->bi", inv_a, m[:, :, 2])
    return out


def transform_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply per-sample affine maps to point sets.

    Shape:
        m: (B, 2, 3); points: (B, P, 2) or (P, 2) shared by the batch; returns (B, P, 2).
    """
    if points.ndim == 2:
        return np.einsum("bij,pj->bpi", m[:, :, :2], points) + m[:, None, :, 2]
    return np.einsum("bij,bpj->bpi", m[:, :, :2], points) + m[:, None, :, 2]


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(x, y)``, each (H, W) float64."""
    y, x = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    return x, y


def sample_bilinear(
    src: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    index: np.ndarray | None = None,
    mode: str = "border",
    fill: float = 0.0,
) -> np.ndarray:
    """Bilinear look-up of ``src`` at continuous pixel coordinates, one source image per sample.

    Args:
        src: (N, H, W) or (N, H, W, C) source images (e.g. a glyph atlas).
        x: (B, h, w) x coordinates in source pixels (pixel centres at ``j + 0.5``).
        y: (B, h, w) y coordinates.
        index: (B,) which source image each sample reads; ``None`` means sample ``b`` reads ``src[b]``.
        mode: ``border`` repeats the edge pixels outside the source; ``constant`` uses ``fill``.
        fill: value outside the source in ``constant`` mode.

    Returns:
        (B, h, w) or (B, h, w, C) float32.
    """
    if mode not in ("border", "constant"):
        raise ValueError(f"mode must be 'border' or 'constant', got {mode!r}")
    n, hs, ws = src.shape[:3]
    b = x.shape[0]
    if index is None:
        if n != b:
            raise ValueError(f"src has {n} images but the coordinates are for {b} samples")
        index = np.arange(b)
    flat = src.reshape(n * hs * ws, -1)  # (N*H*W, C)
    fx, fy = x - 0.5, y - 0.5
    if mode == "border":
        # Clamping the coordinate itself is exactly edge repetition, and keeps all four corners inside.
        fx, fy = np.clip(fx, 0.0, ws - 1.0), np.clip(fy, 0.0, hs - 1.0)
    x0 = np.floor(fx).astype(np.int64)
    y0 = np.floor(fy).astype(np.int64)
    if mode == "border":
        x0, y0 = np.minimum(x0, max(ws - 2, 0)), np.minimum(y0, max(hs - 2, 0))
    wx, wy = (fx - x0).astype(np.float32), (fy - y0).astype(np.float32)
    base = np.asarray(index, dtype=np.int64).reshape(b, *([1] * (x.ndim - 1))) * (hs * ws)
    out = np.zeros((*x.shape, flat.shape[1]), dtype=np.float32)
    step_x, step_y = (1 if ws > 1 else 0), (ws if hs > 1 else 0)
    for dy, wgt_y in ((0, 1.0 - wy), (1, wy)):
        for dx, wgt_x in ((0, 1.0 - wx), (1, wx)):
            w = (wgt_x * wgt_y)[..., None]
            if mode == "border":
                vals = np.take(flat, base + y0 * ws + x0 + dy * step_y + dx * step_x, axis=0)  # (B, h, w, C)
            else:
                xi, yi = x0 + dx, y0 + dy
                inside = (xi >= 0) & (xi < ws) & (yi >= 0) & (yi < hs)
                vals = np.take(flat, base + np.clip(yi, 0, hs - 1) * ws + np.clip(xi, 0, ws - 1), axis=0)
                vals = np.where(inside[..., None], vals, np.float32(fill))
            out += w * vals
    return out if src.ndim == 4 else out[..., 0]


def warp_affine(
    images: np.ndarray,
    m: np.ndarray,
    size: tuple[int, int] | None = None,
    mode: str = "constant",
    fill: float = 0.0,
) -> np.ndarray:
    """Warp each image by its own affine map (bilinear).

    Args:
        images: (B, H, W) or (B, H, W, C) float.
        m: (B, 2, 3) forward maps from source pixel coordinates to output pixel coordinates.
        size: output (h, w); defaults to the input size.
        mode: ``constant`` (``fill`` outside) or ``border``.
        fill: value outside the source in ``constant`` mode.

    Returns:
        (B, h, w) or (B, h, w, C) float32.
    """
    h, w = size or images.shape[1:3]
    inv = invert_affine(m)
    gx, gy = pixel_grid(h, w)
    x = inv[:, 0, 0, None, None] * gx + inv[:, 0, 1, None, None] * gy + inv[:, 0, 2, None, None]
    y = inv[:, 1, 0, None, None] * gx + inv[:, 1, 1, None, None] * gy + inv[:, 1, 2, None, None]
    return sample_bilinear(images, x, y, mode=mode, fill=fill)


def _gaussian_kernels(sigma: np.ndarray) -> np.ndarray:
    """(B, K) normalised 1-D Gaussian kernels; sigma <= 0 gives the identity (a centred delta)."""
    radius = int(np.ceil(3.0 * max(float(np.max(sigma, initial=0.0)), 0.0)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    s = np.maximum(sigma, 1e-6)[:, None]
    k = np.exp(-0.5 * (t[None, :] / s) ** 2)
    return k / k.sum(axis=1, keepdims=True)


def gaussian_blur(images: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Separable Gaussian blur with a different sigma (in pixels) per sample; edges reflect.

    Shape:
        images: (B, H, W) or (B, H, W, C); sigma: (B,) or scalar; returns the input shape, float32.
    """
    b, h, w = images.shape[:3]
    k = _gaussian_kernels(_batch(sigma, b)).astype(np.float32)  # (B, K)
    r = k.shape[1] // 2
    if r == 0:
        return images.astype(np.float32, copy=True)
    extra = (1,) * (images.ndim - 3)
    pad = [(0, 0), (r, r), (r, r)] + [(0, 0)] * len(extra)
    p = np.pad(images.astype(np.float32), pad, mode="reflect" if min(h, w) > r else "edge")
    # Rows first, then columns: each tap is one vectorised multiply-add over the batch.
    rows = np.zeros((b, h + 2 * r, w, *p.shape[3:]), dtype=np.float32)
    for t in range(2 * r + 1):
        rows += k[:, t].reshape(b, 1, 1, *extra) * p[:, :, t : t + w]
    out = np.zeros((b, h, w, *p.shape[3:]), dtype=np.float32)
    for t in range(2 * r + 1):
        out += k[:, t].reshape(b, 1, 1, *extra) * rows[:, t : t + h]
    return out


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) linear interpolation weights from a coarse grid spanning the output (corners aligned)."""
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_in - 2) if n_in > 1 else np.zeros(n_out, np.int64)
    frac = pos - i0
    w = np.zeros((n_out, n_in), dtype=np.float64)
    w[np.arange(n_out), i0] = 1.0 - frac
    if n_in > 1:
        w[np.arange(n_out), i0 + 1] += frac
    return w


def smooth_noise(
    rng: np.random.Generator, n: int, size: tuple[int, int], cells: int | tuple[int, int], channels: int = 0
) -> np.ndarray:
    """Low-frequency random fields: standard normal values on a coarse grid, interpolated up.

    Used for pen-pressure variation, wobbly strokes, lighting gradients and background texture.

    Args:
        rng: random source.
        n: batch size B.
        size: output (H, W).
        cells: coarse grid cells per side (more cells, finer detail).
        channels: 0 for (B, H, W) fields, otherwise that many independent channels (B, H, W, C).

    Returns:
        float32 fields with values roughly in [-2, 2] (unit variance at the grid nodes).
    """
    ch, cw = (cells, cells) if isinstance(cells, int) else cells
    h, w = size
    shape = (n, ch + 1, cw + 1) + ((channels,) if channels else ())
    coarse = rng.standard_normal(shape)
    wy, wx = _interp_matrix(h, ch + 1), _interp_matrix(w, cw + 1)
    if channels:
        coarse = np.moveaxis(coarse, -1, 1)  # (B, C, ch+1, cw+1)
    field = wy @ coarse @ wx.T  # interpolate rows, then columns
    return (np.moveaxis(field, 1, -1) if channels else field).astype(np.float32)


def add_gaussian_noise(rng: np.random.Generator, images: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Add white Gaussian noise of per-sample standard deviation ``sigma``; clip to [0, 1].

    Shape:
        images: (B, H, W) or (B, H, W, C); sigma: (B,) or scalar; returns the input shape, float32.
    """
    b = images.shape[0]
    s = _batch(sigma, b).astype(np.float32).reshape(b, *([1] * (images.ndim - 1)))
    noise = rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(images + s * noise, 0.0, 1.0)


def adjust_contrast(
    images: np.ndarray, contrast: np.ndarray | float = 1.0, brightness: np.ndarray | float = 0.0
) -> np.ndarray:
    """``(x - 0.5) * contrast + 0.5 + brightness`` per sample, clipped to [0, 1].

    Shape:
        images: (B, H, W) or (B, H, W, C); contrast, brightness: (B,) or scalar; returns the input shape.
    """
    b = images.shape[0]
    shape = (b, *([1] * (images.ndim - 1)))
    c = _batch(contrast, b).astype(np.float32).reshape(shape)
    o = _batch(brightness, b).astype(np.float32).reshape(shape)
    return np.clip((images - 0.5) * c + 0.5 + o, 0.0, 1.0)


def random_segments(
    rng: np.random.Generator, n: int, k: int, size: tuple[int, int], length: tuple[float, float]
) -> np.ndarray:
    """``k`` random straight strokes per sample: uniform centre in the image, uniform angle and length.

    Returns:
        (B, k, 4) endpoints ``(x0, y0, x1, y1)`` in pixel coordinates.
    """
    h, w = size
    cx = rng.uniform(0.0, w, (n, k))
    cy = rng.uniform(0.0, h, (n, k))
    ang = rng.uniform(0.0, np.pi, (n, k))
    half = 0.5 * rng.uniform(length[0], length[1], (n, k))
    dx, dy = half * np.cos(ang), half * np.sin(ang)
    return np.stack([cx - dx, cy - dy, cx + dx, cy + dy], axis=-1)


def draw_segments(
    segments: np.ndarray, width: np.ndarray | float, size: tuple[int, int], active: np.ndarray | None = None
) -> np.ndarray:
    """Anti-aliased coverage of round-capped strokes, vectorised over batch and strokes.

    Args:
        segments: (B, K, 4) endpoints ``(x0, y0, x1, y1)`` in pixels.
        width: stroke width in pixels, (B, K), (B, 1) or scalar.
        size: output (H, W).
        active: (B, K) bool, which strokes to draw (default all).

    Returns:
        (B, H, W) float32 coverage in [0, 1] (the union of the strokes).
    """
    b, k = segments.shape[:2]
    h, w = size
    if k == 0:
        return np.zeros((b, h, w), dtype=np.float32)
    gx, gy = pixel_grid(h, w)
    p0 = segments[:, :, None, None, 0:2]  # (B, K, 1, 1, 2)
    d = segments[:, :, None, None, 2:4] - p0
    rel = np.stack([gx, gy], axis=-1)[None, None] - p0  # (B, K, H, W, 2)
    len2 = np.maximum((d * d).sum(-1), 1e-12)
    t = np.clip((rel * d).sum(-1) / len2, 0.0, 1.0)
    dist = np.linalg.norm(rel - t[..., None] * d, axis=-1)  # (B, K, H, W)
    half = 0.5 * np.broadcast_to(np.asarray(width, dtype=np.float64), (b, k))[:, :, None, None]
    cov = np.clip(half - dist + 0.5, 0.0, 1.0)  # a 1-pixel linear ramp anti-aliases the edge
    if active is not None:
        cov = cov * active[:, :, None, None]
    return cov.max(axis=1).astype(np.float32)
