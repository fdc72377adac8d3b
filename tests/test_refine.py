"""refine(): same ids and labels, refined pixels, provenance, resumable, checked input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.data import DatasetWriter, open_dataset
from simgan.data.simgan_dir import SimganSource
from simgan.errors import InputError
from simgan.nn.refiner import build_refiner
from simgan.refinement import load_refiner, refine
from simgan.train.refiner import RefinerTrainConfig, train_refiner


def _write(path: Path, n: int, channels: int = 1, seed: int = 0, low: int = 0) -> Path:
    """``n`` random images with pixels in [low, 255] and labels (3 i) mod 10."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(
        path, height=8, width=8, channels=channels, task="classify", classes=[str(d) for d in range(10)]
    ) as w:
        for i in range(n):
            w.add(f"id{i:03d}", rng.integers(low, 256, (8, 8, channels), dtype=np.uint8), (3 * i) % 10)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("refine")
    cfg = RefinerTrainConfig(
        preset="digits",
        steps=8,
        batch_size=8,
        history_size=8,
        pretrain_r_steps=1,
        pretrain_d_steps=1,
        lr_r=3e-3,
        lr_d=3e-3,
    )
    # The real images are brighter, so D has something to learn and R something to change.
    syn, real = _write(root / "syn", 20), _write(root / "real", 20, seed=1, low=200)
    train_refiner(syn, real, root / "run", cfg, progress=False)
    return root / "run"


def _pixels(path: Path) -> dict[str, np.ndarray]:
    src = open_dataset(path)
    return {s.id: s.image for s in src}


