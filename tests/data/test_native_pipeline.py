"""Native datasets feed the whole pipeline from the CLI: train-refiner, refine and train-task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from native_fixtures import write_mpiigaze, write_nyu, write_unityeyes


def test_unityeyes_refined_against_mpiigaze_then_gaze_model(tmp_path: Path, run_cli) -> None:
    rng = np.random.default_rng(0)
    looks = [(float(x), float(y), -1.0) for x, y in rng.uniform(-0.4, 0.4, (8, 2))]
    write_unityeyes(tmp_path / "unity", looks, size=(120, 160))
    write_mpiigaze(tmp_path / "mpii", {"p00": {"day01": 6, "day02": 4}}, rng)
    real = tmp_path / "mpii" / "Data" / "Normalized"
    code, _, err = run_cli(
        "train-refiner", "--synthetic", tmp_path / "unity", "--real", real, "--out", tmp_path / "run",
        "--preset", "digits", "--steps", "2", "--batch-size", "4", "--history-size", "4",
        "--pretrain-d-steps", "1", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(
        "refine", "--refiner", tmp_path / "run", "--input", tmp_path / "unity", "--out", tmp_path / "ref"
    )
    assert code == 0, err
    refined = json.loads((tmp_path / "ref" / "dataset.json").read_text())
    assert refined["count"] == 8 and (refined["height"], refined["width"]) == (35, 55)
    code, _, err = run_cli(
        "train-task", "gaze", "--train", tmp_path / "ref", "--test", real, "--out", tmp_path / "gaze",
        "--epochs", "1", "--min-steps", "0", "--batch-size", "4", "--device", "cpu", "--json",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "gaze" / "metrics.json").read_text())
    assert metrics["n_test"] == 20 and 0.0 <= metrics["angular_error_deg"] <= 180.0


def test_nyu_depth_trains_a_hand_pose_model(tmp_path: Path, run_cli) -> None:
    write_nyu(tmp_path / "test", 6, np.random.default_rng(1), kinects=1)
    code, _, err = run_cli(
        "train-task", "handpose", "--train", tmp_path / "test", "--test", tmp_path / "test",
        "--out", tmp_path / "hands", "--epochs", "1", "--min-steps", "0", "--batch-size", "3", "--width", "4",
        "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "hands" / "metrics.json").read_text())
    assert metrics["n_test"] == 6 and len(metrics["within_px"]) == 21
