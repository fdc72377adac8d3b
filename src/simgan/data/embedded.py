"""The embedded default real domain: scikit-learn's ``load_digits`` (1797 real 8x8 handwritten digits).

scikit-learn ships the UCI pen digits as 8x8 ink counts in 0..16 (32x32 bitmaps, ink counted per 4x4
block). We store them as 8-bit grey (value * 255 / 16) so they flow through every simgan command.
The split is fixed by a seed and never mixes: real-unlabelled (for the refiner), real-labelled (the
supervised upper bound), real-test (only ever evaluated). ``size`` upsamples them (bicubic) for the 28x28
path: a check of the MNIST-sized code path on real handwriting, not new detail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simgan.data.simgan_dir import DatasetWriter
from simgan.data.source import DatasetInfo, open_dataset

__all__ = ["DIGIT_CLASSES", "load_sklearn_digits", "split_indices", "write_sklearn_digits"]

DIGIT_CLASSES = tuple(str(d) for d in range(10))


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8, 1) uint8 and labels (1797,) int64."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, d.target.astype(np.int64)


def split_indices(n: int, fractions: dict[str, float], seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint random index sets with the given fractions (the last takes the remainder)."""
    if not np.isclose(sum(fractions.values()), 1.0):
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    out, start = {}, 0
    names = list(fractions)
    for k, name in enumerate(names):
        stop = n if k == len(names) - 1 else start + int(round(fractions[name] * n))
        out[name] = np.sort(order[start:stop])
        start = stop
    return out


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(8, 8, 1) uint8 -> (H, W, 1) uint8, bicubic."""
    from PIL import Image

    pil = Image.fromarray(image[..., 0]).resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(pil, dtype=np.uint8)[..., None]


def write_sklearn_digits(
    out: str | Path,
    indices: np.ndarray | None = None,
    labelled: bool = True,
    size: tuple[int, int] | None = None,
) -> DatasetInfo:
    """Write (a subset of) the scikit-learn digits as a simgan dataset; ids are ``sk<index>``.

    Args:
        size: (H, W) to upsample to (bicubic); None keeps 8x8.
    """
    images, labels = load_sklearn_digits()
    idx = np.arange(len(images)) if indices is None else np.asarray(indices)
    h, w_ = size if size is not None else (8, 8)
    provenance: dict[str, object] = {"source": "sklearn.datasets.load_digits", "labelled": labelled}
    if size is not None:
        provenance["resized"] = {"from": [8, 8], "to": [h, w_], "filter": "bicubic"}
    with DatasetWriter(
        out,
        task="classify" if labelled else None,
        height=h,
        width=w_,
        channels=1,
        classes=DIGIT_CLASSES if labelled else None,
        provenance=provenance,
    ) as w:
        for i in idx:
            sid = f"sk{int(i):04d}"
            if sid not in w:
                image = images[i] if size is None else _resize(images[i], (h, w_))
                w.add(sid, image, int(labels[i]) if labelled else None)
    return open_dataset(out).info
