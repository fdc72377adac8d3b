"""Reading a simgan dataset directory (layout 3 of DESIGN.md, described in :mod:`simgan.data.simgan_dir`):
:class:`SimganSource`, and the per-pixel masks of any source (:func:`mask_classes`, :func:`read_mask`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from simgan.data.images import read_image
from simgan.data.simgan_index import read_meta, scan_labels
from simgan.data.source import DatasetInfo, Sample, Source, register_layout
from simgan.errors import InputError

__all__ = ["SimganSource", "mask_classes", "read_mask"]


class SimganSource(Source):
    """Reader for a simgan dataset directory; labels are parsed lazily from ``labels.jsonl`` offsets."""

    def __init__(self, root: Path):
        self.root = root
        meta = read_meta(root)
        if not meta.get("complete", True):
            raise InputError.at(
                root, "incomplete dataset (an interrupted write): rerun the command that made it to resume"
            )
        labels_path = root / "labels.jsonl"
        if not labels_path.is_file():
            raise InputError.at(labels_path, "missing (every simgan dataset has labels.jsonl)")
        names = meta.get("mask_classes")
        self.masks: list[str] | None = [] if names else None  # each sample's mask file, when it has one
        self.ids, self.files, self._offsets, _ = scan_labels(
            root, strict_tail=True, meta=meta, masks=self.masks
        )
        if meta.get("count") is not None and meta["count"] != len(self.ids):
            raise InputError.at(
                labels_path,
                f"{len(self.ids)} samples, but dataset.json says count {meta['count']} (missing ids)",
            )
        if not self.ids:
            raise InputError.at(root, "empty dataset: labels.jsonl has no samples")
        classes = meta.get("classes")
        self.meta = meta
        self.info = DatasetInfo(
            layout="simgan",
            path=root,
            count=len(self.ids),
            height=meta["height"],
            width=meta["width"],
            channels=meta["channels"],
            dtype=meta["dtype"],
            task=meta.get("task"),
            classes=tuple(classes) if classes else None,
            extra={k: meta[k] for k in ("label_schema", "provenance", "mask_classes") if k in meta},
        )
        self._fh: tuple[int, Any] | None = None

    def _labels_file(self) -> Any:
        # One handle per process: DataLoader workers fork and must not share a file position.
        if self._fh is None or self._fh[0] != os.getpid():
            self._fh = (os.getpid(), open(self.root / "labels.jsonl", "rb"))
        return self._fh[1]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fh": None}

    def close(self) -> None:
        """Close this process's handle on ``labels.jsonl`` (reopened on the next label read)."""
        fh, self._fh = getattr(self, "_fh", None), None
        if fh is not None and fh[0] == os.getpid():
            fh[1].close()

    def __del__(self) -> None:
        self.close()

    def sample_id(self, index: int) -> str:
        return self.ids[index]

    def label(self, index: int) -> Any:
        f = self._labels_file()
        f.seek(int(self._offsets[index]))
        return json.loads(f.readline())["label"]

    def pixels(self, index: int) -> np.ndarray:
        path = self.root / self.files[index]
        return self.check_shape(read_image(path), path)

    def read(self, index: int) -> Sample:
        return Sample(self.ids[index], self.pixels(index), self.label(index))

    def mask(self, index: int) -> np.ndarray | None:
        """The mask of sample ``index`` (H, W) uint8, or None when the dataset has no masks.

        Raises:
            InputError: a mask file that is missing, corrupt, of another size or type, or that holds an
                id beyond ``mask_classes``.
        """
        if self.masks is None:
            return None
        path = self.root / self.masks[index]
        mask = read_image(path)
        i = self.info
        if mask.shape != (i.height, i.width, 1) or mask.dtype != np.uint8:
            h, w, c = mask.shape
            raise InputError.at(
                path, f"mask is {h}x{w}x{c} {mask.dtype}, expected {i.height}x{i.width}x1 uint8 (class ids)"
            )
        n = len(self.meta["mask_classes"])
        if int(mask.max()) >= n:
            raise InputError.at(
                path, f"mask holds class id {int(mask.max())}, but mask_classes has {n} names"
            )
        return mask[:, :, 0]


register_layout("simgan", detect=lambda p: (p / "dataset.json").is_file(), priority=10)(SimganSource)


def _unwrapped(source: Source) -> Source:
    """The source a wrapper reads through (a wrapper, like ``EqualizedSource``, keeps it as ``inner``)."""
    while isinstance(getattr(source, "inner", None), Source):
        source = source.inner  # type: ignore[attr-defined]
    return source


def mask_classes(source: Source) -> tuple[str, ...] | None:
    """The class names of ``source``'s per-pixel masks, in id order; None when it has no masks (every
    layout but a simgan dataset whose ``dataset.json`` lists ``mask_classes``)."""
    names = source.info.extra.get("mask_classes")
    return tuple(names) if names else None


def read_mask(source: Source, index: int) -> np.ndarray | None:
    """Sample ``index``'s mask (H, W) uint8 of class ids, or None when ``source`` has no masks.

    Wrappers are seen through: an equalised view of a dataset has its masks (equalising moves no pixel).
    """
    inner = _unwrapped(source)
    return inner.mask(index) if isinstance(inner, SimganSource) else None
