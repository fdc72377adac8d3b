"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename over the target.

A reader (or a resumed run) therefore sees either the old file or the new one, never half of one.
:class:`FolderLock` keeps a second process from writing into the same output folder at the same time.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from simgan.errors import InputError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer per folder is then the user's to keep
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "atomic_write",
    "write_bytes",
    "write_text",
    "write_json",
    "FolderLock",
    "locked_folder",
    "one_writer",
]

F = TypeVar("F", bound=Callable[..., Any])

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, writer: Callable[[IO[bytes]], None], durable: bool = True) -> None:
    """Call ``writer(fileobj)`` on a temporary file, then atomically move it to ``path``.

    ``durable`` also fsyncs the data (survives power loss, not only a killed process); bulk writers that
    commit elsewhere (the dataset writer's label line) turn it off for speed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give results the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    atomic_write(path, lambda f: f.write(data), durable)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class FolderLock:
    """An exclusive lock on an output folder, held by one process until :meth:`release` or its exit.

    It is an advisory ``flock`` on ``FOLDER/.simgan.lock``, which holds the holder's pid and is removed
    on release. The kernel drops the lock when the holder dies (even by kill -9), so a crashed run
    leaves at most an unlocked file that the next writer takes over; a second writer while the first
    runs is refused at once with one line naming the holder's pid.

    Two variants serve a sharded write (:mod:`simgan.data.shards`): ``shared=True`` takes the folder's
    lock in shared mode, so that any number of shard writers hold it together and exclude every
    whole-folder writer (and are excluded by one); ``name`` locks another file of the folder (one shard,
    or the short merge step), and ``acquire(wait=True)`` waits for it instead of refusing.
    """

    NAME = ".simgan.lock"
    SHARED = "shards"  # what a shared lock file holds in place of a pid

    def __init__(
        self, folder: str | Path, name: str = NAME, *, shared: bool = False, what: str = "writing here"
    ) -> None:
        self.folder = Path(folder)
        self.name = name
        self.shared = shared
        self.what = what  # how a refusal describes the holder: "another simgan process is <what>"
        self._fd: int | None = None

    def acquire(self, wait: bool = False) -> FolderLock:
        if fcntl is None or self._fd is not None:
            return self
        path = self.folder / self.name
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        patience = time.monotonic() + 2.0
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
            try:
                fcntl.flock(fd, mode if wait else mode | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                # A shared request meets an exclusive holder that is either a whole-folder writer (its pid
                # is there, or soon is) or the last shard removing the file on release: retry briefly.
                if self.shared and holder in ("", self.SHARED) and time.monotonic() < patience:
                    time.sleep(0.02)
                    continue
                raise InputError.at(self.folder, self._refusal(holder)) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the holder removed the file between our open and flock: take the new one
                break
            os.close(fd)
        os.ftruncate(fd, 0)  # shared holders all write the same word, so their writes cannot mix
        os.pwrite(fd, (self.SHARED if self.shared else str(os.getpid())).encode("ascii"), 0)
        self._fd = fd
        return self

    def _refusal(self, holder: str) -> str:
        if holder == self.SHARED:
            return (
                "shards of a sharded write are writing here (--shard); wait for them to finish "
                "or choose another --out"
            )
        who = f" (pid {holder})" if holder else ""
        return f"another simgan process is {self.what}{who}; wait for it or choose another --out"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.shared:  # remove the file only as its last holder: when no one else shares the lock
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return
        (self.folder / self.name).unlink(missing_ok=True)  # before the unlock: no one can hold it
        os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked_folder(path: str | Path) -> Iterator[Path]:
    """Create the output folder ``path`` if needed and hold its :class:`FolderLock` for the block.

    A folder this call created is removed again when the block fails before writing into it, so a
    refused command leaves no empty folder behind.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError.at(path, "exists and is not a folder")
    fresh = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(path).acquire()
    try:
        yield path
    except BaseException:
        lock.release()
        if fresh and not any(path.iterdir()):
            path.rmdir()
        raise
    lock.release()


def one_writer(folder_arg: str) -> Callable[[F], F]:
    """Run the decorated function under :func:`locked_folder` on its output-folder argument ``folder_arg``.

    Example: ``@one_writer("out") def train_task(cfg, train, test, out): ...``; a second process
    calling it on the same ``out`` while the first runs is refused with one line, and an ``out`` the OS
    cannot create fails before any work. An optional ``out`` given as None is left alone.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            folder = signature.bind(*args, **kwargs).arguments.get(folder_arg)
            if folder is None:  # an optional output left out: nothing to guard
                return fn(*args, **kwargs)
            with locked_folder(folder):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
