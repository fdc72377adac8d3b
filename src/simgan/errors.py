"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

from pathlib import Path

__all__ = ["InputError"]


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
