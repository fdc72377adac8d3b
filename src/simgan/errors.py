"""The one exception type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

from pathlib import Path

__all__ = ["InputError"]


class InputError(Exception):
    """Bad user input: a missing path, a corrupt file, a malformed label.

    The message names the offending path and the problem on one line. It takes a single string
    argument so that it survives the round trip through a DataLoader worker unchanged.
    """

    @classmethod
    def at(cls, path: str | Path, problem: str) -> InputError:
        """Build the canonical ``PATH: problem`` message."""
        return cls(f"{path}: {problem}")
