"""Training curves: the curves.json dict from epoch records, and the three-panel curves.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from simgan.train.task_data import curve_data
from simgan.viz.curves import plot_curves

HISTORY = [
    {"phase": "train", "epoch": 1, "train/loss": 2.0, "lr": 0.1, "val/loss": 1.5, "val/accuracy": 0.5},
    {"phase": "train", "epoch": 2, "train/loss": 1.0, "lr": 0.1, "val/loss": 1.2, "val/accuracy": 0.6},
    {"phase": "finetune", "epoch": 1, "train/loss": 0.5, "lr": 0.01},  # no validation split here
]


def test_curve_data_lists_every_key_and_only_curve_valued_test_metrics() -> None:
    test = {"accuracy": 0.75, "confusion": [[3, 1], [0, 4]], "within_deg": {"5": 0.5}, "n": 8}
    c = curve_data(HISTORY, test)
    assert list(c) == ["epoch", "phase", "lr", "train/loss", "val/accuracy", "val/loss", "test"]
    assert c["epoch"] == [1, 2, 1] and c["phase"] == ["train", "train", "finetune"]
    assert c["val/loss"] == [1.5, 1.2, None]  # a record without the key gives None
    assert c["test"] == {"within_deg": {"5": 0.5}}
    assert "test" not in curve_data(HISTORY, None) and curve_data([], None) == {"epoch": [], "phase": []}


@pytest.mark.parametrize(
    ("task", "test"),
    [
        ("classify", {"accuracy": 0.75, "confusion": [[3, 1], [0, 4]]}),
        ("gaze", {"within_deg": {"5": 0.2, "10": 0.7}}),
        ("handpose", {"within_px": {"5": 0.3, "10": 0.9}, "frames_within_px": {"5": 0.1, "10": 0.6}}),
        ("classify", None),
    ],
)
def test_plot_writes_a_png_of_three_panels(task: str, test: dict | None, tmp_path: Path) -> None:
    history = [{**h, "val/angular_error_deg": 3.0, "val/mean_error_px": 2.0} for h in HISTORY]
    plot_curves(tmp_path / "curves.png", history, task, test)
    with Image.open(tmp_path / "curves.png") as im:
        assert im.format == "PNG" and im.size == (1080, 324)  # 12 x 3.6 inches at 90 dpi
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: no temp file left behind
