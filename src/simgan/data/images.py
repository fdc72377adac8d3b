"""Reading and writing single image files as NumPy arrays (H, W, C), uint8 or uint16.

8-bit grey, RGB and palette images load as uint8; 16-bit grey PNGs and TIFFs (depth maps) load as uint16
with one channel, and so do 32-bit integer (mode "I") images whose values fit in 16 bits. Alpha is dropped.
Pillow reduces 16-bit colour PNGs (RGB, grey+alpha) to 8 bits per channel, so those load as uint8 RGB.
PNGs are written, and the simple ones read back, by the NumPy + zlib codec of :mod:`simgan.data.png`
(Pillow's per-file overhead dwarfs an 8x8 or 35x55 image); every other file goes through Pillow.
Every failure is an :class:`InputError` naming the file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from simgan.atomic import write_bytes
from simgan.data.png import PNG_SIGNATURE, decode_png, encode_png
from simgan.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "is_image_file",
    "read_header",
    "read_image",
    "write_png",
    "to_float",
    "from_float",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")

# PIL mode -> (channels, dtype) after our normalisation.
_MODES = {
    "1": (1, "uint8"),
    "L": (1, "uint8"),
    "P": (3, "uint8"),
    "RGB": (3, "uint8"),
    "RGBA": (3, "uint8"),
    "LA": (1, "uint8"),
    "CMYK": (3, "uint8"),
    "YCbCr": (3, "uint8"),
    "I;16": (1, "uint16"),
    "I;16B": (1, "uint16"),
    "I;16L": (1, "uint16"),
    "I": (1, "uint16"),
}


_UNIDENTIFIED = "not a readable image (empty, corrupt, or not an image format Pillow knows)"


_TOO_LARGE = f"image too large to decode safely (over {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels)"


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_header(path: str | Path) -> tuple[int, int, int, str]:
    """(height, width, channels, dtype) from the file header, without decoding pixels."""
    try:
        with Image.open(path) as im:
            mode, (w, h) = im.mode, im.size
    except FileNotFoundError:
        raise InputError.at(path, "image file not found") from None
    except UnidentifiedImageError:
        raise InputError.at(path, _UNIDENTIFIED) from None
    except Image.DecompressionBombError:
        raise InputError.at(path, _TOO_LARGE) from None
    except (OSError, ValueError) as e:
        raise InputError.at(path, f"not a readable image ({e.__class__.__name__})") from None
    if mode not in _MODES:
        raise InputError.at(path, f"unsupported image mode {mode!r}")
    c, dtype = _MODES[mode]
    return h, w, c, dtype


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to an array of shape (H, W, C), uint8 or uint16.

    The file is read once; simple PNGs (as :func:`write_png` writes them) decode with
    :func:`~simgan.data.png.decode_png`, everything else with Pillow from the same bytes.

    Raises:
        InputError: missing, truncated, corrupt or of an unsupported mode.
    """
    try:
        with open(os.fspath(path), "rb") as f:  # the str path in OSError messages, as Pillow gave it
            data = f.read()
        if data.startswith(PNG_SIGNATURE):
            arr = decode_png(data, Image.MAX_IMAGE_PIXELS)
            if arr is not None:
                return arr
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            mode = im.mode
            if mode not in _MODES:
                raise InputError.at(path, f"unsupported image mode {mode!r}")
            if mode in ("I;16", "I;16B", "I;16L"):
                arr = np.asarray(im, dtype=np.uint16)
            elif mode == "I":
                arr = np.asarray(im)
                if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
                    raise InputError.at(path, "32-bit integer image outside the 16-bit range")
                arr = arr.astype(np.uint16)
            elif mode in ("L", "RGB"):
                arr = np.asarray(im, dtype=np.uint8)  # already what we return: no convert() copy
            elif _MODES[mode][0] == 1:
                arr = np.asarray(im.convert("L"), dtype=np.uint8)
            else:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise InputError.at(path, "image file not found") from None
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError.at(path, _UNIDENTIFIED) from None
    except Image.DecompressionBombError:
        raise InputError.at(path, _TOO_LARGE) from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError.at(path, f"truncated or corrupt image ({e})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def write_png(path: str | Path, image: np.ndarray, durable: bool = False, atomic: bool = True) -> None:
    """Write (H, W, C) uint8 (C in 1, 3) or (H, W, 1) uint16 as PNG: atomically (a temporary file, then a
    rename), or with ``atomic`` False straight into ``path`` for writers that commit a file elsewhere (the
    dataset writer's label line) and so never point at a torn one. Encoded by
    :func:`~simgan.data.png.encode_png` at zlib level 1.

    Raises:
        ValueError: for another shape or dtype (nothing is written).
    """
    data = encode_png(image, level=1)
    if atomic:
        write_bytes(path, data, durable)
    else:
        with open(path, "wb") as f:
            f.write(data)


def _scale(dtype: np.dtype | str) -> float:
    return 65535.0 if np.dtype(dtype) == np.uint16 else 255.0


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16 (H, W, C) -> float32 (C, H, W) in [-1, 1]."""
    x = image.astype(np.float32) * (2.0 / _scale(image.dtype)) - 1.0
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def from_float(x: np.ndarray, dtype: str = "uint8") -> np.ndarray:
    """float (C, H, W) in [-1, 1] -> (H, W, C) of ``dtype``, clipped and rounded."""
    s = _scale(dtype)
    y = np.clip((np.asarray(x, dtype=np.float32) + 1.0) * (s / 2.0), 0.0, s)
    return np.rint(y).astype(dtype).transpose(1, 2, 0)
