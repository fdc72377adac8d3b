"""A copyable example simulator plug-in: bright squares and discs on a textured background.

Copy this file to ``src/simgan/sim/<name>.py``, rename the class and the registered name, and replace
:meth:`ShapesSimulator.render`. A plug-in is found by the auto-import in :mod:`simgan.sim` (this file is
skipped there, so "template" never shows up as a simulator). The contract
(:class:`~simgan.sim.registry.Simulator`):

* class attributes say what it makes: ``task`` (classify | gaze | handpose), ``default_size`` (H, W),
  ``channels``, ``dtype``, ``classes`` (classify only) and a ``label_schema`` describing the labels;
* ``render(rng, n, size, target)`` returns a whole batch, images (n, H, W, C) of ``dtype`` and n
  JSON-ready labels, drawing every random number from ``rng`` (so a seed fixes the bytes) and using
  array operations over the batch (see :mod:`simgan.sim.randomize`), never a Python loop per pixel;
* optional ``configure(**options) -> Simulator`` returns a new, changed instance (``simulate``'s extra
  keyword arguments land here); ``check_size`` and ``channels_for`` restrict or adapt the size.

For gaze and handpose the label is a dict, and every randomised parameter goes in as an extra key. A
classify label must stay the class index, so this example (like digits) offers ``render_with_params``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simgan.sim import randomize as rz
from simgan.sim.registry import Simulator, register_simulator

__all__ = ["ShapesSimulator"]


@register_simulator("template")
class ShapesSimulator(Simulator):
    """Class 0: an axis-aligned square; class 1: a disc. Grey, on smooth background texture."""

    task = "classify"
    default_size = (16, 16)
    channels = 1
    dtype = "uint8"
    classes = ("square", "disc")
    label_schema = {"label": "class index into classes"}

    def render(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[Any]]:
        images, labels, _ = self.render_with_params(rng, n, size, target)
        return images, labels

    def render_with_params(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[int], list[dict[str, Any]]]:
        h, w = size
        label = rng.integers(0, 2, n)
        # 1. Draw every parameter for the whole batch at once.
        p = {
            "radius": rng.uniform(0.15, 0.35, n) * min(h, w),
            "cx": rng.uniform(0.35, 0.65, n) * w,
            "cy": rng.uniform(0.35, 0.65, n) * h,
            "ink": rng.uniform(0.6, 1.0, n),
            "texture": rng.uniform(0.0, 0.2, n),
            "blur": rng.uniform(0.0, 1.0, n),
            "noise": rng.uniform(0.0, 0.05, n),
        }
        # 2. Render with array operations over (B, H, W).
        gx, gy = rz.pixel_grid(h, w)
        dx, dy = gx - p["cx"][:, None, None], gy - p["cy"][:, None, None]
        dist = np.where(
            label[:, None, None] == 0,
            np.maximum(np.abs(dx), np.abs(dy)),  # square: Chebyshev distance
            np.hypot(dx, dy),  # disc: Euclidean distance
        )
        cov = np.clip(p["radius"][:, None, None] - dist + 0.5, 0.0, 1.0)  # anti-aliased edge
        back = 0.2 + p["texture"][:, None, None] * rz.smooth_noise(rng, n, size, 3)
        img = back + cov * (p["ink"][:, None, None] - back)
        img = rz.gaussian_blur(img, p["blur"] * (2.0 if target == "pseudo-real" else 1.0))
        img = rz.add_gaussian_noise(rng, img, p["noise"])
        images = np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)[..., None]  # (B, H, W, 1)
        # 3. JSON-ready per-sample records.
        params = [{k: round(float(v[i]), 4) for k, v in p.items()} for i in range(n)]
        return images, label.tolist(), params
