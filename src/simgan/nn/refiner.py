"""The SimGAN refiner R (paper, sections 2.1 and 3.1-3.2): a fully convolutional ResNet.

    x (B, C, H, W) -> conv kxk to F maps -> ReLU -> B ResNet blocks -> 1x1 conv to C maps -> x + delta
    -> clamp to [-1, 1]

Each ResNet block is conv kxk (F) -> ReLU -> conv kxk (F) plus the identity skip, then ReLU. Every conv is
padded, there is no striding or pooling, so R keeps the spatial size and runs on any H x W (the paper
refines "on a pixel level ... preserving the global structure").

Padding. The paper does not say; we pad by *replicating* the edge (``padding="replicate"``), not with
zeros. Zero padding tells every pixel within the receptive field of a border where it is (R's receptive
field, k + 2B(k - 1) = 15 px for ``digits``, covers a whole 8x8 image), and the local discriminator,
being translation invariant, cannot tell where a patch came from. On the digits a zero-padded R learned
exactly that loophole: it moved ink to places where it looks like a real patch from *somewhere* (the same
digit placed at two offsets of a larger canvas came out 47 grey levels apart on average, after 2,000
iterations at lambda 0.1), and the refined set was easier to tell from real than the synthetic one.
With replicate padding a blank border looks like more background, so R applies the same local rule
everywhere; ``"zeros"`` and ``"reflect"`` remain available.

How the padding runs. Every kxk conv pads its own input (:class:`PaddedConv2d`: a pad op, then a conv
with no padding), as ``nn.Conv2d(padding_mode="replicate")`` does, with one change: the pad runs in the
maps' own dtype. Under autocast PyTorch runs ``replication_pad2d`` and ``reflection_pad2d`` in float32,
so in bf16 every pad cast the maps to fp32, padded them in fp32, and the conv cast them back: in bf16 eyes
inference those pads and casts took nearly twice the time of the convs. A pad only copies values, so
padding in bf16 gives the very same numbers: R's output is bit-identical to the plain ``nn.Conv2d``
version, in fp32 and in bf16, and the state_dict keys are the same. Measured for R alone (one thread,
2-core AMX CPU, shared; bf16 autocast + channels_last, against the plain ``nn.Conv2d`` R in the same
run): eyes inference 2.3x and training (forward + backward + Adam, b = 64) 1.7x, digits 1.8x and 1.1x,
hands (k=7, 24x24) 1.16x and 1.14x; fp32 runs the same code as before (1.00-1.04x). A zero-padded R is
still faster (eyes bf16: 1.6x inference, 1.4x training; fp32 1.1-1.5x): what remains is the pad copy and,
on the eyes, oneDNN's slower bf16 kernel for an unpadded conv of that width.

Designs measured and not kept (docs/benchmarks.md has the table). Replicate-padding the input once by
R's receptive-field radius r, then valid convs (or zero-padded convs on that enlarged canvas, cropped at
the end), is position-blind too but is *not* this R: the maps near the border are computed from
replicated pixels instead of being replicated themselves (outputs 0.06-0.18 apart for the same weights,
so trained runs would change), and it ran slower than this design in every case (the early maps grow
by 2r). Padding once by k // 2 and re-replicating that one-pixel ring in place after every zero-padded
conv is exact and ran eyes bf16 inference 1.4x this design (training equal), but lost on the digits, on
hands-sized kernels and in fp32 (its canvas adds 10 % of the FLOPs at 35x55 and 56 % at 8x8). A
zero-padded conv plus an exact correction of the border rows and columns was exact too but trained
2.6-3.5x slower (small ops).

Output range. Two choices keep R's output in the data range [-1, 1]: tanh or a clamp. We use a global
residual with a clamp, ``R(x) = clamp(x + delta(x), -1, 1)``, with the last 1x1 conv initialised to zero:

- R starts as the exact identity, which is what self-regularization pretraining (Algorithm 1's first
  phase) is after, so pretraining starts at its optimum instead of spending steps learning to copy;
- real images saturate (the scikit-learn digits' background is exactly 0, i.e. -1 here). tanh never
  reaches +-1, so a tanh refiner would leave a telltale offset on every background pixel that a
  discriminator (or a two-sample test) spots at once; the clamp reaches the ends exactly.

A plain clamp passes no gradient for pixels pushed beyond the range, and once an overshooting step has
pushed every pixel out, R never learns again (we saw it: a brightness-shift fit stuck at its worst loss).
:func:`range_clamp` therefore clamps in the forward pass but lets the gradient through wherever a descent
step would move the pre-clamp value back toward the range, and blocks it only where it would push further
out.

Presets (:data:`REFINER_PRESETS`): ``eyes`` (k=3, F=64, B=4) and ``hands`` (k=7, F=64, B=10) are the
paper's; ``digits`` (k=3, F=32, B=3) is small enough to train on a CPU for 8x8 digits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from simgan.amp import autocast, use_amp

__all__ = [
    "RefinerSpec",
    "REFINER_PRESETS",
    "range_clamp",
    "edge_pad",
    "PaddedConv2d",
    "ResnetBlock",
    "Refiner",
    "build_refiner",
    "refine_images",
]


@dataclass(frozen=True)
class RefinerSpec:
    """Refiner architecture: ``kernel`` k (odd), ``features`` F, ``blocks`` B (number of ResNet blocks),
    and the convs' ``padding`` mode (``replicate``, ``zeros`` or ``reflect``; see the module docstring)."""

    kernel: int = 3
    features: int = 64
    blocks: int = 4
    padding: str = "replicate"


