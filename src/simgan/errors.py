"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

__all__ = ["InputError", "describe_os_error", "clip", "first_difference"]


class InputError(Exception):
    """Bad user input: a missing path, a corrupt file, a malformed label.

    The message names the offending path and the problem on one line. It takes a single string
    argument so that a DataLoader worker can re-raise it in the main process; torch then wraps the
    message in the worker's traceback, and the constructor unwraps it again so the CLI still prints
    the original single line.
    """

    def __init__(self, message: str = "") -> None:
        super().__init__(_unwrap_worker_message(message, type(self)))

    @classmethod
    def at(cls, path: str | Path, problem: str) -> InputError:
        """Build the canonical ``PATH: problem`` message."""
        return cls(f"{path}: {problem}")


def _unwrap_worker_message(message: str, cls: type) -> str:
    """The original message of a ``torch`` ExceptionWrapper re-raise, else ``message`` unchanged.

    torch re-raises a worker's exception as ``cls("Caught Name in DataLoader worker process k.\\n"
    "Original Traceback ...\\nmodule.Name: original message\\n")``.
    """
    if not (isinstance(message, str) and message.startswith(f"Caught {cls.__name__} ")):
        return message
    marker = f"\n{cls.__module__}.{cls.__qualname__}: "
    k = message.rfind(marker)
    if "\nOriginal Traceback" not in message or k < 0:
        return message
    return message[k + len(marker) :].strip()


def describe_os_error(e: OSError) -> str:
    """``PATH: reason`` for an OS error (``[Errno 30] Read-only file system: 'x'`` -> ``x: read-only
    file system``); both paths of a failed rename or link are named."""
    reason = (e.strerror or e.__class__.__name__).lower()
    if isinstance(e, FileExistsError) and e.filename is not None and Path(e.filename).is_file():
        reason = "is a file, not a folder"
    paths = [str(p) for p in (e.filename, e.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else f"{reason} ({e})"


def clip(text: str, width: int = 120) -> str:
    """``text`` on one line, cut at a word boundary to at most ``width`` characters (`` ...`` marks a cut)."""
    return textwrap.shorten(" ".join(text.split()), width, placeholder=" ...") or text[:width]


def first_difference(old: Any, new: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """The first place two JSON-like values differ: (dotted key path, old value, new value), or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            found = first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for k, (a, b) in enumerate(zip(old, new, strict=True)):
            found = first_difference(a, b, f"{where}[{k}]")
            if found is not None:
                return found
        return None
    return None if old == new else (where, old, new)
