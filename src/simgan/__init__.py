"""simgan: learning from simulated and unsupervised images.

Simulate labelled images, refine them with unlabelled real images (SimGAN, Shrivastava et al. 2017),
train task models on them, and measure the reality gap. The whole workflow from one import::

    from simgan import simulate, train_refiner, refine, train_task, evaluate_realism, evaluate_labels
    from simgan import gap_experiment, open_dataset

The names load their modules on first use, so ``import simgan`` (and ``simgan --version``) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_FACADE = {
    "simulate": ("simgan.sim.registry", "simulate"),
    "open_dataset": ("simgan.data", "open_dataset"),
    "train_refiner": ("simgan.train.refiner", "train_refiner"),
    "RefinerTrainConfig": ("simgan.train.refiner", "RefinerTrainConfig"),
    "refine": ("simgan.refinement", "refine"),
    "train_task": ("simgan.train.task", "train_task"),
    "TaskConfig": ("simgan.train.task", "TaskConfig"),
    "evaluate_realism": ("simgan.eval.realism", "evaluate_realism"),
    "evaluate_labels": ("simgan.experiment.labels", "evaluate_labels"),
    "gap_experiment": ("simgan.experiment.gap", "run_gap"),
    "GapConfig": ("simgan.experiment.gap", "GapConfig"),
}
__all__ = ["__version__", *_FACADE]


def __getattr__(name: str) -> Any:
    if name not in _FACADE:
        raise AttributeError(f"module 'simgan' has no attribute {name!r}")
    module, attr = _FACADE[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FACADE))
