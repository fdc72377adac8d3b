"""Where training runs send their numbers: TensorBoard always available, Weights & Biases when installed,
and any backend a user registers.

The trainers speak four calls, those of TensorBoard's SummaryWriter: ``add_scalar(tag, value, step)``,
``add_images(tag, images, step)`` (a (N, C, H, W) float batch in [0, 1]), ``add_hparams(hparams,
metrics)``, ``flush()`` and ``close()``. :func:`open_loggers` builds one :class:`Loggers` that forwards each
call to every backend named (``--log-to tensorboard,wandb``; default ``tensorboard``). Backends are
optional extras: asking for one whose package is missing is one clear error, never a silent skip, and
simgan itself needs none but TensorBoard.

A backend is a factory ``(run folder, kind, options) -> object with those calls``, registered with
:func:`register_backend`; ``kind`` is ``refiner`` or ``task`` and ``options`` holds ``purge_step`` (a
resumed refiner run hides the events it will log again) and ``config`` (the run's config dict).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from simgan.errors import InputError

__all__ = ["BACKENDS", "DEFAULT", "Loggers", "register_backend", "open_loggers", "parse_log_to"]

Backend = Any  # an object with add_scalar, add_images, add_hparams, flush and close
Factory = Callable[[Path, str, dict[str, Any]], Backend]

BACKENDS: dict[str, Factory] = {}
DEFAULT = ("tensorboard",)


def register_backend(name: str) -> Callable[[Factory], Factory]:
    """Register a backend factory under ``name`` (usable in ``--log-to``)."""

    def decorate(factory: Factory) -> Factory:
        BACKENDS[name] = factory
        return factory

    return decorate


@register_backend("tensorboard")
def _tensorboard(run: Path, kind: str, options: dict[str, Any]) -> Backend:
    from torch.utils.tensorboard import SummaryWriter  # slow to import; only a training run needs it

    purge = options.get("purge_step")
    return SummaryWriter(str(run / "tb"), purge_step=purge)


class _Wandb:
    """Weights & Biases: one wandb run per simgan run, its files under RUN/wandb (``WANDB_MODE=offline``
    works without an account; ``wandb sync`` uploads later)."""

    def __init__(self, run: Path, kind: str, options: dict[str, Any]) -> None:
        import wandb

        self.wandb = wandb
        self.run = wandb.init(
            project="simgan",
            name=f"{run.name} ({kind})",
            dir=str(run),
            config=options.get("config") or {},
            resume="allow",
            reinit="finish_previous",
        )

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.run.log({tag: value}, step=step)

    def add_images(self, tag: str, images: Any, step: int) -> None:
        pictures = [self.wandb.Image(img.permute(1, 2, 0).numpy()) for img in images]
        self.run.log({tag: pictures}, step=step)

    def add_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], **_: Any) -> None:
        self.run.summary.update(metrics)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.run.finish()


@register_backend("wandb")
def _wandb(run: Path, kind: str, options: dict[str, Any]) -> Backend:
    return _Wandb(run, kind, options)


_PACKAGES = {"wandb": "wandb"}  # backend -> the package it needs (checked before any work)


def parse_log_to(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"tensorboard,wandb"`` (or a sequence) -> the backend names, each checked.

    Raises:
        InputError: an unknown name, or a backend whose package is not installed.
    """
    names = tuple(n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip())
    for name in names:
        if name not in BACKENDS:
            raise InputError(f"--log-to {name}: unknown logger (choose from {', '.join(sorted(BACKENDS))})")
        package = _PACKAGES.get(name)
        if package and importlib.util.find_spec(package) is None:
            raise InputError(f"--log-to {name}: {package} is not installed (pip install {package})")
    return names


class Loggers:
    """Every backend of a run behind SummaryWriter's calls (none: every call does nothing)."""

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        for b in self.backends:
            b.add_scalar(tag, value, step)

    def add_images(self, tag: str, images: Any, step: int) -> None:
        for b in self.backends:
            b.add_images(tag, images, step)

    def add_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], **kwargs: Any) -> None:
        for b in self.backends:
            b.add_hparams(hparams, metrics, **kwargs)

    def flush(self) -> None:
        for b in self.backends:
            b.flush()

    def close(self) -> None:
        for b in self.backends:
            b.close()


def open_loggers(
    run: Path, names: Sequence[str], kind: str, *, purge_step: int | None = None, config: dict | None = None
) -> Loggers:
    """The run's :class:`Loggers` for the backend ``names`` (checked by :func:`parse_log_to`)."""
    options = {"purge_step": purge_step, "config": config}
    return Loggers([BACKENDS[n](Path(run), kind, options) for n in parse_log_to(names)])
