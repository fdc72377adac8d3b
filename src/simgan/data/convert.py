"""``simgan convert``: stream any readable dataset into a simgan dataset directory (resumable)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from simgan.data.simgan_dir import DatasetWriter
from simgan.data.source import DatasetInfo, Source, open_dataset

__all__ = ["convert"]


def convert(source: Source, out: str | Path, progress: bool = True) -> DatasetInfo:
    """Copy ``source`` into ``out`` keeping ids and labels; an interrupted run resumes where it stopped."""
    info = source.info
    schema = info.extra.get("label_schema", {})
    provenance = {"converted_from": str(info.path), "layout": info.layout}
    with DatasetWriter(
        out,
        task=info.task,
        height=info.height,
        width=info.width,
        channels=info.channels,
        dtype=info.dtype,
        classes=info.classes,
        label_schema=schema,
        provenance=provenance,
    ) as writer:
        for i in tqdm(range(len(source)), desc="convert", unit="img", disable=not progress):
            sample = source.read(i)
            if sample.id not in writer:
                writer.add(sample.id, sample.image, sample.label)
    return open_dataset(out).info
