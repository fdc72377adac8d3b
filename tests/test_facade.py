"""``from simgan import ...``: the whole workflow from one import, loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import simgan


def test_the_facade_names_the_library_functions() -> None:
    from simgan import (
        evaluate_labels,
        evaluate_realism,
        gap_experiment,
        refine,
        simulate,
        train_refiner,
        train_task,
    )
    from simgan.experiment.gap import run_gap
    from simgan.refinement import refine as refine_fn
    from simgan.train.task import train_task as train_task_fn

    assert refine is refine_fn and train_task is train_task_fn and gap_experiment is run_gap
    assert all(callable(f) for f in (evaluate_labels, evaluate_realism, simulate, train_refiner))
    assert set(simgan.__all__) <= set(dir(simgan))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        simgan.nope  # noqa: B018


def test_importing_simgan_loads_no_torch() -> None:
    code = "import sys, simgan; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
