"""The files of a simgan dataset, checked: ``dataset.json`` (:func:`read_meta`) and ``labels.jsonl``
(:func:`scan_labels`), shared by the reader (:mod:`simgan.data.simgan_reader`) and the writer
(:mod:`simgan.data.simgan_dir`, where the layout is described).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from simgan.data.labels import label_problem
from simgan.data.source import TASKS
from simgan.errors import InputError

__all__ = [
    "FORMAT",
    "VERSION",
    "HEADER_KEYS",
    "MAX_MASK_CLASSES",
    "read_meta",
    "scan_labels",
    "count_lines",
    "json_default",
]

FORMAT = "simgan-dataset"
VERSION = 1
HEADER_KEYS = ("task", "height", "width", "channels", "dtype", "classes", "mask_classes")
MAX_MASK_CLASSES = 256  # a mask pixel is one uint8


def read_meta(root: Path) -> dict[str, Any]:
    path = root / "dataset.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError.at(path, f"malformed JSON at line {e.lineno}") from None
    except UnicodeDecodeError:
        raise InputError.at(path, "not UTF-8 text") from None
    except FileNotFoundError:
        raise InputError.at(path, "missing: not a simgan dataset folder") from None
    except OSError as e:
        raise InputError.at(path, f"cannot be read ({e.strerror or e.__class__.__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError.at(path, f'not a simgan dataset (expected "format": "{FORMAT}")')
    if meta.get("version") != VERSION:
        raise InputError.at(
            path, f"unknown format version {meta.get('version')!r} (this simgan reads version {VERSION})"
        )
    for k in ("height", "width", "channels"):
        if not isinstance(meta.get(k), int) or meta[k] <= 0:
            raise InputError.at(path, f"{k!r} must be a positive integer")
    if meta.get("dtype") not in ("uint8", "uint16"):
        raise InputError.at(path, f"'dtype' must be uint8 or uint16, got {meta.get('dtype')!r}")
    if meta.get("task") not in (None, *TASKS):
        raise InputError.at(path, f"unknown task {meta.get('task')!r} (known: {', '.join(TASKS)})")
    classes = meta.get("classes")
    if classes is not None and not (
        isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)
    ):
        raise InputError.at(path, f"'classes' must be a list of class names, got {classes!r:.60}")
    names = meta.get("mask_classes")
    if names is not None and not (
        isinstance(names, list)
        and 2 <= len(names) <= MAX_MASK_CLASSES
        and all(isinstance(c, str) for c in names)
    ):
        raise InputError.at(
            path, f"'mask_classes' must list 2 to {MAX_MASK_CLASSES} class names, got {names!r:.60}"
        )
    return meta


def scan_labels(
    root: Path,
    strict_tail: bool,
    meta: dict[str, Any] | None = None,
    repeats: list[tuple[int, int]] | None = None,
    name: str = "labels.jsonl",
    masks: list[str] | None = None,
) -> tuple[list[str], list[str], np.ndarray, int]:
    """Validate labels.jsonl (or the lines file ``name``, a shard's); return ids, files, byte offsets of
    each line, and the good byte length.

    With ``strict_tail`` False (the writer resuming), a torn last line without a newline is tolerated
    and excluded from the good length; everywhere else it is an error naming the line. With ``meta``
    (a reader opening the dataset) every label is checked against its task (:func:`label_problem`).
    With ``repeats`` (the writer resuming), a line that repeats an earlier line of its id byte for byte
    is skipped and its (start, end) byte range appended there: two writers that ran at once without a
    lock (an older simgan) commit the same sample twice. Lines that share an id but differ stay errors.
    With ``masks`` (a reader of a dataset whose ``meta`` lists ``mask_classes``) every line must name
    its mask file, appended there. A ``mask`` outside the dataset folder is refused like a ``file``.
    """
    task = meta.get("task") if meta else None
    n_classes = len(meta["classes"]) if meta and meta.get("classes") else None
    path = root / name
    ids: list[str] = []
    files: list[str] = []
    offsets: list[int] = []
    seen: dict[str, tuple[int, int, int]] = {}  # id -> (line number, start, length) of its first line
    pos = 0
    inside = _Inside(root)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            start, pos = pos, pos + len(raw)
            if not raw.endswith(b"\n") and not strict_tail:
                return ids, files, np.asarray(offsets, dtype=np.int64), start
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise InputError.at(path, f"line {lineno}: malformed JSON") from None
            if not isinstance(rec, dict) or "id" not in rec or "file" not in rec or "label" not in rec:
                raise InputError.at(path, f"line {lineno}: expected an object with id, file and label")
            sid, file = str(rec["id"]), rec["file"]
            problem = label_problem(task, rec["label"], n_classes) if task else None
            if problem is not None:
                raise InputError.at(path, f"line {lineno}: {problem}")
            if sid in seen:
                first, first_start, first_len = seen[sid]
                if repeats is not None and raw == os.pread(f.fileno(), first_len, first_start):
                    repeats.append((start, pos))
                    continue
                raise InputError.at(path, f"line {lineno}: duplicate id {sid!r} (first on line {first})")
            if not isinstance(file, str) or not inside(file):
                raise InputError.at(path, f"line {lineno}: file {file!r} lies outside the dataset folder")
            mask = rec.get("mask")
            if mask is not None and (not isinstance(mask, str) or not inside(mask)):
                raise InputError.at(path, f"line {lineno}: mask {mask!r} lies outside the dataset folder")
            if masks is not None:
                if mask is None:
                    raise InputError.at(
                        path,
                        f"line {lineno}: no mask, but dataset.json lists mask_classes (every sample has one)",
                    )
                masks.append(mask)
            seen[sid] = (lineno, start, len(raw))
            ids.append(sid)
            files.append(file)
            offsets.append(start)
    return ids, files, np.asarray(offsets, dtype=np.int64), pos


class _Inside:
    """``inside(rel)``: whether ``root / rel`` resolves (symlinks followed) inside ``root``.

    The same answer as resolving every path, at a fraction of the cost for a dataset's many files: each
    distinct folder is resolved once, and a file name is resolved only when it is a link. (On systems
    whose paths take another separator every path is resolved.)
    """

    def __init__(self, root: Path):
        self.root, self.resolved = root, root.resolve()
        self.folders: dict[str, Path] = {}
        self.fast = os.sep == "/" and not os.altsep

    def __call__(self, rel: str) -> bool:
        folder, _, name = rel.rpartition("/")
        if not self.fast or name in ("", ".", "..") or os.path.isabs(rel):
            return (self.root / rel).resolve().is_relative_to(self.resolved)
        where = self.folders.get(folder)
        if where is None:
            where = self.folders[folder] = (self.root / folder).resolve()
        path = where / name
        return (path.resolve() if os.path.islink(path) else path).is_relative_to(self.resolved)


def count_lines(path: Path) -> int:
    """Newline-terminated lines of ``path``, read in 64 KiB blocks without parsing them."""
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 16), b""))


def json_default(obj: Any) -> Any:
    """Let labels hold NumPy scalars and arrays (a simulator's natural output) as JSON numbers and lists."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"label value of type {type(obj).__name__} is not JSON serialisable")
