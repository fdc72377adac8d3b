"""Scoring a task network: the loss and metrics over batches, on a dataset, and the task-label check."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from simgan.data import DatasetWriter, open_dataset
from simgan.errors import InputError
from simgan.eval.task_eval import check_labelled_for, evaluate, evaluate_batches


class FixedGaze(nn.Module):
    """A gaze 'network' that always answers the same (unnormalised) vector; has one layer to train."""

    def __init__(self, g: list[float]):
        super().__init__()
        self.register_buffer("g", torch.tensor(g))
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.g.expand(len(x), 3)


def _gaze_set(path: Path, vectors: list[list[float]]) -> Path:
    with DatasetWriter(path, height=4, width=4, channels=1, task="gaze") as w:
        for k, v in enumerate(vectors):
            g = np.asarray(v) / np.linalg.norm(v)
            w.add(f"g{k}", np.zeros((4, 4), np.uint8), {"gaze": g.tolist(), "pitch": 0.0, "yaw": 0.0})
    return path


def test_evaluate_batches_known_loss_and_metrics_and_restores_training_mode() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    nn.init.zeros_(model[1].weight)  # uniform logits: loss log 3, every prediction class 0
    model.train()
    y = torch.tensor([0, 1, 2, 0])
    batches = [(torch.randn(2, 1, 2, 2), y[:2]), (torch.randn(2, 1, 2, 2), y[2:])]
    loss, metrics = evaluate_batches(model, "classify", batches, torch.device("cpu"))
    assert loss == pytest.approx(math.log(3))
    assert metrics["accuracy"] == pytest.approx(0.5)
    assert np.asarray(metrics["confusion"]).tolist() == [[2, 0, 0], [1, 0, 0], [1, 0, 0]]
    assert model.training  # back in the mode it came in


def test_evaluate_a_dataset_and_a_subset(tmp_path: Path) -> None:
    # Straight ahead, and 90 degrees off it: the fixed answer (0, 0, -2) is normalised before scoring.
    src = open_dataset(_gaze_set(tmp_path / "g", [[0, 0, -1], [1, 0, 0], [0, 0, -1], [0, 0, -1]]))
    m = evaluate(FixedGaze([0.0, 0.0, -2.0]), src, "gaze", batch_size=3)
    assert m["n"] == 4 and m["angular_error_deg"] == pytest.approx(90 / 4, abs=1e-3)
    assert m["within_deg"]["5"] == pytest.approx(0.75)
    sub = evaluate(FixedGaze([0.0, 0.0, -2.0]), src, "gaze", indices=np.array([0, 2]))
    assert sub["n"] == 2 and sub["angular_error_deg"] == pytest.approx(0.0, abs=1e-3)


def test_a_dataset_of_another_task_is_refused_by_name(tmp_path: Path) -> None:
    src = open_dataset(_gaze_set(tmp_path / "eyes", [[0, 0, -1]]))
    with pytest.raises(InputError, match=r"eyes.*test dataset is labelled for task 'gaze'.*'classify'"):
        evaluate(FixedGaze([0.0, 0.0, -1.0]), src, "classify")
    with DatasetWriter(tmp_path / "plain", height=4, width=4, channels=1) as w:
        w.add("a", np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match=r"--train dataset is unlabelled"):
        check_labelled_for(open_dataset(tmp_path / "plain"), "gaze", "--train")
    check_labelled_for(src, "gaze", "--test")  # the right task passes
