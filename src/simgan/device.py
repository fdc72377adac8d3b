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
    except (RuntimeError, ValueError) as e:
        raise InputError(f"--device {name}: not a device name ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise InputError(f"--device {name}: MPS is not available on this machine")
    return device


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return a fresh NumPy generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (third-party code may still use the legacy global RNG)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
