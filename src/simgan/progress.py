"""When simgan draws progress bars: on a terminal only, and never under ``--quiet``.

Every bar is made with ``disable=progress.off(flag)``: tqdm then hides it when stderr is not a terminal
(a log file gets no bar lines), when the caller passed ``progress=False``, or when the command line got
``--quiet``. The flag travels in the environment (``SIMGAN_QUIET=1``), so torchrun's ranks and DataLoader
workers see it too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["ENV", "quiet", "set_quiet", "quieted", "off"]

ENV = "SIMGAN_QUIET"


def quiet() -> bool:
    """Whether ``--quiet`` (or ``SIMGAN_QUIET=1``) asked for no bars and no notices."""
    return os.environ.get(ENV, "") not in ("", "0")


def set_quiet(on: bool = True) -> None:
    """Turn quiet mode on (or off) for this process and the processes it starts."""
    if on:
        os.environ[ENV] = "1"
    else:
        os.environ.pop(ENV, None)


@contextlib.contextmanager
def quieted(on: bool) -> Iterator[None]:
    """Quiet mode (when ``on``) for the duration of the block; the environment is restored after it."""
    before = os.environ.get(ENV)
    if on:
        set_quiet()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def off(progress: bool) -> bool | None:
    """tqdm's ``disable`` for a bar the caller wants (``progress``): None lets tqdm decide by the terminal."""
    return True if not progress or quiet() else None
