"""Label-free signals: ATC's threshold and estimate, and the disagreement between models (known values)."""

from __future__ import annotations

import math

import pytest
import torch

from simgan.eval.label_free import (
    atc_accuracy,
    atc_threshold,
    confidences,
    disagreement,
    mean_disagreement,
)


def _logits(conf: list[float], pred: list[int], k: int = 3) -> torch.Tensor:
    """Logits whose softmax has max probability ``conf[i]`` at class ``pred[i]`` (the rest spread evenly)."""
    rows = []
    for c, p in zip(conf, pred, strict=True):
        probs = torch.full((k,), (1.0 - c) / (k - 1))
        probs[p] = c
        rows.append(probs.log())
    return torch.stack(rows)


def test_confidences_are_the_max_softmax() -> None:
    logits = _logits([0.5, 0.9], [0, 2])
    assert confidences(logits).tolist() == pytest.approx([0.5, 0.9])


def test_atc_threshold_leaves_the_validation_accuracy_above_it() -> None:
    # 8 validation samples, 6 right (accuracy 0.75): the wrong ones are the least confident.
    conf = [0.40, 0.45, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95]
    pred = [1, 1, 0, 0, 0, 0, 0, 0]
    logits, labels = _logits(conf, pred), torch.zeros(8, dtype=torch.long)
    t = atc_threshold(logits, labels)
    assert 0.45 <= t < 0.6
    # On the same images the estimate is exactly the accuracy; on more confident images it is higher.
    assert atc_accuracy(logits, t) == pytest.approx(0.75)
    assert atc_accuracy(_logits([0.99] * 4, [0] * 4), t) == 1.0
    assert atc_accuracy(_logits([0.35] * 4, [0] * 4), t) == 0.0


def test_atc_refuses_bad_shapes() -> None:
    with pytest.raises(ValueError, match="logits"):
        atc_threshold(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="logits"):
        atc_accuracy(torch.zeros(0, 3), 0.5)


def test_disagreement_per_task() -> None:
    a = _logits([0.9] * 4, [0, 1, 2, 0])
    b = _logits([0.9] * 4, [0, 1, 0, 1])
    assert disagreement("classify", a, b) == 0.5
    assert disagreement("classify", a, a) == 0.0
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert disagreement("gaze", x, y) == pytest.approx(45.0)  # 90 and 0 degrees
    j = torch.zeros(2, 5, 2)
    assert disagreement("handpose", j, j + torch.tensor([3.0, 4.0])) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="one shape"):
        disagreement("gaze", x, y[:1])


def test_mean_disagreement_averages_every_pair() -> None:
    p = [_logits([0.9] * 2, labels) for labels in ([0, 0], [0, 1], [1, 1])]
    # pairs: (0,1) 0.5, (0,2) 1.0, (1,2) 0.5
    assert mean_disagreement("classify", p) == pytest.approx(2.0 / 3.0)
    assert mean_disagreement("classify", p[:1]) is None
    assert not math.isnan(mean_disagreement("classify", p[:2]) or math.nan)
