"""Eye-image preprocessing shared by the UnityEyes and MPIIGaze readers.

- :func:`read_gray`: decode an image file as 8-bit grey.
- :func:`crop_resize`: cut a (rows x cols) window around a centre and resize it to the stored size, with
  the :class:`CropTransform` that carries landmarks through the same crop and resize.
- :func:`gaze_label`: the gaze label of DESIGN.md, ``{"gaze": [x, y, z], "pitch": p, "yaw": y}``, in the
  MPIIGaze normalized camera convention of :mod:`simgan.gaze` (looking straight into the camera is
  (0, 0, -1), pitch = yaw = 0; pitch > 0 looks up, yaw > 0 looks towards the image's left).

Pixel coordinates everywhere in simgan's eye labels are ``(u, v) = (column, row)`` with the centre of pixel
``image[r, c]`` at ``u = c, v = r`` (pixel-index coordinates, the convention of ``image[v, u]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from simgan.errors import InputError
from simgan.gaze import vector_to_pitchyaw

__all__ = ["CropTransform", "read_gray", "crop_transform", "crop_resize", "resize_gray", "gaze_label"]


@dataclass(frozen=True)
class CropTransform:
    """Axis-aligned map from source pixel coordinates to stored-image pixel coordinates.

    The crop window's top-left corner is at continuous coordinates (``left``, ``top``) of the source
    (pixel ``[r, c]`` covers [c, c+1) x [r, r+1)); the window is scaled by (``scale_x``, ``scale_y``).
    """

    left: float
    top: float
    scale_x: float
    scale_y: float

    def apply(self, uv: np.ndarray) -> np.ndarray:
        """Map source pixel-index points (N, 2) ``[u, v]`` to stored-image pixel-index points (N, 2)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        # +0.5 / -0.5: pixel-index -> continuous -> pixel-index (a resize scales continuous coordinates).
        u = (uv[:, 0] + 0.5 - self.left) * self.scale_x - 0.5
        v = (uv[:, 1] + 0.5 - self.top) * self.scale_y - 0.5
        return np.stack([u, v], axis=1)


def read_gray(path: str | Path) -> np.ndarray:
    """Decode an image file to (H, W) uint8 grey; InputError naming the file when it cannot be read."""
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise InputError.at(path, "image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise InputError.at(path, f"truncated or corrupt image ({e})") from None


def crop_transform(
    centre_uv: tuple[float, float], crop: tuple[int, int], size: tuple[int, int]
) -> CropTransform:
    """The transform of :func:`crop_resize` alone (labels need no pixels)."""
    rows, cols = crop
    h, w = size
    return CropTransform(centre_uv[0] + 0.5 - cols / 2.0, centre_uv[1] + 0.5 - rows / 2.0, w / cols, h / rows)


def crop_resize(
    gray: np.ndarray, centre_uv: tuple[float, float], crop: tuple[int, int], size: tuple[int, int]
) -> tuple[np.ndarray, CropTransform]:
    """Cut a ``crop`` = (rows, cols) window centred on ``centre_uv`` and resize it (bilinear) to ``size``.

    The window may reach past the image border; the border pixels are repeated there (edge padding), so
    an eye near the frame edge keeps a plausible surround instead of a black band.

    Args:
        gray: the source image.
        centre_uv: window centre ``(u, v)`` in pixel-index coordinates (may be fractional).
        crop: window (rows, cols) in source pixels.
        size: stored (H, W).

    Returns:
        The stored image and the transform that maps source landmarks to it.

    Shape:
        gray: (H_src, W_src) uint8 -> (H, W) uint8.
    """
    if gray.ndim != 2:
        raise ValueError(f"expected a (H, W) grey image, got shape {tuple(gray.shape)}")
    rows, cols = crop
    h, w = size
    t = crop_transform(centre_uv, crop, size)
    left, top = t.left, t.top
    src_h, src_w = gray.shape
    pad_l = max(0, math.ceil(-left))
    pad_t = max(0, math.ceil(-top))
    pad_r = max(0, math.ceil(left + cols - src_w))
    pad_b = max(0, math.ceil(top + rows - src_h))
    if pad_l or pad_t or pad_r or pad_b:
        gray = np.pad(gray, ((pad_t, pad_b), (pad_l, pad_r)), mode="edge")
    box = (left + pad_l, top + pad_t, left + pad_l + cols, top + pad_t + rows)
    # Pillow's box is continuous (sub-pixel) and its bilinear filter widens when downscaling (antialiased).
    out = np.asarray(Image.fromarray(gray).resize((w, h), Image.Resampling.BILINEAR, box=box))
    return out, t


def resize_gray(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a whole (H, W) uint8 image to ``size`` = (H', W') (no crop)."""
    if gray.shape == tuple(size):
        return np.ascontiguousarray(gray)
    h, w = size
    return np.asarray(Image.fromarray(np.ascontiguousarray(gray)).resize((w, h), Image.Resampling.BILINEAR))


def gaze_label(vector: np.ndarray) -> dict[str, Any]:
    """The DESIGN.md gaze label from a gaze vector in the MPIIGaze convention (normalised here).

    Raises:
        ValueError: the vector has zero length or is not finite.
    """
    g = np.asarray(vector, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(g))
    if not math.isfinite(n) or n == 0.0:
        raise ValueError(f"gaze vector {g.tolist()} has no direction")
    g = g / n
    pitch, yaw = vector_to_pitchyaw(g)
    # + 0.0 turns -0.0 into 0.0, so a look straight into the camera reads as exactly 0 in the labels.
    return {"gaze": [float(c) + 0.0 for c in g], "pitch": float(pitch) + 0.0, "yaw": float(yaw) + 0.0}
