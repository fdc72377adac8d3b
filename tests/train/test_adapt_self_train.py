"""``train-task --adapt self-train`` end to end on tiny data: a source-only warm-up, then the mean teacher's
pseudo-labels with the mask rate logged per epoch and the confidence threshold respected."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("simgan.adapt.self_train")  # the EMA teacher (simgan.adapt) this fit loop drives

from simgan.data import open_dataset  # noqa: E402
from simgan.train.adapt_self_train import SelfTrainLearner  # noqa: E402
from simgan.train.task import TaskConfig, train_task  # noqa: E402

BASE = TaskConfig(epochs=4, min_steps=0, batch_size=16, width=4, plot=False, adapt="self-train", lr=3e-3)


@pytest.fixture(scope="module")
def sets(
    tmp_path_factory: pytest.TempPathFactory,
    write_toy: Callable[..., Path],
    write_images: Callable[..., Path],
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("self_train")
    real = open_dataset(write_toy(root / "real", "classify", 48, 1))
    pixels = np.stack([real.read(i).image for i in range(len(real))])
    return {
        "src": write_toy(root / "src", "classify", 64, 0),
        "target": write_images(root / "target", pixels),  # the same domain, written without labels
        "hand": write_toy(root / "hand", "handpose", 32, 2),
        "hand_target": write_toy(root / "hand_t", "handpose", 16, 3),
    }


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_warm_up_then_pseudo_labels_with_the_mask_rate(sets: dict[str, Path], tmp_path: Path) -> None:
    src, target = open_dataset(sets["src"]), open_dataset(sets["target"])
    m = train_task(BASE, [src], None, tmp_path / "r", target=target, progress=False)
    hist = _history(tmp_path / "r")
    assert [h["phase"] for h in hist] == ["train"] * 4 + ["self-train"] * 4
    assert m["steps"] == 8 * 4 and m["best"]["phase"] == "self-train" and m["best_epoch"] == 4
    rates = [h["self_train/mask_rate"] for h in hist[4:]]
    assert all(0.0 <= r <= 1.0 for r in rates) and "self_train/mask_rate" not in hist[0]
    assert hist[4]["lr"] == pytest.approx(BASE.lr * BASE.adapt_lr_factor)
    # A threshold no softmax reaches keeps nothing: the unlabelled loss is exactly zero.
    strict = TaskConfig(**{**BASE.__dict__, "pseudo_threshold": 1.0, "epochs": 2})
    train_task(strict, [src], None, tmp_path / "s", target=target, progress=False)
    tail = _history(tmp_path / "s")[2:]
    assert all(h["self_train/mask_rate"] == 0.0 and h["self_train/loss"] == 0.0 for h in tail)
    # A threshold of 0 keeps every pseudo-label.
    loose = TaskConfig(**{**BASE.__dict__, "pseudo_threshold": 0.0, "epochs": 2})
    train_task(loose, [src], None, tmp_path / "l", target=target, progress=False)
    assert all(h["self_train/mask_rate"] == 1.0 for h in _history(tmp_path / "l")[2:])


def test_handpose_agreement_rule(sets: dict[str, Path], tmp_path: Path) -> None:
    cfg = TaskConfig(**{**BASE.__dict__, "task": "handpose", "epochs": 1, "hg_depth": 1, "hg_stride": 2})
    src, target = open_dataset(sets["hand"]), open_dataset(sets["hand_target"])
    train_task(cfg, [src], None, tmp_path / "h", target=target, progress=False)
    (last,) = _history(tmp_path / "h")[1:]
    assert 0.0 <= last["self_train/mask_rate"] <= 1.0 and np.isfinite(last["train/loss"])
    # fp32: under bf16 the coarser heatmaps of an untrained net can put both views' argmax joints on the
    # same pixels, an exact agreement that any threshold keeps.
    never = TaskConfig(**{**cfg.__dict__, "pseudo_max_error": 1e-9, "amp": False})
    train_task(never, [src], None, tmp_path / "n", target=target, progress=False)
    assert _history(tmp_path / "n")[1]["self_train/mask_rate"] == 0.0


class _Constant(torch.nn.Module):
    """A classifier whose softmax is ``probs`` for every image."""

    def __init__(self, probs: list[float]):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(probs).log())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


def _learner(probs: list[float], prior: torch.Tensor | None) -> SelfTrainLearner:
    return SelfTrainLearner(
        _Constant(probs),
        "classify",
        iter(()),
        weight=1.0,
        confidence=0.9,
        max_error=0.0,
        ema_decay=0.0,
        generator=torch.Generator().manual_seed(0),
        prior=prior,
    )


def test_alignment_pulls_the_teachers_drift_back_to_the_prior() -> None:
    x = torch.zeros(8, 1, 4, 4)
    # A teacher that says class 0 with 0.95 on everything: confident, so every image is kept without
    # alignment; aligned to a uniform prior, its running mean is its own output and the skew divides out.
    plain = _learner([0.95, 0.025, 0.025], None)
    _, labels, keep = plain.pseudo_labels(x)
    assert keep.all() and (labels == 0).all()
    aligned = _learner([0.95, 0.025, 0.025], torch.ones(3))
    _, _, keep = aligned.pseudo_labels(x)
    assert not keep.any()  # uniform after alignment: no pseudo-label passes 0.9
    p = aligned.align(torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    assert torch.allclose(p.sum(1), torch.ones(2)) and (p >= 0).all()
    # With a prior matching the running mean the probabilities are unchanged.
    fresh = _learner([0.5, 0.3, 0.2], torch.tensor([0.4, 0.4, 0.2]))
    q = torch.tensor([[0.4, 0.4, 0.2]] * 4)
    assert torch.allclose(fresh.align(q), q)
    assert torch.equal(plain.align(q), q)  # no prior: no alignment
