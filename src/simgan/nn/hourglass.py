"""A stacked hourglass network for hand pose (paper section 3.2; Newell et al. 2016, the paper's [25]).

SimGAN trains "the Stacked Hourglass Net of [25] [with] 2 hourglass blocks, and an output heatmap size
64x64" on 224x224 depth crops of the 14 NYU evaluation joints. This module keeps that design and makes its
size configurable so it also runs on a CPU at 64x64 or 128x128:

- stem: conv7x7/2 -> residual -> (maxpool 2 when the heatmap stride is 4) -> residual: the hourglasses
  work at 1/``stride`` of the input;
- each stack: a recursive hourglass of ``depth`` halvings (residual bottleneck blocks, nearest upsampling,
  skip additions), a residual, a 1x1 conv, and a 1x1 conv to one heatmap per joint; between stacks the
  features and the heatmaps are mapped back (1x1 convs) and added to the stack's input (Newell's
  intermediate re-injection);
- training: MSE against Gaussian target heatmaps at *every* stack (intermediate supervision),
  :func:`heatmap_loss`;
- decoding: :func:`heatmap_argmax` (with Newell's quarter-pixel shift toward the larger neighbour) or
  :func:`soft_argmax` (expected location under a spatial softmax), then heatmap -> image pixels.

- features for domain adaptation (``simgan.adapt``): :meth:`HourglassNet.forward_with_features` also
  returns the last stack's features (the maps its heatmap head reads), global-average-pooled to a vector.

Pixel convention: a pixel's centre is its integer index; a heatmap pixel (u', v') at stride s covers image
pixels, so u = (u' + 0.5) s - 0.5 (:func:`heatmap_to_image`) and back (:func:`image_to_heatmap`).
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "HourglassNet",
    "gaussian_heatmaps",
    "heatmap_argmax",
    "soft_argmax",
    "heatmap_to_image",
    "image_to_heatmap",
    "heatmap_loss",
    "DECODERS",
]

DECODERS = ("argmax", "soft-argmax")


class _Residual(nn.Module):
    """Pre-activation bottleneck BN-ReLU-conv1x1(c/2), BN-ReLU-conv3x3(c/2), BN-ReLU-conv1x1(c), + skip."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        mid = max(c_out // 2, 1)
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_in, mid, 1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, c_out, 1),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class _Hourglass(nn.Module):
    """One hourglass: ``depth`` recursive (pool, residual, ..., upsample) levels with a skip at each."""

    def __init__(self, depth: int, channels: int):
        super().__init__()
        self.up = _Residual(channels, channels)
        self.down = _Residual(channels, channels)
        self.inner = _Hourglass(depth - 1, channels) if depth > 1 else _Residual(channels, channels)
        self.out = _Residual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.up(x)  # (B, c, h, w)
        low = F.max_pool2d(x, 2, 2, ceil_mode=True)  # (B, c, ceil(h/2), ceil(w/2)): odd sizes survive
        low = self.out(self.inner(self.down(low)))
        return skip + F.interpolate(low, size=skip.shape[-2:], mode="nearest")


