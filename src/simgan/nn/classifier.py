"""A small digit CNN: the lecture's ``MyCNN`` (conv/ReLU/pool, then two linear layers), fixed so it runs.

The lecture's version has three bugs: ``out.view*(batch_size, -1)`` (a typo that multiplies a method), a
first linear layer with 10 outputs feeding a layer that expects 100, and a flattened size (64 x 3 x 3)
that only holds for 28x28 inputs (5x5 "valid" convolutions cannot even run on 8x8 digits). Here the
convolutions are padded ("same" size), pooling rounds up so tiny maps never vanish, and an adaptive
average pool brings any input size (8x8 scikit-learn digits, 28x28 MNIST-like, 32x32 RGB SVHN-like) to the
lecture's 3x3 grid before the linear layers, so the head is the lecture's ``Linear(64*3*3, 100) -> ReLU ->
Linear(100, classes)``.

For domain adaptation (``simgan.adapt``) :meth:`DigitCNN.forward_with_features` returns the logits and the
hidden layer's activations (the features the last linear layer reads) from one pass.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import nn

__all__ = ["DigitCNN", "GridAvgPool"]


class GridAvgPool(nn.Module):
    """``nn.AdaptiveAvgPool2d(size)`` as one matrix product: the same bins, and in fp32 the same averages
    (under bf16 autocast a weight such as 1/3 is rounded, so bins of 3 or more pixels average a little
    differently; the digit sizes 8x8, 28x28 and 32x32 have bins of 1 or 2 pixels).

    On a CPU under bf16 autocast PyTorch's adaptive pool took 0.7 ms of backward pass per digit-CNN
    step (batch 128), a third as much as the three convolutions' backward passes together; an
    (H*W, size^2) averaging matrix does the same work in one matmul forward and back. No state, so
    checkpoints are unchanged.

    Shape:
        x: (B, C, H, W); returns (B, C, size, size).
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self._weights: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    def _bins(self, n: int) -> torch.Tensor:
        """(n, size): 1 / bin length where input index i falls in output bin j (adaptive pooling's bins:
        floor(j * n / size) to ceil((j + 1) * n / size))."""
        m = torch.zeros(n, self.size, dtype=torch.float64)
        for j in range(self.size):
            lo, hi = (j * n) // self.size, -(-(j + 1) * n // self.size)
            m[lo:hi, j] = 1.0 / (hi - lo)
        return m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        key = (h, w, x.device, x.dtype)
        if key not in self._weights:  # (H*W, size*size): the outer product of the row and column bins
            grid = torch.einsum("hi,wj->hwij", self._bins(h), self._bins(w)).reshape(h * w, -1)
            self._weights[key] = grid.to(x.device, x.dtype)
        return (x.reshape(b, c, h * w) @ self._weights[key]).view(b, c, self.size, self.size)


class DigitCNN(nn.Module):
    """Conv(5x5, w) -> ReLU -> Conv(5x5, 2w) -> ReLU -> MaxPool2 -> Conv(5x5, 4w) -> ReLU -> MaxPool2
    -> AdaptiveAvgPool(3x3) -> Linear(4w*9, hidden) -> ReLU -> Linear(hidden, classes).

    With the default ``width=16`` the channel counts are the lecture's 16, 32, 64.

    Args:
        in_channels: image channels (1 grey, 3 colour).
        num_classes: number of classes K.
        width: channels of the first convolution (then 2x and 4x).
        hidden: units of the hidden linear layer.

    Shape:
        x: (B, C, H, W) float in [-1, 1], any H, W >= 1; returns logits (B, K).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, hidden: int = 100):
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 1 or hidden < 1:
            raise ValueError(
                f"DigitCNN needs in_channels >= 1, num_classes >= 2, width >= 1, hidden >= 1; got "
                f"{in_channels}, {num_classes}, {width}, {hidden}"
            )
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.feature_dim = hidden  # F of forward_with_features / embed: the hidden layer's width
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2, ceil_mode=True),  # ceil: a 1-pixel map stays 1 pixel instead of 0
            nn.Conv2d(2 * w, 4 * w, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2, ceil_mode=True),
            GridAvgPool(3),  # any input size -> the lecture's 3x3 grid
        )
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, 4w * 9)
            nn.Linear(4 * w * 9, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    @overload
    def forward(self, x: torch.Tensor, with_features: Literal[False] = False) -> torch.Tensor: ...

    @overload
    def forward(self, x: torch.Tensor, with_features: Literal[True]) -> tuple[torch.Tensor, torch.Tensor]: ...

    def forward(
        self, x: torch.Tensor, with_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits, or with ``with_features`` the logits and the hidden layer's activations (one pass).

        The flag lives on ``forward`` so a DistributedDataParallel wrapper can pass it through.

        Shape:
            x: (B, C, H, W); returns logits (B, K), or (logits (B, K), features (B, F)), F = ``feature_dim``.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DigitCNN expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        z = self.features(x)  # (B, 4w, 3, 3)
        if not with_features:
            return self.head(z)  # (B, K)
        feats = self.head[:-1](z)  # (B, hidden), after the ReLU
        return self.head[-1](feats), feats

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the hidden layer's activations from one pass (DANN needs both, Ganin et al. 2016).

        The same layers as :meth:`forward`, split before the last linear layer, so the logits are
        identical to ``self(x)``.

        Shape:
            x: (B, C, H, W); returns logits (B, K) and features (B, F) with F = ``feature_dim``.
        """
        return self(x, with_features=True)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer's activations, the features the classifier's last layer reads.

        Shape:
            x: (B, C, H, W); returns (B, F) with F = ``feature_dim``.
        """
        return self.forward_with_features(x)[1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores for evaluation.

        Shape:
            x: (B, C, H, W); returns logits (B, K) (argmax is the predicted class).
        """
        return self(x)
