"""One simgan dataset written by N processes at once: the shard files, their locks and the merge.

Shard I of N (0-based) takes the I-th of N contiguous blocks of the input's indices (:meth:`Shard.indices`),
so the shards' ids are disjoint. :class:`~simgan.data.simgan_dir.DatasetWriter` with ``shard=(I, N)``
writes into the one output folder::

    OUT/.simgan.lock                      held *shared* by every shard while it runs: shards write side by
                                          side, and a whole-folder writer (which holds it exclusively)
                                          and the shards refuse each other
    OUT/.simgan.shard-I-of-N.lock         shard I's own lock: one process per shard
    OUT/.simgan.merge.lock                held by one shard at a time, briefly: to check the folder when
                                          it starts and to merge when it finishes
    OUT/labels.shard-I-of-N.jsonl         shard I's label lines, written and resumed like labels.jsonl
    OUT/labels.shard-I-of-N.done          {"count": k}: shard I has finished, its k lines verified
    OUT/images/shard-I-of-N-KKKKKKKK.png  its images (the names of the shards never collide)
    OUT/dataset.json                      written by the first shard to start ("complete": false)

The shard that finishes last (whichever it is) finds every ``.done`` of N and merges: it concatenates the
shard label files in shard order, which is the input's order, into ``labels.jsonl``, checks the line
count, marks ``dataset.json`` complete and removes the shard files. A merge interrupted part way is
redone by rerunning any shard; a rerun on a complete dataset writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from simgan import atomic
from simgan.errors import InputError

__all__ = [
    "Shard",
    "MERGE_LOCK",
    "folder_locks",
    "merge_lock",
    "found",
    "check_count",
    "refuse_unfinished",
    "finished",
    "merge",
    "remove",
]

MERGE_LOCK = ".simgan.merge.lock"
_LABELS = re.compile(r"labels\.shard-(\d+)-of-(\d+)\.jsonl")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``; its file names all hold ``shard-I-of-N``.

    Raises:
        InputError: ``count`` < 1 or ``index`` outside 0..count-1.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.index, self.count))
        if not ok or self.count < 1 or not 0 <= self.index < self.count:
            raise InputError(
                f"shard {self.index}/{self.count}: expected I/N with N >= 1 and 0 <= I < N (I counts from 0)"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def tag(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    @property
    def lock_name(self) -> str:
        return f".simgan.{self.tag}.lock"

    @property
    def labels_name(self) -> str:
        return f"labels.{self.tag}.jsonl"

    @property
    def done_name(self) -> str:
        return f"labels.{self.tag}.done"

    @property
    def image_prefix(self) -> str:
        return f"{self.tag}-"

    def indices(self, total: int) -> np.ndarray:
        """This shard's block of ``range(total)``: contiguous, block sizes differing by at most one.

        Shape:
            returns (total // count or total // count + 1,).
        """
        return np.array_split(np.arange(total), self.count)[self.index]


def folder_locks(root: Path, shard: Shard) -> list[atomic.FolderLock]:
    """Take the folder's lock shared, then the shard's own lock; both are held until the shard closes.

    Raises:
        InputError: a whole-folder writer holds the folder, or another process runs this shard.
    """
    shared = atomic.FolderLock(root, shared=True).acquire()
    try:
        own = atomic.FolderLock(root, shard.lock_name, what=f"writing shard {shard} here").acquire()
    except BaseException:
        shared.release()
        raise
    return [shared, own]


@contextlib.contextmanager
def merge_lock(root: Path) -> Iterator[None]:
    """Hold ``.simgan.merge.lock`` for the block, waiting for it: the shards check and change the
    folder's shared files (dataset.json, labels.jsonl, the shard files) one at a time."""
    lock = atomic.FolderLock(root, MERGE_LOCK).acquire(wait=True)
    try:
        yield
    finally:
        lock.release()


def found(root: Path) -> dict[int, list[Path]]:
    """The shard label files in ``root`` by their N: ``{N: [labels.shard-I-of-N.jsonl, ...]}``."""
    out: dict[int, list[Path]] = {}
    for path in sorted(root.glob("labels.shard-*-of-*.jsonl")):
        match = _LABELS.fullmatch(path.name)
        if match:
            out.setdefault(int(match.group(2)), []).append(path)
    return out


def check_count(root: Path, shard: Shard) -> None:
    """Refuse shard I/N where shards of another N are writing (their blocks would overlap)."""
    for n, paths in found(root).items():
        if n != shard.count:
            raise InputError.at(
                root,
                f"holds shards of {n} ({paths[0].name}), this is shard {shard}: rerun with --shard I/{n} "
                "or choose another --out",
            )


def refuse_unfinished(root: Path) -> None:
    """Refuse a whole-folder writer where a sharded write was left unfinished (its shards were stopped)."""
    for n, paths in found(root).items():
        raise InputError.at(
            root,
            f"holds an unfinished sharded write ({paths[0].name}): rerun its shards (--shard I/{n}) "
            "to finish it, or choose another --out",
        )


def finished(root: Path, count: int) -> list[int] | None:
    """The line count of each of the ``count`` shards when all have finished, else None."""
    counts = []
    for i in range(count):
        done = root / Shard(i, count).done_name
        if not done.is_file():
            return None
        try:
            counts.append(int(json.loads(done.read_text(encoding="utf-8"))["count"]))
        except (ValueError, KeyError, TypeError):
            raise InputError.at(done, 'expected {"count": N}: rerun this shard') from None
    return counts


def merge(root: Path, count: int) -> int | None:
    """Concatenate the label files of shards 0..count-1 into ``labels.jsonl`` (atomically, in constant
    memory) once all have finished; return how many lines it should hold, or None when some shard has
    not finished yet. Call under :func:`merge_lock`."""
    counts = finished(root, count)
    if counts is None:
        return None
    parts = [root / Shard(i, count).labels_name for i in range(count)]

    def concatenate(f: IO[bytes]) -> None:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, f)

    atomic.atomic_write(root / "labels.jsonl", concatenate)
    return sum(counts)


def remove(root: Path) -> None:
    """Remove every shard file after the merge, and the lock files of shards that no process holds.
    Call under :func:`merge_lock`."""
    for path in [*root.glob("labels.shard-*-of-*.done"), *root.glob("labels.shard-*-of-*.jsonl")]:
        path.unlink(missing_ok=True)
    for path in root.glob(".simgan.shard-*-of-*.lock"):
        try:
            atomic.FolderLock(root, path.name).acquire().release()  # release removes the file
        except InputError:
            pass  # held: its holder removes it when it closes
