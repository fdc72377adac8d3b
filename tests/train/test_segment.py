"""train-task segment: the U-Net learns a toy part mask, masks are checked like labels, bad input."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.data import DatasetWriter, ImageDataset, open_dataset
from simgan.errors import InputError
from simgan.eval.task_eval import evaluate
from simgan.nn.segment import SegmentNet, segment_loss, segment_predictions
from simgan.nn.task_model import load_task_model
from simgan.train.task import TaskConfig, train_task

PARTS = ["background", "square", "bar"]
QUICK = TaskConfig(
    task="segment", epochs=1, min_steps=150, batch_size=16, lr=1e-2, width=8, seg_depth=2, plot=False
)


def _toy_parts(root: Path, n: int, seed: int, size: int = 16, parts: list[str] = PARTS) -> Path:
    """A bright 4x4 square (id 1) and a mid-grey 2x6 bar (id 2) at random places on dark noise."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(root, height=size, width=size, channels=1, mask_classes=parts) as w:
        for i in range(n):
            img = rng.integers(0, 60, (size, size), dtype=np.uint8)
            mask = np.zeros((size, size), dtype=np.uint8)
            v, u = rng.integers(0, size - 6, 2)
            img[v : v + 2, u : u + 6], mask[v : v + 2, u : u + 6] = 140, 2
            v, u = rng.integers(0, size - 4, 2)
            img[v : v + 4, u : u + 4], mask[v : v + 4, u : u + 4] = 255, 1  # on top of the bar
            w.add(f"{i:04d}", img, None, mask=mask)
    return root


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, write_toy: Callable[..., Path]) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("segment")
    return {
        "train": _toy_parts(base / "train", 96, 0),
        "test": _toy_parts(base / "test", 32, 1),
        "other_parts": _toy_parts(base / "other", 8, 2, parts=["background", "a", "b"]),
        "odd_size": _toy_parts(base / "odd", 8, 3, size=18),
        "no_masks": write_toy(base / "no_masks", "handpose", 8, 4),
    }


def test_the_unet_learns_a_toy_mask(toy: dict[str, Path], tmp_path: Path) -> None:
    m = train_task(QUICK, [toy["train"]], toy["test"], tmp_path / "run", progress=False, log_to=())
    assert m["task"] == "segment" and m["parts"] == PARTS and m["n_test"] == 32
    assert m["miou"] > 0.8  # the trivial baseline (all background) scores 0
    assert set(m["iou"]) == {"0", "1", "2"} and min(m["iou"].values()) > 0.7
    assert m["miou"] == pytest.approx(np.mean([m["iou"]["1"], m["iou"]["2"]]))
    assert m["pixel_accuracy"] > 0.95 and m["steps"] >= 150
    history = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert "val/miou" in history[-1] and m["best"]["val/miou"] == max(h["val/miou"] for h in history)
    # best.pt rebuilds the network without pickled code and reproduces the test score.
    model, cfg = load_task_model(tmp_path / "run")
    assert isinstance(model, SegmentNet) and cfg["task"] == "segment" and cfg["seg_depth"] == 2
    again = evaluate(model, open_dataset(toy["test"]), "segment")
    assert again["miou"] == pytest.approx(m["miou"], abs=1e-6)


def test_augmented_training_keeps_masks_on_their_pixels(toy: dict[str, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(QUICK, min_steps=100, augment=("flip", "crop", "rotate"))
    m = train_task(cfg, [toy["train"]], toy["test"], tmp_path / "run", progress=False, log_to=())
    assert m["miou"] > 0.6  # masks that drifted from their pixels would not be learnable


def test_targets_are_the_masks() -> None:
    net = SegmentNet(1, 3, width=4, depth=2)
    logits = net(torch.zeros(2, 1, 8, 12))
    assert logits.shape == (2, 3, 8, 12)
    pred = segment_predictions(logits)
    assert pred.shape == (2, 8, 12) and pred.dtype == torch.uint8
    loss = segment_loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.uint8))
    assert float(loss) == pytest.approx(np.log(3))  # uniform logits over 3 classes
    with pytest.raises(ValueError, match="not divisible by 4"):
        net(torch.zeros(1, 1, 10, 12))


def test_image_dataset_gives_masks_for_segment(toy: dict[str, Path]) -> None:
    src = open_dataset(toy["train"])
    x, y = ImageDataset(src, task="segment")[3]
    assert x.shape == (1, 16, 16) and y.shape == (16, 16) and y.dtype == torch.uint8
    assert set(y.unique().tolist()) == {0, 1, 2}
    assert bool((x[0][y == 1] > 0.9).all())  # the square's pixels are the bright ones
    with pytest.raises(InputError, match="has no per-pixel masks"):
        ImageDataset(open_dataset(toy["no_masks"]), task="segment")


@pytest.mark.parametrize(
    ("role", "data", "message"),
    [
        ("train", "no_masks", "--train dataset has no per-pixel masks"),
        ("test", "no_masks", "--test dataset has no per-pixel masks"),
        ("test", "other_parts", "--test dataset has mask classes ['background', 'a', 'b']"),
        ("both", "odd_size", "images of 18x18 are not divisible by 4"),
    ],
)
def test_bad_datasets_are_one_line_naming_them(
    toy: dict[str, Path], tmp_path: Path, role: str, data: str, message: str
) -> None:
    train = toy[data] if role in ("train", "both") else toy["train"]
    test = toy[data] if role in ("test", "both") else toy["test"]
    with pytest.raises(InputError, match=re.escape(message)) as e:
        train_task(QUICK, [train], test, tmp_path / "run", progress=False, log_to=())
    assert "\n" not in str(e.value) and str(e.value).startswith(str(toy[data]))


@pytest.mark.parametrize(
    ("change", "message"),
    [({"tta": True}, "tta is not available for task segment"), ({"adapt": "dann"}, "adapt .* not available")],
)
def test_unsupported_options_are_refused(
    toy: dict[str, Path], tmp_path: Path, change: dict, message: str
) -> None:
    cfg = dataclasses.replace(QUICK, **change)
    with pytest.raises(InputError, match=message):
        train_task(cfg, [toy["train"]], toy["test"], tmp_path / "run", target=toy["test"], progress=False)


def test_cli_trains_segment_and_refuses_a_set_without_masks(
    toy: dict[str, Path], tmp_path: Path, run_cli
) -> None:
    args = ["train-task", "segment", "--train", toy["train"], "--test", toy["test"], "--epochs", "1"]
    quick = [
        "--min-steps",
        "20",
        "--batch-size",
        "16",
        "--width",
        "4",
        "--seg-depth",
        "2",
        "--log-to",
        "",
    ]
    code, out, _ = run_cli(*args, *quick, "--out", tmp_path / "run")
    assert code == 0 and "iou 1 square" in out and "miou" in out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["parts"] == PARTS
    bad = [
        "train-task",
        "segment",
        "--train",
        toy["no_masks"],
        "--test",
        toy["test"],
        "--out",
        tmp_path / "r2",
    ]
    code, _, err = run_cli(*bad)
    assert code == 2 and err.count("\n") == 1 and str(toy["no_masks"]) in err and "no per-pixel masks" in err
