"""How different the S refinements of one synthetic image are (stochastic refinement, ``refine --samples``).

``refine --samples S`` writes sample ``ID`` as ``ID_0`` .. ``ID_{S-1}``. The diversity of such a set is the
mean absolute difference between two refinements of the same image, over all pairs of one image's
refinements and then over images, in intensity units of [0, 1] (0: R ignores its noise; the mean
difference between two independent uniform images is 1/3). A refiner that learned to ignore z, a
common fate of a GAN generator's noise input, shows here as a value near 0.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np

from simgan.data.source import Source
from simgan.errors import InputError

__all__ = ["sample_id", "split_sample_id", "sample_diversity"]


def sample_id(base: str, s: int) -> str:
    """The id of refinement ``s`` of sample ``base``: ``base_s``."""
    return f"{base}_{s}"


def split_sample_id(sid: str) -> tuple[str, int]:
    """``base_s`` -> (``base``, s); the inverse of :func:`sample_id`."""
    base, _, s = sid.rpartition("_")
    if not base or not s.isdigit():
        raise ValueError(f"{sid!r} is not a sample id (ID_s)")
    return base, int(s)


def sample_diversity(source: Source, limit: int = 500) -> dict[str, float]:
    """Mean pairwise L1 between the refinements of each of at most ``limit`` images (module docstring).

    Returns:
        ``diversity_l1`` (in [0, 1] intensity units), ``images`` (how many were measured) and ``samples``
        (refinements per image, the smallest group's).

    Raises:
        InputError: the dataset does not hold several refinements per image (ids ``ID_s``).
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(source)):
        try:
            base, _ = split_sample_id(source.sample_id(i))
        except ValueError as e:
            raise InputError.at(source.info.path, f"{e}: not written by refine --samples") from None
        groups[base].append(i)
    multi = [idx for idx in groups.values() if len(idx) > 1][:limit]
    if not multi:
        raise InputError.at(source.info.path, "holds one refinement per image: nothing to compare")
    scale = 65535.0 if source.info.dtype == "uint16" else 255.0
    per_image = []
    for idx in multi:
        pixels = [source.pixels(i).astype(np.float64) / scale for i in idx]
        per_image.append(np.mean([np.abs(a - b).mean() for a, b in combinations(pixels, 2)]))
    return {
        "diversity_l1": round(float(np.mean(per_image)), 6),
        "images": len(multi),
        "samples": min(len(idx) for idx in multi),
    }
