"""The simulator plug-in contract and the ``simulate`` driver that writes a simgan dataset.

A simulator renders a *batch* of labelled images from a NumPy generator (vectorised; no per-pixel Python
loops). Labels are free, and every randomised parameter is recorded per sample so users can audit and
filter: dict labels (gaze, handpose) carry them as extra keys; simulators whose label must stay a plain
class index implement ``render_with_params``, and its per-sample dicts are stored under ``"params"`` in
the same ``labels.jsonl`` line.
Register one with ``@register_simulator("name")`` on a :class:`Simulator` subclass (``template.py`` is a
copyable example).

Determinism: batch ``k`` of a run is rendered from ``np.random.default_rng([seed, k])`` with a fixed batch
size (:data:`BATCH`), so the same seed gives the same bytes, and a resumed run re-renders exactly the
batches it is missing.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from simgan.data.equalize import equalize as equalize_images
from simgan.data.simgan_dir import DatasetWriter
from simgan.data.source import DatasetInfo, open_dataset
from simgan.errors import InputError
from simgan.progress import off

__all__ = [
    "BATCH",
    "MAX_SIDE",
    "TARGETS",
    "Simulator",
    "SIMULATORS",
    "register_simulator",
    "get_simulator",
    "simulate",
]

BATCH = 256
MAX_SIDE = 512  # a batch of BATCH float32 renders at 512x512 and its intermediates take a few GB
TARGETS = ("synthetic", "pseudo-real")


class Simulator(abc.ABC):
    """A procedural image source with free labels.

    Class attributes describe the output; :meth:`render` makes one batch.
    """

    name: ClassVar[str]
    task: ClassVar[str]  # classify | gaze | handpose
    default_size: ClassVar[tuple[int, int]]  # (H, W)
    channels: ClassVar[int] = 1
    dtype: ClassVar[str] = "uint8"
    classes: ClassVar[tuple[str, ...] | None] = None
    label_schema: ClassVar[dict[str, Any]] = {}
    # Names of per-pixel mask classes (0 = background) when the simulator also draws a mask per image
    # through ``render_with_masks(rng, n, size, target) -> (images, labels, masks (n, H, W) uint8)``.
    mask_classes: ClassVar[tuple[str, ...] | None] = None

    def check_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Validate/normalise an output size (override to restrict the sizes a simulator supports)."""
        h, w = size
        if h < 4 or w < 4:
            raise InputError(f"--size {h}x{w}: too small for the {self.name} simulator")
        return h, w

    def channels_for(self, size: tuple[int, int]) -> int:
        """Channels of the output at ``size`` (override when e.g. a size implies RGB)."""
        return self.channels

    @abc.abstractmethod
    def render(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[Any]]:
        """Render ``n`` samples.

        Args:
            rng: the only source of randomness.
            n: batch size.
            size: output (H, W).
            target: ``synthetic`` (the simulator alone) or ``pseudo-real`` (plus the target-domain
                degradation model, for experiments where no real data exists).

        Returns:
            images (n, H, W, C) of ``dtype`` and a list of n JSON-ready labels.
        """


SIMULATORS: dict[str, Simulator] = {}


def register_simulator(name: str) -> Any:
    """Class decorator: instantiate and register a :class:`Simulator` under ``name``."""

    def wrap(cls: type[Simulator]) -> type[Simulator]:
        cls.name = name
        SIMULATORS[name] = cls()
        return cls

    return wrap


def get_simulator(name: str) -> Simulator:
    if name not in SIMULATORS:
        raise InputError(f"unknown simulator {name!r} (choose from {', '.join(sorted(SIMULATORS))})")
    return SIMULATORS[name]


def simulate(
    name: str,
    n: int,
    out: str | Path,
    *,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    target: str = "synthetic",
    progress: bool = True,
    equalize: bool = False,
    **options: Any,
) -> DatasetInfo:
    """Render ``n`` samples of simulator ``name`` into the simgan dataset ``out`` (resumable).

    A rerun with the same arguments resumes (or finds the dataset complete); a folder holding a dataset
    of other arguments (seed, n, target, size, options) is refused with one line naming the difference.

    ``options`` go to the simulator's ``configure(**options) -> Simulator`` (e.g. ``fonts=DIR``).
    ``equalize`` writes histogram-equalised images (:mod:`simgan.data.equalize`), recorded in the
    provenance; train-refiner, refine and train-task equalise their inputs themselves where asked, so the
    raw output is the default.
    """
    sim = get_simulator(name)
    if n <= 0:
        raise InputError(f"--n {n}: must be positive")
    if target not in TARGETS:
        raise InputError(f"--target {target}: choose from {', '.join(TARGETS)}")
    if options:
        configure = getattr(sim, "configure", None)
        if configure is None:
            raise InputError(f"simulator {name!r} takes no options ({', '.join(options)})")
        sim = configure(**options)
    hw = sim.check_size(size or sim.default_size)
    if max(hw) > MAX_SIDE:
        raise InputError(f"--size {hw[0]}x{hw[1]}: simulators render at most {MAX_SIDE} px a side")
    provenance = {"simulator": name, "seed": seed, "target": target, "batch": BATCH, "n": n}
    if options:
        provenance["options"] = {k: str(v) for k, v in options.items()}
    if equalize:  # only when on: datasets written before the option keep resuming
        provenance["equalize"] = True
    with DatasetWriter(
        out,
        task=sim.task,
        height=hw[0],
        width=hw[1],
        channels=sim.channels_for(hw),
        dtype=sim.dtype,
        classes=sim.classes,
        label_schema=sim.label_schema,
        mask_classes=sim.mask_classes,
        provenance=provenance,
        require_same_provenance=True,  # a rerun resumes; another --seed, --n or --target is refused
    ) as writer:
        n_batches = (n + BATCH - 1) // BATCH
        bar = tqdm(total=n, desc=f"simulate {name}", unit="img", disable=off(progress))
        for k in range(n_batches):
            ids = [f"{i:08d}" for i in range(k * BATCH, min(n, (k + 1) * BATCH))]
            todo = [sid not in writer for sid in ids]
            if any(todo):
                rng = np.random.default_rng([seed, k])
                masks = None
                if hasattr(sim, "render_with_params"):
                    images, labels, params = sim.render_with_params(rng, BATCH, hw, target)
                elif sim.mask_classes:
                    (images, labels, masks), params = sim.render_with_masks(rng, BATCH, hw, target), None
                else:
                    (images, labels), params = sim.render(rng, BATCH, hw, target), None
                if equalize:
                    images = equalize_images(images)
                for j, sid in enumerate(ids):
                    if todo[j]:
                        param, mask = (None if a is None else a[j] for a in (params, masks))
                        writer.add(sid, images[j], labels[j], param, mask=mask)
            bar.update(len(ids))
        bar.close()
    return open_dataset(out).info
