"""Atomic writes: the target holds the old or the new content, never a part, and no temp file is left."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

import pytest

from simgan import atomic
from simgan.errors import InputError


def test_write_json_round_trip_and_creates_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.json"
    obj = {"x": 1, "y": [1.5, "two"], "z": {"nested": None}}
    atomic.write_json(path, obj)
    assert json.loads(path.read_text(encoding="utf-8")) == obj
    assert path.read_text(encoding="utf-8").endswith("\n")


def test_write_text_is_utf8_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    atomic.write_text(path, "first")
    atomic.write_text(path, "zweite Fassung: äöü λ")
    assert path.read_bytes() == "zweite Fassung: äöü λ".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_write_bytes_not_durable(tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    atomic.write_bytes(path, bytes(range(256)), durable=False)
    assert path.read_bytes() == bytes(range(256))


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "keep.txt"
    atomic.write_text(path, "old")

    def writer(f: IO[bytes]) -> None:
        f.write(b"half of the new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic.atomic_write(path, writer)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_interrupt_is_not_swallowed(tmp_path: Path) -> None:
    def writer(f: IO[bytes]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(tmp_path / "x", writer)
    assert list(tmp_path.iterdir()) == []


def test_locked_folder_refuses_a_second_holder_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    with atomic.locked_folder(out):
        assert (out / atomic.FolderLock.NAME).read_text() == str(os.getpid())
        with pytest.raises(InputError, match="another simgan process is writing here"):
            atomic.FolderLock(out).acquire()
    assert out.is_dir() and not any(out.iterdir())  # the block succeeded: the folder stays, the lock goes
    fresh = tmp_path / "fresh"
    with pytest.raises(ValueError), atomic.locked_folder(fresh):
        raise ValueError("refused before writing anything")
    assert not fresh.exists()  # a folder the call made is removed again when nothing was written
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(InputError, match="exists and is not a folder"),
        atomic.locked_folder(tmp_path / "file"),
    ):
        pass


def test_one_writer_guards_the_named_argument(tmp_path: Path) -> None:
    seen = []

    @atomic.one_writer("out")
    def job(data: int, out: Path | None = None) -> int:
        seen.append(out is None or (out / atomic.FolderLock.NAME).is_file())
        return data

    assert job(1, out=tmp_path / "a") == 1 and job(2) == 2 and seen == [True, True]
    with atomic.locked_folder(tmp_path / "b"), pytest.raises(InputError, match="another simgan process"):
        job(3, tmp_path / "b")


def test_shared_holders_exclude_an_exclusive_one_and_the_last_removes_the_file(tmp_path: Path) -> None:
    a = atomic.FolderLock(tmp_path, shared=True).acquire()
    b = atomic.FolderLock(tmp_path, shared=True).acquire()  # shards write side by side
    with pytest.raises(InputError, match="shards of a sharded write are writing here"):
        atomic.FolderLock(tmp_path).acquire()
    a.release()
    assert (tmp_path / atomic.FolderLock.NAME).is_file()  # b still holds it
    b.release()
    assert not (tmp_path / atomic.FolderLock.NAME).exists()
    with atomic.FolderLock(tmp_path):  # a whole-folder writer refuses a shard, naming its pid
        with pytest.raises(
            InputError, match=f"another simgan process is writing here \\(pid {os.getpid()}\\)"
        ):
            atomic.FolderLock(tmp_path, shared=True).acquire()


def test_a_named_lock_can_be_waited_for(tmp_path: Path) -> None:
    import threading

    held = atomic.FolderLock(tmp_path, ".simgan.merge.lock").acquire()
    with pytest.raises(InputError, match="another simgan process is merging here"):  # `what` it would do
        atomic.FolderLock(tmp_path, ".simgan.merge.lock", what="merging here").acquire()
    timer = threading.Timer(0.2, held.release)
    timer.start()
    waiter = atomic.FolderLock(tmp_path, ".simgan.merge.lock").acquire(wait=True)  # returns once released
    timer.join()
    assert (tmp_path / ".simgan.merge.lock").read_text() == str(os.getpid())
    waiter.release()
    assert not any(tmp_path.iterdir())