REFINER_PRESETS: dict[str, RefinerSpec] = {
    "eyes": RefinerSpec(kernel=3, features=64, blocks=4),  # paper, section 3.1 (35x55 grey eyes)
    "hands": RefinerSpec(kernel=7, features=64, blocks=10),  # paper, section 3.2 (224x224 depth)
    "digits": RefinerSpec(kernel=3, features=32, blocks=3),  # ours: 8x8 digits on a CPU
}


class _RangeClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        # Descent moves x by -lr * grad: above the range only grad > 0 helps, below it only grad < 0.
        outward = ((x > ctx.hi) & (grad < 0)) | ((x < ctx.lo) & (grad > 0))
        return grad.masked_fill(outward, 0.0), None, None


def range_clamp(x: torch.Tensor, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """``x.clamp(lo, hi)`` whose gradient is blocked only where descent would push ``x`` further out.

    Shape:
        x: any; returns the same shape.
    """
    return _RangeClamp.apply(x, lo, hi)


def edge_pad(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str = "replicate") -> torch.Tensor:
    """``F.pad(x, pad, mode)`` in ``x``'s own dtype, under autocast too.

    Autocast runs the ``replicate`` and ``reflect`` pads in float32, which costs a cast to fp32 and one
    back for every bf16 conv; a pad only copies values, so it runs here with autocast off.

    Args:
        x: the maps to pad.
        pad: (left, right, top, bottom), as for ``F.pad``.
        mode: ``replicate``, ``reflect`` or ``constant`` (zeros).

    Shape:
        x: (B, C, H, W) -> (B, C, top + H + bottom, left + W + right), same dtype and memory format.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        with torch.autocast(device, enabled=False):
            return F.pad(x, pad, mode=mode)
    return F.pad(x, pad, mode=mode)


class PaddedConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose ``replicate`` / ``reflect`` padding runs through :func:`edge_pad`, so it stays
    in bf16 under autocast (see the module docstring). Same arguments, parameters and state_dict keys as
    ``nn.Conv2d``, and the same output; ``zeros`` is the conv's own padding.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H', W'), as ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode == "zeros" or isinstance(self.padding, str):
            return super().forward(x)  # zeros: the conv pads itself; "same"/"valid": left to nn.Conv2d
        ph, pw = self.padding
        x = edge_pad(x, (pw, pw, ph, ph), self.padding_mode)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ResnetBlock(nn.Module):
    """conv kxk -> ReLU -> conv kxk, plus the identity, then ReLU (He et al.; paper section 3.1).

    Shape:
        x: (B, F, H, W) -> (B, F, H, W).
    """

    def __init__(self, features: int, kernel: int, padding: str = "replicate"):
        super().__init__()
        pad = kernel // 2
        self.conv1 = PaddedConv2d(features, features, kernel, padding=pad, padding_mode=padding)
        self.conv2 = PaddedConv2d(features, features, kernel, padding=pad, padding_mode=padding)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act(self.conv1(x)))
        return self.act(x + y)


class Refiner(nn.Module):
    """The refiner R: ``R(x) = clamp(x + delta(x), -1, 1)``, identity at initialisation.

    Stochastic refinement (the paper's future work, "more than one refined image per synthetic image"):
    with ``noise_channels`` K > 0, K maps of standard normal noise z are concatenated to x at the input,
    ``R(x, z) = clamp(x + delta(x, z), -1, 1)``, so one synthetic image has many refinements. z is drawn
    per pixel, so R stays blind to position; it is drawn from the global generator unless given.

    Args:
        channels: image channels C (1 for grey and depth, 3 for colour).
        spec: the architecture (:data:`REFINER_PRESETS` has the paper's).
        noise_channels: K, noise maps concatenated to the input (0: the paper's deterministic R).

    Shape:
        x: (B, C, H, W) float in [-1, 1], any H, W; noise: (B, K, H, W) or None; returns (B, C, H, W) in
        [-1, 1].
    """

    def __init__(
        self, channels: int = 1, spec: RefinerSpec = REFINER_PRESETS["eyes"], noise_channels: int = 0
    ):
        super().__init__()
        if channels < 1 or spec.features < 1 or spec.blocks < 0 or spec.kernel < 1 or spec.kernel % 2 == 0:
            raise ValueError(
                f"Refiner needs channels >= 1, features >= 1, blocks >= 0 and an odd kernel; got "
                f"channels={channels}, {spec}"
            )
        if noise_channels < 0:
            raise ValueError(f"Refiner noise_channels must be >= 0, got {noise_channels}")
        if spec.padding not in ("replicate", "zeros", "reflect"):
            raise ValueError(f"Refiner padding must be replicate, zeros or reflect, got {spec.padding!r}")
        self.channels = channels
        self.noise_channels = noise_channels
        self.spec = spec
        pad = spec.kernel // 2
        inputs = channels + noise_channels
        self.stem = nn.Sequential(
            PaddedConv2d(inputs, spec.features, spec.kernel, padding=pad, padding_mode=spec.padding),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(
            *(ResnetBlock(spec.features, spec.kernel, spec.padding) for _ in range(spec.blocks))
        )
        self.to_image = nn.Conv2d(spec.features, channels, 1)
        # Zero init of the last layer: delta(x) = 0, so R is the identity before any training.
        nn.init.zeros_(self.to_image.weight)
        nn.init.zeros_(self.to_image.bias)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"Refiner expects (B, {self.channels}, H, W), got {tuple(x.shape)}")
        inputs = x
        if self.noise_channels:
            b, _, h, w = x.shape
            if noise is None:
                noise = torch.randn(b, self.noise_channels, h, w, device=x.device)
            if noise.shape != (b, self.noise_channels, h, w):
                raise ValueError(
                    f"Refiner noise must be {(b, self.noise_channels, h, w)}, got {tuple(noise.shape)}"
                )
            inputs = torch.cat([x, noise.to(x.dtype)], dim=1)  # (B, C + K, H, W)
        elif noise is not None:
            raise ValueError("this refiner has no noise channels (train it with --noise-channels K)")
        delta = self.to_image(self.blocks(self.stem(inputs)))  # (B, C, H, W)
        return range_clamp(x + delta)


def build_refiner(preset: str, channels: int, padding: str | None = None, noise_channels: int = 0) -> Refiner:
    """The refiner of a named preset (``eyes``, ``hands``, ``digits``) for ``channels``-channel images;
    ``padding`` overrides the preset's padding mode; ``noise_channels`` K makes it stochastic."""
    if preset not in REFINER_PRESETS:
        raise ValueError(f"unknown refiner preset {preset!r} (choose from {', '.join(REFINER_PRESETS)})")
    spec = REFINER_PRESETS[preset]
    spec = spec if padding is None else replace(spec, padding=padding)
    return Refiner(channels, spec, noise_channels)


@torch.no_grad()
def refine_images(
    refiner: nn.Module, images: torch.Tensor, *, amp: bool = True, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """R(x) without a graph, returned in float32: what every caller that only *uses* R runs (D's step, the
    history fill, the image grids, ``simgan refine``).

    With ``amp`` the batch runs in bf16 autocast and channels_last where the device does bf16 natively
    (:func:`simgan.amp.bf16_fast`: CUDA, CPUs with AMX or AVX512-BF16); elsewhere it is plain fp32. On
    a CPU the batch runs in cache-sized micro-batches (:func:`_micro_batch`); a stochastic R's noise is
    still drawn for the whole batch at once.

    Args:
        refiner: R, on the device of ``images``.
        images: the synthetic batch x.
        amp: allow bf16 autocast + channels_last where it is fast.
        noise: a stochastic R's noise maps z (None: R draws them).

    Shape:
        images: (B, C, H, W) in [-1, 1] on R's device; noise: (B, K, H, W); returns (B, C, H, W) float32
        in [-1, 1].
    """
    half = use_amp(amp, images.device)
    n = _micro_batch(refiner, images, half)
    if n < len(images) and noise is None and getattr(refiner, "noise_channels", 0):
        b, _, h, w = images.shape  # draw the whole batch's z at once: the same z as one forward pass
        noise = torch.randn(b, refiner.noise_channels, h, w, device=images.device)
    chunks = images.split(n)
    zs = [None] * len(chunks) if noise is None else noise.split(n)
    outs = []
    for x, z in zip(chunks, zs, strict=True):
        kw = {} if z is None else {"noise": z}
        if half:
            with autocast(images.device, True):
                outs.append(refiner(x.contiguous(memory_format=torch.channels_last), **kw).float())
        else:
            outs.append(refiner(x, **kw).float())
    return outs[0] if len(outs) == 1 else torch.cat(outs)


# A CPU micro-batch's feature maps stay about this size. Large maps cost twice on a CPU: glibc serves a
# block above its mmap threshold (32 MiB at most) with fresh pages from the kernel on every call, so one
# batch of 256 eyes (63 MB maps in bf16) page-faulted about half a gigabyte per forward pass, and the maps
# miss the caches. In a fresh process (as `simgan refine` runs) R ran 2.2x faster in micro-batches of 8
# eyes than in one batch of 256, bf16 and fp32 alike (docs/benchmarks.md).
_CPU_CHUNK_BYTES = 2 << 20


def _micro_batch(refiner: nn.Module, images: torch.Tensor, half: bool) -> int:
    """Images per forward pass: all of them on an accelerator or for a refiner of unknown width, else as
    many as keep one feature map (F x H x W) within :data:`_CPU_CHUNK_BYTES`."""
    spec = getattr(refiner, "spec", None)
    if images.device.type != "cpu" or not isinstance(spec, RefinerSpec) or images.ndim != 4:
        return max(1, len(images))
    per_image = spec.features * images.shape[2] * images.shape[3] * (2 if half else 4)
    return max(1, _CPU_CHUNK_BYTES // per_image)
