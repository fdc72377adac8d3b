"""Eye-image preprocessing: grey decoding and its errors, crop-and-resize with the landmark transform,
edge padding, whole-image resize, and the gaze label."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgan.data.eye_crop import (
    CropTransform,
    crop_resize,
    crop_transform,
    gaze_label,
    read_gray,
    resize_gray,
)
from simgan.errors import InputError

# --- read_gray ----------------------------------------------------------------------------------------


def test_read_gray_converts_rgb_with_the_luma_weights(tmp_path: Path) -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    rgb[1] = 200
    Image.fromarray(rgb).save(tmp_path / "eye.png")
    gray = read_gray(tmp_path / "eye.png")
    assert gray.shape == (2, 3) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray, [[76, 150, 29], [200, 200, 200]])  # L = 0.299 R + 0.587 G + 0.114 B


def test_read_gray_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_gray(tmp_path / "missing.jpg")
    assert str(info.value) == f"{tmp_path / 'missing.jpg'}: image file not found"
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(InputError, match="bad.jpg: truncated or corrupt image") as info:
        read_gray(tmp_path / "bad.jpg")
    assert "\n" not in str(info.value)


def test_read_gray_refuses_a_truncated_file(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60), np.uint8)).save(tmp_path / "e.png")
    data = (tmp_path / "e.png").read_bytes()
    (tmp_path / "e.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"e.png: truncated or corrupt image"):
        read_gray(tmp_path / "e.png")


# --- crop_transform and crop_resize -------------------------------------------------------------------


def test_crop_transform_known_value() -> None:
    t = crop_transform((10.0, 6.0), crop=(4, 8), size=(2, 4))
    assert t == CropTransform(left=10.5 - 4.0, top=6.5 - 2.0, scale_x=0.5, scale_y=0.5)
    # The window centre lands on the stored image's centre; the window's corners, continuous (6.5, 4.5)
    # and (14.5, 8.5) = pixel-index (6, 4) and (14, 8), on the stored corners (-0.5, -0.5) and (3.5, 1.5).
    np.testing.assert_allclose(t.apply([[10.0, 6.0]]), [[1.5, 0.5]])
    np.testing.assert_allclose(t.apply(np.array([[6.0, 4.0], [14.0, 8.0]])), [[-0.5, -0.5], [3.5, 1.5]])
    assert t.apply([1.0, 2.0]).shape == (1, 2)  # one point in, one row out


def test_crop_of_the_stored_size_is_an_exact_cut() -> None:
    gray = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    out, t = crop_resize(gray, centre_uv=(7.5, 5.5), crop=(6, 8), size=(6, 8))
    np.testing.assert_array_equal(out, gray[3:9, 4:12])
    assert (t.left, t.top, t.scale_x, t.scale_y) == (4.0, 3.0, 1.0, 1.0)
    np.testing.assert_allclose(t.apply([[4.0, 3.0]]), [[0.0, 0.0]])  # source pixel [3, 4] -> stored [0, 0]


def test_downscale_by_two_averages_and_the_transform_follows() -> None:
    gray = np.zeros((8, 8), np.uint8)
    gray[2:4, 2:4] = 200  # one 2x2 block -> one stored pixel
    out, t = crop_resize(gray, centre_uv=(3.5, 3.5), crop=(8, 8), size=(4, 4))
    assert out.shape == (4, 4) and out[1, 1] == out.max() > 100
    np.testing.assert_allclose(t.apply([[2.5, 2.5]]), [[1.0, 1.0]])  # the block's centre -> its pixel


def test_window_past_the_border_repeats_the_edge_pixels() -> None:
    gray = np.tile(np.arange(10, dtype=np.uint8) * 20, (6, 1))  # columns 0, 20, ..., 180
    out, t = crop_resize(gray, centre_uv=(0.5, 2.5), crop=(4, 6), size=(4, 6))
    assert t.left == -2.0
    np.testing.assert_array_equal(out, np.tile([0, 0, 0, 20, 40, 60], (4, 1)))  # no black band at the edge


def test_crop_resize_refuses_a_colour_image() -> None:
    with pytest.raises(ValueError, match=r"expected a \(H, W\) grey image, got shape \(4, 4, 3\)"):
        crop_resize(np.zeros((4, 4, 3), np.uint8), (2.0, 2.0), (2, 2), (2, 2))


# --- resize_gray --------------------------------------------------------------------------------------


def test_resize_gray_keeps_same_size_and_resizes_others() -> None:
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5)[:, ::-1]  # not contiguous
    same = resize_gray(gray, (4, 5))
    np.testing.assert_array_equal(same, gray)
    assert same.flags.c_contiguous
    flat = resize_gray(np.full((9, 15), 77, np.uint8), (3, 5))
    assert flat.shape == (3, 5) and (flat == 77).all()


# --- gaze_label ---------------------------------------------------------------------------------------


def test_looking_into_the_camera_is_exactly_zero() -> None:
    label = gaze_label(np.array([0.0, -0.0, -2.0]))  # any length; -0.0 must not leak into the label
    assert label == {"gaze": [0.0, 0.0, -1.0], "pitch": 0.0, "yaw": 0.0}
    assert math.copysign(1.0, label["pitch"]) == 1.0 and math.copysign(1.0, label["gaze"][1]) == 1.0


@pytest.mark.parametrize(
    ("vector", "pitch", "yaw"),
    [
        ([0.0, -1.0, -1.0], math.pi / 4, 0.0),  # up (image y points down): pitch > 0
        ([-1.0, 0.0, -1.0], 0.0, math.pi / 4),  # towards the image's left: yaw > 0
        ([1.0, 0.0, -math.sqrt(3.0)], 0.0, -math.pi / 6),
    ],
)
def test_gaze_label_known_angles(vector: list[float], pitch: float, yaw: float) -> None:
    label = gaze_label(np.array(vector))
    assert label["pitch"] == pytest.approx(pitch) and label["yaw"] == pytest.approx(yaw)
    assert np.linalg.norm(label["gaze"]) == pytest.approx(1.0)
    assert all(type(v) is float for v in [*label["gaze"], label["pitch"], label["yaw"]])  # JSON-ready


@pytest.mark.parametrize("vector", [[0.0, 0.0, 0.0], [np.nan, 0.0, -1.0], [np.inf, 0.0, -1.0]])
def test_gaze_label_without_a_direction_raises(vector: list[float]) -> None:
    with pytest.raises(ValueError, match="has no direction"):
        gaze_label(np.array(vector))


def test_gaze_label_needs_three_components() -> None:
    with pytest.raises(ValueError):
        gaze_label(np.array([0.0, -1.0]))
