"""``simgan experiment gap`` flags onto GapConfig: file values kept, given flags win, nested fields merge."""

from __future__ import annotations

from pathlib import Path

from simgan.cli import build_parser
from simgan.cli.experiment_cmd import gap_config
from simgan.experiment.gap import GapConfig


def _cfg(*argv: str) -> GapConfig:
    return gap_config(build_parser().parse_args(["experiment", "gap", *argv]))


def test_defaults_without_flags_or_file() -> None:
    assert _cfg() == GapConfig()


def test_file_values_stay_and_given_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "gap.yaml"
    path.write_text("task: eyes\nseed: 5\nrefiner: {preset: digits, steps: 9}\ntask_model: {epochs: 7}\n")
    cfg = _cfg("--config", str(path))
    assert (cfg.task, cfg.seed, cfg.refiner.preset, cfg.refiner.steps, cfg.task_model.epochs) == (
        "eyes", 5, "digits", 9, 7
    )  # fmt: skip
    cfg = _cfg(
        "--config", str(path), "--refiner-steps", "4", "--epochs", "2", "--seed", "3", "--no-realism",
        "--size", "24x40", "--lambda-reg", "0.5",
    )  # fmt: skip
    assert cfg.refiner.steps == 4 and cfg.refiner.preset == "digits" and cfg.refiner.lambda_reg == 0.5
    assert cfg.task_model.epochs == 2 and cfg.seed == 3 and cfg.realism is False and cfg.size == (24, 40)
    assert cfg.task == "eyes"


def test_matrix_task_choices_are_the_dataset_tasks(run_cli) -> None:
    code, _, err = run_cli("experiment", "matrix", "--task", "digits", "--data", "a=b")
    assert code == 2 and err.count("\n") == 1 and "'classify', 'gaze', 'handpose'" in err
