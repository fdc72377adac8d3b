"""The label-preservation monitor of train-refiner: its measures, the best.pt rule, warnings, --strict,
exact resumes with the monitor on, and the auto preset."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.checkpoint import load_checkpoint
from simgan.data import open_dataset
from simgan.nn.discriminator import DISCRIMINATOR_PRESETS, output_size
from simgan.nn.refiner import build_refiner
from simgan.nn.task_model import load_task_model
from simgan.refinement import load_refiner
from simgan.train.label_monitor import LabelMonitor, LabelPreservationError, MonitorState, build_monitor
from simgan.train.refiner import train_refiner
from simgan.train.refiner_config import RefinerTrainConfig, resolve_preset

CPU = torch.device("cpu")
TINY = RefinerTrainConfig(
    preset="digits",
    steps=6,
    batch_size=8,
    history_size=12,
    pretrain_r_steps=0,
    pretrain_d_steps=2,
    lr_r=1e-3,
    lr_d=1e-3,
    log_every=1,
    ckpt_every=3,
    grid_every=50,
    monitor_every=2,
    monitor_task_steps=20,
)


@pytest.fixture
def digits(tmp_path: Path, write_toy: Callable[..., Path]) -> tuple[Path, Path]:
    syn = write_toy(tmp_path / "syn", "classify", 48, 1, cycle_classes=True)
    real = write_toy(tmp_path / "real", "classify", 32, 2)
    return syn, real


@pytest.mark.parametrize(
    ("task", "key", "identity"),
    [("classify", "labels/agreement", 1.0), ("gaze", "labels/pupil_shift_px", 0.0),
     ("handpose", "labels/silhouette_iou", 1.0)],
)  # fmt: skip
def test_identity_refiner_keeps_every_label(
    tmp_path: Path, write_toy: Callable[..., Path], task: str, key: str, identity: float
) -> None:
    src = open_dataset(write_toy(tmp_path / "syn", task, 40, 0))
    monitor, about = build_monitor(src, TINY, tmp_path / "run", CPU)
    assert monitor is not None and monitor.key == key and key in about
    assert len(monitor.synthetic) == 20  # at most half the set is held out
    values = monitor.measure(build_refiner("digits", 1), CPU, amp=False)  # R starts as the identity
    assert values[key] == identity and monitor.passes(values[key])


class _Roll(torch.nn.Module):
    """A "refiner" that moves every image 3 px to the right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, 3, dims=3)


