"""``simgan.loggers``: the trainers' numbers reach every backend asked for, and a missing one is one error."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from simgan import loggers
from simgan.errors import InputError
from simgan.train.refiner import RefinerTrainConfig, train_refiner
from simgan.train.task import TaskConfig, train_task


class Recorder:
    """A backend that keeps every call."""

    def __init__(self, run: Path, kind: str, options: dict[str, Any]) -> None:
        self.kind, self.options, self.calls = kind, options, []
        RECORDED.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.calls.append(("scalar", tag, step))

    def add_images(self, tag: str, images: Any, step: int) -> None:
        self.calls.append(("images", tag, tuple(images.shape)))

    def add_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], **_: Any) -> None:
        self.calls.append(("hparams", hparams["steps"], sorted(metrics)[:1]))

    def flush(self) -> None:
        self.calls.append(("flush",))

    def close(self) -> None:
        self.calls.append(("close",))


RECORDED: list[Recorder] = []


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> list[Recorder]:
    monkeypatch.setitem(loggers.BACKENDS, "recorder", Recorder)
    RECORDED.clear()
    return RECORDED


def test_names_are_checked_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loggers.parse_log_to("tensorboard, ") == ("tensorboard",) and loggers.parse_log_to("") == ()
    with pytest.raises(InputError, match="--log-to nope: unknown logger .*tensorboard"):
        loggers.parse_log_to("tensorboard,nope")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name))
    with pytest.raises(InputError, match="wandb is not installed"):
        loggers.parse_log_to(["wandb"])


def test_a_task_run_reaches_a_registered_backend(recorder, tmp_path: Path, write_toy) -> None:
    data = write_toy(tmp_path / "d", "classify", 32, 0)
    cfg = TaskConfig(epochs=2, min_steps=0, width=4, plot=False)
    train_task(cfg, [data], data, tmp_path / "run", progress=False, log_to=("recorder",))
    (rec,) = recorder
    assert rec.kind == "task" and rec.options["config"]["epochs"] == 2
    assert [c for c in rec.calls if c[:2] == ("scalar", "train/train/loss")] == [
        ("scalar", "train/train/loss", 1),
        ("scalar", "train/train/loss", 2),
    ]
    assert rec.calls[-1] == ("close",) and not (tmp_path / "run" / "tb").exists()  # only the one asked for


def test_a_refiner_run_sends_numbers_images_and_hyperparameters(recorder, tmp_path: Path, write_toy) -> None:
    data = write_toy(tmp_path / "d", "classify", 24, 0)
    cfg = RefinerTrainConfig(
        preset="digits", steps=2, batch_size=8, history_size=8, pretrain_r_steps=1, pretrain_d_steps=1
    )
    cfg = RefinerTrainConfig(**{**cfg.__dict__, "grid_every": 2, "monitor_every": 0})
    train_refiner(data, data, tmp_path / "run", cfg, device="cpu", progress=False, log_to=["recorder"])
    (rec,) = recorder
    kinds = {c[0] for c in rec.calls}
    assert {"scalar", "images", "hparams", "close"} <= kinds and rec.kind == "refiner"
    assert any(c[:2] == ("images", "images/refined") for c in rec.calls)
    assert ("hparams", 2, ["final/acc/D/real"]) in rec.calls


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is an optional extra")
def test_wandb_offline_gets_the_numbers(tmp_path: Path, write_toy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    data = write_toy(tmp_path / "d", "classify", 32, 0)
    cfg = TaskConfig(epochs=1, min_steps=0, width=4, plot=False)
    train_task(cfg, [data], data, tmp_path / "run", progress=False, log_to=("wandb",))
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
