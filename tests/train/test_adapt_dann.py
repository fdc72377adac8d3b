"""``train-task --adapt dann`` end to end on tiny data: domain statistics logged per epoch, the reversal
makes the domains harder to tell apart, the target's labels are never read, and bad targets are refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset
from simgan.errors import InputError
from simgan.train.task import TaskConfig, train_task

BASE = TaskConfig(
    epochs=12, min_steps=0, batch_size=16, width=4, plot=False, adapt="dann", lr=3e-3, augment=()
)


@pytest.fixture(scope="module")
def sets(
    tmp_path_factory: pytest.TempPathFactory,
    write_toy: Callable[..., Path],
    write_images: Callable[..., Path],
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dann")
    src = write_toy(root / "src", "classify", 64, 0)
    real = open_dataset(write_toy(root / "real_labelled", "classify", 64, 1))
    # The "real" domain: the same blobs on a much brighter background, written without labels.
    pixels = np.stack([real.read(i).image for i in range(len(real))]).astype(np.int64)
    bright = np.clip(pixels // 2 + 110, 0, 255).astype(np.uint8)
    return {
        "src": src,
        "test": write_toy(root / "test", "classify", 16, 2),
        "target": write_images(root / "target", bright),
        # Labelled, but for another task: reading its labels as classes would fail.
        "gaze_labelled": write_toy(root / "gaze8", "gaze", 32, 3, size=8),
        "big": write_toy(root / "big", "classify", 8, 4, size=10),
    }


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_dann_logs_domain_stats_and_confuses_the_domains(sets: dict[str, Path], tmp_path: Path) -> None:
    src, test, target = (open_dataset(sets[k]) for k in ("src", "test", "target"))
    tail = {}
    for name, weight in (("weak", 1e-6), ("dann", 1.0)):
        cfg = TaskConfig(**{**BASE.__dict__, "adapt_weight": weight})
        m = train_task(cfg, [src], test, tmp_path / name, target=target, progress=False)
        hist = _history(tmp_path / name)
        assert m["adapt"] == "dann" and m["n_target"] == 64 and len(hist) == 12
        assert all({"domain/loss", "domain/accuracy", "domain/alpha"} <= set(h) for h in hist)
        alphas = [h["domain/alpha"] for h in hist]
        assert alphas == sorted(alphas) and 0 < alphas[0] < alphas[-1] <= weight  # the ramp, times lambda
        tail[name] = np.mean([h["domain/accuracy"] for h in hist[-4:]])
    # Without reversal G_d tells the bright domain apart; with it the features hide the domain.
    assert tail["weak"] > 0.75 and tail["dann"] < tail["weak"] - 0.1, tail


def test_target_labels_are_never_read(sets: dict[str, Path], tmp_path: Path) -> None:
    cfg = TaskConfig(**{**BASE.__dict__, "epochs": 2})
    src = open_dataset(sets["src"])
    m = train_task(
        cfg, [src], None, tmp_path / "r", target=open_dataset(sets["gaze_labelled"]), progress=False
    )
    assert m["n_target"] == 32 and m["steps"] == 8


def test_adapt_needs_a_matching_target(sets: dict[str, Path], tmp_path: Path) -> None:
    src = [open_dataset(sets["src"])]
    with pytest.raises(InputError, match="--adapt dann needs --target"):
        train_task(BASE, src, None, tmp_path / "a", progress=False)
    with pytest.raises(InputError, match="--target is only used with --adapt"):
        train_task(TaskConfig(), src, None, tmp_path / "b", target=open_dataset(sets["target"]))
    with pytest.raises(InputError, match="10x10x1.*8x8x1"):
        train_task(BASE, src, None, tmp_path / "c", target=open_dataset(sets["big"]), progress=False)
    assert not (tmp_path / "a").exists()
