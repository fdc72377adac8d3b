"""Layout 3 of DESIGN.md: the simgan dataset directory, what ``simulate``, ``refine`` and ``convert`` write.

    DIR/dataset.json    {"format": "simgan-dataset", "version": 1, "task", "height", "width", "channels",
                         "dtype", "count", "complete", "classes", "label_schema", "provenance"}
                        (+ "mask_classes" when the samples carry per-pixel masks)
    DIR/labels.jsonl    one {"id", "file", "label"} per line, in write order (+ "mask")
    DIR/images/*.png    8-bit grey/RGB or 16-bit grey PNG
    DIR/masks/*.png     optional per-pixel masks: 8-bit grey PNG, same H x W as the image, pixel value =
                        index into ``mask_classes`` (0 = background), one per sample

**Masks** (optional; ``simulate hands`` writes part masks). A dataset whose ``dataset.json`` lists
``"mask_classes"`` (names in id order, 2 to 256) gives every line a ``"mask"`` file beside its
``"file"``: a record-level field, not part of the label, so labels keep their task's schema and a
``refine`` that keeps labels keeps masks the same way. :func:`mask_classes` and :func:`read_mask` read
them from any source (None where a layout has none, as the NYU reader). A mask is written like its
image, straight to its final name before the line that commits both.

Writing streams in constant memory and is resumable: an image is written atomically first, then its
line is appended to ``labels.jsonl``; the line commits the sample. ``dataset.json`` says
``"complete": false`` until :meth:`DatasetWriter.close`. Reopening an interrupted directory keeps every
committed sample (a torn last line is dropped) and the caller skips ids already present, so a resumed
run ends with exactly the ids it was asked for, none lost or duplicated.

N writers can write one directory together, each a shard with its own lines file, merged by the last one
to finish (:mod:`simgan.data.shards`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from simgan import atomic
from simgan.data import shards
from simgan.data.images import write_png
from simgan.data.simgan_index import (
    FORMAT,
    HEADER_KEYS,
    MAX_MASK_CLASSES,
    VERSION,
    count_lines,
    json_default,
    read_meta,
    scan_labels,
)
from simgan.data.simgan_reader import SimganSource, mask_classes, read_mask
from simgan.data.source import TASKS
from simgan.errors import InputError, clip, first_difference

__all__ = [
    "FORMAT",
    "VERSION",
    "MAX_MASK_CLASSES",
    "SimganSource",
    "DatasetWriter",
    "mask_classes",
    "read_mask",
]


class DatasetWriter:
    """Stream samples into a simgan dataset directory, atomically and resumably.

    Example::

        with DatasetWriter(out, task="classify", height=8, width=8, channels=1, classes=names) as w:
            for i in range(n):
                sid = f"{i:07d}"
                if sid in w:          # already written by an interrupted earlier run
                    continue
                w.add(sid, image_i, label_i)

    Leaving the ``with`` block normally marks the dataset complete; an exception leaves it resumable.
    Reopening a folder that holds a dataset with another header (size, dtype, task, classes) is an
    :class:`InputError`; with ``require_same_provenance`` a different ``provenance`` is one too.

    With ``shard=(I, N)`` this is one of N writers of the folder (:mod:`simgan.data.shards`): it writes
    its own label file and images beside the other shards', and the last shard to close merges them
    into the complete dataset. :attr:`complete` says whether the folder holds the complete dataset.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        height: int,
        width: int,
        channels: int,
        dtype: str = "uint8",
        task: str | None = None,
        classes: Iterable[str] | None = None,
        label_schema: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
        require_same_provenance: bool = False,
        shard: tuple[int, int] | None = None,
        mask_classes: Iterable[str] | None = None,
    ):
        self.root = Path(root)
        if task not in (None, *TASKS):
            raise ValueError(f"unknown task {task!r}")
        if dtype not in ("uint8", "uint16"):
            raise ValueError(f"dtype must be uint8 or uint16, got {dtype!r}")
        self.header: dict[str, Any] = {
            "task": task,
            "height": int(height),
            "width": int(width),
            "channels": int(channels),
            "dtype": dtype,
            "classes": list(classes) if classes is not None else None,
        }
        if mask_classes is not None:  # only then: datasets without masks keep their dataset.json
            self.header["mask_classes"] = list(mask_classes)
            if not 2 <= len(self.header["mask_classes"]) <= MAX_MASK_CLASSES:
                raise ValueError(f"mask_classes must name 2 to {MAX_MASK_CLASSES} classes")
        self.label_schema = label_schema or {}
        self.provenance = provenance or {}
        part = shards.Shard(*shard) if shard is not None else None
        self.shard = part if part is not None and part.count > 1 else None  # shard 0/1 is the whole folder
        self.complete = False  # whether the folder holds the complete dataset (after close, or a merge)
        self._lines = self.shard.labels_name if self.shard else "labels.jsonl"
        self._prefix = self.shard.image_prefix if self.shard else ""
        self._labels: Any = None  # the open lines file; None when this writer has nothing to write
        self._closed = False
        if self.root.exists() and not self.root.is_dir():
            raise InputError.at(self.root, "exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self._same_provenance = require_same_provenance
        # One writer per folder (or per shard, beside the other shards), before any change.
        self._locks = (
            shards.folder_locks(self.root, self.shard)
            if self.shard
            else [atomic.FolderLock(self.root).acquire()]
        )
        self._ids: set[str] = set()
        try:
            if self.shard is None:
                self._open()
            else:
                with shards.merge_lock(self.root):  # the shards check and change the folder in turn
                    self._open_shard()
        except BaseException:
            self._release()
            raise

    def _check_meta(self) -> dict[str, Any] | None:
        """The folder's ``dataset.json`` when it describes this dataset, None when there is none.

        Raises:
            InputError: another dataset's header (or provenance), or a folder with other files in it.
        """
        if not (self.root / "dataset.json").is_file():
            if any(p.name not in ("images", "masks") and not _is_lock(p.name) for p in self.root.iterdir()):
                raise InputError.at(self.root, "exists, is not empty and is not a simgan dataset")
            return None
        old = read_meta(self.root)
        new = {**self.header}
        keys: tuple[str, ...] = HEADER_KEYS
        if self._same_provenance:
            # Compare as JSON would store it (tuples become lists).
            new["provenance"] = json.loads(json.dumps(self.provenance, default=json_default))
            keys += ("provenance",)
        found = first_difference({k: old.get(k) for k in keys}, {k: new.get(k) for k in keys})
        if found is not None:
            key, was, asked = found
            raise InputError.at(
                self.root,
                f"already holds a different dataset ({key}: {clip(repr(was), 60)} there, "
                f"{clip(repr(asked), 60)} now); choose another output folder",
            )
        return old

    def _resume(self) -> None:
        """Keep the samples already committed to this writer's lines file (dropping a torn last line and
        repeated lines) and remove the temp files of atomic writes a kill interrupted."""
        labels = self.root / self._lines
        if labels.is_file():
            repeats: list[tuple[int, int]] = []
            ids, _, _, good = scan_labels(self.root, strict_tail=False, repeats=repeats, name=self._lines)
            if repeats:  # keep one copy of each repeated sample (and drop a torn last line)
                data, kept, at = labels.read_bytes()[:good], [], 0
                for start, end in repeats:
                    kept.append(data[at:start])
                    at = end
                atomic.write_bytes(labels, b"".join([*kept, data[at:]]))
            else:
                with open(labels, "r+b") as f:
                    f.truncate(good)  # drop a torn last line left by a kill mid-write
            self._ids = set(ids)
        # A shard removes only its own temp files: the other shards are writing theirs beside it.
        mine = f".{self._lines}.*.tmp" if self.shard else ".*.tmp"
        own = f".{self._prefix}*.tmp"
        for folder, pattern in ((self.root, mine), (self.root / "images", own), (self.root / "masks", own)):
            for tmp in folder.glob(pattern):
                tmp.unlink(missing_ok=True)

    def _open(self) -> None:
        self._check_meta()
        shards.refuse_unfinished(self.root)
        self._make_folders()  # only now: a refused folder is left untouched
        self._resume()
        self._write_meta(complete=False)
        self._labels = open(self.root / self._lines, "ab")

    def _open_shard(self) -> None:
        assert self.shard is not None
        old = self._check_meta()
        if old is not None and old.get("complete"):  # a rerun after the merge: nothing left to write
            self._ids = set(scan_labels(self.root, strict_tail=True)[0])
            shards.remove(self.root)  # what a merge stopped before its clean-up left behind
            self.complete = True
            return
        shards.check_count(self.root, self.shard)
        if (self.root / "labels.jsonl").is_file() and not shards.found(self.root):
            raise InputError.at(
                self.root,
                "holds an unfinished write of one process (labels.jsonl): rerun it without --shard "
                "to finish it, or choose another --out",
            )
        self._make_folders()
        if (self.root / self.shard.done_name).is_file():  # finished before; the merge waits for others
            self._ids = set(scan_labels(self.root, strict_tail=True, name=self._lines)[0])
            return
        for name in ("dataset.json", "labels.jsonl"):  # the shards write these under the merge lock only
            for tmp in self.root.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)
        self._resume()
        if old is None:
            self._write_meta(complete=False)
        self._labels = open(self.root / self._lines, "ab")  # from now on the folder shows a sharded write

    def _make_folders(self) -> None:
        (self.root / "images").mkdir(exist_ok=True)
        if "mask_classes" in self.header:
            (self.root / "masks").mkdir(exist_ok=True)

    def __contains__(self, sample_id: object) -> bool:
        return str(sample_id) in self._ids  # ids are strings on disk; 7 and "7" are the same sample

    def __len__(self) -> int:
        return len(self._ids)

    def add(
        self,
        sample_id: str,
        image: np.ndarray,
        label: Any = None,
        params: dict[str, Any] | None = None,
        *,
        mask: np.ndarray | None = None,
    ) -> None:
        """Write one sample. ``image`` is (H, W, C) (or (H, W)) of the declared size and dtype.

        ``params`` (optional) is stored beside the label in the same ``labels.jsonl`` line under
        ``"params"``: how a simulator made this sample, for auditing and filtering (readers ignore it).
        ``mask`` (H, W) (or (H, W, 1)) uint8 class ids is required exactly when the writer was given
        ``mask_classes``; it goes to ``masks/`` under the image's file name, listed as ``"mask"``.
        """
        sample_id = str(sample_id)
        if sample_id in self._ids:
            raise ValueError(f"duplicate id {sample_id!r}")
        if self._labels is None:
            done = "the dataset is complete" if self.complete else f"shard {self.shard} has finished"
            raise ValueError(f"{self.root}: {done}; it takes no new samples")
        if image.ndim == 2:
            image = image[:, :, None]
        h = self.header
        expected = (h["height"], h["width"], h["channels"])
        if image.shape != expected or str(image.dtype) != h["dtype"]:
            raise ValueError(
                f"sample {sample_id!r}: expected image {expected} {h['dtype']}, "
                f"got {tuple(image.shape)} {image.dtype}"
            )
        mask = self._checked_mask(sample_id, mask)
        name = f"{self._prefix}{len(self._ids):08d}.png"
        file = f"images/{name}"
        # Straight into its final name (no temp file and rename: a third of the cost of a small image): the
        # label line below is the commit point, and the name follows the committed count, so an image torn
        # by a kill is never listed and the resumed writer writes the same name again. So is a mask.
        write_png(self.root / file, image, atomic=False)
        record: dict[str, Any] = {"id": sample_id, "file": file}
        if mask is not None:
            record["mask"] = f"masks/{name}"
            write_png(self.root / record["mask"], mask, atomic=False)
        record["label"] = label
        if params is not None:
            record["params"] = params
        line = json.dumps(record, separators=(",", ":"), default=json_default)
        self._labels.write(line.encode("utf-8") + b"\n")  # one write: the sample's commit point
        self._labels.flush()
        self._ids.add(sample_id)

    def _checked_mask(self, sample_id: str, mask: np.ndarray | None) -> np.ndarray | None:
        """``mask`` as (H, W, 1) uint8 after checking it against the header, or None."""
        names = self.header.get("mask_classes")
        if names is None:
            if mask is not None:
                raise ValueError(f"sample {sample_id!r}: a mask, but this writer has no mask_classes")
            return None
        if mask is None:
            raise ValueError(
                f"sample {sample_id!r}: this writer has mask_classes, so every sample needs a mask"
            )
        if mask.ndim == 3 and mask.shape[2] == 1:
            mask = mask[:, :, 0]
        expected = (self.header["height"], self.header["width"])
        if mask.shape != expected or mask.dtype != np.uint8:
            raise ValueError(
                f"sample {sample_id!r}: expected mask {expected} uint8, got {tuple(mask.shape)} {mask.dtype}"
            )
        if mask.size and int(mask.max()) >= len(names):
            raise ValueError(f"sample {sample_id!r}: mask id {int(mask.max())} >= {len(names)} mask_classes")
        return mask[:, :, None]

    def _write_meta(self, complete: bool, count: int | None = None) -> None:
        meta = {
            "format": FORMAT,
            "version": VERSION,
            **self.header,
            "count": (len(self._ids) if count is None else count) if complete else None,
            "complete": complete,
            "label_schema": self.label_schema,
            "provenance": self.provenance,
        }
        atomic.write_json(self.root / "dataset.json", meta)

    def _check_lines(self, name: str, expected: int, wrote: str) -> None:
        """Refuse to mark complete a lines file that holds other than ``expected`` lines."""
        n_lines = count_lines(self.root / name)
        if n_lines != expected:
            raise InputError.at(
                self.root / name,
                f"holds {n_lines} samples, but {wrote} {expected}: another process wrote here; "
                "the dataset stays incomplete",
            )

    def _merge(self) -> None:
        """The last shard to finish: merge every shard's lines into the complete dataset."""
        assert self.shard is not None
        if read_meta(self.root).get("complete"):  # another shard merged, this one's lines included
            self.complete = True
            return
        total = shards.merge(self.root, self.shard.count)
        if total is None:  # some shard has not finished: the last one to finish merges
            return
        self._check_lines("labels.jsonl", total, f"the {self.shard.count} shards wrote")
        self._write_meta(complete=True, count=total)
        shards.remove(self.root)
        self.complete = True

    def close(self, complete: bool = True) -> None:
        """Flush labels; with ``complete`` mark the dataset finished (count written), after checking
        that ``labels.jsonl`` holds exactly the samples this writer knows of, each once. A shard marks
        itself finished instead, and the last shard of N to finish merges them all."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._labels is not None:
                self._labels.flush()
                os.fsync(self._labels.fileno())
                self._labels.close()
                if complete:  # every line is one of this writer's samples, so the counts must agree
                    self._check_lines(self._lines, len(self._ids), "this run wrote")
                    if self.shard is None:
                        self._write_meta(complete=True)
                        self.complete = True
                    else:
                        atomic.write_json(self.root / self.shard.done_name, {"count": len(self._ids)})
            if complete and self.shard is not None and not self.complete:
                with shards.merge_lock(self.root):
                    self._merge()
        finally:
            self._release()

    def _release(self) -> None:
        for lock in reversed(self._locks):
            lock.release()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(complete=exc_type is None)


def _is_lock(name: str) -> bool:
    """A lock file of the writers (:class:`atomic.FolderLock`): ``.simgan.lock``, ``.simgan.*.lock``."""
    return name.startswith(".simgan.") and name.endswith(".lock")
