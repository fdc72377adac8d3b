"""``simgan inspect``: what a dataset holds, verified by decoding every image."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tqdm import tqdm

from simgan.data.labels import label_problem
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.progress import off

__all__ = ["summarize"]


def summarize(source: Source, verify: bool = True, progress: bool = True) -> dict[str, Any]:
    """Summary dict with the DESIGN.md keys: layout, count, height, width, channels, dtype, classes.

    With ``verify`` every image is decoded (a truncated file raises InputError naming it) and checked
    against the dataset's size.
    """
    info = source.info
    out: dict[str, Any] = {
        "path": str(info.path),
        "layout": info.layout,
        "count": info.count,
        "height": info.height,
        "width": info.width,
        "channels": info.channels,
        "dtype": info.dtype,
        "task": info.task,
    }
    counts: Counter[int] = Counter()
    # A bar on a terminal only (simgan.progress). The ``with`` clears it before an error reaches the CLI.
    with tqdm(range(len(source)), desc="inspect", unit="img", disable=off(progress), leave=False) as bar:
        for i in bar:
            label = source.read(i).label if verify else source.label(i)
            if info.task == "classify":
                counts[_class_index(label, info.classes, source, i)] += 1
    if info.task == "classify":
        names = info.classes or tuple(str(k) for k in range(max(counts, default=-1) + 1))
        out["classes"] = {name: counts.get(k, 0) for k, name in enumerate(names)}
    return out


def _class_index(label: Any, classes: tuple[str, ...] | None, source: Source, index: int) -> int:
    """A classify label as a class index, or InputError naming the sample when it is not a valid one."""
    problem = label_problem("classify", label, len(classes) if classes is not None else None)
    if problem is None:
        return int(label)
    raise InputError.at(source.info.path, f"sample {source.sample_id(index)!r}: {problem}")
