"""The simulator registry and the ``simulate`` driver: same seed same bytes, resume after interruption."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset
from simgan.data.simgan_dir import DatasetWriter
from simgan.errors import InputError
from simgan.sim import BATCH, SIMULATORS, get_simulator, simulate


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a dataset folder by relative path (dataset.json, labels.jsonl, images/*)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_digits_is_registered_and_unknown_names_are_refused() -> None:
    assert "digits" in SIMULATORS and get_simulator("digits") is SIMULATORS["digits"]
    assert "template" not in SIMULATORS  # the example plug-in is not auto-imported
    with pytest.raises(InputError, match="unknown simulator 'nope'.*digits"):
        get_simulator("nope")


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = simulate("digits", 40, tmp_path / "a", seed=3, progress=False)
    simulate("digits", 40, tmp_path / "b", seed=3, progress=False)
    simulate("digits", 40, tmp_path / "c", seed=4, progress=False)
    assert a.count == 40 and a.task == "classify" and a.classes == tuple("0123456789")
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert len(fa) == 42 and fa == fb  # 40 images + labels.jsonl + dataset.json
    assert fa["labels.jsonl"] != fc["labels.jsonl"]
    assert sum(fa[k] != fc[k] for k in fa if k.startswith("images/")) > 30


def test_resume_after_interruption_is_byte_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n, k = 600, BATCH + 44  # stop inside the second batch
    simulate("digits", n, tmp_path / "whole", seed=1, progress=False)

    original = DatasetWriter.add
    calls = {"n": 0}

    def flaky_add(self: DatasetWriter, *args: object, **kw: object) -> None:
        if calls["n"] == k:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-run
        calls["n"] += 1
        original(self, *args, **kw)

    monkeypatch.setattr(DatasetWriter, "add", flaky_add)
    with pytest.raises(KeyboardInterrupt):
        simulate("digits", n, tmp_path / "cut", seed=1, progress=False)
    meta = json.loads((tmp_path / "cut" / "dataset.json").read_text())
    assert (
        meta["complete"] is False and len((tmp_path / "cut" / "labels.jsonl").read_text().splitlines()) == k
    )
    with pytest.raises(InputError, match="incomplete"):
        open_dataset(tmp_path / "cut")

    monkeypatch.setattr(DatasetWriter, "add", original)
    info = simulate("digits", n, tmp_path / "cut", seed=1, progress=False)
    ids = [json.loads(line)["id"] for line in (tmp_path / "cut" / "labels.jsonl").read_text().splitlines()]
    assert info.count == n and len(set(ids)) == n == len(ids)
    assert _files(tmp_path / "cut") == _files(tmp_path / "whole")


def test_rerunning_a_finished_dataset_changes_nothing(tmp_path: Path) -> None:
    simulate("digits", 30, tmp_path / "d", seed=0, progress=False)
    before = _files(tmp_path / "d")
    simulate("digits", 30, tmp_path / "d", seed=0, progress=False)
    assert _files(tmp_path / "d") == before


def test_sizes_and_options_reach_the_dataset(tmp_path: Path) -> None:
    info = simulate("digits", 5, tmp_path / "svhn", seed=0, size=(32, 32), progress=False)
    assert (info.height, info.width, info.channels) == (32, 32, 3)
    assert open_dataset(tmp_path / "svhn").read(0).image.shape == (32, 32, 3)
    info = simulate("digits", 5, tmp_path / "clean", seed=0, progress=False, randomize=False)
    assert info.extra["provenance"]["options"] == {"randomize": "False"}


def test_bad_arguments_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--n 0"):
        simulate("digits", 0, tmp_path / "x", progress=False)
    with pytest.raises(InputError, match="--target"):
        simulate("digits", 5, tmp_path / "x", target="real", progress=False)
    with pytest.raises(InputError, match="--size 5x5"):
        simulate("digits", 5, tmp_path / "x", size=(5, 5), progress=False)
    with pytest.raises(InputError, match="font folder not found"):
        simulate("digits", 5, tmp_path / "x", fonts=tmp_path / "no-fonts", progress=False)
    simulate("digits", 5, tmp_path / "y", progress=False)
    with pytest.raises(InputError, match="different dataset"):
        simulate("digits", 5, tmp_path / "y", size=(28, 28), progress=False)


def test_template_plugin_follows_the_contract() -> None:
    saved = dict(SIMULATORS)
    try:
        module = importlib.import_module("simgan.sim.template")
        sim = SIMULATORS["template"]
        assert isinstance(sim, module.ShapesSimulator)
        images, labels, params = sim.render_with_params(np.random.default_rng(0), 64, sim.default_size)
        assert images.shape == (64, 16, 16, 1) and images.dtype == np.uint8
        assert set(labels) == {0, 1} and len(params) == 64 and "radius" in params[0]
        # The label is right: a disc of the same radius has less ink than a square.
        lab = np.array(labels)
        ink = images[..., 0].astype(float).sum((1, 2)) / np.array([p["radius"] for p in params]) ** 2
        assert ink[lab == 0].mean() > ink[lab == 1].mean()
        again, _ = sim.render(np.random.default_rng(0), 64, sim.default_size)
        np.testing.assert_array_equal(images, again)
    finally:
        SIMULATORS.clear()
        SIMULATORS.update(saved)
        sys.modules.pop("simgan.sim.template", None)


def test_randomized_parameters_are_stored_beside_int_labels(tmp_path: Path) -> None:
    simulate("digits", 12, tmp_path / "d", seed=0, progress=False)
    records = [json.loads(line) for line in (tmp_path / "d" / "labels.jsonl").open()]
    assert len(records) == 12
    for r in records:
        assert isinstance(r["label"], int)  # classify labels stay plain class indices
        assert {"font", "rotation", "shear", "blur"} <= set(r["params"])
    assert len({r["params"]["rotation"] for r in records}) > 1
    src = open_dataset(tmp_path / "d")
    assert src.label(3) == records[3]["label"]  # readers ignore the extra key
