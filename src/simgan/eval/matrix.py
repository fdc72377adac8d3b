"""Train on each dataset, test on each: the cross-benchmark table of the lecture (train \\ test).

The lecture's hand-pose table (Yuan et al., CVPR 2017) shows why one benchmark is not enough: a model
trained on ICVL scores 12.3 mm on ICVL and 65.8 mm on MSRC. :func:`cross_domain_matrix` measures the same
thing for simgan's domains (synthetic, refined, real, ...): every dataset is split once (seeded) into a
training part and a test part; a task model is trained on each training part with
:func:`simgan.train.task.train_task` and evaluated on *every* test part with
:func:`simgan.train.task.evaluate`. The diagonal is the usual within-domain score; the off-diagonal cells
are the domain gap. Cells hold the task's selection metric (``accuracy`` for classify,
``angular_error_deg`` for gaze, ``mean_error_px`` for handpose); ``cells`` keeps every metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from simgan.atomic import write_json
from simgan.data import Sample, Source, open_dataset
from simgan.device import select_device
from simgan.errors import InputError
from simgan.eval.metrics import selection_metric
from simgan.train.task import TaskConfig, evaluate, load_task_model, train_task

__all__ = ["SubsetSource", "split_source", "cross_domain_matrix", "matrix_rows"]


class SubsetSource(Source):
    """A read-only view of some samples of another source (ids and labels unchanged)."""

    def __init__(self, source: Source, indices: np.ndarray):
        self.source = source
        self.indices = np.asarray(indices, dtype=np.int64)
        self.info = dataclasses.replace(source.info, count=len(self.indices))

    def read(self, index: int) -> Sample:
        return self.source.read(int(self.indices[index]))

    def label(self, index: int) -> Any:
        return self.source.label(int(self.indices[index]))

    def sample_id(self, index: int) -> str:
        return self.source.sample_id(int(self.indices[index]))


def split_source(source: Source, test_fraction: float, seed: int) -> tuple[SubsetSource, SubsetSource]:
    """A seeded (train, test) split of one dataset; both parts non-empty."""
    n = len(source)
    if n < 2:
        raise InputError.at(
            source.info.path, f"needs at least 2 samples to split into train and test, has {n}"
        )
    n_test = min(n - 1, max(1, round(n * test_fraction)))
    order = np.random.default_rng(seed).permutation(n)
    return SubsetSource(source, np.sort(order[n_test:])), SubsetSource(source, np.sort(order[:n_test]))


def _check_compatible(task: str, sources: Mapping[str, Source]) -> None:
    """Every dataset labelled for ``task`` with one image size, channel count and class list."""
    ref_name, ref = next(iter(sources.items()))
    r = ref.info
    for name, src in sources.items():
        i = src.info
        if i.task != task:
            what = "unlabelled" if i.task is None else f"labelled for {i.task!r}"
            raise InputError.at(i.path, f"dataset {name!r} is {what}, but the matrix is for task {task!r}")
        if (i.height, i.width, i.channels) != (r.height, r.width, r.channels):
            raise InputError.at(
                i.path,
                f"dataset {name!r} has {i.height}x{i.width}x{i.channels} images but {ref_name!r} has "
                f"{r.height}x{r.width}x{r.channels} (every cell must read the same image size)",
            )
        if task == "classify" and tuple(i.classes or ()) != tuple(r.classes or ()):
            raise InputError.at(
                i.path, f"dataset {name!r} has classes {i.classes}, {ref_name!r} has {r.classes}"
            )


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
    _check_compatible(task, sources)
    out = Path(out)
    splits = {name: split_source(src, test_fraction, seed) for name, src in sources.items()}
    metric = selection_metric(task)
    device = select_device(cfg.device)

    table: dict[str, dict[str, float]] = {}
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for train_name, (train_part, _) in splits.items():
        run = out / f"train_{_safe(train_name)}"
        train_task(cfg, [train_part], None, run, progress=progress)
        model, _ = load_task_model(run / "best.pt", device)
        cells[train_name] = {}
        for test_name, (_, test_part) in splits.items():
            m = evaluate(model, test_part, task, device)
            cells[train_name][test_name] = {k: v for k, v in m.items() if k != "confusion"}
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
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
