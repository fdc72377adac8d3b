"""Atomic writes: the target holds the old or the new content, never a part, and no temp file is left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import pytest

from simgan import atomic


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
