"""``simgan convert``: stream any readable dataset into a simgan dataset directory (resumable)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from simgan.data.simgan_dir import DatasetWriter
from simgan.data.source import DatasetInfo, Source, open_dataset
from simgan.progress import off

__all__ = ["convert"]


def convert(source: Source, out: str | Path, progress: bool = True) -> DatasetInfo:
    """Copy ``source`` into ``out`` keeping ids and labels; an interrupted run resumes where it stopped.

    Rerunning a finished conversion is a no-op. ``out`` holding any other dataset (another size, task,
    or converted from another folder) is an :class:`~simgan.errors.InputError`.
    """
    info = source.info
    schema = info.extra.get("label_schema", {})
    # The resolved source path identifies "the same dataset", so a rerun resumes and anything else is refused.
    provenance = {"converted_from": str(Path(info.path).resolve()), "layout": info.layout}
    if "provenance" in info.extra:
        provenance["source_provenance"] = info.extra["provenance"]
    with (
        DatasetWriter(
            out,
            task=info.task,
            height=info.height,
            width=info.width,
            channels=info.channels,
            dtype=info.dtype,
            classes=info.classes,
            label_schema=schema,
            provenance=provenance,
            require_same_provenance=True,
        ) as writer,
        # The bar is closed before an error propagates, so the CLI's one-line message starts a fresh line.
        tqdm(total=len(source), desc="convert", unit="img", disable=off(progress)) as bar,
    ):
        # A layout that knows its ids without decoding lets a resumed run skip finished samples cheaply;
        # for any other, the base-class sample_id would decode each sample twice.
        cheap_ids = type(source).sample_id is not Source.sample_id
        for i in range(len(source)):
            if not (cheap_ids and source.sample_id(i) in writer):
                sample = source.read(i)
                if sample.id not in writer:
                    writer.add(sample.id, sample.image, sample.label)
            bar.update()
    return open_dataset(out).info
