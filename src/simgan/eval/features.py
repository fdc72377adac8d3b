"""The feature space of simgan's FID and KID: a fixed, randomly initialised CNN that simgan builds itself.

Inception-v3 features (what "FID" usually means) need downloaded ImageNet weights and see 299x299 RGB
photographs; simgan's images are 8x8 digits, 35x55 grey eyes and 16-bit depth maps, and nothing is
downloaded. So the feature network is a small convolutional pyramid with **random weights drawn from a
fixed seed** (:data:`FEATURE_SEED`), never trained:

    stem   conv3x3 (C -> 32), ReLU                          full resolution
    block  conv3x3 stride 2 (-> 64, 128, 256, 256, ...), ReLU   halves the size each time
    head   global average pool -> 256-d feature vector      <- the layer FID/KID use

The number of stride-2 blocks grows with the image size (``max(3, ceil(log2(max(H, W) / 4)))``: 3 for 8x8,
4 for 35x55, 6 for 224x224) so the last block's receptive field covers the image. Kaiming-normal weights
(ReLU gain), zero biases. Random convolutional features are a known valid choice for domains far from
ImageNet: they are sensitive to both texture and layout, and being fixed they make numbers comparable
across runs, checkpoints and dataset pairs of the same image size and channel count. They are **not**
comparable to Inception-FID values in the literature, nor across image sizes (a different network).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from simgan.data import ImageDataset, Source, make_loader
from simgan.progress import off

__all__ = [
    "FEATURE_SEED",
    "FEATURE_DIM",
    "pyramid_cnn",
    "RandomFeatureNet",
    "feature_network_description",
    "extract_features",
]

FEATURE_SEED = 0
FEATURE_DIM = 256
_WIDTHS = (32, 64, 128, 256)


def _num_blocks(height: int, width: int, min_blocks: int) -> int:
    """Stride-2 blocks needed to bring the longer side down to about 4 pixels."""
    return max(min_blocks, math.ceil(math.log2(max(height, width) / 4.0)))


def pyramid_cnn(
    in_channels: int,
    height: int,
    width: int,
    widths: Sequence[int] = _WIDTHS,
    *,
    min_blocks: int = 3,
    batch_norm: bool = False,
) -> tuple[nn.Sequential, int]:
    """A conv stem plus stride-2 blocks until the image is about 4 px, then a global average pool.

    Args:
        in_channels: image channels C.
        height, width: image size; decides the number of stride-2 blocks.
        widths: the stem's width, then each block's; the last entry repeats for deeper pyramids.
        min_blocks: at least this many stride-2 blocks (tiny images still get a deep enough network).
        batch_norm: add BatchNorm after each conv (for trained networks; the random feature net has none).

    Returns:
        The network (images -> vectors) and its output dimension.

    Shape:
        input (B, C, H, W) -> output (B, D) with D the returned dimension.
    """
    n_blocks = _num_blocks(height, width, min_blocks)
    chans = [widths[min(i, len(widths) - 1)] for i in range(n_blocks + 1)]
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, c_out in enumerate(chans):
        layers.append(nn.Conv2d(c_in, c_out, 3, stride=1 if i == 0 else 2, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU(inplace=True))
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (B, D, h, w) -> (B, D)
    return nn.Sequential(*layers), c_in


class RandomFeatureNet(nn.Module):
    """The fixed random feature network of FID/KID (see the module docstring).

    Two instances built for the same (C, H, W) have identical weights, whatever the global RNG state.

    Shape:
        input (B, C, H, W) float in [-1, 1] -> output (B, 256).
    """

    def __init__(self, channels: int, height: int, width: int, seed: int = FEATURE_SEED):
        super().__init__()
        self.channels, self.height, self.width, self.seed = channels, height, width, seed
        self.body, self.dim = pyramid_cnn(channels, height, width, _WIDTHS)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.body.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    # Kaiming normal with the ReLU gain keeps activations at a stable scale through depth.
                    std = math.sqrt(2.0 / fan_in)
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                    m.bias.zero_()
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.channels, self.height, self.width):
            raise ValueError(
                f"expected images of shape (B, {self.channels}, {self.height}, {self.width}), "
                f"got {tuple(x.shape)}"
            )
        return self.body(x)  # (B, 256)


def feature_network_description(channels: int, height: int, width: int) -> dict[str, Any]:
    """What the features are, for ``metrics.json`` (so a reader knows the numbers' scale)."""
    n_blocks = _num_blocks(height, width, 3)
    return {
        "network": f"random-init CNN (seed {FEATURE_SEED}, never trained): conv3x3 stem + "
        f"{n_blocks} stride-2 conv3x3 blocks, ReLU",
        "layer": f"global average pool of the last block ({FEATURE_DIM}-d)",
        "input": f"{height}x{width}x{channels} scaled to [-1, 1]",
        "note": "simgan's own feature space: not comparable to Inception-FID/KID values",
    }


@torch.no_grad()
def extract_features(
    source: Source,
    indices: np.ndarray | Sequence[int] | None = None,
    *,
    net: RandomFeatureNet | None = None,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Feature vectors of (a subset of) a dataset, streamed from disk in batches.

    Args:
        source: an opened dataset.
        indices: which samples (default all), in order.
        net: the feature network; default the fixed :class:`RandomFeatureNet` for the dataset's size.
        batch_size: images per forward pass.
        device: where to run the network.
        progress: show a progress bar.

    Returns:
        float64 array (N, 256).
    """
    info = source.info
    net = net or RandomFeatureNet(info.channels, info.height, info.width)
    net = net.to(device)
    loader = make_loader(ImageDataset(source, indices), batch_size, shuffle=False)
    out = []
    for x, _ in tqdm(loader, desc=f"features {info.path.name}", disable=off(progress), leave=False):
        out.append(net(x.to(device)).double().cpu().numpy())  # (B, 256)
    return np.concatenate(out) if out else np.zeros((0, net.dim))
