"""A small PNG codec in NumPy and zlib for the simple PNGs simgan writes: 8-bit grey or RGB, 16-bit grey.

Pillow spends 30-100 us of Python per image opening or saving a PNG, more than the pixels of an 8x8 digit
or a 35x55 eye crop cost. :func:`encode_png` writes signature, IHDR, one IDAT and IEND, and:

- filters every row with Sub (1), or with None (0) in images of at most 64 bytes (8x8 grey), where no
  filter gains anything. Against Pillow at ``compress_level=1``, which picks among all five filters per
  row, that comes out 4% smaller on 8x8 digits and 0-9% larger on simgan's other simulator outputs
  (hand depth maps 0-3%, 28x28 and SVHN-style digits 3-5%, eye crops 5-9%). Picking None, Sub or Up
  per row by the PNG spec's heuristic (section 12.8) would save 2-5% more, but scoring costs ~10 us per
  encode (half an eye crop's deflate) and rows of mixed filters decode in two masked passes (~40% more
  decode time). Average (3) and Paeth (4) are never written: undoing them is a sequential loop over
  pixels that NumPy cannot vectorise.
- deflates level 1 with zlib's run-length strategy, on these filtered images 10-40% faster than level
  1's usual strategy and 2-3% smaller (hand depth maps: within 5% either way).

:func:`decode_png` undoes filters 0, 1 and 2, vectorised (Sub: a running sum along the row per byte of a
pixel; Up: a running sum down the rows, restarting after each row of another filter), and returns
``None`` for anything else or anything wrong: other colour types or bit depths, interlacing, Average or
Paeth rows, chunks that could change the pixels Pillow loads (tRNS, PLTE, sBIT, unknown ones), bad CRCs,
truncation, zlib errors. The caller then decodes with Pillow, so every PNG gives the pixels Pillow gives,
and every bad one the error Pillow raises.
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np

__all__ = ["PNG_SIGNATURE", "encode_png", "decode_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_IHDR_START = b"\x00\x00\x00\x0dIHDR"  # length 13, type IHDR: the first chunk of every PNG
_IEND = b"\x00\x00\x00\x00IEND\xae\x42\x60\x82"
_IDAT_CRC = zlib.crc32(b"IDAT")
_UNFILTERED_MAX = 64  # bytes of pixels: 8x8 digits and eye crops compress as well unfiltered
# Ancillary chunks Pillow reads as metadata only (it applies no gamma, colour profile or background),
# with the least length at which Pillow takes them without error; any other chunk (tRNS, sBIT, PLTE,
# compressed text, unknown ones) sends the file to Pillow.
_METADATA = {b"tEXt": 0, b"pHYs": 9, b"tIME": 0, b"gAMA": 4, b"cHRM": 32, b"sRGB": 1, b"bKGD": 0}
_MAX_TEXT = 1 << 20  # tEXt bytes we pass; Pillow refuses past 64 MiB, and real files hold far less
# (bit depth, colour type) -> (channels, bytes per sample)
_FORMATS = {(8, 0): (1, 1), (8, 2): (3, 1), (16, 0): (1, 2)}


@functools.lru_cache(maxsize=64)
def _head(width: int, height: int, depth: int, color_type: int) -> bytes:
    """Signature and IHDR chunk."""
    body = struct.pack(">4sIIBBBBB", b"IHDR", width, height, depth, color_type, 0, 0, 0)
    return PNG_SIGNATURE + b"\x00\x00\x00\x0d" + body + struct.pack(">I", zlib.crc32(body))


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an image: grey or RGB at 8 bits, grey at 16 bits (stored big-endian).

    Args:
        image: the pixels.
        level: zlib compression level, 0 (stored) to 9; 1, simgan's choice, with zlib's run-length
            strategy (see the module notes), the others with zlib's default one.

    Shape:
        image: (H, W, C) uint8 with C in {1, 3}, or (H, W, 1) uint16; (H, W) counts as C = 1.

    Raises:
        ValueError: for another shape or dtype, an empty image, or a level outside 0..9.
    """
    if not 0 <= level <= 9:
        raise ValueError(f"expected a zlib level in 0..9, got {level}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"expected an image of shape (H, W, 1|3), got {tuple(image.shape)}")
    h, w, c = image.shape
    if h == 0 or w == 0:
        raise ValueError(f"expected an image of at least 1x1 pixels, got {tuple(image.shape)}")
    if image.dtype == np.uint16:
        if c != 1:
            raise ValueError("16-bit images must have one channel (PNG stores 16-bit grey only here)")
        rows = image.astype(">u2").view(np.uint8).reshape(h, 2 * w)  # (H, 2W) big-endian bytes
        depth, bpp = 16, 2
    elif image.dtype == np.uint8:
        rows = np.ascontiguousarray(image).reshape(h, w * c)  # (H, W*C)
        depth, bpp = 8, c
    else:
        raise ValueError(f"expected uint8 or uint16 pixels, got {image.dtype}")
    idat = _deflate(_filter(rows, bpp), level)
    return b"".join(
        (
            _head(w, h, depth, 0 if c == 1 else 2),
            len(idat).to_bytes(4, "big"),
            b"IDAT",
            idat,
            zlib.crc32(idat, _IDAT_CRC).to_bytes(4, "big"),
            _IEND,
        )
    )


def _filter(rows: np.ndarray, bpp: int) -> np.ndarray:
    """The rows filtered for deflate, each led by its filter type byte: Sub, or None for tiny images.

    Shape:
        rows: (H, n) uint8, n = W * bytes per pixel (``bpp``); returns (H, 1 + n) uint8.
    """
    h, n = rows.shape
    out = np.empty((h, n + 1), np.uint8)
    if h * n <= _UNFILTERED_MAX:
        out[:, 0] = 0
        out[:, 1:] = rows
        return out
    out[:, 0] = 1
    out[:, 1 : 1 + bpp] = rows[:, :bpp]
    # Sub: minus the byte one pixel (bpp bytes) to the left, wrapping mod 256.
    np.subtract(rows[:, bpp:], rows[:, :-bpp], out=out[:, 1 + bpp :])
    return out


def _deflate(raw: np.ndarray, level: int) -> bytes:
    """zlib stream of the bytes of ``raw`` (C-contiguous); level 1 with zlib's run-length strategy."""
    if level != 1:
        z = zlib.compressobj(level)
    else:
        # Sized to the data, as zlib allocates through Python (so tracemalloc sees it): a window just over
        # it, and a symbol buffer (each refill ends a deflate block) of one block up to 4 KiB symbols.
        # memLevel 8 and a 32 KiB window would hold ~260 KB per call; this holds ~30 KB for an eye crop,
        # ~70 KB at most, at the price of more blocks in big images (64x64 RGB: ~40% more encode time).
        bits = max(raw.nbytes - 1, 1).bit_length()
        z = zlib.compressobj(1, zlib.DEFLATED, min(max(bits, 9), 13), min(max(bits - 6, 1), 6), zlib.Z_RLE)
    return z.compress(raw) + z.flush()


def decode_png(data: bytes, max_pixels: int | None = None) -> np.ndarray | None:
    """Pixels of a simple PNG (as :func:`encode_png` writes), or ``None`` for Pillow to decode instead.

    Decoded: non-interlaced 8-bit grey and RGB and 16-bit grey, rows filtered with None, Sub or Up,
    chunks IHDR, IDAT, IEND and metadata. ``None``: any other PNG, anything that is not a PNG, and every
    inconsistency (bad CRC, truncation, zlib error, wrong data length); this never raises on bad bytes.

    Args:
        data: the file's bytes.
        max_pixels: ``None`` for images of more pixels than this, so Pillow's decompression-bomb
            warning or error applies to them as before.

    Shape:
        returns (H, W, C) uint8 with C in {1, 3}, or (H, W, 1) uint16.
    """
    try:
        return _decode(data, max_pixels)
    except (ValueError, struct.error, zlib.error, OverflowError, MemoryError):
        return None  # a safety net: _decode checks every length it uses


def _decode(data: bytes, max_pixels: int | None) -> np.ndarray | None:
    size = len(data)
    if size < 57 or not data.startswith(PNG_SIGNATURE) or data[8:16] != _IHDR_START:
        return None  # 57 bytes: signature, IHDR, an empty IDAT and IEND
    view = memoryview(data)
    w, h, depth, color_type, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if zlib.crc32(view[12:29]) != int.from_bytes(view[29:33], "big"):
        return None
    fmt = _FORMATS.get((depth, color_type))
    if fmt is None or compression or filtering or interlace or not 0 < w < 2**31 or not 0 < h < 2**31:
        return None
    if max_pixels is not None and w * h > max_pixels:
        return None
    parts: list[memoryview] = []
    idat_done = False  # IDAT chunks must be consecutive
    text = 0
    pos = 33
    while True:
        if pos + 12 > size:
            return None  # truncated before IEND
        length = int.from_bytes(view[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > size or zlib.crc32(view[pos + 4 : end]) != int.from_bytes(view[end : end + 4], "big"):
            return None
        if kind == b"IDAT":
            if idat_done:
                return None
            parts.append(view[pos + 8 : end])
        elif kind == b"IEND":
            if length or end + 4 != size or not parts:
                return None  # bytes after IEND, or no pixel data: let Pillow judge
            break
        elif length >= _METADATA.get(kind, 1 << 32):
            if kind == b"tEXt":
                text += length
                if text > _MAX_TEXT:
                    return None
            idat_done = bool(parts)
        else:
            return None
        pos = end + 4
    c, b = fmt
    stride = 1 + w * c * b
    expected = h * stride
    # Inflate the first rows alone and check their filter types: Pillow filters with Paeth from the first
    # rows on, so its files go back to Pillow before the whole image is inflated twice.
    inflate = zlib.decompressobj()
    raw = inflate.decompress(parts[0] if len(parts) == 1 else b"".join(parts), min(expected, 8 * stride))
    if raw[::stride].translate(None, b"\x00\x01\x02"):
        return None  # Average, Paeth or not a filter at all
    # One byte past ``expected`` would be too long; short of it, the stream ended early.
    raw += inflate.decompress(inflate.unconsumed_tail, expected - len(raw) + 1)
    if len(raw) != expected or not inflate.eof or inflate.unused_data:
        return None  # too short, too long, unfinished or followed by other bytes
    kinds = raw[::stride]  # (H,) the filter type byte of each row
    if kinds.translate(None, b"\x00\x01\x02"):
        return None
    n = stride - 1
    out = np.frombuffer(raw, np.uint8).reshape(h, stride)[:, 1:]  # (H, n), read-only
    n_sub, n_up = kinds.count(1), kinds.count(2)
    if n_sub == h:
        # Sub: each byte adds the reconstructed byte one pixel (C*B bytes) to its left.
        out = np.cumsum(out.reshape(h, w, c * b), axis=1, dtype=np.uint8).reshape(h, n)
    elif n_sub:
        out = out.copy()
        sub = np.flatnonzero(np.frombuffer(kinds, np.uint8) == 1)
        out[sub] = np.cumsum(out[sub].reshape(-1, w, c * b), axis=1, dtype=np.uint8).reshape(-1, n)
    if n_up == h or (n_up == h - 1 and kinds[0] != 2):
        # Up: each row adds the reconstructed row above (zeros above row 0).
        out = np.cumsum(out, axis=0, dtype=np.uint8)
    elif n_up:
        # Summing all rows down gives S; a run of Up rows after row s (reconstructed already) is S minus
        # S up to row s - 1, and a run from row 0 is S itself.
        total = np.empty((h + 1, n), np.uint8)
        total[0] = 0
        np.cumsum(out, axis=0, dtype=np.uint8, out=total[1:])
        keep = np.frombuffer(kinds, np.uint8) != 2
        start = np.maximum.accumulate(np.arange(h) * keep)  # (H,) the last row at or above not Up
        out = total[1:] - total[start]
    if b == 2:
        return out.view(">u2").astype(np.uint16).reshape(h, w, 1)
    if n_sub + n_up == 0:
        out = out.copy()  # no filter at all: still a read-only view of the decompressed bytes
    return out.reshape(h, w, c)
