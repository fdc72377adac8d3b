"""Device choice (cuda > mps > cpu, explicit names checked) and global seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from simgan.device import seed_everything, select_device
from simgan.errors import InputError


def _fake(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, n_gpus: int = 1) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n_gpus if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    _fake(monkeypatch, cuda, mps)
    for name in (None, "", "auto"):
        assert select_device(name).type == expected


def test_explicit_device_overrides_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, cuda=True, mps=True, n_gpus=2)
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("cuda:1") == torch.device("cuda:1")
    assert select_device("mps").type == "mps"


@pytest.mark.parametrize("name", ["bogus", "cuda:x", "gpu", "cpu:-"])
def test_bogus_name_is_input_error(name: str) -> None:
    with pytest.raises(InputError, match="not a device name") as info:
        select_device(name)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_unavailable_devices_are_input_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, cuda=False, mps=False)
    with pytest.raises(InputError, match="CUDA is not available"):
        select_device("cuda")
    with pytest.raises(InputError, match="MPS is not available"):
        select_device("mps")
    _fake(monkeypatch, cuda=True, mps=False, n_gpus=1)
    with pytest.raises(InputError, match="no such GPU"):
        select_device("cuda:3")
    for name in ("meta", "xpu"):  # real torch device types simgan does not run on
        with pytest.raises(InputError, match="unsupported device type"):
            select_device(name)


def test_seed_everything_repeats_every_rng() -> None:
    def draw() -> tuple[float, float, list[float], float]:
        g = seed_everything(123)
        return random.random(), float(np.random.rand()), torch.rand(3).tolist(), float(g.random())  # noqa: NPY002

    first, second = draw(), draw()
    assert first == second
    seed_everything(124)
    assert torch.rand(3).tolist() != first[2]
    assert isinstance(seed_everything(0), np.random.Generator)
