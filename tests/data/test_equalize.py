"""Histogram equalisation: a flat histogram comes out, labels and ids are untouched, and every model input
(train-refiner, refine, train-task, simulate --equalize) goes through the same transform."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.data import open_dataset
from simgan.data.equalize import EqualizedSource, equalize, equalized, resolve_equalize
from simgan.data.image_stats import image_statistics
from simgan.nn.refiner import build_refiner
from simgan.refinement import refine
from simgan.sim.registry import simulate
from simgan.train.refiner import RefinerTrainConfig, train_refiner
from simgan.train.task import TaskConfig, train_task


def _low_contrast(rng: np.random.Generator, n: int, h: int = 35, w: int = 55) -> np.ndarray:
    """Dim, low-contrast grey images (levels about 40..120, smooth ramps plus noise): (n, h, w, 1) uint8."""
    ramp = np.linspace(0, 1, w)[None, None, :] * rng.uniform(0.2, 1, (n, 1, 1))
    x = 60 + 40 * ramp + rng.normal(0, 6, (n, h, w))
    return np.clip(np.round(x), 30, 150).astype(np.uint8)[..., None]


def test_a_flat_histogram_comes_out(rng: np.random.Generator) -> None:
    images = _low_contrast(rng, 8)
    out = equalize(images) / 255.0
    assert out.shape == images.shape and equalize(images).dtype == np.uint8
    for x in out:
        assert abs(x.mean() - 0.5) < 0.03
        assert abs(x.std() - 0.289) < 0.02  # a uniform distribution on [0, 1]
        quarters = np.histogram(x, bins=4, range=(0, 1))[0] / x.size
        assert np.abs(quarters - 0.25).max() < 0.05
        assert x.min() == 0.0 and x.max() == 1.0
    raw = images / 255.0
    assert raw.std(axis=(1, 2, 3)).max() < 0.1  # the input really was low-contrast


def test_order_of_levels_is_kept_and_a_constant_image_is_left_alone(rng: np.random.Generator) -> None:
    x = _low_contrast(rng, 1)[0]
    y = equalize(x)
    order = np.argsort(x.ravel(), kind="stable")
    assert (np.diff(y.ravel()[order].astype(int)) >= 0).all()  # monotone: darker stays darker
    flat = np.full((5, 7, 1), 77, np.uint8)
    assert np.array_equal(equalize(flat), flat)


def test_equalising_twice_changes_little(rng: np.random.Generator) -> None:
    once = equalize(_low_contrast(rng, 4))
    twice = equalize(once)
    assert np.abs(twice.astype(int) - once.astype(int)).mean() < 1.0


def test_uint16_and_colour_are_equalised_per_channel(rng: np.random.Generator) -> None:
    depth = rng.integers(1000, 1200, (6, 9, 1)).astype(np.uint16)
    out = equalize(depth)
    assert out.dtype == np.uint16 and out.min() == 0 and out.max() == 65535
    rgb = np.stack([rng.integers(0, 50, (6, 9)), rng.integers(100, 140, (6, 9)), np.full((6, 9), 9)], -1)
    out = equalize(rgb.astype(np.uint8))
    assert out[..., 0].max() == 255 and out[..., 1].max() == 255 and (out[..., 2] == 9).all()


def test_bad_pixels_are_refused() -> None:
    with pytest.raises(ValueError, match="uint8 or uint16"):
        equalize(np.zeros((4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="shape"):
        equalize(np.zeros((4, 4), np.uint8))


def test_auto_is_on_for_gaze_only() -> None:
    assert resolve_equalize(None, "gaze") is True
    assert resolve_equalize(None, "classify") is False and resolve_equalize(None, "handpose") is False
    assert resolve_equalize(None, None) is False
    assert resolve_equalize(False, "gaze") is False and resolve_equalize(True, "classify") is True


def test_source_keeps_ids_and_labels(tmp_path: Path, write_toy: Callable[..., Path]) -> None:
    src = open_dataset(write_toy(tmp_path / "g", "gaze", 6, 0))
    eq = equalized(src, True)
    assert isinstance(eq, EqualizedSource) and equalized(eq, True) is eq and equalized(src, False) is src
    for i in range(6):
        a, b = src.read(i), eq.read(i)
        assert a.id == b.id == eq.sample_id(i) and a.label == b.label == eq.label(i)
        assert np.array_equal(b.image, equalize(a.image)) and np.array_equal(eq.pixels(i), b.image)
    assert list(eq.ids) == list(src.ids) and eq.info == src.info


def test_simulate_writes_equalised_eyes(tmp_path: Path) -> None:
    raw = simulate("eyes", 24, tmp_path / "raw", seed=3, progress=False)
    eq = simulate("eyes", 24, tmp_path / "eq", seed=3, progress=False, equalize=True)
    a, b = open_dataset(raw.path), open_dataset(eq.path)
    assert [a.label(i) for i in range(24)] == [b.label(i) for i in range(24)]  # labels untouched
    assert np.array_equal(b.read(5).image, equalize(a.read(5).image))
    stats = image_statistics(b)
    assert abs(stats["std"] - 0.289) < 0.01 and stats["mean_std"] < 0.01
    assert b.info.extra["provenance"]["equalize"] is True
    assert "equalize" not in a.info.extra["provenance"]  # datasets written before the option still resume


def test_train_task_equalises_gaze_by_default(tmp_path: Path, write_toy: Callable[..., Path]) -> None:
    data = write_toy(tmp_path / "g", "gaze", 32, 1)
    quick = TaskConfig(task="gaze", epochs=1, min_steps=0, batch_size=16, gaze_hidden=8, plot=False)
    on = train_task(quick, [data], data, tmp_path / "on", progress=False)
    plain = dataclasses.replace(quick, equalize=False)
    off = train_task(plain, [data], data, tmp_path / "off", progress=False)
    assert on["equalize"] is True and off["equalize"] is False
    assert json.loads((tmp_path / "on" / "config.json").read_text())["equalize"] is True
    assert on["angular_error_deg"] != off["angular_error_deg"]  # the model saw other pixels


TINY_REFINER = RefinerTrainConfig(
    preset="digits", steps=1, batch_size=4, history_size=4, pretrain_d_steps=1, monitor_every=0
)


def _gaze_pair(
    tmp_path: Path, rng: np.random.Generator, write_images: Callable[..., Path]
) -> tuple[Path, Path]:
    """A synthetic and a real set of 12 low-contrast 24x24 gaze images (one label for all)."""
    label = {"gaze": [0.0, 0.0, -1.0], "pitch": 0.0, "yaw": 0.0}
    return tuple(  # type: ignore[return-value]
        write_images(tmp_path / name, _low_contrast(rng, 12, 24, 24), [label] * 12, task="gaze")
        for name in ("syn", "real")
    )


def test_refine_equalises_as_its_run_did(
    tmp_path: Path, rng: np.random.Generator, write_images: Callable[..., Path]
) -> None:
    syn, real = _gaze_pair(tmp_path, rng, write_images)
    cfg = TINY_REFINER
    train_refiner(syn, real, tmp_path / "run", cfg, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["equalize"] is True  # auto: gaze data
    info = refine(tmp_path / "run", syn, tmp_path / "out", progress=False)
    assert info.extra["provenance"]["equalize"] is True
    assert image_statistics(open_dataset(tmp_path / "out"))["std"] > 0.25  # equalised input, near-identity R
    # An identity R shows the transform alone: refine's output is the equalised input, labels untouched.
    info = refine(build_refiner("digits", 1), syn, tmp_path / "id", progress=False, equalize=True)
    a, b = open_dataset(syn), open_dataset(tmp_path / "id")
    assert np.array_equal(b.read(3).image, equalize(a.read(3).image)) and a.label(3) == b.label(3)
    plain = refine(build_refiner("digits", 1), syn, tmp_path / "plain", progress=False)
    assert plain.extra["provenance"]["equalize"] is False


def test_a_run_from_before_the_option_resumes_unequalised(
    tmp_path: Path, rng: np.random.Generator, write_images: Callable[..., Path]
) -> None:
    syn, real = _gaze_pair(tmp_path, rng, write_images)
    cfg = TINY_REFINER
    run = tmp_path / "run"
    train_refiner(syn, real, run, cfg, progress=False)
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    del ckpt["config"]["equalize"]  # what an older simgan wrote
    torch.save(ckpt, run / "checkpoint.pt")
    train_refiner(syn, real, run, dataclasses.replace(cfg, steps=2), resume=True, progress=False)
    assert json.loads((run / "config.json").read_text())["equalize"] is False  # auto keeps what it did
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 3
