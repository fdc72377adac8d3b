"""The convergence rule of ``train-task``: a step floor (``min_steps``) on top of ``epochs``, early stopping
that waits for the floor, and the steps / best epoch reported in ``metrics.json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from simgan.data import open_dataset
from simgan.train.task import TaskConfig, planned_epochs, train_task

BASE = TaskConfig(epochs=1, batch_size=16, width=4, plot=False)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory, write_toy: Callable[..., Path]) -> Path:
    return write_toy(tmp_path_factory.mktemp("steps") / "a", "classify", 40, 0)


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_planned_epochs_reach_the_step_floor() -> None:
    cfg = TaskConfig(epochs=10, batch_size=128, min_steps=1500)
    assert planned_epochs(cfg, 900) == 188  # 8 steps an epoch: ceil(1500 / 8)
    assert planned_epochs(cfg, 100_000) == 10  # 782 steps an epoch: the epochs already pass the floor
    assert planned_epochs(TaskConfig(epochs=3, min_steps=0), 900) == 3


def test_step_floor_is_reached_and_reported(digits: Path, tmp_path: Path) -> None:
    # 36 training images at batch 16: 3 steps an epoch, so a floor of 20 steps takes 7 epochs.
    cfg = TaskConfig(epochs=1, batch_size=16, width=4, plot=False, min_steps=20)
    m = train_task(cfg, [open_dataset(digits)], None, tmp_path / "run", progress=False)
    hist = _history(tmp_path / "run")
    assert m["n_train"] == 36 and m["steps"] == 21 and m["epochs"] == 7 and len(hist) == 7
    assert [h["step"] for h in hist] == [3 * e for e in range(1, 8)]
    assert m["best_epoch"] == m["best"]["epoch"] and m["best"]["step"] == 3 * m["best_epoch"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 21


def test_early_stopping_waits_for_the_floor(digits: Path, tmp_path: Path) -> None:
    # lr 1e-30 leaves the weights unchanged: the validation score never improves after epoch 1.
    stalled = {"epochs": 20, "batch_size": 16, "width": 4, "plot": False, "lr": 1e-30, "patience": 2}
    m = train_task(
        TaskConfig(**stalled, min_steps=0), [open_dataset(digits)], None, tmp_path / "a", progress=False
    )
    assert m["epochs"] == 3 and m["steps"] == 9 and m["best_epoch"] == 1  # stopped by patience 2
    m = train_task(
        TaskConfig(**stalled, min_steps=15), [open_dataset(digits)], None, tmp_path / "b", progress=False
    )
    assert m["epochs"] == 5 and m["steps"] == 15  # patience ran out at epoch 3, the floor held it to 5
