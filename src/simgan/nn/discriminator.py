"""The SimGAN discriminator D (paper, sections 2.2, 3.1-3.3): patch logits for a local adversarial loss.

D is fully convolutional and outputs a w x h map of 2-class logits, one pair per local patch (Fig. 3):
channel 0 scores "real", channel 1 "refined" (the paper's "fake"/synthetic class, target 1 in eq. 2). The
last layer is a plain 1x1 conv: no ReLU (nor softmax) on the logits, the loss applies the log-softmax.

Layers are data (:class:`DiscriminatorSpec`, a tuple of conv/maxpool layers); every conv but the last is
followed by a ReLU. The paper does not state padding; we use none ("valid"), so no patch decision looks at a
zero border, and the map size is what :func:`output_size` computes.

Presets (:data:`DISCRIMINATOR_PRESETS`):

| preset | layers (cK/S F: conv KxK, stride S, F maps) | map |
| --- | --- | --- |
| eyes (paper) | c3/2 96, c3/2 64, maxpool3/1, c3 32, c1 32, c1 2 | 4x9 (35x55) |
| hands (paper) | c7/4 96, c5/2 64, maxpool3/2, c3/2 32, c1 32, c1 2 | 5x5 (224x224) |
| digits (ours) | c3 64, c3 64, c1 32, c1 2 | 4x4 (8x8), 5x5 patches |

The eye preset's two stride-2 convs and pooling would leave nothing of an 8x8 digit, hence ``digits``.

The *global* variant (ablation, section 3.3: "a fully connected layer ... classifying the whole image")
keeps the trunk and replaces the last 1x1 conv by a linear layer over the whole flattened map; it needs the
input size at construction and outputs a 1x1 "map", so the same loss applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "Layer",
    "DiscriminatorSpec",
    "DISCRIMINATOR_PRESETS",
    "Discriminator",
    "build_discriminator",
    "output_size",
    "receptive_field",
]


@dataclass(frozen=True)
class Layer:
    """One layer: ``kind`` ``"conv"`` (``features`` maps) or ``"maxpool"``; square ``kernel``; ``stride``."""

    kind: str
    kernel: int
    stride: int = 1
    features: int = 0


@dataclass(frozen=True)
class DiscriminatorSpec:
    """The layers of D; the last must be a conv with 2 maps (real, refined logits)."""

    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        last = self.layers[-1] if self.layers else None
        if last is None or last.kind != "conv" or last.features != 2:
            raise ValueError("a discriminator's last layer must be a conv with 2 feature maps (the logits)")
        for layer in self.layers:
            if layer.kind not in ("conv", "maxpool") or layer.kernel < 1 or layer.stride < 1:
                raise ValueError(f"bad discriminator layer {layer}")


def _conv(features: int, kernel: int, stride: int = 1) -> Layer:
    return Layer("conv", kernel, stride, features)


DISCRIMINATOR_PRESETS: dict[str, DiscriminatorSpec] = {
    "eyes": DiscriminatorSpec(
        (_conv(96, 3, 2), _conv(64, 3, 2), Layer("maxpool", 3, 1), _conv(32, 3), _conv(32, 1), _conv(2, 1))
    ),
    "hands": DiscriminatorSpec(
        (_conv(96, 7, 4), _conv(64, 5, 2), Layer("maxpool", 3, 2), _conv(32, 3, 2), _conv(32, 1), _conv(2, 1))
    ),
    "digits": DiscriminatorSpec((_conv(64, 3), _conv(64, 3), _conv(32, 1), _conv(2, 1))),
}


def output_size(spec: DiscriminatorSpec, height: int, width: int) -> tuple[int, int]:
    """The (h, w) of D's patch map for ``height`` x ``width`` inputs (<= 0: the input is too small)."""
    h, w = height, width
    for layer in spec.layers:
        h = (h - layer.kernel) // layer.stride + 1
        w = (w - layer.kernel) // layer.stride + 1
    return h, w


def receptive_field(spec: DiscriminatorSpec) -> int:
    """Side of the square input patch one logit sees (the "local" in local adversarial loss)."""
    rf, jump = 1, 1
    for layer in spec.layers:
        rf += (layer.kernel - 1) * jump
        jump *= layer.stride
    return rf


class Discriminator(nn.Module):
    """D: images to a map of patch logits (local), or to one logit pair per image (``global_size`` set).

    Args:
        channels: image channels C.
        spec: the layers (:data:`DISCRIMINATOR_PRESETS`).
        global_size: ``(H, W)`` of the inputs for the global variant; None for the local one.

    Shape:
        x: (B, C, H, W) float in [-1, 1]; returns logits (B, 2, h, w) with (h, w) = :func:`output_size`
        (local) or (B, 2, 1, 1) (global). Channel 0 is "real", channel 1 "refined".
    """

    def __init__(
        self,
        channels: int = 1,
        spec: DiscriminatorSpec = DISCRIMINATOR_PRESETS["eyes"],
        global_size: tuple[int, int] | None = None,
    ):
        super().__init__()
        if channels < 1:
            raise ValueError(f"Discriminator needs channels >= 1, got {channels}")
        self.channels = channels
        self.spec = spec
        self.global_size = tuple(global_size) if global_size is not None else None
        layers: list[nn.Module] = []
        c = channels
        for layer in spec.layers[:-1]:
            if layer.kind == "conv":
                layers += [nn.Conv2d(c, layer.features, layer.kernel, layer.stride), nn.ReLU(inplace=True)]
                c = layer.features
            else:
                layers.append(nn.MaxPool2d(layer.kernel, layer.stride))
        self.trunk = nn.Sequential(*layers)
        last = spec.layers[-1]
        if self.global_size is None:
            self.head: nn.Module = nn.Conv2d(c, 2, last.kernel, last.stride)  # logits: no ReLU here
        else:
            h, w = output_size(DiscriminatorSpec(spec.layers[:-1] + (_conv(2, 1),)), *self.global_size)
            if h < 1 or w < 1:
                raise ValueError(f"global Discriminator: input {self.global_size} too small for these layers")
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"Discriminator expects (B, {self.channels}, H, W), got {tuple(x.shape)}")
        if self.global_size is not None and tuple(x.shape[2:]) != self.global_size:
            raise ValueError(
                f"global Discriminator expects (B, {self.channels}, {self.global_size[0]}, "
                f"{self.global_size[1]}), got {tuple(x.shape)}"
            )
        if self.global_size is None:
            h, w = output_size(self.spec, x.shape[2], x.shape[3])
            if h < 1 or w < 1:
                need = receptive_field(self.spec)
                raise ValueError(
                    f"Discriminator input {tuple(x.shape[2:])} is too small for these layers "
                    f"(expected at least {need}x{need})"
                )
            return self.head(self.trunk(x))  # (B, 2, h, w)
        return self.head(self.trunk(x))[:, :, None, None]  # (B, 2, 1, 1)


def build_discriminator(
    preset: str, channels: int, global_size: tuple[int, int] | None = None
) -> Discriminator:
    """The discriminator of a named preset; ``global_size`` gives the global (whole-image) variant."""
    if preset not in DISCRIMINATOR_PRESETS:
        raise ValueError(
            f"unknown discriminator preset {preset!r} (choose from {', '.join(DISCRIMINATOR_PRESETS)})"
        )
    return Discriminator(channels, DISCRIMINATOR_PRESETS[preset], global_size)
