"""The dataset contract every layout implements, and the registry that picks a layout for a folder.

A :class:`Source` is an indexable, lazily read dataset: ``len(src)``, ``src.read(i) -> Sample`` and
``src.info`` (size, dtype, task, classes). Layouts register themselves with :func:`register_layout`;
:func:`open_dataset` detects which one a folder is (or takes ``--format``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simgan.errors import InputError

__all__ = [
    "open_source",
    "TASKS",
    "TRAIN_TASKS",
    "Sample",
    "DatasetInfo",
    "Source",
    "Layout",
    "LAYOUTS",
    "register_layout",
    "open_dataset",
]

TASKS = ("classify", "gaze", "handpose")  # what a dataset's labels are for (dataset.json "task")
# What train-task trains: the label tasks, and segment, which learns a dataset's per-pixel masks
# (simgan.data.simgan_dir.mask_classes) whatever its labels' task.
TRAIN_TASKS = (*TASKS, "segment")


@dataclass(frozen=True)
class Sample:
    """One item: its stable ``id``, pixels (H, W, C) uint8/uint16, and label (None when unlabelled)."""

    id: str
    image: np.ndarray
    label: Any


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset holds. ``task`` is None for unlabelled data; ``classes`` only for ``classify``."""

    layout: str
    path: Path
    count: int
    height: int
    width: int
    channels: int
    dtype: str
    task: str | None = None
    classes: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Source(abc.ABC):
    """A readable dataset. Subclasses set ``info`` and implement ``read`` (and ``label`` if cheap)."""

    info: DatasetInfo

    def __len__(self) -> int:
        return self.info.count

    @abc.abstractmethod
    def read(self, index: int) -> Sample:
        """Decode sample ``index`` (0 <= index < len). Raises InputError naming a bad file."""

    def pixels(self, index: int) -> np.ndarray:
        """The pixels of sample ``index`` (H, W, C); layouts override this when it can skip the label."""
        return self.read(index).image

    def label(self, index: int) -> Any:
        """The label of sample ``index``; layouts override this when it needs no pixel decode."""
        return self.read(index).label

    def sample_id(self, index: int) -> str:
        """The id of sample ``index``; layouts override this when it needs no pixel decode."""
        return self.read(index).id

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self.read(i)

    def check_shape(self, image: np.ndarray, where: str | Path) -> np.ndarray:
        """Refuse an image whose size differs from the dataset's (mixed sizes are an input error)."""
        i = self.info
        if image.shape != (i.height, i.width, i.channels) or str(image.dtype) != i.dtype:
            h, w, c = image.shape
            raise InputError.at(
                where,
                f"image is {h}x{w}x{c} {image.dtype}, but this dataset is "
                f"{i.height}x{i.width}x{i.channels} {i.dtype} (mixed sizes: resize them to one size first)",
            )
        return image


@dataclass(frozen=True)
class Layout:
    name: str
    detect: Callable[[Path], bool]
    open: Callable[[Path], Source]
    priority: int  # lower is tried first; specific native formats before generic folders


LAYOUTS: dict[str, Layout] = {}


def register_layout(
    name: str, *, detect: Callable[[Path], bool], priority: int = 50
) -> Callable[[Callable[[Path], Source]], Callable[[Path], Source]]:
    """Decorator: register ``open(path) -> Source`` under ``name`` for ``--format`` and detection."""

    def wrap(open_fn: Callable[[Path], Source]) -> Callable[[Path], Source]:
        LAYOUTS[name] = Layout(name, detect, open_fn, priority)
        return open_fn

    return wrap


def open_dataset(path: str | Path, format: str | None = None) -> Source:
    """Open any readable dataset folder.

    Args:
        path: the dataset folder.
        format: a registered layout name, or None/"auto" to detect.

    Raises:
        InputError: the path is missing, not a folder, empty, of an unknown format, or malformed.
    """
    path = Path(path)
    if not path.exists():
        raise InputError.at(path, "no such file or folder")
    if not path.is_dir():
        raise InputError.at(path, "not a folder (a dataset is a folder of images or a simgan dataset)")
    if format not in (None, "", "auto"):
        if format not in LAYOUTS:
            raise InputError.at(path, f"unknown --format {format!r} (choose from {', '.join(LAYOUTS)})")
        return LAYOUTS[format].open(path)
    for layout in sorted(LAYOUTS.values(), key=lambda lay: lay.priority):
        if layout.detect(path):
            return layout.open(path)
    if not any(path.iterdir()):
        raise InputError.at(path, "empty folder: no images found")
    raise InputError.at(path, "no images found and not a recognised dataset layout")


def open_source(data: str | Path | Source, flag: str) -> Source:
    """A dataset argument as a Source: an opened one as it is, a folder opened (any layout); an error
    names the flag the argument came from (``--train missing: no such file or folder``)."""
    if isinstance(data, Source):
        return data
    try:
        return open_dataset(data)
    except InputError as e:
        raise InputError(f"{flag} {e}") from None
