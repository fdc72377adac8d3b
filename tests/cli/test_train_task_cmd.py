"""``simgan train-task`` end to end on tiny learnable toy sets: every optimizer and scheduler for each task,
the run folder's files, and one-line exit-2 errors for bad input."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.errors import InputError
from simgan.train.optim import OPTIMIZERS, SCHEDULERS

# Learning rates at which each optimizer makes visible progress in a few epochs on the toy sets.
LR = {"sgd": 0.2, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.05, "rmsprop": 3e-3, "adam": 1e-2}
LR_CLASSIFY = {**LR, "momentum": 0.05, "nesterov": 0.05}  # with batch 8: more, smaller steps


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, write_toy: Callable[..., Path]) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("toy")
    write_toy = functools.partial(write_toy, cycle_classes=True, shared_hand=False)  # balanced; own hands
    sets = {f"{t}_train": write_toy(base / f"{t}_train", t, 64, 0) for t in ("classify", "gaze", "handpose")}
    sets.update(
        {f"{t}_test": write_toy(base / f"{t}_test", t, 16, 1) for t in ("classify", "gaze", "handpose")}
    )
    sets["classify_10px"] = write_toy(base / "classify_10px", "classify", 16, 2, size=10)
    config = base / "small.yaml"
    config.write_text("gaze_hidden: 32\nhg_depth: 1\nwidth: 8\nmin_steps: 0\n", encoding="utf-8")
    sets["config"] = config
    quick = base / "quick.yaml"  # the same small networks, no curves.png (matplotlib costs ~0.5 s a run)
    quick.write_text("gaze_hidden: 32\nhg_depth: 1\nwidth: 8\nplot: false\nmin_steps: 0\n", encoding="utf-8")
    sets["quick"] = quick
    return sets


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


CASES = [
    (t, o, SCHEDULERS[k % 3]) for t in ("classify", "gaze", "handpose") for k, o in enumerate(OPTIMIZERS)
]


@pytest.mark.parametrize(("task", "optimizer", "scheduler"), CASES)
def test_every_optimizer_and_scheduler_lowers_the_loss(
    run_cli, toy: dict[str, Path], tmp_path: Path, task: str, optimizer: str, scheduler: str
) -> None:
    run = tmp_path / "run"
    lr0 = (LR_CLASSIFY if task == "classify" else LR)[optimizer]
    code, out, err = run_cli(
        "train-task", task, "--train", toy[f"{task}_train"], "--test", toy[f"{task}_test"], "--out", run,
        "--epochs", "5", "--batch-size", "8" if task == "classify" else "16",
        "--optimizer", optimizer, "--lr", str(lr0), "--scheduler", scheduler,
        "--lr-step", "2", "--lr-gamma", "0.5", "--config", toy["quick"],
    )  # fmt: skip
    assert code == 0, err
    hist = _history(run)
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4, 5]
    losses = [h["train/loss"] for h in hist]
    assert losses[-1] < 0.9 * losses[0], losses
    lrs = [h["lr"] for h in hist]
    expected = {
        "none": [lr0] * 5,
        "step": [lr0 * 0.5 ** (e // 2) for e in range(5)],
        "exponential": [lr0 * 0.5 ** (e / 2) for e in range(5)],
    }[scheduler]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    metrics = json.loads((run / "metrics.json").read_text())
    keys = {
        "classify": {"accuracy", "confusion"},
        "gaze": {"angular_error_deg", "within_deg"},
        "handpose": {"mean_error_px", "within_px", "frames_within_px"},
    }[task]
    assert keys <= set(metrics) and metrics["n_test"] == 16 and metrics["n_train"] + metrics["n_val"] == 64
    for f in ("config.json", "curves.json", "best.pt", "last.pt"):
        assert (run / f).is_file()
    assert json.loads((run / "config.json").read_text())["optimizer"] == optimizer


def test_json_output_and_within_curves(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    code, out, _ = run_cli(
        "train-task", "handpose", "--train", toy["handpose_train"], "--test", toy["handpose_test"],
        "--out", tmp_path / "run", "--epochs", "1", "--config", toy["config"],
        "--augment", "flip,crop,rotate", "--json",
    )  # fmt: skip
    assert code == 0
    m = json.loads(out)
    assert list(m["within_px"]) == [str(d) for d in range(21)]
    # The per-frame curve (worst joint) never lies above the per-joint one.
    assert all(m["frames_within_px"][d] <= m["within_px"][d] for d in m["within_px"])
    assert m == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000


def test_help_lists_defaults(run_cli) -> None:
    code, out, _ = run_cli("train-task", "--help")
    assert code == 0
    for text in (
        "--optimizer",
        "default: adam",
        "--augment",
        "--finetune",
        "--val-fraction",
        "--patience",
        "--min-steps",
        "default: 1500",
        "--adapt {none,dann,self-train}",
        "--target",
        "--ema-decay",
    ):
        assert text in out


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("simgan train-task: error:"), err
    for n in needles:
        assert n in err, err


def test_mismatched_train_sets_exit_2(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--train", toy["classify_10px"],
        "--test", toy["classify_test"], "--out", tmp_path / "run",
    )  # fmt: skip
    _one_line_error(code, err, str(toy["classify_10px"]), "10x10x1", "8x8x1")
    assert not (tmp_path / "run").exists()


def test_train_set_of_another_task_exit_2(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--train", toy["gaze_train"],
        "--test", toy["classify_test"], "--out", tmp_path / "run",
    )  # fmt: skip
    _one_line_error(code, err, str(toy["gaze_train"]), "'gaze'")


def test_test_set_of_another_task_exit_2(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train-task", "gaze", "--train", toy["gaze_train"], "--test", toy["handpose_test"],
        "--out", tmp_path / "run",
    )  # fmt: skip
    _one_line_error(code, err, str(toy["handpose_test"]), "--test", "'handpose'")


@pytest.mark.parametrize(
    ("augment", "needle"), [("crop,blur", "unknown augmentation 'blur'"), ("flip", "'flip' is not allowed")]
)
def test_bad_augmentation_exit_2(
    run_cli, toy: dict[str, Path], tmp_path: Path, augment: str, needle: str
) -> None:
    code, _, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"],
        "--out", tmp_path / "run", "--augment", augment,
    )  # fmt: skip
    _one_line_error(code, err, needle)


def test_missing_dataset_and_bad_value_exit_2(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train-task", "classify", "--train", tmp_path / "nope", "--test", toy["classify_test"],
        "--out", tmp_path / "run",
    )  # fmt: skip
    _one_line_error(code, err, str(tmp_path / "nope"))
    code, _, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"],
        "--out", tmp_path / "run", "--val-fraction", "1.5",
    )  # fmt: skip
    _one_line_error(code, err, "val_fraction")


def test_adapt_without_target_exit_2(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"],
        "--out", tmp_path / "run", "--adapt", "dann",
    )  # fmt: skip
    _one_line_error(code, err, "--adapt dann needs --target DIR")
    code, _, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"],
        "--out", tmp_path / "run", "--adapt", "self-train", "--target", toy["classify_10px"],
    )  # fmt: skip
    _one_line_error(code, err, "--target", "10x10x1", "8x8x1")
    code, _, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"],
        "--out", tmp_path / "run", "--adapt", "dann", "--target", toy["classify_test"], "--ema-decay", "1",
    )  # fmt: skip
    _one_line_error(code, err, "ema_decay")


def test_dann_from_the_command_line(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = run_cli(
        "train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"],
        "--out", tmp_path / "run", "--config", toy["quick"], "--epochs", "2", "--min-steps", "10",
        "--adapt", "dann", "--target", toy["classify_test"], "--adapt-weight", "0.5",
    )  # fmt: skip
    assert code == 0, err
    assert "steps" in out and "best_epoch" in out
    hist = _history(tmp_path / "run")
    # 58 training images at batch 128: one step an epoch, so the floor of 10 steps takes 10 epochs.
    assert len(hist) == 10 and hist[-1]["step"] == 10 and "domain/accuracy" in hist[-1]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["adapt"] == "dann" and saved["adapt_weight"] == 0.5 and saved["min_steps"] == 10


def test_a_run_folder_is_replaced_only_with_overwrite(run_cli, toy: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"]]
    args += ["--out", run, "--epochs", "1", "--config", toy["quick"], "--json"]
    assert run_cli(*args)[0] == 0
    first = (run / "metrics.json").read_bytes()
    code, _, err = run_cli(*args)
    _one_line_error(code, err, "already holds a train-task run", "--overwrite")
    assert (run / "metrics.json").read_bytes() == first  # refused before anything changed
    code, out, _ = run_cli(*args, "--seed", "3", "--overwrite")
    assert code == 0 and json.loads(out) == json.loads((run / "metrics.json").read_text())
    assert len(_history(run)) == 1  # the old run's lines are gone, not appended to


def test_a_run_records_its_data_and_writes_tensorboard_events(
    run_cli, toy: dict[str, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = ["train-task", "classify", "--train", toy["classify_train"], "--test", toy["classify_test"]]
    assert run_cli(*args, "--out", run, "--epochs", "2", "--config", toy["quick"], "--json")[0] == 0
    data = json.loads((run / "metrics.json").read_text())["data"]
    assert [d["path"] for d in data["train"]] == [str(toy["classify_train"].resolve())]
    assert data["test"]["count"] == 16 and data["test"]["layout"] == "simgan"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    loss = events.Scalars("train/train/loss")
    assert [e.step for e in loss] == [1, 2]
    assert loss[0].value == pytest.approx(_history(run)[0]["train/loss"], rel=1e-6)  # float32 events


def test_the_library_takes_folders_as_well_as_sources(toy: dict[str, Path], tmp_path: Path) -> None:
    from simgan.train.task import TaskConfig, train_task

    cfg = TaskConfig(task="classify", epochs=1, min_steps=0, width=8, plot=False)
    metrics = train_task(cfg, [toy["classify_train"]], str(toy["classify_test"]), tmp_path / "run")
    assert metrics["n_test"] == 16 and 0.0 <= metrics["accuracy"] <= 1.0
    with pytest.raises(InputError, match="--test .*no such"):
        train_task(cfg, [toy["classify_train"]], tmp_path / "missing", tmp_path / "run2")
