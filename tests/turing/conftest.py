"""Fixtures of the visual Turing test's tests (helpers in turing_fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from turing_fixtures import REAL_N, REFINED_N, real_value, refined_value, write_folder

from simgan.turing import Study, TuringServer


@pytest.fixture
def pair(tmp_path: Path, write_images: Callable[..., Path]) -> tuple[Path, Path]:
    """(real, refined): a plain folder of 8 flat 8x8 grey PNGs and a simgan dataset of 7 (two layouts)."""
    real = write_folder(tmp_path / "real", [real_value(k) for k in range(REAL_N)])
    pixels = np.stack([np.full((8, 8, 1), refined_value(k), np.uint8) for k in range(REFINED_N)])
    refined = write_images(tmp_path / "refined", pixels, ids=[f"sample{k:03d}" for k in range(REFINED_N)])
    return real, refined


@pytest.fixture
def served(pair: tuple[Path, Path], tmp_path: Path) -> Iterator[tuple[TuringServer, Study]]:
    """A saved study of 3 images per set, served on a free port in a background thread."""
    study = Study.open(*pair, tmp_path / "run", n=3, seed=1)
    study.save()
    server = TuringServer(study, port=0).start()
    try:
        yield server, study
    finally:
        server.close()