def test_keeps_ids_labels_and_records_provenance(trained: Path, tmp_path: Path) -> None:
    src = _write(tmp_path / "in", 23, seed=5)
    info = refine(trained, src, tmp_path / "out", batch_size=7, device="cpu", progress=False)
    assert info.count == 23 and info.task == "classify" and info.classes == tuple(str(d) for d in range(10))
    a, b = open_dataset(src), open_dataset(tmp_path / "out")
    assert [a.read(i).id for i in range(23)] == [b.read(i).id for i in range(23)]
    assert [a.label(i) for i in range(23)] == [b.label(i) for i in range(23)]
    refined_by = info.extra["provenance"]["refined_by"]
    assert (
        refined_by["step"] == 10 and refined_by["config"]["steps"] == 8 and refined_by["run"] == str(trained)
    )
    # The output is exactly R applied to the input, quantised back to uint8.
    R, _ = load_refiner(trained)
    x = (
        torch.from_numpy(np.stack([a.read(i).image for i in range(23)])).permute(0, 3, 1, 2).float() / 127.5
        - 1
    )
    want = np.rint((R(x).detach().numpy() + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)
    got = np.stack([b.read(i).image for i in range(23)])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert (got != np.stack([a.read(i).image for i in range(23)])).any()  # the trained R changed pixels


def test_identity_refiner_round_trips_pixels(tmp_path: Path) -> None:
    src = _write(tmp_path / "in", 9)
    refine(build_refiner("digits", 1), src, tmp_path / "out", batch_size=4, progress=False)
    assert all(np.array_equal(_pixels(src)[k], v) for k, v in _pixels(tmp_path / "out").items())


def test_resumes_without_duplicates(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _write(tmp_path / "in", 12)
    original_add = DatasetWriter.add
    calls = {"n": 0}

    def flaky_add(self: DatasetWriter, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        original_add(self, *args, **kwargs)

    monkeypatch.setattr(DatasetWriter, "add", flaky_add)
    with pytest.raises(KeyboardInterrupt):
        refine(trained, src, tmp_path / "out", batch_size=4, progress=False)
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["complete"] is False
    monkeypatch.setattr(DatasetWriter, "add", original_add)
    seen: list[list[int]] = []
    monkeypatch.setattr(SimganSource, "read", _recording(SimganSource.read, seen))
    info = refine(trained, src, tmp_path / "out", batch_size=4, progress=False)
    assert info.count == 12
    assert len(seen) == 7  # only the 7 samples not yet written were decoded again
    ids = [json.loads(line)["id"] for line in (tmp_path / "out" / "labels.jsonl").read_text().splitlines()]
    assert sorted(ids) == [f"id{i:03d}" for i in range(12)]


def _recording(read, seen):  # type: ignore[no-untyped-def]
    def wrapper(self, index):  # type: ignore[no-untyped-def]
        seen.append([index])
        return read(self, index)

    return wrapper


def test_input_errors(trained: Path, tmp_path: Path) -> None:
    rgb = _write(tmp_path / "rgb", 3, channels=3)
    with pytest.raises(InputError, match=r"rgb: images have 3 channel\(s\) but the refiner expects 1"):
        refine(trained, rgb, tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="is the input folder"):
        refine(trained, _write(tmp_path / "in", 3), tmp_path / "in", progress=False)
    with pytest.raises(InputError, match="no checkpoint in this run folder"):
        refine(tmp_path, rgb, tmp_path / "out2", progress=False)
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something-else"}, bad)
    with pytest.raises(InputError, match="bad.pt: not a simgan refiner checkpoint"):
        refine(bad, rgb, tmp_path / "out3", progress=False)


def test_config_round_trip_in_checkpoint(trained: Path) -> None:
    R, prov = load_refiner(trained)
    cfg = RefinerTrainConfig(**{k: v for k, v in prov["config"].items() if not k.startswith("_")})
    assert dataclasses.asdict(cfg)["preset"] == "digits" and R.spec.blocks == 3


def test_refining_into_a_folder_made_by_another_refiner_is_refused(trained: Path, tmp_path: Path) -> None:
    src = _write(tmp_path / "in", 10, seed=6)
    refine(trained, src, tmp_path / "out", device="cpu", progress=False)
    refine(trained, src, tmp_path / "out", device="cpu", progress=False)  # same refiner: a no-op resume
    other = RefinerTrainConfig(preset="digits", steps=2, batch_size=8, history_size=8, pretrain_d_steps=1)
    train_refiner(
        src, _write(tmp_path / "real", 10, seed=7, low=200), tmp_path / "run2", other, progress=False
    )
    with pytest.raises(InputError, match="different dataset") as info:
        refine(tmp_path / "run2", src, tmp_path / "out", device="cpu", progress=False)
    message = str(info.value)  # says in one short line which part of the provenance differs
    assert "provenance.refined_by." in message and len(message) < 300 and "\n" not in message, message


def test_compiled_refiner_writes_what_the_eager_one_writes(trained: Path, tmp_path: Path) -> None:
    src = _write(tmp_path / "in", 11, seed=6)
    refine(trained, src, tmp_path / "eager", batch_size=4, device="cpu", progress=False, amp=False)
    refine(
        trained,
        src,
        tmp_path / "compiled",
        batch_size=4,
        device="cpu",
        progress=False,
        amp=False,
        compile=True,
    )
    eager, compiled = _pixels(tmp_path / "eager"), _pixels(tmp_path / "compiled")
    assert eager.keys() == compiled.keys()
    assert max(np.abs(eager[k].astype(int) - compiled[k].astype(int)).max() for k in eager) <= 1


def _hands_with_masks(path: Path, n: int) -> Path:
    """``n`` simulated hands with their part masks, written as ``simulate hands`` writes them."""
    from simgan.sim import get_simulator

    sim = get_simulator("hands")
    images, labels, masks = sim.render_with_masks(np.random.default_rng(0), n, (16, 16))
    with DatasetWriter(
        path, height=16, width=16, channels=1, dtype="uint16", task="handpose", mask_classes=sim.mask_classes
    ) as w:
        for i in range(n):
            w.add(f"{i:08d}", images[i], labels[i], mask=masks[i])
    return path


class _Darken(torch.nn.Module):
    """A stand-in refiner that moves every pixel (and no pixel's position)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.9


@pytest.mark.parametrize("shards", [1, 2])
def test_masks_pass_through_with_the_same_bytes(tmp_path: Path, shards: int) -> None:
    from simgan.data.simgan_dir import mask_classes, read_mask
    from simgan.sim.hand_model import PARTS

    src = _hands_with_masks(tmp_path / "in", 5)
    for i in range(shards):
        shard = (i, shards) if shards > 1 else None
        refine(_Darken(), src, tmp_path / "out", batch_size=2, device="cpu", progress=False, shard=shard)
    a, b = open_dataset(src), open_dataset(tmp_path / "out")
    assert mask_classes(b) == mask_classes(a) == PARTS
    assert [b.sample_id(i) for i in range(5)] == [a.sample_id(i) for i in range(5)]
    for i in range(5):
        assert (tmp_path / "out" / b.masks[i]).read_bytes() == (src / a.masks[i]).read_bytes()  # type: ignore[attr-defined]
        np.testing.assert_array_equal(read_mask(b, i), read_mask(a, i))
        assert b.label(i) == a.label(i)
        assert not np.array_equal(b.pixels(i), a.pixels(i))  # refined pixels, the same parts
