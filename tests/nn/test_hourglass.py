"""Stacked hourglass: heatmap shapes, target heatmaps, argmax / soft-argmax decoding, the stacked loss."""

from __future__ import annotations

import pytest
import torch

from simgan.nn.hourglass import (
    HourglassNet,
    gaussian_heatmaps,
    heatmap_argmax,
    heatmap_loss,
    heatmap_to_image,
    image_to_heatmap,
    soft_argmax,
)


@pytest.mark.parametrize(("size", "stride"), [((64, 64), 4), ((64, 64), 2), ((128, 128), 4), ((48, 64), 4)])
def test_heatmap_shapes(size: tuple[int, int], stride: int) -> None:
    net = HourglassNet(num_joints=14, stacks=2, channels=8, depth=2, stride=stride).eval()
    out = net(torch.randn(2, 1, *size))
    assert out.shape == (2, 2, 14, size[0] // stride, size[1] // stride)  # (B, S, J, h, w)
    uv = net.predict(torch.randn(2, 1, *size))
    assert uv.shape == (2, 14, 2)
    assert (uv[..., 0] >= -0.5).all() and (uv[..., 0] <= size[1] - 0.5).all()


def test_input_not_divisible_by_stride() -> None:
    with pytest.raises(ValueError, match="divisible by the heatmap stride 4"):
        HourglassNet(channels=4, depth=1)(torch.zeros(1, 1, 30, 32))
    with pytest.raises(ValueError, match="stride must be 2 or 4"):
        HourglassNet(stride=8)


def test_soft_argmax_and_argmax_of_a_delta() -> None:
    h = torch.zeros(2, 3, 16, 20)
    locations = [[(3, 7), (19, 0), (10, 15)], [(0, 0), (5, 5), (12, 2)]]  # (u, v)
    for b, joints in enumerate(locations):
        for j, (u, v) in enumerate(joints):
            h[b, j, v, u] = 1.0
    expected = torch.tensor(locations, dtype=torch.float32)
    torch.testing.assert_close(soft_argmax(h), expected, atol=1e-3, rtol=0)
    torch.testing.assert_close(heatmap_argmax(h), expected)


def test_decoders_recover_a_gaussian_peak() -> None:
    uv = torch.tensor([[[4.0, 9.0], [11.3, 6.6]]])
    maps = gaussian_heatmaps(uv, (16, 16), sigma=1.5)
    assert maps.shape == (1, 2, 16, 16) and maps.max() <= 1.0
    assert maps[0, 0, 9, 4] == pytest.approx(1.0)
    torch.testing.assert_close(soft_argmax(maps)[0, 0], uv[0, 0], atol=1e-3, rtol=0)
    assert (soft_argmax(maps) - uv).abs().max() < 0.5
    # argmax: the nearest pixel, shifted a quarter pixel toward the larger neighbour.
    torch.testing.assert_close(heatmap_argmax(maps)[0, 1], torch.tensor([11.25, 6.75]))
    torch.testing.assert_close(heatmap_argmax(maps, refine=False)[0, 1], torch.tensor([11.0, 7.0]))


def test_image_heatmap_coordinates_round_trip() -> None:
    uv = torch.tensor([[0.0, 0.0], [1.5, 63.0]])
    torch.testing.assert_close(heatmap_to_image(image_to_heatmap(uv, 4), 4), uv)
    # The centre of heatmap pixel 0 at stride 4 is the centre of image pixels 0..3.
    assert heatmap_to_image(torch.tensor([0.0, 0.0]), 4).tolist() == [1.5, 1.5]


def test_loss_supervises_every_stack() -> None:
    uv = torch.tensor([[[10.0, 20.0], [30.0, 5.0]]])
    target = gaussian_heatmaps(image_to_heatmap(uv, 4), (8, 10), 1.5)  # (1, J, h, w)
    perfect = target.unsqueeze(1).expand(1, 2, 2, 8, 10)  # both stacks right
    assert float(heatmap_loss(perfect, uv, 4)) == pytest.approx(0.0, abs=1e-7)
    one_wrong = perfect.clone()
    one_wrong[:, 0] = 0.0  # the first (intermediate) stack predicts nothing
    only_first = float(((target) ** 2).mean())
    assert float(heatmap_loss(one_wrong, uv, 4)) == pytest.approx(only_first, rel=1e-5)
    net = HourglassNet(num_joints=2, channels=4, depth=1, sigma=1.5)
    assert float(net.loss(one_wrong, uv)) == pytest.approx(only_first, rel=1e-5)
