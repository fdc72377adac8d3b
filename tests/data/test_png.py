"""The NumPy + zlib PNG codec: pixels equal Pillow's both ways round, anything else goes back to Pillow."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from simgan.data.images import _TOO_LARGE, _UNIDENTIFIED, read_image, write_png
from simgan.data.png import PNG_SIGNATURE, decode_png, encode_png
from simgan.errors import InputError


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk after the signature."""
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _bytes_of(image: np.ndarray) -> np.ndarray:
    """(H, n) uint8 rows as PNG stores them (16-bit big-endian)."""
    h = image.shape[0]
    return (image.astype(">u2").view(np.uint8) if image.dtype == np.uint16 else image).reshape(h, -1)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered(image: np.ndarray, kinds: list[int]) -> bytes:
    """Rows of ``image`` under the given filter type per row (0-4), plainly, one byte at a time."""
    rows = _bytes_of(image).astype(np.int64)
    bpp = image.shape[2] * image.dtype.itemsize
    out = bytearray()
    for y, k in enumerate(kinds):
        out.append(k)
        for x in range(rows.shape[1]):
            a = int(rows[y, x - bpp]) if x >= bpp else 0
            b = int(rows[y - 1, x]) if y else 0
            c = int(rows[y - 1, x - bpp]) if y and x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][k]
            out.append((int(rows[y, x]) - pred) % 256)
    return bytes(out)


