"""The cells of the cross-benchmark table (train \\ test): each trained model scored on every test part.

The lecture's hand-pose table (Yuan et al., CVPR 2017) shows why one benchmark is not enough: a model
trained on ICVL scores 12.3 mm on ICVL and 65.8 mm on MSRC. This module holds the evaluation side of that
table for simgan's domains (synthetic, refined, real, ...): a seeded train/test split of each dataset
(:func:`split_source`), the check that all datasets can share one model (:func:`check_compatible`) and
one row of cells, a trained model on every test part (:func:`score_row`). Training one model per domain
and assembling the table is an experiment: :func:`simgan.experiment.matrix.cross_domain_matrix`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from simgan.data import Sample, Source
from simgan.errors import InputError
from simgan.eval.task_eval import evaluate

__all__ = ["SubsetSource", "split_source", "check_compatible", "score_row"]


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
    """A seeded (train, test) split of one dataset; both parts non-empty.

    Raises:
        InputError: fewer than 2 samples.
    """
    n = len(source)
    if n < 2:
        raise InputError.at(
            source.info.path, f"needs at least 2 samples to split into train and test, has {n}"
        )
    n_test = min(n - 1, max(1, round(n * test_fraction)))
    order = np.random.default_rng(seed).permutation(n)
    return SubsetSource(source, np.sort(order[n_test:])), SubsetSource(source, np.sort(order[:n_test]))


def check_compatible(task: str, sources: Mapping[str, Source]) -> None:
    """Every dataset labelled for ``task`` with one image size, channel count and class list.

    Raises:
        InputError: naming the first dataset that differs from the first one.
    """
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


def score_row(
    model: nn.Module, task: str, tests: Mapping[str, Source], device: str | torch.device = "cpu"
) -> dict[str, dict[str, Any]]:
    """One row of the table: the task metrics of ``model`` on every test part, in ``tests`` order.

    Returns:
        ``{test name: metrics}`` with the keys of :func:`simgan.eval.task_eval.evaluate` except the
        confusion matrix (a table cell holds numbers and curves, not a K x K matrix).
    """
    row = {}
    for name, part in tests.items():
        m = evaluate(model, part, task, device)
        row[name] = {k: v for k, v in m.items() if k != "confusion"}
    return row
