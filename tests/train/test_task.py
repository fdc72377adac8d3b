"""The task trainer as a library: mixing, validation split, model selection, early stopping, fine-tuning,
checkpoints, determinism, and that gaze and hand networks actually learn a toy mapping."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.data import ImageDataset, open_dataset
from simgan.errors import InputError
from simgan.eval.task_eval import evaluate
from simgan.nn.task_model import load_task_model
from simgan.train.task import TaskConfig, train_task
from simgan.train.task_data import split

QUICK = TaskConfig(
    epochs=3, min_steps=0, batch_size=16, lr=1e-2, gaze_hidden=32, hg_depth=1, width=8, plot=False
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, write_toy: Callable[..., Path]) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("toy")
    return {
        "classify_a": write_toy(base / "classify_a", "classify", 64, 0),
        "classify_b": write_toy(base / "classify_b", "classify", 32, 1),
        "classify_test": write_toy(base / "classify_test", "classify", 24, 2),
        "gaze": write_toy(base / "gaze", "gaze", 160, 3),
        "gaze_test": write_toy(base / "gaze_test", "gaze", 48, 4),
        "hand": write_toy(base / "hand", "handpose", 96, 5),
        "hand_test": write_toy(base / "hand_test", "handpose", 48, 6),
        "hand_18px": write_toy(base / "hand_18px", "handpose", 8, 7, size=18),
    }


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_mixed_sets_split_select_and_checkpoint(toy: dict[str, Path], tmp_path: Path) -> None:
    train = [open_dataset(toy["classify_a"]), open_dataset(toy["classify_b"])]
    test = open_dataset(toy["classify_test"])
    cfg = dataclasses.replace(QUICK, epochs=4, val_fraction=0.25)
    m = train_task(cfg, train, test, tmp_path / "run", progress=False)
    # 96 mixed samples: a seeded quarter is held out, the test set is separate.
    assert (m["n_train"], m["n_val"], m["n_test"]) == (72, 24, 24)
    assert m["classes"] == ["a", "b", "c", "d"] and np.asarray(m["confusion"]).sum() == 24
    hist = _history(tmp_path / "run")
    assert len(hist) == 4 and all(h["phase"] == "train" for h in hist)
    best_acc = max(h["val/accuracy"] for h in hist)
    assert m["best"]["val/accuracy"] == best_acc
    # best.pt is a plain dict that loads without pickled code, and reproduces the reported test metric.
    ckpt = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    # The on-disk format is a contract: these tags and keys, in this order.
    assert list(ckpt) == ["format", "version", "model", "phase", "epoch", "record", "config", "model_spec"]
    assert ckpt["format"] == "simgan-task-checkpoint" and ckpt["version"] == 1
    assert ckpt["epoch"] == m["best"]["epoch"] and ckpt["model_spec"]["arch"] == "digit_cnn"
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert list(last)[-1] == "optimizer" and last["epoch"] == 4
    model, config = load_task_model(tmp_path / "run" / "best.pt")
    assert config["val_fraction"] == 0.25
    again = evaluate(model, test, "classify")
    assert again["accuracy"] == m["accuracy"] and again["n"] == 24
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["_non_default"]["val_fraction"] == 0.25
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == m
    curves = json.loads((tmp_path / "run" / "curves.json").read_text())
    assert curves["epoch"] == [1, 2, 3, 4] and curves["val/accuracy"] == [h["val/accuracy"] for h in hist]
    assert curves["test"] == {} and not (tmp_path / "run" / "curves.png").exists()  # plot=False
    # ATC's threshold (simgan.eval.label_free) on the selected model's validation split: the share of
    # validation confidences above it is the validation accuracy.
    images = [ImageDataset(s)[i][0] for s in train for i in range(len(s))]  # the mix, in order
    val_idx = split(96, 0.25, cfg.seed)[1]
    with torch.no_grad():
        conf = torch.softmax(model(torch.stack([images[i] for i in val_idx])), 1).max(1).values
    share_above = float((conf > m["atc_threshold"]).float().mean())
    assert share_above == pytest.approx(m["best"]["val/accuracy"], abs=1 / 24)


def test_finetune_runs_after_pretraining_at_lower_lr(toy: dict[str, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(QUICK, epochs=4, finetune_lr_factor=0.1)
    src = [open_dataset(toy["classify_a"])]
    m = train_task(cfg, src, None, tmp_path / "run", finetune=open_dataset(toy["classify_b"]), progress=False)
    hist = _history(tmp_path / "run")
    assert [h["phase"] for h in hist] == ["train"] * 4 + ["finetune"] * 2  # default: half the epochs
    assert [h["lr"] for h in hist if h["phase"] == "finetune"] == pytest.approx([1e-3, 1e-3])
    assert m["best"]["phase"] == "finetune"
    assert m["n_train"] + m["n_val"] == 64 + 32 and m["n_test"] == 0 and "accuracy" not in m


def test_patience_stops_when_validation_stalls(toy: dict[str, Path], tmp_path: Path) -> None:
    # A learning rate this small leaves float32 weights unchanged: the validation score cannot improve.
    cfg = dataclasses.replace(QUICK, epochs=10, patience=2, lr=1e-30)
    m = train_task(cfg, [open_dataset(toy["classify_a"])], None, tmp_path / "run", progress=False)
    assert len(_history(tmp_path / "run")) == 3
    assert m["best"]["epoch"] == 1


def test_without_validation_the_last_epoch_is_kept(toy: dict[str, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(QUICK, val_fraction=0.0)
    m = train_task(cfg, [open_dataset(toy["classify_a"])], None, tmp_path / "run", progress=False)
    assert m["n_val"] == 0 and m["best"]["epoch"] == 3 and "val/loss" not in m["best"]


def test_same_seed_same_run(toy: dict[str, Path], tmp_path: Path) -> None:
    src = [open_dataset(toy["classify_a"])]
    cfg = dataclasses.replace(QUICK, augment=("crop", "rotate", "jitter"))
    train_task(cfg, src, None, tmp_path / "a", progress=False)
    train_task(cfg, src, None, tmp_path / "b", progress=False)
    train_task(dataclasses.replace(cfg, seed=1), src, None, tmp_path / "c", progress=False)
    losses = {k: [h["train/loss"] for h in _history(tmp_path / k)] for k in "abc"}
    assert losses["a"] == losses["b"] and losses["a"] != losses["c"]


def test_gaze_net_learns_the_toy_mapping(toy: dict[str, Path], tmp_path: Path) -> None:
    test = open_dataset(toy["gaze_test"])
    # The toy's signal is a 3x3 blob on dark noise: equalising would spread the noise over the blob's levels.
    cfg = dataclasses.replace(QUICK, task="gaze", epochs=10, batch_size=8, lr=1e-3, augment=("flip",))
    cfg = dataclasses.replace(cfg, equalize=False)
    m = train_task(cfg, [open_dataset(toy["gaze"])], test, tmp_path / "run", progress=False)
    # Baseline: always predict the mean training gaze.
    g = np.array([open_dataset(toy["gaze"]).label(i)["gaze"] for i in range(160)]).mean(0)
    t = np.array([test.label(i)["gaze"] for i in range(len(test))])
    base = np.degrees(np.arccos(np.clip(t @ g / np.linalg.norm(g), -1, 1))).mean()
    assert m["angular_error_deg"] < 0.6 * base, (m["angular_error_deg"], base)
    assert "atc_threshold" not in m  # ATC is for classifiers
    assert m["within_deg"]["20"] >= m["within_deg"]["5"]


def test_hourglass_learns_the_toy_joints(toy: dict[str, Path], tmp_path: Path) -> None:
    test = open_dataset(toy["hand_test"])
    cfg = dataclasses.replace(QUICK, task="handpose", epochs=6, hg_stride=2, augment=("flip", "crop"))
    m = train_task(cfg, [open_dataset(toy["hand"])], test, tmp_path / "run", progress=False)
    uv = np.array([open_dataset(toy["hand"]).label(i)["uv"] for i in range(96)]).mean(0)
    t = np.array([test.label(i)["uv"] for i in range(len(test))])
    base = np.linalg.norm(t - uv, axis=2).mean()
    assert m["mean_error_px"] < 0.6 * base, (m["mean_error_px"], base)
    assert all(m["frames_within_px"][d] <= m["within_px"][d] for d in m["within_px"])


def test_bad_inputs_name_the_dataset(toy: dict[str, Path], tmp_path: Path) -> None:
    hand_cfg = dataclasses.replace(QUICK, task="handpose", hg_stride=4)
    with pytest.raises(InputError, match=r"hand_18px.*not divisible by hg_stride 4"):
        train_task(hand_cfg, [open_dataset(toy["hand_18px"])], None, tmp_path / "run", progress=False)
    with pytest.raises(InputError, match=r"gaze.*--test dataset is labelled for task 'gaze'"):
        train_task(QUICK, [open_dataset(toy["classify_a"])], open_dataset(toy["gaze"]), tmp_path / "r")
    model, _ = load_task_model_after(toy, tmp_path)
    with pytest.raises(InputError, match="labelled for task 'handpose'"):
        evaluate(model, open_dataset(toy["hand"]), "classify")
    with pytest.raises(InputError, match="config: epochs"):
        train_task(
            dataclasses.replace(QUICK, epochs=0), [open_dataset(toy["classify_a"])], None, tmp_path / "r"
        )
    assert not (tmp_path / "r").exists()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="bad.pt"):
        load_task_model(tmp_path / "bad.pt")


def load_task_model_after(toy: dict[str, Path], tmp_path: Path) -> tuple[torch.nn.Module, dict]:
    """Train one epoch and load its best checkpoint (helper for the error test)."""
    cfg = dataclasses.replace(QUICK, epochs=1)
    train_task(cfg, [open_dataset(toy["classify_a"])], None, tmp_path / "one", progress=False)
    return load_task_model(tmp_path / "one" / "best.pt")


def test_streaming_from_disk_when_data_exceed_the_memory_budget(toy: dict[str, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(QUICK, in_memory_mb=0, augment=("crop",))
    src, test = open_dataset(toy["classify_a"]), open_dataset(toy["classify_test"])
    m = train_task(
        cfg, [src], test, tmp_path / "run", finetune=open_dataset(toy["classify_b"]), progress=False
    )
    assert (m["n_train"], m["n_val"], m["n_test"]) == (58 + 29, 6 + 3, 24)
    losses = [h["train/loss"] for h in _history(tmp_path / "run")]
    assert len(losses) == 4 and all(np.isfinite(losses))
    model, _ = load_task_model(tmp_path / "run" / "best.pt")
    assert evaluate(model, test, "classify")["accuracy"] == m["accuracy"]


def test_curves_are_drawn_only_through_on_curves(toy: dict[str, Path], tmp_path: Path) -> None:
    calls = []
    cfg = dataclasses.replace(QUICK, plot=True)
    src = [open_dataset(toy["classify_a"])]
    train_task(cfg, src, None, tmp_path / "a", progress=False, on_curves=lambda *a: calls.append(a))
    assert len(calls) == 1
    path, history, task, test = calls[0]
    assert path == tmp_path / "a" / "curves.png" and task == "classify" and test is None
    assert [h["epoch"] for h in history] == [1, 2, 3]
    train_task(cfg, src, None, tmp_path / "b", progress=False)  # no plotter: training draws nothing
    assert not (tmp_path / "b" / "curves.png").exists() and (tmp_path / "b" / "curves.json").is_file()


def test_tta_scores_the_test_set_twice(toy: dict[str, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(QUICK, tta=True)
    test = open_dataset(toy["classify_test"])
    m = train_task(cfg, [open_dataset(toy["classify_a"])], test, tmp_path / "c", progress=False)
    assert 0.0 <= m["accuracy_tta"] <= 1.0 and "accuracy" in m
    model, _ = load_task_model(tmp_path / "c" / "best.pt")
    assert evaluate(model, test, "classify", tta=True)["accuracy"] == m["accuracy_tta"]
    g = dataclasses.replace(cfg, task="gaze", epochs=1)
    m = train_task(
        g, [open_dataset(toy["gaze"])], open_dataset(toy["gaze_test"]), tmp_path / "g", progress=False
    )
    assert m["angular_error_deg_tta"] > 0 and "within_deg_tta" not in m
