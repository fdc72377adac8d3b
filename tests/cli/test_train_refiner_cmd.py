"""``simgan train-refiner`` and ``simgan refine`` end to end on tiny data, resume, and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan import losses
from simgan.checkpoint import load_checkpoint
from simgan.data import DatasetWriter, open_dataset, write_png
from simgan.train.label_monitor import LabelMonitor

RunCli = Callable[..., tuple[int, str, str]]

FAST = ["--batch-size", "8", "--history-size", "8", "--pretrain-r-steps", "1", "--pretrain-d-steps", "2"]
FAST += ["--log-every", "1", "--ckpt-every", "2", "--grid-every", "3", "--device", "cpu"]


def _simgan_set(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, height=8, width=8, channels=1, task="classify", classes=["a", "b"]) as w:
        for i in range(n):
            w.add(f"s{i:03d}", rng.integers(0, 256, (8, 8, 1), dtype=np.uint8), i % 2)
    return path


def _folder(path: Path, n: int, channels: int, seed: int) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_png(path / f"{i:03d}.png", rng.integers(0, 256, (8, 8, channels), dtype=np.uint8))
    return path


def _one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("simgan "), err
    for f in fragments:
        assert f in err, err


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return _simgan_set(tmp_path / "syn", 24, 0), _folder(tmp_path / "real", 20, 1, 1)  # real: unlabelled PNGs


def test_train_refine_resume(run_cli: RunCli, data: tuple[Path, Path], tmp_path: Path) -> None:
    syn, real = data
    run = tmp_path / "run"
    args = ["train-refiner", "--synthetic", syn, "--real", real, "--out", run, *FAST]
    code, out, err = run_cli(*args, "--steps", "3", "--lambda-reg", "0.3")
    assert code == 0, err
    assert "trained refiner" in out and "iteration 3" in out and "D accuracy real" in out
    assert {p.name for p in run.iterdir()} >= {"config.json", "checkpoint.pt", "stats.jsonl", "grids", "tb"}
    assert load_checkpoint(run, "refiner")["step"] == 6
    grids = sorted(p.name for p in (run / "grids").glob("*.png"))
    assert grids == ["step_0000003.png", "step_0000006.png"]  # every --grid-every 3 steps and the last

    # Resume a finished run to a larger --steps: the saved config (lambda 0.3) is kept.
    code, out, err = run_cli(*args, "--steps", "5", "--resume")
    assert code == 0, err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["steps"] == 5 and cfg["lambda_reg"] == 0.3 and cfg["preset"] == "digits"
    steps = [json.loads(line)["step"] for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))

    ref = tmp_path / "refined"
    code, out, err = run_cli("refine", "--refiner", run, "--input", syn, "--out", ref, "--batch-size", "5")
    assert code == 0, err
    assert "refined 24 images" in out
    src, dst = open_dataset(syn), open_dataset(ref)
    assert [dst.label(i) for i in range(24)] == [src.label(i) for i in range(24)]
    by = dst.info.extra["provenance"]["refined_by"]
    best_step = load_checkpoint(run, "refiner", name="best.pt")["step"]
    assert by["selected"] == "best" and by["step"] == best_step and by["checkpoint"].endswith("best.pt")
    code, out, err = run_cli("refine", "--refiner", run, "--input", syn, "--out", ref)  # rerun: nothing to do
    assert code == 0 and open_dataset(ref).info.count == 24
    last = tmp_path / "refined_last"
    code, _, err = run_cli("refine", "--refiner", run, "--input", syn, "--out", last, "--checkpoint", "last")
    assert code == 0, err
    by = open_dataset(last).info.extra["provenance"]["refined_by"]
    assert by["selected"] == "last" and by["step"] == 8


def test_config_file_and_flags(run_cli: RunCli, data: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("k_g: 1\nlambda_reg: 2.0\noptimizer_d: rmsprop\nscheduler_r: step\n")
    syn, real = data
    run = tmp_path / "run"
    code, _, err = run_cli(
        "train-refiner", "--synthetic", syn, "--real", real, "--out", run, "--config", cfg, *FAST,
        "--steps", "2", "--lambda-reg", "1.5", "--no-history", "--global-adversarial",
    )  # fmt: skip
    assert code == 0, err
    saved = json.loads((run / "config.json").read_text())
    assert saved["k_g"] == 1 and saved["lambda_reg"] == 1.5 and saved["optimizer_d"] == "rmsprop"
    assert saved["history"] is False and saved["global_adversarial"] is True


def test_bad_input(run_cli: RunCli, data: tuple[Path, Path], tmp_path: Path) -> None:
    syn, real = data
    run = tmp_path / "run"

    def train(*extra: str | Path) -> tuple[int, str, str]:
        return run_cli("train-refiner", "--synthetic", syn, "--out", run, *FAST, "--steps", "1", *extra)

    _one_line_error(*train("--real", tmp_path / "nope"), "--real", "nope", "no such file")
    rgb = _folder(tmp_path / "rgb", 4, 3, 2)
    _one_line_error(*train("--real", rgb), "rgb", "3 channel(s)", "have 1")
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_text("lambda: 1\n")
    _one_line_error(*train("--real", real, "--config", bad_cfg), "bad.yaml", "unknown key 'lambda'")
    assert train("--real", real)[0] == 0
    _one_line_error(*train("--real", real), "already holds a refiner run", "--resume")
    (run / "checkpoint.pt").write_bytes(b"\x00garbage")
    _one_line_error(*train("--real", real, "--resume"), "checkpoint.pt", "corrupt")
    _one_line_error(
        *run_cli("refine", "--refiner", run, "--input", syn, "--out", tmp_path / "o", "--checkpoint", "last"),
        "checkpoint.pt",
        "corrupt",
    )
    _one_line_error(
        *run_cli("refine", "--refiner", tmp_path / "missing", "--input", syn, "--out", tmp_path / "o"),
        "missing",
    )


def test_nan_exits_with_a_clear_message(
    run_cli: RunCli, data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(losses, "refiner_adversarial_loss", lambda logits: logits.sum() * torch.nan)
    syn, real = data
    code, out, err = run_cli(
        "train-refiner", "--synthetic", syn, "--real", real, "--out", tmp_path / "run", *FAST, "--steps", "2"
    )
    assert code == 1 and out == ""
    last = err.strip().splitlines()[-1]
    assert "stopped: step 4 (adversarial): non-finite" in last and "checkpoint.pt" in last
    assert load_checkpoint(tmp_path / "run", "refiner")["step"] == 2  # the last good one


def test_strict_stops_with_exit_2(
    run_cli: RunCli, data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def measure(self: LabelMonitor, R: torch.nn.Module, device: torch.device, amp: bool) -> dict[str, float]:
        return {self.key: 0.25}  # a refiner that destroyed every label

    monkeypatch.setattr(LabelMonitor, "measure", measure)
    syn, real = data
    run = tmp_path / "run"
    code, out, err = run_cli(
        "train-refiner", "--synthetic", syn, "--real", real, "--out", run, *FAST, "--steps", "2",
        "--monitor-every", "2", "--strict",
    )  # fmt: skip
    assert code == 2 and out == "" and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("simgan train-refiner: error: step 2 (iteration 0): labels/agreement 0.250 < 0.9")
    assert "--strict" in last and "Last good checkpoint: none written yet" in last
    assert not (run / "checkpoint.pt").exists() and not (run / "best.pt").exists()  # step 2 failed: none


def test_consistency_bad_input(run_cli: RunCli, data: tuple[Path, Path], tmp_path: Path) -> None:
    syn, real = data
    refiner_run = tmp_path / "refiner"
    code, _, err = run_cli(
        "train-refiner", "--synthetic", syn, "--real", real, "--out", refiner_run, *FAST, "--steps", "1"
    )
    assert code == 0, err

    def train(consistency: Path, synthetic: Path = syn) -> tuple[int, str, str]:
        return run_cli(
            "train-refiner", "--synthetic", synthetic, "--real", real, "--out", tmp_path / "out", *FAST,
            "--steps", "1", "--consistency", consistency,
        )  # fmt: skip

    _one_line_error(*train(tmp_path / "missing"), "--consistency", "missing", "no such train-task run")
    _one_line_error(*train(refiner_run), "--consistency", "is a train-refiner run")
    big = tmp_path / "big"
    rng = np.random.default_rng(3)
    with DatasetWriter(big, height=12, width=12, channels=1, task="classify", classes=["a", "b"]) as w:
        for i in range(12):
            w.add(f"b{i:02d}", rng.integers(0, 256, (12, 12, 1), dtype=np.uint8), i % 2)
    real_big = _folder(tmp_path / "real_big", 8, 1, 4)
    code, out, err = run_cli(
        "train-refiner", "--synthetic", big, "--real", real_big, "--out", tmp_path / "o2", *FAST,
        "--steps", "1", "--consistency", refiner_run / "monitor_task.pt",
    )  # fmt: skip
    _one_line_error(code, out, err, "monitor_task.pt", "reads 8x8x1 images", "12x12x1")
    assert not (tmp_path / "out").exists() and not (tmp_path / "o2" / "checkpoint.pt").exists()


def test_real_images_of_another_size_train_and_draw_grids(run_cli: RunCli, tmp_path: Path) -> None:
    """D judges patches, so the real set may have another size; the grid shows it at x's size."""
    syn = _simgan_set(tmp_path / "syn", 16, 0)
    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(2)
    for i in range(12):
        write_png(real / f"{i:03d}.png", rng.integers(0, 256, (20, 30, 1), dtype=np.uint8))
    run = tmp_path / "run"
    code, _, err = run_cli(
        "train-refiner", "--synthetic", syn, "--real", real, "--out", run, "--steps", "2", *FAST
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (run / "grids").iterdir())[-1] == "step_0000005.png"


def test_tensorboard_gets_the_images_and_the_hyperparameters(
    run_cli: RunCli, data: tuple[Path, Path], tmp_path: Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    syn, real = data
    run = tmp_path / "run"
    code, _, err = run_cli(
        "train-refiner", "--synthetic", syn, "--real", real, "--out", run, *FAST, "--steps", "3"
    )
    assert code == 0, err
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    events.Reload()
    for name in ("synthetic", "refined", "difference", "real"):
        steps = [e.step for e in events.Images(f"images/{name}")]
        assert steps == [3, 6], (name, steps)  # every --grid-every 3 steps and the last (N_R + N_D + T = 6)
    hparams = [p for p in (run / "tb").rglob("events.*") if "hparams" in str(p.parent)]
    assert hparams, "the HPARAMS run is written beside the scalars"