def _png(
    image: np.ndarray,
    kinds: list[int] | None = None,
    *,
    before: Sequence[bytes] = (),
    after: Sequence[bytes] = (),
    idat_parts: int = 1,
    ihdr: bytes | None = None,
) -> bytes:
    """A PNG written byte by byte: chosen filters per row, extra chunks, IDAT split into parts."""
    h, w, c = image.shape
    depth = 16 if image.dtype == np.uint16 else 8
    header = ihdr or struct.pack(">IIBBBBB", w, h, depth, 0 if c == 1 else 2, 0, 0, 0)
    z = zlib.compress(_filtered(image, kinds if kinds is not None else [0] * h))
    cut = [len(z) * i // idat_parts for i in range(idat_parts + 1)]
    idat = [_chunk(b"IDAT", z[cut[i] : cut[i + 1]]) for i in range(idat_parts)]
    body = [_chunk(b"IHDR", header), *before, *idat, *after, _chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(body)


def _pillow(data: bytes) -> np.ndarray:
    """What Pillow decodes, as (H, W, C)."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        arr = np.asarray(im, dtype=np.uint16 if im.mode.startswith("I;16") else np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _pillow_read(path: Path) -> np.ndarray | str:
    """read_image as it was before this codec (Pillow straight from the path): the pixels or the message."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode.startswith("I;16"):
                arr = np.asarray(im, dtype=np.uint16)
            else:
                arr = np.asarray(im.convert("L" if im.mode in ("L", "LA", "1") else "RGB"), dtype=np.uint8)
    except FileNotFoundError:
        return f"{path}: image file not found"
    except UnidentifiedImageError:
        return f"{path}: {_UNIDENTIFIED}"
    except Image.DecompressionBombError:
        return f"{path}: {_TOO_LARGE}"
    except (OSError, ValueError, SyntaxError) as e:
        return f"{path}: truncated or corrupt image ({e})"
    return arr[:, :, None] if arr.ndim == 2 else arr


def _same_as_before(path: Path) -> None:
    try:
        new: np.ndarray | str = read_image(path)
    except InputError as e:
        new = str(e)
    old = _pillow_read(path)
    if isinstance(old, str):
        assert new == old
    else:
        assert isinstance(new, np.ndarray) and new.dtype == old.dtype
        np.testing.assert_array_equal(new, old)


def _images(rng: np.random.Generator) -> list[np.ndarray]:
    """Random, constant, smooth and degenerate shapes, every supported format."""
    yy, xx = np.mgrid[0:35, 0:55]
    smooth = (100 + 60 * np.sin(yy / 5.0) * np.cos(xx / 7.0)).astype(np.uint8)[:, :, None]
    depth = (30000 + 200 * yy + 90 * xx).astype(np.uint16)[:, :, None]
    out = [smooth, depth, np.zeros((8, 8, 1), np.uint8), np.full((9, 9, 3), 255, np.uint8)]
    for shape in [(1, 1), (1, 17), (17, 1), (8, 8), (5, 7), (12, 40), (64, 64)]:
        for c, dtype in [(1, np.uint8), (3, np.uint8), (1, np.uint16)]:
            top = np.iinfo(dtype).max
            out.append(rng.integers(0, top + 1, (*shape, c), dtype=dtype))
    # 16-bit values near both ends, where a byte-order or carry slip shows.
    out.append(rng.choice(np.array([0, 1, 255, 256, 65279, 65280, 65534, 65535], np.uint16), (6, 11, 1)))
    return out


# ---- our bytes


def test_round_trip_and_pillow_agree(rng: np.random.Generator) -> None:
    for image in _images(rng):
        data = encode_png(image)
        back = decode_png(data)
        assert back is not None and back.dtype == image.dtype and back.shape == image.shape
        np.testing.assert_array_equal(back, image)
        np.testing.assert_array_equal(_pillow(data), image)
        assert back.flags.c_contiguous and back.flags.writeable


@pytest.mark.parametrize("level", range(10))
def test_every_level(rng: np.random.Generator, level: int) -> None:
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    data = encode_png(image, level)
    np.testing.assert_array_equal(decode_png(data), image)
    np.testing.assert_array_equal(_pillow(data), image)


def test_layout_is_four_chunks(rng: np.random.Generator) -> None:
    for image, depth, color in [
        (rng.integers(0, 256, (4, 5, 1), dtype=np.uint8), 8, 0),
        (rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), 8, 2),
        (rng.integers(0, 65536, (4, 5, 1), dtype=np.uint16), 16, 0),
    ]:
        data = encode_png(image)
        assert data.startswith(PNG_SIGNATURE)
        chunks = _chunks(data)
        assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"] and chunks[2][1] == b""
        assert struct.unpack(">IIBBBBB", chunks[0][1]) == (5, 4, depth, color, 0, 0, 0)


def test_filters_written(rng: np.random.Generator) -> None:
    """Sub on every row; None on images of at most 64 bytes."""
    for shape, kind in [((8, 8, 1), 0), ((4, 16, 1), 0), ((8, 9, 1), 1), ((35, 55, 1), 1), ((3, 8, 3), 1)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        raw = zlib.decompress(_chunks(encode_png(image))[1][1])
        assert set(raw[:: 1 + shape[1] * shape[2]]) == {kind}


def test_inputs_that_are_not_contiguous(rng: np.random.Generator) -> None:
    big = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for view in (big[::2, ::3], big[::-1], big[:, :, :1], big[..., 0], np.asfortranarray(big)):
        expected = view if view.ndim == 3 else view[:, :, None]
        np.testing.assert_array_equal(decode_png(encode_png(view)), expected)
    depth = rng.integers(0, 65536, (10, 12, 1), dtype=np.uint16)
    np.testing.assert_array_equal(decode_png(encode_png(depth[:, ::-1])), depth[:, ::-1])


def test_encode_rejects_bad_input() -> None:
    cases = [
        (np.zeros((3, 4, 2), np.uint8), "shape"),
        (np.zeros((3, 4, 1, 1), np.uint8), "shape"),
        (np.zeros((3, 4, 3), np.uint16), "one channel"),
        (np.zeros((3, 4, 1), np.float32), "uint8 or uint16"),
        (np.zeros((3, 4, 1), np.int16), "uint8 or uint16"),
        (np.zeros((0, 4, 1), np.uint8), "at least 1x1"),
    ]
    for image, problem in cases:
        with pytest.raises(ValueError, match=problem):
            encode_png(image)
    with pytest.raises(ValueError, match="level"):
        encode_png(np.zeros((2, 2, 1), np.uint8), level=10)


# ---- Pillow's bytes and other writers'


@pytest.mark.parametrize("optimize", [False, True])
def test_pillow_files_decode_the_same_or_go_back(rng: np.random.Generator, optimize: bool) -> None:
    for image in _images(rng):
        for level in range(10):
            h, w, c = image.shape
            if image.dtype == np.uint16:
                pil = Image.frombytes("I;16", (w, h), image[:, :, 0].astype("<u2").tobytes())
            else:
                pil = Image.fromarray(image[:, :, 0] if c == 1 else image)
            buf = io.BytesIO()
            pil.save(buf, format="PNG", compress_level=level, optimize=optimize)
            data = buf.getvalue()
            ours = decode_png(data)
            if ours is not None:  # Pillow's files mostly hold Paeth rows: those come back None
                np.testing.assert_array_equal(ours, image)
            np.testing.assert_array_equal(_pillow(data), image)


@pytest.mark.parametrize("dtype_c", [(np.uint8, 1), (np.uint8, 3), (np.uint16, 1)])
def test_mixed_filters_decode(rng: np.random.Generator, dtype_c: tuple[type, int]) -> None:
    dtype, c = dtype_c
    image = rng.integers(0, np.iinfo(dtype).max + 1, (12, 7, c), dtype=dtype)
    image[4:8] //= 3  # some structure, so wrap-around and carries both happen
    patterns = [
        [0] * 12,
        [1] * 12,
        [2] * 12,
        [0] + [2] * 11,
        [1] + [2] * 11,
        [2, 2, 1, 2, 2, 0, 0, 1, 1, 2, 1, 2],  # Up on row 0 adds nothing: the row above is zeros
        [1, 0, 2, 1, 2, 0, 2, 2, 2, 1, 1, 0],
        list(rng.integers(0, 3, 12)),
    ]
    for kinds in patterns:
        data = _png(image, [int(k) for k in kinds])
        np.testing.assert_array_equal(_pillow(data), image)
        np.testing.assert_array_equal(decode_png(data), image)
    for kinds in ([3] * 12, [4] * 12, [1] * 11 + [4], [0] * 9 + [3] + [0] * 2):
        data = _png(image, kinds)
        np.testing.assert_array_equal(_pillow(data), image)
        assert decode_png(data) is None  # Average or Paeth: Pillow does those


def test_chunks_that_are_only_metadata(rng: np.random.Generator) -> None:
    image = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    meta = [
        _chunk(b"gAMA", struct.pack(">I", 45455)),
        _chunk(b"sRGB", b"\x00"),
        _chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
        _chunk(b"cHRM", bytes(32)),
        _chunk(b"tEXt", b"Software\x00simgan"),
    ]
    for data in (
        _png(image, before=meta),
        _png(image, after=[_chunk(b"tEXt", b"Comment\x00after"), _chunk(b"tIME", bytes(7))]),
        _png(image, [1] * 6, idat_parts=3),
        _png(image, [2] * 6, idat_parts=6),
    ):
        np.testing.assert_array_equal(_pillow(data), image)
        np.testing.assert_array_equal(decode_png(data), image)


def test_chunks_and_headers_left_to_pillow(rng: np.random.Generator) -> None:
    image = rng.integers(0, 256, (6, 5, 1), dtype=np.uint8)
    header = struct.pack(">IIBBBBB", 5, 6, 8, 0, 0, 0, 0)
    cases = {
        "tRNS": _png(image, before=[_chunk(b"tRNS", b"\x00\x07")]),
        "sBIT": _png(image, before=[_chunk(b"sBIT", b"\x05")]),
        "iCCP": _png(image, before=[_chunk(b"iCCP", b"p\x00\x00" + zlib.compress(b"x"))]),
        "zTXt": _png(image, before=[_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"v"))]),
        "unknown": _png(image, before=[_chunk(b"prVt", b"abc")]),
        "short gAMA": _png(image, before=[_chunk(b"gAMA", b"\x00\x01")]),
        "split IDAT": _split_by_text(image),
        "after IEND": _png(image) + b"trailing",
        "interlaced": _png(image, ihdr=header[:-1] + b"\x01"),
        "filter method": _png(image, ihdr=header[:-2] + b"\x01\x00"),
        "grey 4-bit": _png(image, ihdr=struct.pack(">IIBBBBB", 5, 6, 4, 0, 0, 0, 0)),
        "zero width": _png(image, ihdr=struct.pack(">IIBBBBB", 0, 6, 8, 0, 0, 0, 0)),
    }
    for name, data in cases.items():
        assert decode_png(data) is None, name
    for bits, color in [(8, 3), (8, 4), (8, 6), (16, 2), (16, 4), (16, 6)]:  # palette, alpha, 16-bit colour
        data = _png(image, ihdr=struct.pack(">IIBBBBB", 5, 6, bits, color, 0, 0, 0))
        assert decode_png(data) is None, (bits, color)


