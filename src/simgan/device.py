"""Device selection and global seeding."""

from __future__ import annotations

import random

import numpy as np
import torch

from simgan.errors import InputError

__all__ = ["select_device", "seed_everything"]


def select_device(name: str | None = None) -> torch.device:
    """Pick the compute device: ``name`` if given, else CUDA > MPS > CPU.

    Args:
        name: ``"auto"``/``None`` for the best available, or any torch device string (``cpu``, ``cuda:1``).

    Raises:
        InputError: the requested device does not exist on this machine.
    """
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"--device {name}: not a device name (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(
                f"--device {name}: no such GPU (this machine has {torch.cuda.device_count()} CUDA devices)"
            )
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise InputError(f"--device {name}: MPS is not available on this machine")
    elif device.type != "cpu":
        # torch knows more device types (meta, xpu, hpu, ...) than simgan runs on; refuse them here
        # rather than fail later inside a model.
        raise InputError(f"--device {name}: unsupported device type {device.type!r} (use cpu, cuda or mps)")
    return device


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return a fresh NumPy generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (third-party code may still use the legacy global RNG)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