class HourglassNet(nn.Module):
    """``stacks`` hourglasses producing one heatmap per joint at every stack.

    Args:
        in_channels: image channels (1 for depth).
        num_joints: J, heatmaps per stack (14 NYU joints).
        stacks: number of hourglasses (2 in the paper).
        channels: feature width (Newell: 256; 32-64 runs on a CPU).
        depth: halvings inside each hourglass (Newell: 4 at 64x64 heatmaps).
        stride: heatmap resolution is 1/``stride`` of the input, 2 or 4 (paper: 224 -> 56, "64x64").
        decode: how :meth:`predict` turns heatmaps into joints, ``"argmax"`` or ``"soft-argmax"``.
        sigma: std (heatmap pixels) of the Gaussian targets :meth:`loss` trains toward.

    Shape:
        x: (B, C, H, W) with H and W divisible by ``stride``; returns heatmaps (B, stacks, J, H/s, W/s).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_joints: int = 14,
        stacks: int = 2,
        channels: int = 64,
        depth: int = 3,
        stride: int = 4,
        decode: str = "argmax",
        sigma: float = 1.5,
    ):
        super().__init__()
        if stride not in (2, 4):
            raise ValueError(f"heatmap stride must be 2 or 4, got {stride}")
        if decode not in DECODERS:
            raise ValueError(f"decode must be one of {DECODERS}, got {decode!r}")
        if stacks < 1 or depth < 1 or channels < 2 or num_joints < 1:
            raise ValueError(
                f"need stacks >= 1, depth >= 1, channels >= 2, num_joints >= 1; got "
                f"{stacks}, {depth}, {channels}, {num_joints}"
            )
        self.in_channels, self.num_joints, self.stacks = in_channels, num_joints, stacks
        self.stride, self.decode, self.sigma = stride, decode, sigma
        self.feature_dim = channels  # F of forward_with_features / embed: pooled channels of the last stack
        c = channels
        stem: list[nn.Module] = [
            nn.Conv2d(in_channels, c // 2, 7, stride=2, padding=3),
            nn.BatchNorm2d(c // 2),
            nn.ReLU(inplace=True),
            _Residual(c // 2, c),
        ]
        if stride == 4:
            stem.append(nn.MaxPool2d(2, 2))
        stem.append(_Residual(c, c))
        self.stem = nn.Sequential(*stem)
        self.hourglasses = nn.ModuleList(_Hourglass(depth, c) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(_Residual(c, c), nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
            for _ in range(stacks)
        )
        self.to_heatmaps = nn.ModuleList(nn.Conv2d(c, num_joints, 1) for _ in range(stacks))
        # Re-injection into the next stack (Newell's intermediate supervision design).
        self.remap_features = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(stacks - 1))
        self.remap_heatmaps = nn.ModuleList(nn.Conv2d(num_joints, c, 1) for _ in range(stacks - 1))

    @overload
    def forward(self, x: torch.Tensor, with_features: Literal[False] = False) -> torch.Tensor: ...

    @overload
    def forward(self, x: torch.Tensor, with_features: Literal[True]) -> tuple[torch.Tensor, torch.Tensor]: ...

    def forward(
        self, x: torch.Tensor, with_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps of every stack, or with ``with_features`` the heatmaps and pooled last-stack features.

        The flag lives on ``forward`` so a DistributedDataParallel wrapper can pass it through.

        Shape:
            x: (B, C, H, W); returns (B, S, J, H/s, W/s), or (heatmaps, features (B, F)), F = ``feature_dim``.
        """
        heatmaps, f = self._stacks(x)  # (B, S, J, H/s, W/s), (B, c, H/s, W/s)
        return (heatmaps, f.mean(dim=(2, 3))) if with_features else heatmaps

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps and the last stack's features from one pass (for DANN, Ganin et al. 2016).

        The features are the maps the last stack's heatmap head (a 1x1 conv) reads, averaged over space:
        a domain classifier needs a vector per image, and the global average keeps every channel.

        Shape:
            x: (B, C, H, W); returns heatmaps (B, S, J, H/s, W/s), as :meth:`forward`, and features
            (B, F) with F = ``feature_dim``.
        """
        return self(x, with_features=True)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last stack's features, global-average-pooled.

        Shape:
            x: (B, C, H, W); returns (B, F) with F = ``feature_dim``.
        """
        return self.forward_with_features(x)[1]

    def _stacks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps of every stack (B, S, J, h, w) and the last stack's feature maps (B, c, h, w)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"HourglassNet expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[2] % self.stride or x.shape[3] % self.stride:
            raise ValueError(
                f"HourglassNet input height and width must be divisible by the heatmap stride "
                f"{self.stride}, got {x.shape[2]}x{x.shape[3]}"
            )
        x = self.stem(x)  # (B, c, H/s, W/s)
        outs = []
        for k in range(self.stacks):
            f = self.features[k](self.hourglasses[k](x))  # (B, c, H/s, W/s)
            h = self.to_heatmaps[k](f)  # (B, J, H/s, W/s)
            outs.append(h)
            if k < self.stacks - 1:
                x = x + self.remap_features[k](f) + self.remap_heatmaps[k](h)
        return torch.stack(outs, dim=1), f  # (B, S, J, H/s, W/s), (B, c, H/s, W/s)

    def loss(self, heatmaps: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        """:func:`heatmap_loss` with this network's stride and target width.

        Shape:
            heatmaps: (B, S, J, h, w) from :meth:`forward`; uv: (B, J, 2) image pixels; returns a scalar.
        """
        return heatmap_loss(heatmaps, uv, self.stride, self.sigma)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Joint locations in image pixels, decoded from the last stack's heatmaps.

        Shape:
            x: (B, C, H, W); returns uv (B, J, 2) as (u = column, v = row).
        """
        return self.decode_joints(self(x)[:, -1])

    def decode_joints(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Heatmaps of one stack -> joint locations in image pixels, with this network's decoder.

        Shape:
            heatmaps: (B, J, H/s, W/s); returns uv (B, J, 2).
        """
        uv = heatmap_argmax(heatmaps) if self.decode == "argmax" else soft_argmax(heatmaps)
        return heatmap_to_image(uv, self.stride)


def image_to_heatmap(uv: torch.Tensor, stride: int) -> torch.Tensor:
    """Image pixel coordinates -> heatmap pixel coordinates (pixel centres at integers).

    Shape:
        uv: (..., 2); returns (..., 2).
    """
    return (uv + 0.5) / stride - 0.5


def heatmap_to_image(uv: torch.Tensor, stride: int) -> torch.Tensor:
    """Heatmap pixel coordinates -> image pixel coordinates (inverse of :func:`image_to_heatmap`).

    Shape:
        uv: (..., 2); returns (..., 2).
    """
    return (uv + 0.5) * stride - 0.5


def gaussian_heatmaps(uv: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """Target heatmaps: an unnormalised Gaussian (peak 1) at each joint.

    Args:
        uv: joint locations in heatmap pixels (u = column, v = row); may lie outside the map.
        size: heatmap (height, width).
        sigma: Gaussian standard deviation in heatmap pixels.

    Shape:
        uv: (B, J, 2); returns (B, J, h, w).
    """
    if uv.ndim != 3 or uv.shape[-1] != 2:
        raise ValueError(f"uv must be (B, J, 2), got {tuple(uv.shape)}")
    h, w = size
    ys = torch.arange(h, device=uv.device, dtype=uv.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=uv.device, dtype=uv.dtype).view(1, 1, 1, w)
    du = xs - uv[..., 0, None, None]  # (B, J, 1, w)
    dv = ys - uv[..., 1, None, None]  # (B, J, h, 1)
    return torch.exp(-(du**2 + dv**2) / (2 * sigma**2))  # (B, J, h, w)


def heatmap_argmax(heatmaps: torch.Tensor, refine: bool = True) -> torch.Tensor:
    """Location of each heatmap's maximum, with Newell's quarter-pixel shift toward the larger neighbour.

    Shape:
        heatmaps: (B, J, h, w); returns uv (B, J, 2) in heatmap pixels (u = column, v = row).
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (B, J, h, w), got {tuple(heatmaps.shape)}")
    b, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, j, h * w)
    idx = flat.argmax(dim=-1)  # (B, J)
    u, v = (idx % w), (idx // w)
    uv = torch.stack([u, v], dim=-1).to(heatmaps.dtype)  # (B, J, 2)
    if not refine:
        return uv

    def at(uu: torch.Tensor, vv: torch.Tensor) -> torch.Tensor:
        return flat.gather(-1, (vv.clamp(0, h - 1) * w + uu.clamp(0, w - 1)).unsqueeze(-1)).squeeze(-1)

    # Neighbours outside the map count as equal (no shift); the sign of the difference picks the side.
    du = torch.sign(at(u + 1, v) - at(u - 1, v)) * ((u > 0) & (u < w - 1))
    dv = torch.sign(at(u, v + 1) - at(u, v - 1)) * ((v > 0) & (v < h - 1))
    return uv + 0.25 * torch.stack([du, dv], dim=-1).to(heatmaps.dtype)


def soft_argmax(heatmaps: torch.Tensor, beta: float = 50.0) -> torch.Tensor:
    """Expected location under a spatial softmax of ``beta * heatmap`` (differentiable; sub-pixel).

    A large ``beta`` approaches the argmax; a small one averages over the whole map. 50 suits peak-1
    Gaussian targets: background noise of a trained map stays far below the peak after the softmax.

    Shape:
        heatmaps: (B, J, h, w); returns uv (B, J, 2) in heatmap pixels (u = column, v = row).
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (B, J, h, w), got {tuple(heatmaps.shape)}")
    b, j, h, w = heatmaps.shape
    p = torch.softmax(beta * heatmaps.reshape(b, j, h * w), dim=-1).reshape(b, j, h, w)
    xs = torch.arange(w, device=heatmaps.device, dtype=heatmaps.dtype)
    ys = torch.arange(h, device=heatmaps.device, dtype=heatmaps.dtype)
    u = (p.sum(dim=2) * xs).sum(dim=-1)  # marginal over rows, then E[u]: (B, J)
    v = (p.sum(dim=3) * ys).sum(dim=-1)  # (B, J)
    return torch.stack([u, v], dim=-1)


def heatmap_loss(heatmaps: torch.Tensor, uv: torch.Tensor, stride: int, sigma: float = 1.5) -> torch.Tensor:
    """MSE to Gaussian target heatmaps, summed over stacks (intermediate supervision), mean over pixels.

    Args:
        heatmaps: the network's output at every stack.
        uv: ground-truth joints in *image* pixels.
        stride: heatmap stride of the network.
        sigma: target Gaussian std in heatmap pixels.

    Shape:
        heatmaps: (B, S, J, h, w); uv: (B, J, 2); returns a scalar.
    """
    if heatmaps.ndim != 5 or uv.shape != (heatmaps.shape[0], heatmaps.shape[2], 2):
        raise ValueError(
            f"expected heatmaps (B, S, J, h, w) and uv (B, J, 2), got {tuple(heatmaps.shape)} and "
            f"{tuple(uv.shape)}"
        )
    target = gaussian_heatmaps(image_to_heatmap(uv, stride), heatmaps.shape[-2:], sigma)  # (B, J, h, w)
    per_stack = ((heatmaps - target.unsqueeze(1)) ** 2).mean(dim=(0, 2, 3, 4))  # (S,)
    return per_stack.sum()
