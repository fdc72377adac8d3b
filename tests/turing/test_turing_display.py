"""simgan.turing.display: what a participant sees of an image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from simgan.turing.display import display_png, to_display


def test_8_bit_images_are_shown_as_they_are() -> None:
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    assert to_display(image) is image


def test_16_bit_images_are_stretched_from_min_to_max() -> None:
    image = np.array([[[1000], [1500], [2000]]], dtype=np.uint16)  # (1, 3, 1)
    assert to_display(image)[0, :, 0].tolist() == [0, 128, 255]
    assert to_display(np.full((2, 2, 1), 700, np.uint16)).tolist() == [[[0], [0]], [[0], [0]]]


@pytest.mark.parametrize("channels", [1, 3])
def test_the_png_holds_the_display_pixels_and_nothing_else(channels: int) -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 7, channels), dtype=np.uint8)
    png = display_png(image)
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == ("L" if channels == 1 else "RGB") and im.size == (7, 5)
        assert not im.info or set(im.info) <= {"dpi"}  # no text chunks, no file name
        decoded = np.asarray(im)
    assert np.array_equal(decoded.reshape(5, 7, channels), image)


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 1), np.float32)]
)
def test_other_images_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected"):
        to_display(bad)
