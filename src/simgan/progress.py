"""When simgan draws progress bars: on a terminal only, and never under ``--quiet``.

Every bar is made with ``disable=progress.off(flag)``: tqdm then hides it when stderr is not a terminal
(a log file gets no bar lines), when the caller passed ``progress=False``, or when the command line got
``--quiet``. The flag travels in the environment (``SIMGAN_QUIET=1``), so torchrun's ranks and DataLoader
workers see it too.
"""

from __future__ import annotations

import os

__all__ = ["ENV", "quiet", "set_quiet", "off"]

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


def off(progress: bool) -> bool | None:
    """tqdm's ``disable`` for a bar the caller wants (``progress``): None lets tqdm decide by the terminal."""
    return True if not progress or quiet() else None
