"""Mixed precision: bf16 autocast and channels_last where the device runs them fast.

On CUDA and on CPUs with bf16 matrix units (Intel AMX, or AVX512-BF16), convolutions in bf16 with
channels_last run about 2-4x faster than fp32 (docs/benchmarks.md); elsewhere a CPU emulates bf16 and is
slower, so ``amp`` falls back to fp32 there. Weights, optimizer state and losses stay fp32: autocast only
lowers the matmuls and convolutions, and every caller returns float32 images.

``amp`` in a config is a request; :func:`use_amp` resolves it for the device, and the run records the
resolved choice (``amp_used``) so that a number can be traced to the precision that made it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["bf16_fast", "use_amp", "autocast", "memory_format"]


def bf16_fast(device: torch.device | str) -> bool:
    """True when ``device`` runs bf16 convolutions natively: CUDA with bf16 support, or a CPU with AMX
    tiles or AVX512-BF16 (read through torch's CPU capability checks)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        cpu = torch.cpu
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)
    return False


def use_amp(requested: bool, device: torch.device | str) -> bool:
    """The precision a run actually uses: bf16 when ``requested`` and :func:`bf16_fast`, else fp32."""
    return bool(requested) and bf16_fast(device)


def autocast(device: torch.device | str, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast(device type, bfloat16)`` when ``enabled``, else a no-op context."""
    device = torch.device(device)
    if enabled and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(enabled: bool) -> torch.memory_format:
    """channels_last with amp (what the bf16 convolution kernels want), the default layout without."""
    return torch.channels_last if enabled else torch.contiguous_format
