"""The paper's gaze CNN (section 3.1): layer sizes, the 9600-wide flattened features, output."""

from __future__ import annotations

import pytest
import torch

from simgan.nn.gaze_net import GazeNet, gaze_feature_shape


def test_paper_size_flattens_to_9600() -> None:
    assert gaze_feature_shape(35, 55) == (192, 5, 10)
    net = GazeNet(hidden=1000)
    assert net.flat_features == 9600
    assert net.head[1].in_features == 9600 and net.head[1].out_features == 1000
    assert net.head[3].out_features == 3
    assert net.features(torch.zeros(2, 1, 35, 55)).shape == (2, 192, 5, 10)
    out = net(torch.randn(2, 1, 35, 55))
    assert out.shape == (2, 3)


def test_conv_widths_follow_the_paper() -> None:
    convs = [m for m in GazeNet(hidden=8).features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 80, 192]
    assert all(c.kernel_size == (3, 3) and c.padding == (0, 0) for c in convs)


@pytest.mark.parametrize("size", [(36, 60), (20, 20), (19, 19)])
def test_other_sizes_compute_their_flat_size(size: tuple[int, int]) -> None:
    net = GazeNet(height=size[0], width=size[1], hidden=16)
    c, h, w = gaze_feature_shape(*size)
    assert net.flat_features == c * h * w
    assert net.features(torch.zeros(1, 1, *size)).flatten(1).shape[1] == net.flat_features
    pred = net.predict(torch.randn(3, 1, *size))
    torch.testing.assert_close(pred.norm(dim=1), torch.ones(3))


def test_bad_sizes_raise() -> None:
    with pytest.raises(ValueError, match="at least 19x19"):
        GazeNet(height=18, width=40)
    with pytest.raises(ValueError, match=r"expects \(B, 1, 35, 55\)"):
        GazeNet(hidden=8)(torch.zeros(1, 1, 36, 60))
