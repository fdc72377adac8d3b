"""Histogram equalisation: MPIIGaze's normalisation step, as one transform every model input goes through.

MPIIGaze equalises every normalised eye image (Zhang et al., CVPR 2015), and so the real crops come with a
flat histogram: a mean near 0.5 in every image and a within-image std near 0.289 (that of a uniform
distribution on [0, 1]). A simulator's eyes differ from them most in global contrast and brightness, which
a refiner held close to its input by self-regularization cannot undo and a patch discriminator sees at
once. Equalising synthetic, refined and real images alike removes that difference from every comparison,
the way MPIIGaze removes it from its own data.

The mapping is the classic one (as in OpenCV's ``equalizeHist``), per image and per channel over L levels
(256 for uint8, 65536 for uint16): with ``cdf`` the cumulative histogram and ``cdf_min`` its value at the
darkest level present, level l becomes ``round((cdf(l) - cdf_min) / (N - cdf_min) * (L - 1))``. A constant
image stays as it is. Equalising an equalised image changes it little (tested): re-applying it to data
that already came equalised, like MPIIGaze's, is harmless.

``auto`` (``None``) turns it on for gaze data, the eyes task, and off elsewhere (handwriting and depth maps
are not equalised by their real datasets).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simgan.data.source import Sample, Source

__all__ = ["equalize", "resolve_equalize", "EqualizedSource", "equalized"]

EQUALIZED_TASKS = ("gaze",)


def equalize(image: np.ndarray) -> np.ndarray:
    """Histogram-equalise each channel of one image (or of each image of a batch).

    Args:
        image: uint8 or uint16 pixels, (H, W, C) or a batch (B, H, W, C).

    Returns:
        the equalised pixels, same shape and dtype.

    Shape:
        image: (H, W, C) or (B, H, W, C); returns the same.
    """
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"equalize needs uint8 or uint16 pixels, got {image.dtype}")
    if image.ndim == 4:
        return np.stack([equalize(x) for x in image]) if len(image) else image.copy()
    if image.ndim != 3:
        raise ValueError(f"equalize expects (H, W, C) or (B, H, W, C), got shape {image.shape}")
    levels = 256 if image.dtype == np.uint8 else 65536
    out = np.empty_like(image)
    for c in range(image.shape[2]):
        x = image[:, :, c]
        cdf = np.cumsum(np.bincount(x.ravel(), minlength=levels))
        cdf_min = cdf[x.min()]
        span = x.size - cdf_min
        if span == 0:  # a constant image has no contrast to spread
            out[:, :, c] = x
            continue
        lut = np.round((cdf - cdf_min) * ((levels - 1) / span)).astype(image.dtype)
        out[:, :, c] = lut[x]
    return out


def resolve_equalize(flag: bool | None, task: str | None) -> bool:
    """``--equalize`` / ``--no-equalize`` as given, or, for ``None`` (auto), on for gaze data only."""
    return task in EQUALIZED_TASKS if flag is None else bool(flag)


class EqualizedSource(Source):
    """A dataset read through :func:`equalize`: the same samples, ids and labels, equalised pixels."""

    def __init__(self, inner: Source):
        self.inner = inner
        self.info = inner.info
        if hasattr(inner, "ids"):  # a simgan dataset's ids, which refine's resume reads without decoding
            self.ids = inner.ids

    def read(self, index: int) -> Sample:
        s = self.inner.read(index)
        return Sample(s.id, equalize(s.image), s.label)

    def pixels(self, index: int) -> np.ndarray:
        return equalize(self.inner.pixels(index))

    def label(self, index: int) -> Any:
        return self.inner.label(index)

    def sample_id(self, index: int) -> str:
        return self.inner.sample_id(index)

    def check_shape(self, image: np.ndarray, where: Any) -> np.ndarray:
        return self.inner.check_shape(image, where)


def equalized(source: Source, on: bool) -> Source:
    """``source`` read through :func:`equalize` when ``on`` (never twice), else ``source`` itself."""
    if not on or isinstance(source, EqualizedSource):
        return source
    return EqualizedSource(source)
