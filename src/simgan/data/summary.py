"""``simgan inspect``: what a dataset holds, verified by decoding every image."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tqdm import tqdm

from simgan.data.source import Source

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
    bar = tqdm(range(len(source)), desc="inspect", unit="img", disable=not progress, leave=False)
    counts: Counter[int] = Counter()
    for i in bar:
        if verify:
            sample = source.read(i)
            label = sample.label
        else:
            label = source.label(i)
        if info.task == "classify":
            counts[int(label)] += 1
    if info.task == "classify":
        names = info.classes or tuple(str(k) for k in sorted(counts))
        out["classes"] = {name: counts.get(k, 0) for k, name in enumerate(names)}
    return out
