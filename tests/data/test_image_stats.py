"""``simgan.data.image_stats``: the label-free statistics behind ``simgan inspect --stats``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset
from simgan.data.image_stats import STAT_KEYS, grey01, image_statistics


def _stats(tmp_path: Path, write_images: Callable[..., Path], images: np.ndarray, **kw: int) -> dict:
    return image_statistics(open_dataset(write_images(tmp_path / "d", images)), **kw)


def test_a_flat_image_has_no_contrast_gradient_or_texture(tmp_path: Path, write_images) -> None:
    s = _stats(tmp_path, write_images, np.full((3, 12, 16, 1), 51, np.uint8))
    assert s["images"] == 3 and s["mean"] == pytest.approx(0.2) and s["mean_std"] == 0.0
    assert s["std"] == s["gradient"] == s["hf"] == 0.0
    assert s["p05"] == s["p95"] == pytest.approx(0.2) and s["dark"] == 1.0  # 0.2 < 0.25


def test_an_equalised_image_has_the_flat_histogram_std(tmp_path: Path, write_images) -> None:
    ramp = np.tile(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), (2, 1, 1, 1))  # each level once
    s = _stats(tmp_path, write_images, ramp)
    assert s["std"] == pytest.approx(0.289, abs=0.002) and s["mean"] == pytest.approx(0.5)
    assert s["p05"] == pytest.approx(0.05, abs=0.01) and s["p95"] == pytest.approx(0.95, abs=0.01)
    assert s["dark"] == pytest.approx(0.25, abs=0.01)


def test_a_checkerboard_is_all_gradient_and_high_frequency(tmp_path: Path, write_images) -> None:
    board = ((np.indices((8, 8)).sum(axis=0) % 2) * 255).astype(np.uint8)[None, :, :, None]
    s = _stats(tmp_path, write_images, board)
    assert s["gradient"] == 1.0 and s["hf"] > 0.4 and s["dark"] == 0.5


def test_brightness_spread_over_images_and_the_limit(tmp_path: Path, write_images) -> None:
    images = np.stack([np.full((4, 4, 1), v, np.uint8) for v in (0, 255, 0, 255)])
    s = _stats(tmp_path, write_images, images)
    assert s["mean"] == pytest.approx(0.5) and s["mean_std"] == pytest.approx(0.5)
    assert _stats(tmp_path / "b", write_images, images, limit=2)["images"] == 2  # the first and the last


def test_sixteen_bit_and_colour_images_scale_to_grey_in_0_1() -> None:
    deep = np.full((2, 2, 1), 65535, np.uint16)
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[..., 0] = 255
    assert grey01(deep).max() == 1.0 and grey01(colour) == pytest.approx(np.full((2, 2), 1 / 3))


def test_inspect_stats_on_the_command_line(run_cli, tmp_path: Path, write_images) -> None:
    folder = write_images(tmp_path / "d", np.full((5, 8, 8, 1), 128, np.uint8))
    code, out, _ = run_cli("inspect", folder, "--stats", "--json")
    assert code == 0 and set(json.loads(out)["statistics"]) == {"images", *STAT_KEYS}
    code, out, _ = run_cli("inspect", folder, "--stats")
    assert code == 0 and "hf" in out and "statistic" in out
    code, _, err = run_cli("inspect", folder, "--stats", "--stats-n", "0")
    assert code == 2 and err.count("\n") == 1 and "--stats-n 0" in err
