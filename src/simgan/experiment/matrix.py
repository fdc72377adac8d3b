"""Train on each dataset, test on each: the cross-benchmark table of the lecture (train \\ test).

:func:`cross_domain_matrix` measures the domain gap between simgan's domains (synthetic, refined, real,
...): every dataset is split once (seeded) into a training part and a test part
(:func:`simgan.eval.matrix.split_source`); a task model is trained on each training part with
:func:`simgan.train.task.train_task` and scored on *every* test part (:func:`simgan.eval.matrix.score_row`).
The diagonal is the usual within-domain score; the off-diagonal cells are the domain gap. Cells hold the
task's selection metric (``accuracy`` for classify, ``angular_error_deg`` for gaze, ``mean_error_px`` for
handpose); ``cells`` keeps every metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simgan.atomic import write_json
from simgan.data import Source, open_dataset
from simgan.data.equalize import equalized
from simgan.device import select_device
from simgan.errors import InputError
from simgan.eval.matrix import check_compatible, score_row, split_source
from simgan.eval.metrics import selection_metric
from simgan.nn.task_model import load_task_model
from simgan.train.task import TaskConfig, train_task

__all__ = ["cross_domain_matrix", "matrix_rows"]


def cross_domain_matrix(
    task: str,
    datasets: Mapping[str, Source | str | Path],
    out: str | Path,
    *,
    epochs: int = 10,
    seed: int = 0,
    test_fraction: float = 0.3,
    config: TaskConfig | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train on each dataset, test on each; write ``OUT/matrix.json`` and one run folder per training set.

    Args:
        task: classify, gaze or handpose.
        datasets: name -> labelled dataset (opened source or folder), in table order.
        out: output folder: ``OUT/train_<name>/`` (a ``train-task`` run each) and ``OUT/matrix.json``.
        epochs: training epochs per model (ignored when ``config`` is given).
        seed: the train/test splits and the training seed (ignored for training when ``config`` is given).
        test_fraction: share of each dataset held out as its test part.
        config: full task-training settings (``task`` must match); default ``TaskConfig(task, epochs, seed)``.
        progress: show progress bars.

    Returns:
        ``{"task", "metric", "higher_is_better", "names", "table": {train: {test: value}}, "cells": {train:
        {test: metrics}}, "n_train": {name: n}, "n_test": {name: n}}``.

    Raises:
        InputError: fewer than one dataset, a dataset of another task, size or class list, bad fractions.
    """
    if not datasets:
        raise InputError("cross-domain matrix: give at least one dataset (NAME=DIR)")
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    cfg = config or TaskConfig(task=task, epochs=epochs, seed=seed)  # type: ignore[arg-type]
    if cfg.task != task:
        raise InputError(f"config is for task {cfg.task!r}, the matrix for {task!r}")
    sources = {name: d if isinstance(d, Source) else open_dataset(d) for name, d in datasets.items()}
    check_compatible(task, sources)
    out = Path(out)
    splits = {name: split_source(src, test_fraction, seed) for name, src in sources.items()}
    tests = {name: test_part for name, (_, test_part) in splits.items()}
    metric = selection_metric(task)
    device = select_device(cfg.device)

    table: dict[str, dict[str, float]] = {}
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for train_name, (train_part, _) in splits.items():
        run = out / f"train_{_safe(train_name)}"
        train_task(cfg, [train_part], None, run, progress=progress, overwrite=True)
        model, config = load_task_model(run / "best.pt", device)
        on = bool(config.get("equalize"))  # the test sets as the model saw its training set
        cells[train_name] = score_row(model, task, {k: equalized(v, on) for k, v in tests.items()}, device)
        table[train_name] = {t: float(c[metric.name]) for t, c in cells[train_name].items()}
    result = {
        "task": task,
        "metric": metric.name,
        "higher_is_better": metric.higher_is_better,
        "names": list(sources),
        "table": table,
        "cells": cells,
        "n_train": {name: len(tr) for name, (tr, _) in splits.items()},
        "n_test": {name: len(te) for name, (_, te) in splits.items()},
        "test_fraction": test_fraction,
        "seed": seed,
    }
    write_json(out / "matrix.json", result)
    return result


def matrix_rows(result: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows for printing the table: rows = training set, columns = test set."""
    names = list(result["names"])
    header = [f"train \\ test ({result['metric']})", *names]
    rows = [[tr, *(f"{result['table'][tr][te]:.4g}" for te in names)] for tr in names]
    return header, rows


def _safe(name: str) -> str:
    """A dataset name as a folder name: anything but letters, digits and ``-_.`` becomes ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
