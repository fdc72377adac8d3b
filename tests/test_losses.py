"""SimGAN losses: per-patch cross-entropy against hand-computed values, psi variants, shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from simgan import losses


def _two_patches() -> torch.Tensor:
    # One image, a 1x2 map. Patch a: logits (0, 0) -> D = 1/2. Patch b: logits (0, ln 3) -> D = 3/4.
    return torch.tensor([[[[0.0, 0.0]], [[0.0, math.log(3.0)]]]])  # (1, 2, 1, 2)


def test_local_loss_by_hand() -> None:
    logits = _two_patches()
    # Refined target (eq. 2, first term): -log D per patch.
    want_refined = [-math.log(0.5), -math.log(0.75)]
    # Real target: -log(1 - D) per patch; also eq. (3), the refiner's realism loss.
    want_real = [-math.log(0.5), -math.log(0.25)]
    got = losses.local_adversarial_loss(logits, losses.REFINED)
    assert got.item() == pytest.approx(sum(want_refined) / 2)
    assert losses.local_adversarial_loss(logits, losses.REFINED, "sum").item() == pytest.approx(
        sum(want_refined)
    )
    assert losses.refiner_adversarial_loss(logits).item() == pytest.approx(sum(want_real) / 2)
    d_ref, d_real = losses.discriminator_loss(logits, logits)
    assert d_ref.item() == pytest.approx(sum(want_refined) / 2)
    assert d_real.item() == pytest.approx(sum(want_real) / 2)


def test_patch_accuracy() -> None:
    logits = _two_patches()  # patch a is a tie (argmax picks class 0 = real), patch b says refined
    assert losses.patch_accuracy(logits, losses.REFINED).item() == pytest.approx(0.5)
    assert losses.patch_accuracy(logits, losses.REAL).item() == pytest.approx(0.5)


def test_loss_errors() -> None:
    with pytest.raises(ValueError, match=r"\(B, 2, h, w\), got \(1, 3, 2, 2\)"):
        losses.local_adversarial_loss(torch.zeros(1, 3, 2, 2), losses.REAL)
    with pytest.raises(ValueError, match="target"):
        losses.local_adversarial_loss(torch.zeros(1, 2, 2, 2), 2)
    with pytest.raises(ValueError, match=r"same shape .* \(2, 1, 8, 8\) and \(2, 1, 4, 4\)"):
        losses.self_regularization_loss(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="unknown psi"):
        losses.self_regularization_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), psi="edges")


def test_self_regularization_identity_value() -> None:
    x = torch.zeros(1, 1, 2, 2)
    r = torch.tensor([[[[0.5, -0.5], [0.0, 1.0]]]])
    assert losses.self_regularization_loss(r, x, 2.0).item() == pytest.approx(2.0 * 2.0 / 4)
    assert losses.self_regularization_loss(r, x, 2.0, reduction="sum").item() == pytest.approx(4.0)
    assert losses.SelfRegularizationLoss(2.0)(r, x).item() == pytest.approx(1.0)


def test_psi_channel_mean_ignores_colour_swaps() -> None:
    x = torch.rand(2, 3, 4, 4)
    swapped = x[:, [2, 0, 1]]  # same brightness, different colour
    assert losses.self_regularization_loss(swapped, x, psi="channel_mean").item() == pytest.approx(
        0.0, abs=1e-7
    )
    assert losses.self_regularization_loss(swapped, x, psi="identity").item() > 0.01
    assert losses.psi_channel_mean(x).shape == (2, 1, 4, 4)


def test_psi_downsample_ignores_fine_texture() -> None:
    x = torch.rand(2, 1, 6, 6)
    checker = (torch.arange(6)[:, None] + torch.arange(6)[None, :]) % 2 * 2 - 1  # +-1 per pixel
    textured = x + 0.1 * checker  # zero mean in every 2x2 block
    assert losses.self_regularization_loss(textured, x, psi="downsample").item() == pytest.approx(
        0.0, abs=1e-6
    )
    assert losses.self_regularization_loss(textured, x, psi="identity").item() == pytest.approx(0.1)
    assert losses.psi_downsample(torch.zeros(1, 1, 7, 5)).shape == (1, 1, 4, 3)


def test_gradient_of_adversarial_loss_pushes_toward_real() -> None:
    logits = torch.zeros(1, 2, 1, 1, requires_grad=True)
    losses.refiner_adversarial_loss(logits).backward()
    assert logits.grad[0, 0, 0, 0] < 0 < logits.grad[0, 1, 0, 0]  # raise "real", lower "refined"
