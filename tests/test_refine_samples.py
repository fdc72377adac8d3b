"""Stochastic refinement: train-refiner --noise-channels K, refine --samples S (ids, labels, diversity,
the same bytes whatever the batching), and the errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, open_dataset
from simgan.errors import InputError
from simgan.eval.diversity import sample_diversity
from simgan.refinement import load_refiner, refine
from simgan.train.refiner import RefinerTrainConfig, train_refiner

CFG = RefinerTrainConfig(
    preset="digits",
    steps=30,
    batch_size=8,
    history_size=8,
    pretrain_d_steps=2,
    lr_r=3e-3,
    lr_d=3e-3,
    monitor_every=0,
    noise_channels=2,
)


def _write(path: Path, n: int, seed: int, low: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, height=8, width=8, channels=1, task="classify", classes=list("0123456789")) as w:
        for i in range(n):
            w.add(f"id{i:03d}", rng.integers(low, 256, (8, 8, 1), dtype=np.uint8), i % 10)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("samples")
    syn, real = _write(root / "syn", 24, 0), _write(root / "real", 24, 1, low=180)
    train_refiner(syn, real, root / "noisy", CFG, progress=False)
    train_refiner(syn, real, root / "plain", dataclasses.replace(CFG, noise_channels=0), progress=False)
    return {"syn": syn, "noisy": root / "noisy", "plain": root / "plain"}


def test_samples_have_ids_labels_and_differ(runs: dict[str, Path], tmp_path: Path) -> None:
    R, prov = load_refiner(runs["noisy"])
    assert R.noise_channels == 2 and prov["config"]["noise_channels"] == 2
    info = refine(runs["noisy"], runs["syn"], tmp_path / "out", samples=3, progress=False)
    src, out = open_dataset(runs["syn"]), open_dataset(tmp_path / "out")
    assert info.count == 3 * len(src) and info.extra["provenance"]["samples"] == 3
    ids = [out.sample_id(i) for i in range(len(out))]
    assert sorted(ids) == sorted(f"{src.sample_id(i)}_{s}" for i in range(len(src)) for s in range(3))
    by_id = {out.sample_id(i): out.label(i) for i in range(len(out))}
    assert all(by_id[f"{src.sample_id(i)}_{s}"] == src.label(i) for i in range(len(src)) for s in range(3))
    d = sample_diversity(out)
    assert d["images"] == len(src) and d["samples"] == 3
    assert d["diversity_l1"] > 0.001  # the trained R reads its noise: the refinements differ


def test_same_seed_same_bytes_whatever_the_batching(runs: dict[str, Path], tmp_path: Path) -> None:
    refine(runs["noisy"], runs["syn"], tmp_path / "a", samples=2, batch_size=5, progress=False)
    refine(runs["noisy"], runs["syn"], tmp_path / "b", samples=2, batch_size=16, progress=False)
    refine(runs["noisy"], runs["syn"], tmp_path / "c", samples=2, seed=1, progress=False)
    a, b, c = (open_dataset(tmp_path / k) for k in "abc")
    pa = {a.sample_id(i): a.pixels(i) for i in range(len(a))}
    assert all(np.array_equal(pa[b.sample_id(i)], b.pixels(i)) for i in range(len(b)))
    assert any(not np.array_equal(pa[c.sample_id(i)], c.pixels(i)) for i in range(len(c)))


def test_samples_need_a_stochastic_refiner(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs a stochastic refiner"):
        refine(runs["plain"], runs["syn"], tmp_path / "x", samples=2, progress=False)
    with pytest.raises(InputError, match="--samples must be >= 1"):
        refine(runs["noisy"], runs["syn"], tmp_path / "y", samples=0, progress=False)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_cli_prints_the_diversity(runs: dict[str, Path], tmp_path: Path, run_cli) -> None:
    code, out, err = run_cli(
        "refine",
        "--refiner",
        runs["noisy"],
        "--input",
        runs["syn"],
        "--out",
        tmp_path / "o",
        "--samples",
        "2",
    )
    assert code == 0, err
    assert re.search(r"2 refinements of each image differ by 0\.\d{4} on average .* over 24 images", out)
