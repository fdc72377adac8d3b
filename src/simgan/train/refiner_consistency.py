"""Label-consistent refinement (CyCADA's semantic loss) for ``train-refiner --consistency TASK_RUN``.

A task model trained on the synthetic data is frozen and reads both x and R(x); R pays
``lambda_consistency * consistency_loss(model, x, R(x), task)`` (simgan.adapt.consistency) on top of
eq. (4), so it may change more than texture while the model still reads the label it read on x. Self-
regularization can then be relaxed (a lower ``lambda_reg``).

:func:`load_consistency` opens the run (its ``best.pt``) or checkpoint file and refuses, in one line
naming it, anything that cannot read the synthetic images: a missing path, a refiner run, a model of
another task, of other channels or classes, or of another image size (where the checkpoint records one:
gaze networks and the monitor's own ``monitor_task.pt``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simgan.adapt.consistency import consistency_loss
from simgan.checkpoint import CHECKPOINT_NAME, load_checkpoint
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.nn.task_model import model_from_spec
from simgan.train.refiner_config import RefinerTrainConfig

__all__ = ["ConsistencyTerm", "Consistency", "load_consistency"]

# consistency(x, R(x)) -> scalar loss; x is the synthetic batch, (b, C, H, W) both.
ConsistencyTerm = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Consistency:
    """The frozen task model of ``--consistency``, its task, the loss term R pays, and where it came from."""

    model: nn.Module
    task: str
    term: ConsistencyTerm
    path: Path


def _checkpoint(path: Path) -> dict[str, Any]:
    flag = f"--consistency {path}"
    if not path.exists():
        raise InputError(f"{flag}: no such train-task run folder or checkpoint")
    try:
        return load_checkpoint(path, "task", name="best.pt")
    except InputError as e:
        try:  # a refiner run (its best.pt or checkpoint.pt) is the likeliest mix-up: say so
            load_checkpoint(
                path, "refiner", name="best.pt" if (path / "best.pt").is_file() else CHECKPOINT_NAME
            )
        except InputError:
            raise InputError(f"{flag}: {str(e).split(': ', 1)[-1]}") from None
        raise InputError(f"{flag}: is a train-refiner run; --consistency takes a train-task run") from None


def _image_of(ckpt: dict[str, Any]) -> tuple[int, int] | None:
    """The (H, W) the model was trained on, where the checkpoint records it."""
    image = ckpt.get("image")
    if isinstance(image, dict) and "height" in image and "width" in image:
        return int(image["height"]), int(image["width"])
    kwargs = ckpt.get("model_spec", {}).get("kwargs", {})
    if "height" in kwargs and "width" in kwargs:  # the gaze network is built for one input size
        return int(kwargs["height"]), int(kwargs["width"])
    return None


def load_consistency(cfg: RefinerTrainConfig, synthetic: Source, device: torch.device) -> Consistency | None:
    """The frozen task model of ``cfg.consistency`` checked against the synthetic set (None when off).

    Raises:
        InputError: one line naming the run: missing, a refiner run, not a ``train-task`` checkpoint, or a
            model whose task, channels, classes or image size differ from the synthetic images'.
    """
    if not cfg.consistency:
        return None
    path = Path(cfg.consistency)
    ckpt = _checkpoint(path)
    flag, info = f"--consistency {path}", synthetic.info
    task = str(ckpt.get("config", {}).get("task", ""))
    if info.task is not None and task != info.task:
        raise InputError(
            f"{flag}: a {task or 'unknown-task'} model, but {info.path} holds {info.task} labels"
        )
    if task not in ("classify", "gaze", "handpose"):
        raise InputError(f"{flag}: the checkpoint names no task (classify, gaze or handpose)")
    try:
        model = model_from_spec(ckpt["model_spec"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"{flag}: checkpoint does not hold a usable task model ({first[:100]})") from None
    channels = getattr(model, "in_channels", info.channels)
    size = _image_of(ckpt)
    if channels != info.channels or (size is not None and size != (info.height, info.width)):
        h, w = size if size is not None else ("?", "?")
        raise InputError(
            f"{flag}: the model reads {h}x{w}x{channels} images, the synthetic images are "
            f"{info.height}x{info.width}x{info.channels}"
        )
    classes = len(info.classes or ())
    if task == "classify" and classes and getattr(model, "num_classes", classes) != classes:
        raise InputError(f"{flag}: the model has {model.num_classes} classes, {info.path} has {classes}")
    model = model.to(device).eval().requires_grad_(False)  # frozen: R's gradient passes through it only

    def term(x: torch.Tensor, refined: torch.Tensor) -> torch.Tensor:
        return consistency_loss(model, x, refined, task)

    return Consistency(model=model, task=task, term=term, path=path)