def test_a_shifting_refiner_moves_the_pupil(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    ys, xs = np.indices((24, 40))
    images = np.full((6, 24, 40, 1), 180, np.uint8)
    for k in range(6):  # a dark pupil of radius 3 on a grey eye, at a different place in each image
        images[k, (xs - 12 - 2 * k) ** 2 + (ys - 12) ** 2 <= 9] = 20
    label = {"gaze": [0.0, 0.0, -1.0], "pitch": 0.0, "yaw": 0.0}
    src = open_dataset(write_images(tmp_path / "eyes", images, [label] * 6, task="gaze"))
    monitor, _ = build_monitor(src, TINY, tmp_path / "run", CPU)
    assert monitor is not None
    shift = monitor.measure(_Roll(), CPU, amp=False)
    assert shift["labels/pupil_shift_px"] == pytest.approx(3.0, abs=0.2)
    assert not monitor.passes(shift["labels/pupil_shift_px"])  # 3 px > 1.5 px


def test_monitor_off_without_task_labels(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    src = open_dataset(write_images(tmp_path / "u", np.zeros((8, 8, 8, 1), np.uint8)))
    monitor, about = build_monitor(src, TINY, tmp_path / "run", CPU)
    assert monitor is None and "monitor off" in about and "no labels" in about
    off, about = build_monitor(src, dataclasses.replace(TINY, monitor_every=0), tmp_path / "r", CPU)
    assert off is None and "monitor_every 0" in about


def test_judge_warns_once_per_crossing_and_keeps_the_latest_passing_step() -> None:
    monitor = LabelMonitor.__new__(LabelMonitor)  # judge needs only the threshold and direction
    monitor.key, monitor.threshold, monitor.higher_is_better = "labels/agreement", 0.9, True
    state = MonitorState()
    events = [
        monitor.judge(state, step, value, d_acc)
        for step, value, d_acc in [
            (1, 1.0, None),  # pretraining: passes but is no candidate
            (2, 0.95, 0.8),
            (3, 0.5, 0.1),  # the labels are gone: no candidate
            (4, 0.4, 0.2),  # still failing: no second warning
            (5, 0.92, 0.6),  # back above: the new best
            (6, 0.99, 0.7),  # later and passing: the new best
            (7, 0.89, 0.5),  # failing again: best.pt stays at step 6
        ]
    ]
    assert events == [
        (False, False),
        (False, True),
        (True, False),
        (False, False),
        (False, True),
        (False, True),
        (True, False),
    ]
    assert (state.best_step, state.best_score, state.passing) == (6, 0.7, False)
    restored = MonitorState()
    restored.load_state_dict(state.state_dict())
    assert restored == state


def _lines(run: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def test_monitor_in_stats_and_best_checkpoint(digits: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train_refiner(
        *digits, run, dataclasses.replace(TINY, monitor_every=3), device="cpu", progress=False
    )
    lines = _lines(run)
    measured = [r for r in lines if "labels/agreement" in r]
    assert [r["step"] for r in measured] == [3, 6, 8]  # every 3 steps and the last
    assert all(0.0 <= float(r["labels/agreement"]) <= 1.0 for r in measured)  # type: ignore[arg-type]
    model, config = load_task_model(run / "monitor_task.pt")  # the monitor's own synthetic classifier
    assert config["task"] == "classify" and model.num_classes == 4
    # best.pt: the latest passing adversarial step.
    candidates = [r for r in measured if r["phase"] == "adversarial" and float(r["labels/agreement"]) >= 0.9]  # type: ignore[arg-type]
    best = candidates[-1]
    ckpt = load_checkpoint(run, "refiner", name="best.pt")
    assert ckpt["step"] == best["step"] == result.best_step
    assert ckpt["monitor"]["best_score"] == pytest.approx(best["acc/D/refined"])
    R, provenance = load_refiner(run)  # best.pt by default
    assert provenance["selected"] == "best" and provenance["step"] == best["step"]
    assert all(torch.equal(v, ckpt["R"][k]) for k, v in R.state_dict().items())
    assert load_refiner(run, "last")[1]["step"] == 8


class _Stop(Exception):
    pass


def test_resume_with_the_monitor_is_exact(digits: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(TINY, steps=7)
    train_refiner(*digits, tmp_path / "a", cfg, device="cpu", progress=False)

    def interrupt(step: int, _values: dict[str, float]) -> None:
        if step == 8:  # the last checkpoint was written after step 6
            raise _Stop

    with pytest.raises(_Stop):
        train_refiner(*digits, tmp_path / "b", cfg, device="cpu", progress=False, on_step=interrupt)
    train_refiner(*digits, tmp_path / "b", cfg, resume=True, device="cpu", progress=False)
    assert _lines(tmp_path / "a") == _lines(tmp_path / "b")
    for name in ("checkpoint.pt", "best.pt"):
        a, b = (load_checkpoint(tmp_path / r, "refiner", name=name) for r in ("a", "b"))
        assert a["step"] == b["step"] and a["monitor"] == b["monitor"]
        assert all(torch.equal(a["R"][k], b["R"][k]) for k in a["R"])


def _failing_from(step: int) -> Callable[..., dict[str, float]]:
    calls = {"n": 0}

    def measure(self: LabelMonitor, R: torch.nn.Module, device: torch.device, amp: bool) -> dict[str, float]:
        calls["n"] += 1  # measured every 2 steps
        return {self.key: 1.0 if 2 * calls["n"] < step else 0.5}

    return measure


def test_warning_once_and_strict_stop(
    digits: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(LabelMonitor, "measure", _failing_from(6))
    train_refiner(*digits, tmp_path / "warn", TINY, device="cpu", progress=False)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "step 6 (iteration 4): labels/agreement 0.500 < 0.9" in warnings[0]
    assert load_checkpoint(tmp_path / "warn", "refiner", name="best.pt")["step"] == 4  # the only passing one

    monkeypatch.setattr(LabelMonitor, "measure", _failing_from(6))
    run = tmp_path / "strict"
    with pytest.raises(
        LabelPreservationError, match=r"step 6 \(iteration 4\): labels/agreement 0.500 < 0.9.*--strict"
    ):
        train_refiner(*digits, run, dataclasses.replace(TINY, strict=True), device="cpu", progress=False)
    assert load_checkpoint(run, "refiner")["step"] == 3  # the last good checkpoint stays
    assert load_checkpoint(run, "refiner", name="best.pt")["step"] == 4


def test_auto_preset_by_what_the_images_are() -> None:
    assert resolve_preset(28, 28, 1) == "digits" and resolve_preset(8, 8, 1) == "digits"
    assert resolve_preset(32, 32, 3, "classify") == "digits"  # SVHN-like colour digits
    assert resolve_preset(64, 64, 3) == "eyes" and resolve_preset(35, 55, 1, "gaze") == "eyes"
    assert (
        resolve_preset(224, 224, 1, "handpose") == "hands" and resolve_preset(128, 128, 3, "gaze") == "eyes"
    )
    assert resolve_preset(64, 64, 1, "handpose") == "eyes"  # the hands D would not fit 64x64
    assert resolve_preset(20, 20, 1, "gaze") == "digits"  # nor the eyes D 20x20
    digits_d = DISCRIMINATOR_PRESETS["digits"]
    assert output_size(digits_d, 28, 28) == (24, 24) and output_size(digits_d, 32, 32) == (28, 28)
