"""``simgan visualize``: PCA / t-SNE figures from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgan.data import DatasetWriter
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits

RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("viscli")
    images, labels = load_sklearn_digits()
    with DatasetWriter(
        root / "real", height=8, width=8, channels=1, task="classify", classes=DIGIT_CLASSES
    ) as w:
        for k in range(120):
            w.add(f"r{k}", images[k], int(labels[k]))
    with DatasetWriter(root / "other", height=8, width=8, channels=1) as w:
        for k in range(120, 200):
            w.add(f"o{k}", 255 - images[k])
    with DatasetWriter(root / "big", height=12, width=12, channels=1) as w:
        w.add("b", np.zeros((12, 12, 1), np.uint8))
    return {"real": root / "real", "other": root / "other", "big": root / "big"}


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_visualize_writes_a_png(run_cli: RunCli, sets: dict[str, Path], tmp_path: Path, method: str) -> None:
    out = tmp_path / f"{method}.png"
    code, stdout, _ = run_cli(
        "visualize",
        "--data",
        sets["real"],
        "--data",
        sets["other"],
        "--name",
        "real",
        "--name",
        "inverted",
        "--method",
        method,
        "--out",
        out,
        "--max-per-set",
        "60",
        "--json",
    )
    assert code == 0
    summary = json.loads(stdout)
    assert summary["datasets"] == {"real": 60, "inverted": 60} and summary["points"] == 120
    assert summary["classes"] == list(DIGIT_CLASSES)
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_visualize_table_output(run_cli: RunCli, sets: dict[str, Path], tmp_path: Path) -> None:
    code, out, _ = run_cli("visualize", "--data", sets["real"], "--out", tmp_path / "m.png")
    assert code == 0 and "real" in out and "120" in out and "m.png" in out


def test_visualize_bad_input_exits_2(run_cli: RunCli, sets: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run_cli(
        "visualize", "--data", sets["real"], "--data", sets["big"], "--out", tmp_path / "x.png"
    )
    assert code == 2 and str(sets["big"]) in err and "12x12x1" in err
    code, _, err = run_cli("visualize", "--data", sets["real"], "--out", tmp_path / "x.jpg")
    assert code == 2 and "x.jpg" in err and ".png" in err
    code, _, err = run_cli(
        "visualize", "--data", sets["real"], "--features", "task", "--out", tmp_path / "x.png"
    )
    assert code == 2 and "--task-run" in err
    code, _, err = run_cli(
        "visualize",
        "--data",
        sets["real"],
        "--features",
        "task",
        "--task-run",
        tmp_path / "norun",
        "--out",
        tmp_path / "x.png",
    )
    assert code == 2 and "norun" in err
