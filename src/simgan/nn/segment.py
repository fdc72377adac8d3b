"""A small U-Net for per-pixel part labels (``train-task segment``; Ronneberger et al. 2015, scaled down).

The hands simulator labels every pixel with the part its ray hit (``simgan.sim.hand_model.PARTS``). This
network reads a depth crop and gives one logit per part at every pixel, at the input's resolution:

- encoder: ``depth`` levels of [conv3x3-BN-ReLU] x 2 at ``width * 2**level`` channels, each followed by
  a 2x2 max-pool; a bottleneck block at the lowest resolution;
- decoder: nearest 2x upsampling (deterministic, unlike bilinear's backward on CUDA), concatenation with
  the encoder's map of the same size (the skip), and a block; a 1x1 conv to ``num_classes`` logits.

Width 16 and depth 3 (the defaults) make 0.49 M parameters; a training step on 128 crops of 64x64 took
0.84 s on one loaded CPU core (bf16 autocast, channels_last: ``train-task``'s ``amp``). Training minimises
the per-pixel cross-entropy (:func:`segment_loss`); predictions are the per-pixel argmax
(:func:`segment_predictions`). The input size must be divisible by ``2**depth`` (:func:`check_segment_size`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SegmentNet", "segment_loss", "segment_predictions", "check_segment_size"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """[conv3x3 - BN - ReLU] x 2, keeping the spatial size."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def check_segment_size(height: int, width: int, depth: int) -> None:
    """Refuse an input size the U-Net cannot halve ``depth`` times and restore exactly.

    Raises:
        ValueError: ``height`` or ``width`` is not divisible by ``2**depth``.
    """
    step = 2**depth
    if height % step or width % step:
        raise ValueError(
            f"images of {height}x{width} are not divisible by {step} (the U-Net halves them {depth} times)"
        )


class SegmentNet(nn.Module):
    """A U-Net: images (B, C, H, W) -> per-pixel logits (B, K, H, W).

    Args:
        in_channels: image channels.
        num_classes: K, the mask classes (background included).
        width: channels at full resolution; doubled at every level down.
        depth: the number of 2x down-samplings (H and W must be divisible by ``2**depth``).

    Shape:
        x: (B, C, H, W) -> (B, K, H, W).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 16, depth: int = 3):
        super().__init__()
        if depth < 1 or width < 1 or num_classes < 2:
            raise ValueError(
                f"need depth >= 1, width >= 1, num_classes >= 2; got {depth}, {width}, {num_classes}"
            )
        self.num_classes, self.depth = num_classes, depth
        chans = [width * 2**i for i in range(depth + 1)]  # full resolution ... bottleneck
        self.down = nn.ModuleList(
            [_block(in_channels if i == 0 else chans[i - 1], chans[i]) for i in range(depth)]
        )
        self.bottom = _block(chans[depth - 1], chans[depth])
        self.up = nn.ModuleList([_block(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected images (B, C, H, W), got {tuple(x.shape)}")
        check_segment_size(x.shape[2], x.shape[3], self.depth)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)  # (B, c_i, H / 2**i, W / 2**i)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)  # (B, c_depth, H / 2**depth, W / 2**depth)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)  # (B, K, H, W)


def segment_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy, the mean over every pixel of the batch.

    Shape:
        logits: (B, K, H, W); mask: (B, H, W) class ids (any integer dtype) -> scalar.
    """
    if logits.ndim != 4 or mask.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"expected logits (B, K, H, W) and mask (B, H, W), got {tuple(logits.shape)}, {tuple(mask.shape)}"
        )
    return F.cross_entropy(logits.float(), mask.long())


def segment_predictions(logits: torch.Tensor) -> torch.Tensor:
    """The most likely class per pixel, as uint8 (K <= 256 classes; a quarter of int64's memory).

    Shape:
        logits: (B, K, H, W) -> (B, H, W) uint8.
    """
    return logits.argmax(dim=1).to(torch.uint8)
