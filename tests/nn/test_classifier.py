"""The digit CNN: runs on any input size and channel count, and learns."""

from __future__ import annotations

import pytest
import torch

from simgan.nn.classifier import DigitCNN


@pytest.mark.parametrize(("channels", "size"), [(1, (8, 8)), (1, (28, 28)), (3, (32, 32)), (1, (5, 9))])
def test_any_size_and_channels(channels: int, size: tuple[int, int]) -> None:
    net = DigitCNN(in_channels=channels, num_classes=10)
    out = net(torch.randn(4, channels, *size))
    assert out.shape == (4, 10)
    # The head is the lecture's Linear(64 * 3 * 3, 100) at the default width.
    assert net.head[1].in_features == 64 * 9 and net.head[1].out_features == 100


def test_wrong_channels_named() -> None:
    with pytest.raises(ValueError, match=r"expects \(B, 1, H, W\), got \(2, 3, 8, 8\)"):
        DigitCNN(in_channels=1)(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="num_classes"):
        DigitCNN(num_classes=1)


def test_fits_a_small_batch() -> None:
    torch.manual_seed(0)
    net = DigitCNN(num_classes=3, width=8)
    x, y = torch.randn(12, 1, 8, 8), torch.arange(12) % 3
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first
    assert (net.predict(x).argmax(1) == y).all()
