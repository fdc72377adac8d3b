"""Checkpoints for both trainers: one plain dict, written atomically, loaded without running pickled code.

A checkpoint is ``{"format": "simgan-<kind>-checkpoint", "version": 1, ...}`` holding only state dicts,
tensors, numbers and strings, so ``torch.load(path, weights_only=True)`` reads it and a malicious file
cannot execute code. Writes go to a temp file that is renamed over the target: a kill never leaves half a
file. Two kinds exist:

- ``refiner``: written by ``train-refiner`` as ``RUN/checkpoint.pt`` (and ``RUN/best.pt``): step, config,
  image, R, D, opt_R, opt_D, sched_R, sched_D, history, streams, rng.
- ``task``: written by ``train-task`` as ``RUN/best.pt`` and ``RUN/last.pt``: model, model_spec, phase,
  epoch, record, config (and the optimizer in last.pt).

This module sits below ``train`` and ``eval`` (it imports neither), so both may read checkpoints.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any, Literal

import torch

from simgan import atomic
from simgan.errors import InputError, clip

__all__ = [
    "CHECKPOINT_NAME",
    "VERSION",
    "Kind",
    "checkpoint_format",
    "checkpoint_path",
    "save_checkpoint",
    "load_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.pt"  # the refiner run's latest checkpoint
VERSION = 1

Kind = Literal["refiner", "task"]
_WHAT = {"refiner": "refiner", "task": "train-task"}


def checkpoint_format(kind: Kind) -> str:
    """The ``format`` tag of a checkpoint of ``kind``: ``simgan-refiner-checkpoint``, ..."""
    return f"simgan-{kind}-checkpoint"


def checkpoint_path(run_or_file: str | Path, name: str = CHECKPOINT_NAME) -> Path:
    """``RUN/<name>`` for a run folder, or the file itself."""
    p = Path(run_or_file)
    return p / name if p.is_dir() else p


def save_checkpoint(path: str | Path, state: dict[str, Any], kind: Kind) -> None:
    """Write ``state`` (tagged with the format of ``kind`` and the version) atomically to ``path``."""
    obj = {"format": checkpoint_format(kind), "version": VERSION, **state}
    atomic.atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(run_or_file: str | Path, kind: Kind, name: str = CHECKPOINT_NAME) -> dict[str, Any]:
    """Load a checkpoint of ``kind`` with ``weights_only=True`` onto the CPU.

    Args:
        run_or_file: a run folder (its ``name``) or a checkpoint file.
        kind: ``refiner`` or ``task``; a checkpoint of the other kind is refused.
        name: the file inside a run folder.

    Raises:
        InputError: missing, corrupt, of another kind, or of an unknown version.
    """
    path = checkpoint_path(run_or_file, name)
    if not path.is_file():
        if Path(run_or_file).is_dir():
            raise InputError.at(path, "no checkpoint in this run folder (has the run written one?)")
        raise InputError.at(path, "no such checkpoint file or run folder")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise InputError.at(path, f"corrupt or unreadable checkpoint ({clip(first)})") from None
    fmt = checkpoint_format(kind)
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise InputError.at(path, f'not a simgan {_WHAT[kind]} checkpoint (expected "format": "{fmt}")')
    if obj.get("version") != VERSION:
        raise InputError.at(
            path, f"unknown checkpoint version {obj.get('version')!r} (this simgan reads {VERSION})"
        )
    return obj
