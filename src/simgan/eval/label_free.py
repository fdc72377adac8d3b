"""Label-free estimates of how well a task model does on real images whose labels nobody has.

Users of simgan usually have unlabelled real images only, so the numbers that pick a recipe (an
augmentation, an adapter, a refiner) must come without real labels. Two published signals:

- **ATC**, average thresholded confidence (Garg et al., ICLR 2022, "Leveraging unlabeled data to predict
  out-of-distribution performance"), for classifiers: on the model's own *source* validation split, find the
  confidence threshold t above which the share of samples equals the validation accuracy; the estimated
  accuracy on the unlabelled target set is the share of target samples whose confidence exceeds t.
  :func:`atc_threshold` is computed once by ``train-task`` (``metrics.json: atc_threshold``) and
  :func:`atc_accuracy` applies it to any unlabelled set.
- **Disagreement** between independently trained models on the same unlabelled images (Jiang et al., ICLR
  2022, "Assessing generalization of SGD via disagreement"; Baek et al., NeurIPS 2022, "Agreement-on-the-line"
  shows it tracks accuracy under distribution shift too): the rate at which two classifiers' labels differ,
  the mean angle between two gaze predictions, or the mean distance between two sets of joints. Lower is
  better; the gap experiment reports it over the pairs of its repeats.

Both over-estimate accuracy under a large shift (a confident wrong model looks good), so read them as a
ranking of recipes trained the same way, not as the test number.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from simgan.data import ImageDataset, Source, make_loader
from simgan.gaze import angular_error
from simgan.nn.task_model import predictions

__all__ = ["atc_threshold", "atc_accuracy", "confidences", "predict", "disagreement", "mean_disagreement"]


def confidences(logits: torch.Tensor) -> torch.Tensor:
    """The max softmax probability of each row: the confidence ATC thresholds.

    Shape:
        logits: (N, K); returns (N,).
    """
    return torch.softmax(logits.float(), dim=1).max(dim=1).values


def atc_threshold(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """ATC's threshold t on a labelled *source* validation split: the share of confidences above t equals
    the split's accuracy.

    Shape:
        logits: (N, K) with N >= 1; labels: (N,) class indices.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1] or len(labels) == 0:
        raise ValueError(
            f"atc_threshold expects logits (N, K) and labels (N,), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    conf = confidences(logits).sort().values  # (N,) ascending
    accuracy = float((logits.argmax(dim=1) == labels).float().mean())
    below = len(conf) - round(accuracy * len(conf))  # samples that must fall at or below t
    if below == 0:  # every sample right: t just under the least confident one
        return float(torch.nextafter(conf[0], torch.zeros(())))
    if below == len(conf):
        return float(conf[-1])
    return float((conf[below - 1] + conf[below]) / 2)


def atc_accuracy(logits: torch.Tensor, threshold: float) -> float:
    """ATC's estimate of accuracy on unlabelled images: the share whose confidence exceeds ``threshold``.

    Shape:
        logits: (N, K) on the unlabelled target images.
    """
    if logits.ndim != 2 or len(logits) == 0:
        raise ValueError(f"atc_accuracy expects logits (N, K) with N >= 1, got {tuple(logits.shape)}")
    return float((confidences(logits) > threshold).float().mean())


@torch.no_grad()
def predict(
    model: nn.Module, task: str, source: Source, device: str | torch.device = "cpu", batch_size: int = 256
) -> torch.Tensor:
    """The model's predictions on every image of ``source`` (labels, if any, are never read): logits for
    classify, unit gaze vectors, joints in pixels (:func:`simgan.nn.task_model.predictions`), on the CPU.

    Shape:
        returns (N, K) / (N, 3) / (N, J, 2).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    idx = np.arange(len(source))
    out = [
        predictions(model, task, model(x.to(device))).float().cpu()
        for x, _ in make_loader(ImageDataset(source, idx), batch_size, shuffle=False)
    ]
    model.train(was_training)
    return torch.cat(out)


def disagreement(task: str, a: torch.Tensor, b: torch.Tensor) -> float:
    """How much two models' predictions on the same images differ: classify, the share of different labels;
    gaze, the mean angle in degrees; handpose, the mean joint distance in pixels.

    Shape:
        a, b: the same shape, as :func:`predict` returns.
    """
    if a.shape != b.shape:
        raise ValueError(
            f"disagreement needs predictions of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if task == "classify":
        return float((a.argmax(dim=1) != b.argmax(dim=1)).float().mean())
    if task == "gaze":
        return float(angular_error(a, b).mean())
    return float((a - b).norm(dim=-1).mean())


def mean_disagreement(task: str, preds: Sequence[torch.Tensor]) -> float | None:
    """The mean :func:`disagreement` over every pair of ``preds`` (one per independently trained model);
    None for fewer than two models."""
    pairs = list(itertools.combinations(preds, 2))
    if not pairs:
        return None
    return float(np.mean([disagreement(task, a, b) for a, b in pairs]))
