"""Reading MATLAB .mat files (MPIIGaze, NYU) with one-line errors that name the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import scipy.io

from simgan.errors import InputError

__all__ = ["loadmat", "whosmat"]

T = TypeVar("T")


def _guarded(path: str | Path, read: Callable[[], T]) -> T:
    # Checked here: scipy reports a missing Path (not str) as a generic OSError, and for a str it first
    # retries with ".mat" appended, so its own error would not name the file the user gave.
    if not Path(path).is_file():
        raise InputError.at(path, "file not found" if not Path(path).exists() else "not a file")
    try:
        return read()
    except NotImplementedError:
        raise InputError.at(path, "MATLAB v7.3 (HDF5) file: save it with -v7 (scipy reads v4-v7)") from None
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError... on corrupt files
        raise InputError.at(path, f"not a readable MATLAB .mat file ({e.__class__.__name__}: {e})") from None


def loadmat(path: str | Path, **kwargs: Any) -> dict[str, Any]:
    """``scipy.io.loadmat(path, **kwargs)``; InputError for a missing, corrupt or v7.3 (HDF5) file."""
    return _guarded(path, lambda: scipy.io.loadmat(path, **kwargs))


def whosmat(path: str | Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Variable name -> (shape, class) without loading the data; errors as :func:`loadmat`."""
    return _guarded(path, lambda: {name: (shape, cls) for name, shape, cls in scipy.io.whosmat(path)})
