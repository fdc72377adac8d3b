"""The discriminator D: patch-logit maps of the documented size, raw logits, a global variant."""

from __future__ import annotations

import pytest
import torch

from simgan.nn.discriminator import (
    DISCRIMINATOR_PRESETS,
    DiscriminatorSpec,
    Layer,
    build_discriminator,
    output_size,
    receptive_field,
)


@pytest.mark.parametrize(
    ("preset", "size", "expected"),
    [("eyes", (35, 55), (4, 9)), ("digits", (8, 8), (4, 4)), ("digits", (28, 28), (24, 24))],
)
def test_patch_map_size(preset: str, size: tuple[int, int], expected: tuple[int, int]) -> None:
    D = build_discriminator(preset, 1)
    assert output_size(DISCRIMINATOR_PRESETS[preset], *size) == expected
    assert D(torch.randn(3, 1, *size)).shape == (3, 2, *expected)


def test_hands_preset_map() -> None:
    assert output_size(DISCRIMINATOR_PRESETS["hands"], 224, 224) == (5, 5)
    kinds = [(la.kind, la.kernel, la.stride, la.features) for la in DISCRIMINATOR_PRESETS["hands"].layers]
    assert (
        kinds[0] == ("conv", 7, 4, 96) and kinds[2] == ("maxpool", 3, 2, 0) and kinds[-1] == ("conv", 1, 1, 2)
    )


def test_eye_preset_is_the_papers() -> None:
    layers = DISCRIMINATOR_PRESETS["eyes"].layers
    assert [(la.kind, la.kernel, la.stride, la.features) for la in layers] == [
        ("conv", 3, 2, 96),
        ("conv", 3, 2, 64),
        ("maxpool", 3, 1, 0),
        ("conv", 3, 1, 32),
        ("conv", 1, 1, 32),
        ("conv", 1, 1, 2),
    ]
    assert receptive_field(DISCRIMINATOR_PRESETS["digits"]) == 5


def test_logits_are_not_rectified() -> None:
    torch.manual_seed(0)
    D = build_discriminator("digits", 1)
    out = D(torch.randn(16, 1, 8, 8))
    assert (out < 0).any() and (out > 0).any()  # a ReLU on the output would clip one class's evidence
    assert isinstance(D.head, torch.nn.Conv2d)


def test_global_variant() -> None:
    D = build_discriminator("digits", 1, global_size=(8, 8))
    assert D(torch.randn(5, 1, 8, 8)).shape == (5, 2, 1, 1)
    with pytest.raises(ValueError, match=r"expects \(B, 1, 8, 8\), got \(5, 1, 9, 9\)"):
        D(torch.randn(5, 1, 9, 9))


def test_errors() -> None:
    D = build_discriminator("eyes", 1)
    with pytest.raises(ValueError, match=r"too small .* at least 23x23"):
        D(torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"expects \(B, 1, H, W\), got \(2, 3, 35, 55\)"):
        D(torch.randn(2, 3, 35, 55))
    with pytest.raises(ValueError, match="last layer"):
        DiscriminatorSpec((Layer("conv", 3, 1, 8),))
