"""Diversity of stochastic refinements: known values, ids, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset
from simgan.errors import InputError
from simgan.eval.diversity import sample_diversity, sample_id, split_sample_id


def test_sample_ids_round_trip() -> None:
    assert split_sample_id(sample_id("p00/day01_7", 3)) == ("p00/day01_7", 3)
    with pytest.raises(ValueError, match="not a sample id"):
        split_sample_id("plain")


def test_known_value(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    # Image a: three refinements 0, 51, 102 (pairs differ by 0.2, 0.4, 0.2 -> mean 0.2667);
    # image b: two identical refinements (0).
    levels = [0, 51, 102, 7, 7]
    images = np.stack([np.full((4, 4, 1), v, np.uint8) for v in levels])
    ids = ["a_0", "a_1", "a_2", "b_0", "b_1"]
    src = open_dataset(write_images(tmp_path / "s", images, ids=ids))
    d = sample_diversity(src)
    assert d["images"] == 2 and d["samples"] == 2
    assert d["diversity_l1"] == pytest.approx((0.8 / 3 + 0.0) / 2, abs=1e-6)


def test_needs_several_refinements_per_image(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    images = np.zeros((3, 4, 4, 1), np.uint8)
    one = open_dataset(write_images(tmp_path / "one", images, ids=["a_0", "b_0", "c_0"]))
    with pytest.raises(InputError, match="one refinement per image"):
        sample_diversity(one)
    plain = open_dataset(write_images(tmp_path / "plain", images, ids=["a", "b", "c"]))
    with pytest.raises(InputError, match="not written by refine --samples"):
        sample_diversity(plain)
