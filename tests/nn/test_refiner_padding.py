"""R's padding (simgan.nn.refiner.PaddedConv2d): the same R as plain ``nn.Conv2d(padding_mode=...)`` convs,
for any image size, in fp32 and bf16, with the old state_dict layout; and the pad stays in bf16."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from simgan.amp import autocast
from simgan.nn.refiner import PaddedConv2d, Refiner, RefinerSpec, build_refiner, edge_pad


def _trained_like(preset: str, padding: str = "replicate", seed: int = 0) -> Refiner:
    """A non-identity R: random last layer and biases, as after some training."""
    torch.manual_seed(seed)
    R = build_refiner(preset, 1, padding=padding)
    nn.init.normal_(R.to_image.weight, std=0.2)
    for m in R.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.bias, std=0.1)
    return R


def _reference(R: Refiner) -> Refiner:
    """The same R and weights with every :class:`PaddedConv2d` swapped for a plain ``nn.Conv2d`` that pads
    with ``padding_mode`` itself: the refiner as it was before the pad learned to stay in bf16."""
    ref = Refiner(R.channels, R.spec)
    for name, m in list(ref.named_modules()):
        if isinstance(m, PaddedConv2d):
            parent, _, leaf = name.rpartition(".")
            plain = nn.Conv2d(
                m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, padding_mode=m.padding_mode
            )
            setattr(ref.get_submodule(parent), leaf, plain)
    ref.load_state_dict(R.state_dict(), strict=True)
    return ref


@pytest.mark.parametrize(
    ("preset", "padding", "size"),
    [
        ("digits", "replicate", (8, 8)),
        ("digits", "replicate", (1, 1)),
        ("eyes", "replicate", (35, 55)),
        ("hands", "replicate", (8, 8)),  # k=7, B=10: receptive-field radius 63, far beyond the image
        ("hands", "replicate", (3, 30)),  # fewer rows than the pad of one conv (3)
        ("eyes", "zeros", (35, 55)),
        ("digits", "reflect", (8, 8)),
        ("hands", "reflect", (9, 12)),
    ],
)
def test_same_output_and_gradient_as_plain_conv_padding(
    preset: str, padding: str, size: tuple[int, int]
) -> None:
    R = _trained_like(preset, padding)
    ref = _reference(R)
    x = torch.rand(3, 1, *size) * 2 - 1  # (B, 1, H, W)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y, y_ref = R(xa), ref(xb)
    torch.testing.assert_close(y, y_ref)  # fp32 tolerance (the ops are the same: in practice bit-equal)
    assert 0 < (y - x).abs().max()  # a real refinement, not the identity
    (y * y_ref.detach()).sum().backward()
    (y_ref * y.detach()).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    for (name, p), q in zip(R.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("preset", ["digits", "eyes"])
def test_bf16_autocast_output_equals_plain_conv_padding(preset: str) -> None:
    # Padding in bf16 instead of fp32 copies the same values: bit-equal outputs, channels_last too.
    R = _trained_like(preset).to(memory_format=torch.channels_last)
    ref = _reference(R).to(memory_format=torch.channels_last)
    x = (torch.rand(4, 1, 35, 55) * 2 - 1).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), autocast("cpu", True):
        assert torch.equal(R(x), ref(x))


def test_old_state_dicts_load() -> None:
    # Run folders written before PaddedConv2d hold nn.Conv2d state_dicts: same keys, loads strictly.
    ref = _reference(_trained_like("eyes"))
    R = build_refiner("eyes", 1)
    assert list(R.state_dict()) == list(ref.state_dict())
    assert {"stem.0.weight", "blocks.3.conv2.bias", "to_image.weight"} <= set(R.state_dict())
    R.load_state_dict(ref.state_dict(), strict=True)
    x = torch.rand(2, 1, 35, 55) * 2 - 1
    torch.testing.assert_close(R(x), ref(x))


@pytest.mark.parametrize("mode", ["replicate", "reflect", "constant"])
def test_edge_pad_keeps_dtype_and_layout_under_autocast(mode: str) -> None:
    x = torch.randn(2, 4, 5, 6).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with autocast("cpu", True):
        y = edge_pad(x, (1, 2, 3, 1), mode)
    assert y.dtype == torch.bfloat16 and y.shape == (2, 4, 9, 9)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, nn.functional.pad(x, (1, 2, 3, 1), mode=mode))


def test_padded_conv_is_a_conv2d_with_the_same_options() -> None:
    conv = PaddedConv2d(3, 5, 3, padding=1, padding_mode="replicate")
    assert isinstance(conv, nn.Conv2d) and conv.padding_mode == "replicate" and conv.padding == (1, 1)
    plain = nn.Conv2d(3, 5, 3, padding=1, padding_mode="replicate")
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 4, 7)
    torch.testing.assert_close(conv(x), plain(x))
    same = PaddedConv2d(3, 5, 3, padding="same", padding_mode="replicate")  # left to nn.Conv2d
    assert same(x).shape == (2, 5, 4, 7)


def test_position_blind_under_bf16_autocast() -> None:
    # The property the padding is for (tests/nn/test_refiner.py checks it in fp32): a blank image gives a
    # constant output, also on the amp path.
    R = _trained_like("digits").to(memory_format=torch.channels_last)
    x = -torch.ones(1, 1, 8, 8).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), autocast("cpu", True):
        y = R(x).float()
    assert torch.all(y == y[0, 0, 0, 0])


def test_spec_padding_is_checked() -> None:
    with pytest.raises(ValueError, match="padding must be"):
        Refiner(1, RefinerSpec(padding="circular"))
