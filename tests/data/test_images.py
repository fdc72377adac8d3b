"""Single image files: every PIL mode we meet maps to (H, W, C) uint8/uint16; bad files name themselves."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgan.data.images import from_float, is_image_file, read_header, read_image, to_float, write_png
from simgan.errors import InputError


def _raw_png(path: Path, image: np.ndarray, color_type: int) -> None:
    """A 16-bit PNG written byte by byte (Pillow cannot write 16-bit colour)."""
    h, w = image.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + image[y].astype(">u2").tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    data = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)


@pytest.mark.parametrize(
    ("shape", "dtype"), [((5, 7, 1), np.uint8), ((5, 7, 3), np.uint8), ((5, 7, 1), np.uint16)]
)
def test_write_read_round_trip(tmp_path: Path, rng: np.random.Generator, shape: tuple, dtype: type) -> None:
    top = np.iinfo(dtype).max
    image = rng.integers(0, top + 1, shape, dtype=dtype)
    image[0, 0], image[0, 1] = 0, top  # the extremes survive
    path = tmp_path / "x.png"
    write_png(path, image)
    back = read_image(path)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, image)
    assert read_header(path) == (shape[0], shape[1], shape[2], np.dtype(dtype).name)


def test_uint16_png_is_really_16_bit(tmp_path: Path) -> None:
    image = np.array([[[1], [65535]], [[256], [40000]]], dtype=np.uint16)
    path = tmp_path / "depth.png"
    write_png(path, image)
    raw = path.read_bytes()
    assert raw[24] == 16 and raw[25] == 0  # IHDR bit depth 16, colour type grey
    with Image.open(path) as im:
        assert np.asarray(im).astype(np.int64).tolist() == [[1, 65535], [256, 40000]]


def test_write_png_accepts_2d_and_rejects_bad_arrays(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", np.zeros((3, 4), np.uint8))
    assert read_image(tmp_path / "a.png").shape == (3, 4, 1)
    with pytest.raises(ValueError, match="shape"):
        write_png(tmp_path / "b.png", np.zeros((3, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="one channel"):
        write_png(tmp_path / "c.png", np.zeros((3, 4, 3), np.uint16))
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_png(tmp_path / "d.png", np.zeros((3, 4, 1), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_rgba_and_la_drop_alpha(tmp_path: Path, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, (4, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgba[..., :3])
    assert read_header(tmp_path / "rgba.png") == (4, 6, 3, "uint8")
    Image.frombytes("LA", (6, 4), rgba[..., :2].tobytes()).save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), rgba[..., :1])
    assert read_header(tmp_path / "la.png") == (4, 6, 1, "uint8")


def test_palette_and_bilevel(tmp_path: Path, rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).convert("P")
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))
    assert read_header(tmp_path / "p.png") == (4, 6, 3, "uint8")
    bits = rng.random((4, 6)) > 0.5
    Image.fromarray(bits).save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_image(tmp_path / "b.png")[..., 0], bits * np.uint8(255))


def test_16_bit_tiff_and_mode_i(tmp_path: Path, rng: np.random.Generator) -> None:
    depth = rng.integers(0, 65536, (4, 6), dtype=np.uint16)
    Image.fromarray(depth).save(tmp_path / "d16.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "d16.tif")[..., 0], depth)
    # Mode "I" (32-bit ints; older Pillow opened 16-bit PNGs this way) becomes uint16 when it fits ...
    Image.fromarray(depth.astype(np.int32)).save(tmp_path / "i.tif")
    with Image.open(tmp_path / "i.tif") as im:
        assert im.mode == "I"
    back = read_image(tmp_path / "i.tif")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[..., 0], depth)
    assert read_header(tmp_path / "i.tif") == (4, 6, 1, "uint16")
    # ... and is refused, naming the file, when it does not.
    Image.fromarray(depth.astype(np.int32) + 70000).save(tmp_path / "big.tif")
    with pytest.raises(InputError, match="16-bit range") as info:
        read_image(tmp_path / "big.tif")
    assert "big.tif" in str(info.value)


def test_16_bit_grey_png_from_outside(tmp_path: Path, rng: np.random.Generator) -> None:
    depth = rng.integers(0, 65536, (3, 5), dtype=np.uint16)
    _raw_png(tmp_path / "g16.png", depth, color_type=0)
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png")[..., 0], depth)
    assert read_header(tmp_path / "g16.png") == (3, 5, 1, "uint16")


def test_16_bit_colour_png_reads_as_8_bit_rgb(tmp_path: Path, rng: np.random.Generator) -> None:
    # Pillow keeps the high byte of 16-bit colour; header and pixels agree on uint8 RGB.
    rgb = rng.integers(0, 65536, (3, 5, 3), dtype=np.uint16)
    _raw_png(tmp_path / "rgb16.png", rgb, color_type=2)
    back = read_image(tmp_path / "rgb16.png")
    assert read_header(tmp_path / "rgb16.png") == (3, 5, 3, "uint8")
    np.testing.assert_array_equal(back, (rgb >> 8).astype(np.uint8))


def test_jpeg_and_pgm(tmp_path: Path, rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    back = read_image(tmp_path / "a.jpg")
    assert back.shape == (8, 8, 3) and back.dtype == np.uint8
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.pgm")
    np.testing.assert_array_equal(read_image(tmp_path / "g.pgm")[..., 0], rgb[..., 0])


def test_bad_files_name_themselves(tmp_path: Path, rng: np.random.Generator) -> None:
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    write_png(tmp_path / "good.png", image)
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"not an image at all" * 4)
    (tmp_path / "empty.png").write_bytes(b"")
    Image.fromarray(rng.random((4, 4)).astype(np.float32)).save(tmp_path / "float.tif")
    assert read_header(tmp_path / "trunc.png") == (16, 16, 3, "uint8")  # the header is intact ...
    cases = {
        "trunc.png": "truncated",  # ... the pixels are not
        "junk.png": "not a readable image",
        "empty.png": "not a readable image",
        "float.tif": "unsupported image mode",
        "missing.png": "not found",
    }
    for name, problem in cases.items():
        with pytest.raises(InputError) as info:
            read_image(tmp_path / name)
        msg = str(info.value)
        assert msg.startswith(str(tmp_path / name)) and problem in msg and "\n" not in msg
    for name in ("junk.png", "empty.png", "missing.png"):
        with pytest.raises(InputError, match=name):
            read_header(tmp_path / name)


def test_is_image_file(tmp_path: Path) -> None:
    for name in ("a.png", "b.JPG", ".hidden.png", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "d.png").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir() if is_image_file(p)) == ["a.png", "b.JPG"]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_float_from_float_exact_round_trip(dtype: type) -> None:
    values = np.arange(np.iinfo(dtype).max + 1, dtype=dtype)
    image = values.reshape(-1, 256, 1) if dtype == np.uint16 else values.reshape(16, 16, 1)
    x = to_float(image)  # (C, H, W)
    assert x.dtype == np.float32 and x.shape == (1, *image.shape[:2])
    assert x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(from_float(x, np.dtype(dtype).name), image)


def test_to_float_layout_and_from_float_clips(rng: np.random.Generator) -> None:
    image = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    x = to_float(image)
    assert x.shape == (3, 4, 5) and x.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(x[2, 1, 3], image[1, 3, 2] / 127.5 - 1.0, rtol=1e-6)
    out = from_float(np.array([[[-3.0, 5.0]]], dtype=np.float32))
    assert out.tolist() == [[[0], [255]]]
