"""Refiner checkpoints: one plain dict, written atomically, loaded without running pickled code.

A checkpoint is ``{"format", "version", "step", "config", "image", "R", "D", "opt_R", "opt_D", "sched_R",
"sched_D", "history", "streams", "rng"}``: state dicts, tensors, numbers and strings only, so
``torch.load(path, weights_only=True)`` reads it and a malicious file cannot execute code. The run folder
keeps the latest one as ``RUN/checkpoint.pt`` (temp file + rename: a kill never leaves half a file).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from simgan import atomic
from simgan.errors import InputError

__all__ = ["CHECKPOINT_NAME", "FORMAT", "VERSION", "checkpoint_path", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "simgan-refiner-checkpoint"
VERSION = 1


def checkpoint_path(run_or_file: str | Path) -> Path:
    """``RUN/checkpoint.pt`` for a run folder, or the file itself."""
    p = Path(run_or_file)
    return p / CHECKPOINT_NAME if p.is_dir() else p


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tagged with format and version) atomically to ``path``."""
    obj = {"format": FORMAT, "version": VERSION, **state}
    atomic.atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(run_or_file: str | Path) -> dict[str, Any]:
    """Load a refiner checkpoint with ``weights_only=True`` onto the CPU.

    Args:
        run_or_file: a run folder (its ``checkpoint.pt``) or a checkpoint file.

    Raises:
        InputError: missing, corrupt, not a simgan refiner checkpoint, or of an unknown version.
    """
    path = checkpoint_path(run_or_file)
    if not path.is_file():
        if Path(run_or_file).is_dir():
            raise InputError.at(path, "no checkpoint in this run folder (has train-refiner written one?)")
        raise InputError.at(path, "no such checkpoint file or run folder")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise InputError.at(path, f"corrupt or unreadable checkpoint ({first[:120]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise InputError.at(path, f'not a simgan refiner checkpoint (expected "format": "{FORMAT}")')
    if obj.get("version") != VERSION:
        raise InputError.at(
            path, f"unknown checkpoint version {obj.get('version')!r} (this simgan reads {VERSION})"
        )
    return obj
