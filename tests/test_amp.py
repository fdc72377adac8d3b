"""Mixed precision: the device check, the resolved choice, and autocast doing what it says."""

from __future__ import annotations

import torch

from simgan import amp


def test_use_amp_needs_the_request_and_a_fast_device(monkeypatch) -> None:
    assert amp.use_amp(False, "cpu") is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert amp.bf16_fast("cpu") and amp.use_amp(True, "cpu")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    assert not amp.bf16_fast("cpu") and amp.use_amp(True, "cpu") is False
    assert not amp.bf16_fast("meta")


def test_autocast_lowers_convolutions_only_when_enabled() -> None:
    conv = torch.nn.Conv2d(1, 2, 3)
    x = torch.randn(1, 1, 5, 5)
    with amp.autocast("cpu", True):
        assert conv(x).dtype == torch.bfloat16
    with amp.autocast("cpu", False):
        assert conv(x).dtype == torch.float32
    assert amp.memory_format(True) == torch.channels_last
    assert amp.memory_format(False) == torch.contiguous_format
