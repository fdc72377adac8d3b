"""The straightforward implementation the speed targets are measured against (issue 11's baseline (b)).

The paper's eye networks (section 3.1) as a plain PyTorch port usually writes them: every conv zero-padded
and followed by BatchNorm, a tanh output, fp32, default memory layout, and a plain training iteration of
K_g = 2 R steps and K_d = 1 D step with a history buffer. Written here for the benchmark only; simgan's
own networks are ``simgan.nn.refiner`` and ``simgan.nn.discriminator``.

R: conv 3x3 (64) -> 4 ResNet blocks (conv 3x3 64, BN, ReLU, conv 3x3 64, BN, + skip, ReLU) -> conv 1x1
(1) -> tanh. D: conv 3x3/2 (96), conv 3x3/2 (64), max-pool 3x3/1, conv 3x3 (32), conv 1x1 (32), conv 1x1
(2) -> per-patch logits.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["BaselineRefiner", "BaselineDiscriminator", "BaselineIteration"]


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, padding=k // 2), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class _Block(nn.Module):
    def __init__(self, f: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(f, f, 3), nn.Conv2d(f, f, 3, padding=1), nn.BatchNorm2d(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class BaselineRefiner(nn.Module):
    """The paper's eye refiner, BN + zero padding + tanh. Shape: (B, 1, H, W) -> (B, 1, H, W)."""

    def __init__(self, channels: int = 1, features: int = 64, blocks: int = 4):
        super().__init__()
        self.net = nn.Sequential(
            *_conv_bn(channels, features, 3),
            *(_Block(features) for _ in range(blocks)),
            nn.Conv2d(features, channels, 1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BaselineDiscriminator(nn.Module):
    """The paper's eye discriminator with BN. Shape: (B, 1, H, W) -> (B, 2, h, w) patch logits."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            *_conv_bn(channels, 96, 3, 2),
            *_conv_bn(96, 64, 3, 2),
            nn.MaxPool2d(3, 1, 1),
            *_conv_bn(64, 32, 3),
            *_conv_bn(32, 32, 1),
            nn.Conv2d(32, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _patch_ce(logits: torch.Tensor, target: int) -> torch.Tensor:
    labels = torch.full((logits.shape[0], *logits.shape[2:]), target, dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, labels)


class BaselineIteration:
    """One adversarial iteration, written plainly: K_g R steps (adversarial + lambda * L1), then K_d D steps
    on b/2 current + b/2 history refined images against b real ones (the paper's Algorithm 1)."""

    def __init__(self, height: int, width: int, batch: int = 64, history: int = 1024, lam: float = 0.5):
        torch.manual_seed(0)
        self.R, self.D = BaselineRefiner(), BaselineDiscriminator()
        self.opt_r = torch.optim.Adam(self.R.parameters(), 1e-4)
        self.opt_d = torch.optim.Adam(self.D.parameters(), 1e-4)
        self.x = torch.rand(batch, 1, height, width) * 2 - 1  # (b, 1, H, W) synthetic
        self.y = torch.rand(batch, 1, height, width) * 2 - 1  # (b, 1, H, W) real
        with torch.no_grad():
            self.buffer = self.R(self.x).repeat(history // batch + 1, 1, 1, 1)[:history]  # (B, 1, H, W)
        self.lam = lam
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self, k_g: int = 2, k_d: int = 1) -> None:
        b = self.x.shape[0]
        for _ in range(k_g):
            refined = self.R(self.x)
            loss = _patch_ce(self.D(refined), 0) + self.lam * (refined - self.x).abs().mean()
            self.opt_r.zero_grad()
            loss.backward()
            self.opt_r.step()
        for _ in range(k_d):
            with torch.no_grad():
                current = self.R(self.x[: b // 2])
            idx = torch.randint(0, len(self.buffer), (b // 2,), generator=self.generator)
            fake = torch.cat([current, self.buffer[idx]])
            loss = _patch_ce(self.D(fake), 1) + _patch_ce(self.D(self.y), 0)
            self.opt_d.zero_grad()
            loss.backward()
            self.opt_d.step()
            self.buffer[idx] = current  # the new refined images take the drawn slots
