"""The SimGAN paper's appearance-based gaze estimation CNN (section 3.1, "Implementation details").

Paper, verbatim: "The input is a 35x55 grayscale image that is passed through 5 convolutional layers
followed by 3 fully connected layers, the last one encoding the 3-dimensional gaze vector: (1) Conv3x3,
feature maps=32, (2) Conv3x3, feature maps=32, (3) Conv3x3, feature maps=64, (4) MaxPool3x3, stride=2,
(5) Conv3x3, feature maps=80, (6) Conv3x3, feature maps=192, (7) MaxPool2x2, stride=2, (8) FC9600,
(9) FC1000, (10) FC3, (11) Euclidean loss."

Reading of "FC9600": with unpadded ("valid") 3x3 convolutions a 35x55 input becomes
33x53 -> 31x51 -> 29x49 -> pool 14x24 -> 12x22 -> 10x20 -> pool 5x10, and 192 x 5 x 10 = 9600 exactly. So
"FC9600" is the flattened 9600-vector entering the fully connected part, and the weights are
9600 -> 1000 -> 3 (a 9600x9600 layer would add 92M parameters the paper never mentions). For other input
sizes the flattened size is computed from the input size (:func:`gaze_feature_shape`). ReLU follows every
conv and the hidden FC layer; the output is the unnormalised 3-D gaze vector trained with an L2 loss.
For domain adaptation (``simgan.adapt``) :meth:`GazeNet.forward_with_features` also returns the hidden FC
layer's activations (FC1000 after its ReLU) from the same pass.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["GazeNet", "gaze_feature_shape"]


def gaze_feature_shape(height: int, width: int) -> tuple[int, int, int]:
    """(channels, h, w) of the conv trunk's output for an input of ``height`` x ``width``.

    Raises:
        ValueError: the input is too small for the five valid convolutions and two pools (min 19x19).
    """

    def trunk(n: int) -> int:
        n = n - 6  # three valid 3x3 convs
        n = (n - 3) // 2 + 1  # MaxPool3x3, stride 2
        n = n - 4  # two valid 3x3 convs
        return n // 2  # MaxPool2x2, stride 2

    h, w = trunk(height), trunk(width)
    if h < 1 or w < 1:
        raise ValueError(f"GazeNet needs an input of at least 19x19 pixels, got {height}x{width}")
    return 192, h, w


class GazeNet(nn.Module):
    """Paper's gaze CNN: 5 valid 3x3 convs (32, 32, 64, pool3/2, 80, 192, pool2/2), FC flat-1000-3.

    Args:
        in_channels: image channels (1: the paper's grayscale eyes).
        height: input height (35 in the paper).
        width: input width (55 in the paper).
        hidden: units of the hidden FC layer (1000 in the paper).

    Shape:
        x: (B, C, height, width) float in [-1, 1]; returns the gaze vector (B, 3), not normalised.
    """

    def __init__(self, in_channels: int = 1, height: int = 35, width: int = 55, hidden: int = 1000):
        super().__init__()
        self.in_channels, self.height, self.width = in_channels, height, width
        c, h, w = gaze_feature_shape(height, width)
        self.flat_features = c * h * w  # 9600 at 35x55
        self.feature_dim = hidden  # F of forward_with_features / embed: the hidden FC layer's width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 80, 3),
            nn.ReLU(inplace=True),
            nn.Conv2d(80, 192, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, stride=2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, 9600) at 35x55
            nn.Linear(self.flat_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 3),
        )

    @overload
    def forward(self, x: torch.Tensor, with_features: Literal[False] = False) -> torch.Tensor: ...

    @overload
    def forward(self, x: torch.Tensor, with_features: Literal[True]) -> tuple[torch.Tensor, torch.Tensor]: ...

    def forward(
        self, x: torch.Tensor, with_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Gaze vector, or with ``with_features`` the gaze and the hidden FC layer's activations (one pass).

        The flag lives on ``forward`` so a DistributedDataParallel wrapper can pass it through.

        Shape:
            x: (B, C, height, width); returns (B, 3), or (gaze (B, 3), features (B, F)), F = ``feature_dim``.
        """
        expected = (self.in_channels, self.height, self.width)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"GazeNet expects (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        z = self.features(x)  # (B, 192, h, w)
        if not with_features:
            return self.head(z)  # (B, 3)
        feats = self.head[:-1](z)  # (B, hidden), after the ReLU
        return self.head[-1](feats), feats

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaze vector and the hidden FC layer's activations from one pass (for DANN, Ganin et al. 2016).

        The same layers as :meth:`forward`, split before the last FC layer, so the output is identical
        to ``self(x)``.

        Shape:
            x: (B, C, height, width); returns gaze (B, 3) and features (B, F) with F = ``feature_dim``.
        """
        return self(x, with_features=True)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden FC layer's activations (the penultimate layer).

        Shape:
            x: (B, C, height, width); returns (B, F) with F = ``feature_dim``.
        """
        return self.forward_with_features(x)[1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Unit gaze vectors for evaluation.

        Shape:
            x: (B, C, H, W); returns (B, 3) with norm 1.
        """
        return F.normalize(self(x), dim=1)
