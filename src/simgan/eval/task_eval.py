"""Score a task network on labelled data: its loss and the task metrics of ``simgan.eval.metrics``.

The trainer validates every epoch with :func:`evaluate_batches` and tests once with :func:`evaluate`, so
training curves and test numbers come from the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from simgan.data import ImageDataset, Source, make_loader
from simgan.data.simgan_dir import mask_classes
from simgan.errors import InputError
from simgan.eval.metrics import task_metrics
from simgan.eval.tta import tta_predictions
from simgan.nn.task_model import predictions, task_loss

__all__ = ["check_labelled_for", "evaluate_batches", "evaluate"]


def check_labelled_for(src: Source, task: str, role: str) -> None:
    """Refuse a dataset that is not labelled for ``task``, naming it and its ``role`` (``--train``, ...).

    ``segment`` learns per-pixel masks, which a dataset of any task may carry (``simulate hands`` writes
    part masks); it needs a dataset with masks.

    Raises:
        InputError: ``src`` is unlabelled or labelled for another task; for segment, it has no masks.
    """
    info = src.info
    if task == "segment":
        if mask_classes(src) is None:
            raise InputError.at(
                info.path,
                f'{role} dataset has no per-pixel masks (labels.jsonl "mask"), which task segment '
                "learns; simgan simulate hands writes part masks",
            )
        return
    if info.task != task:
        what = "unlabelled" if info.task is None else f"labelled for task {info.task!r}"
        raise InputError.at(info.path, f"{role} dataset is {what}, but this run trains task {task!r}")


@torch.no_grad()
def evaluate_batches(
    model: nn.Module,
    task: str,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    tta: bool = False,
) -> tuple[float, dict[str, Any]]:
    """Mean loss and every task metric of ``model`` over ``batches`` (eval mode, restored afterwards).

    With ``tta`` the metrics come from the test-time views' averaged predictions
    (:func:`simgan.eval.tta.tta_predictions`), and the loss is that of the plain view.

    Shape:
        batches: ``(x, y)`` with x (B, C, H, W) and y the task's target (:func:`simgan.data.label_to_target`).
    """
    was_training = model.training
    model.eval()
    preds, targets, total, n = [], [], 0.0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        out = model(x)
        total += float(task_loss(model, task, out, y)) * len(x)
        n += len(x)
        pred = tta_predictions(model, task, x) if tta else predictions(model, task, out)
        preds.append(pred.float().cpu())
        targets.append(y.cpu())
    model.train(was_training)
    metrics = task_metrics(task, torch.cat(preds), torch.cat(targets))
    return total / max(n, 1), metrics


def evaluate(
    model: nn.Module,
    source: Source,
    task: str,
    device: str | torch.device = "cpu",
    *,
    batch_size: int = 256,
    indices: np.ndarray | None = None,
    tta: bool = False,
) -> dict[str, Any]:
    """Task metrics (``simgan.eval.metrics``) of a trained model on a labelled dataset.

    One pass streams the images from disk: each is read once, so loading the set into memory first
    would gain nothing.

    Args:
        model: a network from :func:`simgan.nn.task_model.build_task_model` or
            :func:`simgan.nn.task_model.load_task_model`.
        source: a dataset labelled for ``task``.
        task: classify, gaze, handpose or segment.
        device: where to run.
        batch_size: evaluation batch size.
        indices: evaluate on this subset only.
        tta: average the predictions over the test-time views (:mod:`simgan.eval.tta`).

    Returns:
        The task's metrics dict (the ``metrics.json`` keys of DESIGN.md), plus ``n`` (samples).

    Raises:
        InputError: ``source`` is not labelled for ``task``.
    """
    check_labelled_for(source, task, "test")
    device = torch.device(device)
    idx = np.arange(len(source)) if indices is None else np.asarray(indices)
    batches = make_loader(ImageDataset(source, idx, task=task), batch_size, shuffle=False)
    _, metrics = evaluate_batches(model.to(device), task, batches, device, tta)
    return {**metrics, "n": len(idx)}
