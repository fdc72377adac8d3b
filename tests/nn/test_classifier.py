"""The digit CNN: runs on any input size and channel count, and learns."""

from __future__ import annotations

import pytest
import torch

from simgan.nn.classifier import DigitCNN, GridAvgPool


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


@pytest.mark.parametrize(
    "shape", [(2, 3, 2, 2), (2, 3, 7, 7), (2, 1, 1, 1), (1, 2, 28, 28), (3, 4, 5, 9), (1, 1, 4, 1)]
)
def test_grid_pool_is_adaptive_average_pooling(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    ours, ref = GridAvgPool(3)(x), torch.nn.AdaptiveAvgPool2d(3)(x)
    assert ours.shape == ref.shape == (*shape[:2], 3, 3)
    assert torch.allclose(ours, ref, atol=1e-12)
    w = torch.randn_like(ref)  # any upstream gradient
    (g_ours,) = torch.autograd.grad((ours * w).sum(), x)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), x)
    assert torch.allclose(g_ours, g_ref, atol=1e-12)
    cl = x.detach().float().contiguous(memory_format=torch.channels_last)
    assert torch.allclose(GridAvgPool(3)(cl), torch.nn.AdaptiveAvgPool2d(3)(cl), atol=1e-6)
