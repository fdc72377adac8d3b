"""``simgan export``: any readable dataset as plain PNG folders that other tools read directly.

| ``to`` | layout written | read by |
| --- | --- | --- |
| ``classes`` | ``OUT/<class name>/<id>.png`` (classify data only) | torchvision's ImageFolder, Keras |
| ``folder`` | ``OUT/<id>.png`` | CycleGAN-style ``trainA`` / ``trainB`` folders, any image loader |

Labels other than classes are not carried (gaze vectors and joints have no folder form; use the simgan
dataset itself). ``OUT/export.json`` records where the images came from. A rerun with the same arguments
skips the files already written (each is written atomically), and a rerun with another source or layout
is refused; one process writes into ``OUT`` at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from simgan import atomic
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits
from simgan.data.images import write_png
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.progress import off

__all__ = ["LAYOUTS", "MANIFEST", "export", "export_samples", "embedded_digits"]

LAYOUTS = ("classes", "folder")
MANIFEST = "export.json"

Item = tuple[str, np.ndarray, Any]  # (id, (H, W, C) image, label)


def _file_name(sample_id: str) -> str:
    """A file name for an id: characters outside [A-Za-z0-9._-] become '_' (ids may hold '/')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", sample_id) + ".png"


def _check_manifest(out: Path, manifest: dict[str, Any]) -> None:
    path = out / MANIFEST
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        for key in ("from", "to"):
            if old.get(key) != manifest[key]:
                raise InputError.at(
                    out,
                    f"holds an export with another {key} ({old.get(key)!r} there, {manifest[key]!r} now): "
                    "choose another --out",
                )
    elif out.is_dir() and any(p.name != atomic.FolderLock.NAME for p in out.iterdir()):
        raise InputError.at(out, "exists, is not empty and holds no simgan export: choose another --out")


def export_samples(
    items: Iterable[Item],
    n: int,
    out: str | Path,
    *,
    to: str,
    classes: tuple[str, ...] | None,
    origin: str,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n`` samples as PNG files in layout ``to``; returns the manifest (``OUT/export.json``).

    Raises:
        InputError: an unknown ``to``, ``classes`` for data without class labels, ``out`` holding
            something else, or a second writer.
    """
    if to not in LAYOUTS:
        raise InputError(f"--to {to}: choose from {', '.join(LAYOUTS)}")
    if to == "classes" and not classes:
        raise InputError(f"{origin}: --to classes needs class labels (a classify dataset); use --to folder")
    out = Path(out)
    manifest: dict[str, Any] = {"from": origin, "to": to, "count": n, "complete": False}
    with atomic.locked_folder(out):
        _check_manifest(out, manifest)
        atomic.write_json(out / MANIFEST, manifest)
        with tqdm(total=n, desc="export", unit="img", disable=off(progress)) as bar:
            for sample_id, image, label in items:
                sub = out / classes[int(label)] if to == "classes" and classes else out
                target = sub / _file_name(sample_id)
                if not target.is_file():
                    write_png(target, image)
                bar.update()
        manifest["complete"] = True
        atomic.write_json(out / MANIFEST, manifest)
    return manifest


def _source_items(source: Source) -> Iterator[Item]:
    for i in range(len(source)):
        sample = source.read(i)
        yield sample.id, sample.image, sample.label


def export(source: Source, out: str | Path, to: str = "classes", progress: bool = True) -> dict[str, Any]:
    """Export an opened dataset (any layout) into ``out`` as layout ``to`` (see the module docstring)."""
    info = source.info
    classes = info.classes if info.task == "classify" else None
    origin = str(Path(info.path).resolve())
    return export_samples(
        _source_items(source), len(source), out, to=to, classes=classes, origin=origin, progress=progress
    )


def embedded_digits(out: str | Path, to: str = "classes", progress: bool = True) -> dict[str, Any]:
    """Export the embedded real domain (scikit-learn's 1797 8x8 digits, ids ``sk<index>``) into ``out``."""
    images, labels = load_sklearn_digits()
    items = ((f"sk{i:04d}", images[i], int(labels[i])) for i in range(len(images)))
    return export_samples(
        items,
        len(images),
        out,
        to=to,
        classes=DIGIT_CLASSES,
        origin="sklearn.datasets.load_digits",
        progress=progress,
    )