def _split_by_text(image: np.ndarray) -> bytes:
    """IDAT, tEXt, IDAT: image data must be consecutive."""
    chunks = _chunks(_png(image, idat_parts=2))
    order = [chunks[0], chunks[1], (b"tEXt", b"a\x00b"), chunks[2], chunks[3]]
    return PNG_SIGNATURE + b"".join(_chunk(k, d) for k, d in order)


def test_max_pixels(rng: np.random.Generator) -> None:
    data = encode_png(rng.integers(0, 256, (8, 8, 1), dtype=np.uint8))
    assert decode_png(data, max_pixels=63) is None
    assert decode_png(data, max_pixels=64) is not None


# ---- bad bytes


def test_bad_bytes_give_none(rng: np.random.Generator) -> None:
    data = encode_png(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))
    for cut in range(len(data)):
        assert decode_png(data[:cut]) is None
    for i in range(8, len(data)):  # every byte flipped: a CRC, a length or the zlib check catches it
        broken = bytearray(data)
        broken[i] ^= 0x10
        assert decode_png(bytes(broken)) is None, i
    for junk in (b"", b"not an image at all" * 4, PNG_SIGNATURE, PNG_SIGNATURE + bytes(100)):
        assert decode_png(junk) is None


def test_fuzzed_bytes_never_raise(rng: np.random.Generator) -> None:
    seeds = [
        encode_png(rng.integers(0, 256, (7, 9, 1), dtype=np.uint8)),
        encode_png(rng.integers(0, 65536, (5, 6, 1), dtype=np.uint16)),
        _png(
            rng.integers(0, 256, (4, 6, 3), dtype=np.uint8), [2, 1, 0, 2], before=[_chunk(b"tEXt", b"a\x00b")]
        ),
    ]
    for k in range(300):
        data = bytearray(seeds[k % len(seeds)])
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, len(data) + 1))
            op = int(rng.integers(0, 4))
            if op == 0:
                data[i] = int(rng.integers(0, 256))
            elif op == 1:
                del data[i : i + int(rng.integers(1, 9))]
            elif op == 2:
                data[i:i] = rng.bytes(int(rng.integers(1, 9)))
            else:
                data = data[:i]
        out = decode_png(bytes(data))
        assert out is None or out.ndim == 3


