"""``simgan demo``'s settings: the full and quick configs, and what it does with an existing folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simgan.config import save_config
from simgan.errors import InputError
from simgan.experiment.demo import demo_config, run_demo
from simgan.experiment.gap import GapConfig


def test_full_config_is_the_documented_experiment() -> None:
    cfg = demo_config()
    assert (cfg.task, cfg.n_synthetic, cfg.scale, cfg.repeats, cfg.methods) == ("digits", 2000, 4, 3, ())
    assert (cfg.refiner.preset, cfg.refiner.steps, cfg.refiner.lambda_reg) == ("digits", 2000, 0.2)
    assert cfg.task_model.min_steps == 1500  # every row's model trains to the step floor
    assert demo_config(repeats=5, seed=3).repeats == 5 and demo_config(seed=3).seed == 3


def test_quick_config_is_small_everywhere() -> None:
    full, quick = demo_config(), demo_config(quick=True)
    assert quick.repeats == 1 and quick.scale == 0 and quick.n_synthetic < full.n_synthetic
    assert quick.refiner.steps < full.refiner.steps and quick.task_model.min_steps < full.task_model.min_steps


def test_a_folder_of_another_experiment_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "other"
    save_config(GapConfig(task="eyes"), out / "config.json")
    (out / "inputs.json").write_text("{}")
    with pytest.raises(InputError, match="holds another experiment"):
        run_demo(out, quick=True, progress=False)
    assert json.loads((out / "config.json").read_text())["task"] == "eyes"  # nothing deleted


def test_methods_pick_the_rows_and_unknown_ones_fail_first(tmp_path: Path) -> None:
    assert demo_config(methods=["dann"]).methods == ("dann",)
    with pytest.raises(InputError, match="unknown row"):
        run_demo(tmp_path / "d", methods=["nope"], progress=False)
    assert not (tmp_path / "d").exists()
