"""The task networks as one family: build one for a task, rebuild it from a checkpoint, its loss and output.

A task network is described by a ``spec``, a plain dict ``{"arch": ..., "kwargs": {...}}`` stored in every
``train-task`` checkpoint, so a checkpoint rebuilds its network without pickled code:

| task | arch | network |
| --- | --- | --- |
| classify | ``digit_cnn`` | :class:`simgan.nn.classifier.DigitCNN` |
| gaze | ``gaze_net`` | :class:`simgan.nn.gaze_net.GazeNet` (the paper's) |
| handpose | ``hourglass`` | :class:`simgan.nn.hourglass.HourglassNet` (2 stacks, heatmaps) |
| segment | ``unet`` | :class:`simgan.nn.segment.SegmentNet` (a small U-Net, per-pixel logits) |

Losses (paper section 3): cross-entropy for digits; the "Euclidean loss" on the 3-D gaze vector (squared
L2 norm of the difference, mean over the batch); MSE to Gaussian heatmaps at every hourglass stack
(intermediate supervision, :func:`simgan.nn.hourglass.heatmap_loss`); per-pixel cross-entropy for part
masks (:func:`simgan.nn.segment.segment_loss`).

This module sits below ``train`` and ``eval``: the trainer builds and fits these networks, evaluation
loads and scores them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from simgan.checkpoint import load_checkpoint
from simgan.errors import InputError
from simgan.nn.classifier import DigitCNN
from simgan.nn.gaze_net import GazeNet
from simgan.nn.hourglass import HourglassNet
from simgan.nn.segment import SegmentNet, segment_loss, segment_predictions

__all__ = [
    "NetConfig",
    "ARCHITECTURES",
    "build_task_model",
    "model_from_spec",
    "load_task_model",
    "task_loss",
    "predictions",
]

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "digit_cnn": DigitCNN,
    "gaze_net": GazeNet,
    "hourglass": HourglassNet,
    "unet": SegmentNet,
}


class NetConfig(Protocol):
    """The fields of a task config that shape the network (:class:`simgan.train.task.TaskConfig` has them).

    ``width`` is the network width (0: the default, 16 for the digit CNN and the U-Net, 64 for the
    hourglass); ``seg_depth`` the U-Net's down-samplings.
    """

    @property
    def task(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def gaze_hidden(self) -> int: ...
    @property
    def hg_stacks(self) -> int: ...
    @property
    def hg_depth(self) -> int: ...
    @property
    def hg_stride(self) -> int: ...
    @property
    def hg_sigma(self) -> float: ...
    @property
    def hg_decode(self) -> str: ...
    @property
    def seg_depth(self) -> int: ...


def build_task_model(
    cfg: NetConfig, *, channels: int, height: int, width: int, num_outputs: int
) -> tuple[nn.Module, dict[str, Any]]:
    """The network of ``cfg.task`` for images of ``channels x height x width``, and its ``spec``.

    Args:
        cfg: the network fields of a task config (:class:`NetConfig`).
        channels: image channels.
        height: image height in pixels.
        width: image width in pixels.
        num_outputs: classes (classify), joints (handpose) or mask classes (segment); gaze ignores it.

    Returns:
        The freshly initialised network and the spec that rebuilds it (:func:`model_from_spec`).
    """
    if cfg.task == "classify":
        spec: dict[str, Any] = {
            "arch": "digit_cnn",
            "kwargs": {"in_channels": channels, "num_classes": num_outputs, "width": cfg.width or 16},
        }
    elif cfg.task == "gaze":
        kwargs = {"in_channels": channels, "height": height, "width": width, "hidden": cfg.gaze_hidden}
        spec = {"arch": "gaze_net", "kwargs": kwargs}
    elif cfg.task == "segment":
        kwargs = {
            "in_channels": channels,
            "num_classes": num_outputs,
            "width": cfg.width or 16,
            "depth": cfg.seg_depth,
        }
        spec = {"arch": "unet", "kwargs": kwargs}
    else:
        kwargs = {
            "in_channels": channels,
            "num_joints": num_outputs,
            "stacks": cfg.hg_stacks,
            "channels": cfg.width or 64,
            "depth": cfg.hg_depth,
            "stride": cfg.hg_stride,
            "decode": cfg.hg_decode,
            "sigma": cfg.hg_sigma,
        }
        spec = {"arch": "hourglass", "kwargs": kwargs}
    return model_from_spec(spec), spec


def model_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Rebuild a task network from the ``model_spec`` stored in a checkpoint.

    Raises:
        InputError: an architecture name this simgan does not know.
    """
    arch = ARCHITECTURES.get(spec.get("arch"))  # type: ignore[arg-type]
    if arch is None:
        raise InputError(f"checkpoint: unknown model architecture {spec.get('arch')!r}")
    return arch(**spec["kwargs"])


def load_task_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Load a ``train-task`` checkpoint (a run folder's ``best.pt``, or the file) as an eval-mode model.

    Loads with ``weights_only=True``: a checkpoint cannot run code.

    Returns:
        The model on ``device`` in eval mode, and the run's config dict.

    Raises:
        InputError: missing, corrupt, or not a ``train-task`` checkpoint.
    """
    ckpt = load_checkpoint(path, "task", name="best.pt")
    model = model_from_spec(ckpt["model_spec"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt.get("config", {})


def task_loss(model: nn.Module, task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss of ``task`` for the network output ``out`` (module docstring).

    Shape:
        classify: out (B, K), y (B,); gaze: out (B, 3), y (B, 3); handpose: out (B, S, J, h, w), y (B, J, 2);
        segment: out (B, K, H, W), y (B, H, W). Returns a scalar.
    """
    if task == "classify":
        return F.cross_entropy(out, y)
    if task == "segment":
        return segment_loss(out, y)
    if task == "gaze":
        return ((out - y) ** 2).sum(dim=1).mean()  # Euclidean loss on the 3-D gaze vector
    assert isinstance(model, HourglassNet)
    return model.loss(out, y)  # MSE to Gaussian heatmaps at every stack


def predictions(model: nn.Module, task: str, out: torch.Tensor) -> torch.Tensor:
    """Network output -> what the metrics compare: logits, unit gaze vectors, joints in pixels, or classes
    per pixel.

    Shape:
        classify: (B, K) -> (B, K); gaze: (B, 3) -> (B, 3) unit; handpose: (B, S, J, h, w) -> (B, J, 2)
        (the last stack's heatmaps, decoded to image pixels); segment: (B, K, H, W) -> (B, H, W) uint8.
    """
    if task == "classify":
        return out
    if task == "segment":
        return segment_predictions(out)
    if task == "gaze":
        return F.normalize(out, dim=1)
    assert isinstance(model, HourglassNet)
    return model.decode_joints(out[:, -1])
