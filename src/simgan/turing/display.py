"""What a participant sees of an image: 8-bit pixels, re-encoded as a PNG that carries nothing but them.

Both sets pass through the same rule, so the display itself cannot tell them apart: 8-bit images are
shown as they are; 16-bit images (depth maps) are stretched per image from their darkest to their
brightest pixel onto 0..255 (a browser would otherwise keep the high byte, and a depth map in millimetres
would show black). The PNG is encoded afresh from the pixels, so no file name, text chunk or original
encoding reaches the page.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["to_display", "display_png"]


def to_display(image: np.ndarray) -> np.ndarray:
    """An image as 8-bit pixels for the screen.

    Args:
        image: uint8 (shown as is) or uint16 (stretched from its min to its max; a flat image is black).

    Returns:
        uint8 pixels of the same shape.

    Shape:
        image: (H, W, C) with C in (1, 3) -> (H, W, C).
    """
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"expected an image of shape (H, W, 1|3), got {tuple(image.shape)}")
    if image.dtype == np.uint8:
        return image
    if image.dtype != np.uint16:
        raise ValueError(f"expected uint8 or uint16 pixels, got {image.dtype}")
    lo, hi = int(image.min()), int(image.max())
    if hi == lo:
        return np.zeros(image.shape, np.uint8)
    x = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.rint(x).astype(np.uint8)


def display_png(image: np.ndarray) -> bytes:
    """PNG bytes of :func:`to_display` ``(image)``: grey for one channel, RGB for three.

    Shape:
        image: (H, W, C) with C in (1, 3), uint8 or uint16.
    """
    pixels = to_display(image)
    pil = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()