def test_fuzzed_pixel_data_agrees_with_pillow(rng: np.random.Generator) -> None:
    """Valid containers around mutated filtered rows: our pixels are Pillow's, or None."""
    for k in range(200):
        dtype, c = [(np.uint8, 1), (np.uint8, 3), (np.uint16, 1)][k % 3]
        h, w = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        image = rng.integers(0, np.iinfo(dtype).max + 1, (h, w, c), dtype=dtype)
        raw = bytearray(_filtered(image, [int(t) for t in rng.integers(0, 3, h)]))
        for _ in range(int(rng.integers(1, 4))):
            raw[int(rng.integers(0, len(raw)))] = int(rng.choice([0, 1, 2, 3, 5, 128, 255]))
        header = struct.pack(">IIBBBBB", w, h, 16 if dtype == np.uint16 else 8, 0 if c == 1 else 2, 0, 0, 0)
        data = PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw)))
        data += _chunk(b"IEND", b"")
        ours = decode_png(data)
        try:
            theirs = _pillow(data)
        except (OSError, ValueError, SyntaxError):
            assert ours is None  # e.g. a filter type of 5
            continue
        if ours is not None:
            np.testing.assert_array_equal(ours, theirs)


# ---- read_image and write_png


def test_read_image_is_what_it_was(tmp_path: Path, rng: np.random.Generator) -> None:
    """Pixels and messages as before the codec, for our files, Pillow's files and broken ones."""
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    write_png(tmp_path / "ours.png", image)
    ours = (tmp_path / "ours.png").read_bytes()
    Image.fromarray(image).save(tmp_path / "pillow.png", compress_level=1)
    Image.fromarray(image[..., 0]).save(tmp_path / "grey.png", optimize=True)
    depth = rng.integers(0, 65536, (6, 9), dtype=np.uint16)
    Image.frombytes("I;16", (9, 6), depth.astype("<u2").tobytes()).save(tmp_path / "depth.png")
    Image.fromarray(image).convert("P").save(tmp_path / "palette.png")
    idat = ours.index(b"IDAT")
    files = {
        "truncated.png": ours[: len(ours) // 2],
        "no_iend.png": ours[:-12],
        "bad_ihdr_crc.png": ours[:29] + bytes([ours[29] ^ 1]) + ours[30:],
        "bad_idat_crc.png": ours[: len(ours) - 13] + bytes([ours[-13] ^ 1]) + ours[-12:],  # Pillow skips it
        "bad_zlib.png": ours[: idat + 10] + bytes([ours[idat + 10] ^ 0xFF]) + ours[idat + 11 :],
        "garbage.png": b"not an image at all" * 4,
        "signature_only.png": PNG_SIGNATURE,
        "empty.png": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder.png").mkdir()
    names = ["ours.png", "pillow.png", "grey.png", "depth.png", "palette.png", "missing.png", "folder.png"]
    for name in [*names, *files]:
        _same_as_before(tmp_path / name)
    np.testing.assert_array_equal(read_image(tmp_path / "ours.png"), image)
    with pytest.raises(InputError, match="truncated or corrupt image"):
        read_image(tmp_path / "truncated.png")
    with pytest.raises(InputError, match="not a readable image"):
        read_image(tmp_path / "garbage.png")
    with pytest.raises(InputError, match="image file not found"):
        read_image(tmp_path / "missing.png")


def test_read_image_keeps_the_decompression_bomb_check(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_png(tmp_path / "a.png", rng.integers(0, 256, (10, 10, 1), dtype=np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60)  # 100 pixels: over the limit, under twice it
    with pytest.warns(Image.DecompressionBombWarning):
        read_image(tmp_path / "a.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40)
    with warnings.catch_warnings(), pytest.raises(InputError, match="too large"):
        warnings.simplefilter("ignore")
        read_image(tmp_path / "a.png")


def test_write_png_writes_our_bytes(tmp_path: Path, rng: np.random.Generator) -> None:
    image = rng.integers(0, 65536, (7, 3, 1), dtype=np.uint16)
    write_png(tmp_path / "a.png", image)
    write_png(tmp_path / "b.png", image[:, :, 0], atomic=False)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes() == encode_png(image)
