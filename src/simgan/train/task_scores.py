"""What ``train-task`` measures of its selected model besides training: the test scores (with the
test-time-augmented ones under ``tta``), and ATC's threshold on the validation split, which
:mod:`simgan.eval.label_free` later turns into an accuracy estimate on unlabelled real images."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from simgan.data.source import Source
from simgan.eval.label_free import atc_threshold
from simgan.eval.metrics import METRICS
from simgan.eval.task_eval import evaluate
from simgan.train.task_config import TaskConfig
from simgan.train.task_data import TaskData

__all__ = ["scalar_metrics", "test_scores", "atc_threshold_on"]


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics that can rank epochs (numbers with a direction), for the validation record."""
    return {k: v for k, v in metrics.items() if k in METRICS and METRICS[k].higher_is_better is not None}


def test_scores(model: nn.Module, test: Source, cfg: TaskConfig, device: torch.device) -> dict[str, Any]:
    """The test metrics, plus each scalar one again under test-time augmentation (``<key>_tta``) with
    ``cfg.tta``."""
    metrics = evaluate(model, test, cfg.task, device)
    if cfg.tta:
        tta = evaluate(model, test, cfg.task, device, tta=True)
        metrics |= {f"{k}_tta": v for k, v in scalar_metrics(tta).items()}
    return metrics


@torch.no_grad()
def atc_threshold_on(model: nn.Module, val: TaskData, cfg: TaskConfig, device: torch.device) -> float | None:
    """The selected classifier's ATC threshold on its source validation split; None for other tasks or
    without a validation split."""
    if cfg.task != "classify" or not len(val):
        return None
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y in val.batches(max(cfg.batch_size, 256), shuffle=False, seed=0):
        logits.append(model(x.to(device)).float().cpu())
        labels.append(y)
    model.train(was_training)
    return atc_threshold(torch.cat(logits), torch.cat(labels))
