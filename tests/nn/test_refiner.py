"""The refiner R: keeps any input size, starts as the identity, stays in [-1, 1], checks its input."""

from __future__ import annotations

import pytest
import torch

from simgan.amp import bf16_fast
from simgan.nn.refiner import (
    REFINER_PRESETS,
    Refiner,
    RefinerSpec,
    _micro_batch,
    build_refiner,
    range_clamp,
    refine_images,
)


@pytest.mark.parametrize(
    ("preset", "channels", "size"),
    [("digits", 1, (8, 8)), ("digits", 3, (5, 9)), ("eyes", 1, (35, 55)), ("hands", 1, (24, 20))],
)
def test_keeps_spatial_size(preset: str, channels: int, size: tuple[int, int]) -> None:
    R = build_refiner(preset, channels)
    x = torch.rand(2, channels, *size) * 2 - 1
    assert R(x).shape == x.shape


def test_paper_presets() -> None:
    assert REFINER_PRESETS["eyes"] == RefinerSpec(kernel=3, features=64, blocks=4)
    assert REFINER_PRESETS["hands"] == RefinerSpec(kernel=7, features=64, blocks=10)
    R = build_refiner("eyes", 1)
    assert len(R.blocks) == 4 and R.stem[0].kernel_size == (3, 3) and R.stem[0].out_channels == 64
    assert R.to_image.kernel_size == (1, 1) and R.to_image.out_channels == 1
    H = build_refiner("hands", 1)
    assert len(H.blocks) == 10 and H.blocks[0].conv1.kernel_size == (7, 7)


def test_identity_at_init_and_output_range() -> None:
    torch.manual_seed(0)
    R = build_refiner("digits", 1)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    x[0, 0, 0, 0] = -1.0  # saturated pixels (real backgrounds) are reachable exactly
    assert torch.equal(R(x), x)
    with torch.no_grad():  # a large residual must still land in the data range
        R.to_image.bias.fill_(5.0)
    y = R(x)
    assert y.min() >= -1 and y.max() <= 1 and torch.all(y == 1.0)


def test_learns_a_brightness_shift() -> None:
    torch.manual_seed(0)
    R = build_refiner("digits", 1)
    opt = torch.optim.Adam(R.parameters(), lr=1e-2)
    x = torch.rand(16, 1, 8, 8) - 0.5
    first = None
    for _ in range(80):
        loss = (R(x) - (x + 0.3)).abs().mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.4 * first


def test_errors_name_expected_and_actual() -> None:
    R = Refiner(1, REFINER_PRESETS["digits"])
    with pytest.raises(ValueError, match=r"expects \(B, 1, H, W\), got \(2, 3, 8, 8\)"):
        R(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"got \(1, 8, 8\)"):
        R(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="odd kernel"):
        Refiner(1, RefinerSpec(kernel=4))
    with pytest.raises(ValueError, match="unknown refiner preset"):
        build_refiner("faces", 1)


def test_padding_mode() -> None:
    assert build_refiner("digits", 1).stem[0].padding_mode == "replicate"
    zero = build_refiner("digits", 1, padding="zeros")
    assert zero.stem[0].padding_mode == "zeros" and zero.blocks[0].conv2.padding_mode == "zeros"
    with pytest.raises(ValueError, match="padding must be"):
        Refiner(1, RefinerSpec(padding="wrap"))


def test_replicate_padding_hides_the_border() -> None:
    # A blank image: with replicate padding every pixel sees the same (constant) neighbourhood, so R's
    # output is constant too; zero padding makes border pixels differ (R would know where it is).
    torch.manual_seed(0)
    x = -torch.ones(1, 1, 8, 8)
    for padding, constant in (("replicate", True), ("zeros", False)):
        R = build_refiner("digits", 1, padding=padding)
        torch.nn.init.normal_(R.to_image.weight, std=0.5)
        y = R(x)
        assert bool(torch.allclose(y, y[0, 0, 0, 0])) is constant


def test_range_clamp_gradient_only_blocks_outward_steps() -> None:
    x = torch.tensor([2.0, 2.0, -2.0, -2.0, 0.5], requires_grad=True)
    y = range_clamp(x)
    assert y.tolist() == [1.0, 1.0, -1.0, -1.0, 0.5]
    y.backward(torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0]))
    # Descent moves x by -grad: 2.0 with grad 1 comes back (kept), with grad -1 would go further (blocked).
    assert x.grad.tolist() == [1.0, 0.0, 0.0, -1.0, 1.0]


def test_refine_images_is_r_without_a_graph() -> None:
    torch.manual_seed(0)
    R = build_refiner("digits", 1)
    torch.nn.init.normal_(R.to_image.weight, std=0.5)  # a non-identity R
    x = torch.rand(5, 1, 8, 11) * 2 - 1
    y = refine_images(R, x, amp=False)  # fp32: bit-equal to R(x)
    assert y.shape == (5, 1, 8, 11) and y.dtype == torch.float32 and not y.requires_grad
    assert torch.equal(y, R(x))
    with pytest.raises(ValueError, match=r"Refiner expects \(B, 1, H, W\), got \(5, 3, 8, 11\)"):
        refine_images(R, torch.zeros(5, 3, 8, 11), amp=False)


def test_refine_images_amp_follows_the_cpu() -> None:
    torch.manual_seed(0)
    R = build_refiner("eyes", 1)
    torch.nn.init.normal_(R.to_image.weight, std=0.05)
    x = torch.rand(4, 1, 35, 55) * 2 - 1
    y, exact = refine_images(R, x, amp=True), refine_images(R, x, amp=False)
    assert y.dtype == torch.float32 and y.shape == exact.shape
    if bf16_fast("cpu"):  # bf16: close to fp32 (a few grey levels at most), not equal
        assert 0 < (y - exact).abs().max() < 0.05
    else:  # no native bf16: amp falls back to fp32
        assert torch.equal(y, exact)


def test_refine_images_runs_cache_sized_micro_batches_on_the_cpu() -> None:
    eyes, digits = build_refiner("eyes", 1), build_refiner("digits", 1)
    x = torch.zeros(64, 1, 35, 55)
    # one feature map per micro-batch within 2 MiB: 64 x 35 x 55 x 2 bytes (bf16) = 246 KB per eye
    assert _micro_batch(eyes, x, half=True) == 8 and _micro_batch(eyes, x, half=False) == 4
    assert _micro_batch(digits, torch.zeros(1, 1, 8, 8), half=False) == 256  # 32 x 8 x 8 x 4 bytes
    assert _micro_batch(build_refiner("hands", 1), torch.zeros(3, 1, 224, 224), half=True) == 1
    assert _micro_batch(torch.nn.Identity(), x, half=True) == 64  # unknown width: the whole batch

    torch.manual_seed(0)
    torch.nn.init.normal_(eyes.to_image.weight, std=0.5)
    x = torch.rand(10, 1, 35, 55) * 2 - 1  # 3 micro-batches in fp32: 4 + 4 + 2
    with torch.no_grad():
        whole = eyes(x)
    assert torch.allclose(refine_images(eyes, x, amp=False), whole, atol=1e-5)
    assert refine_images(eyes, x[:0], amp=False).shape == (0, 1, 35, 55)


def test_a_stochastic_r_draws_its_noise_for_the_whole_batch() -> None:
    R = build_refiner("eyes", 1, noise_channels=2).eval()
    torch.nn.init.normal_(R.to_image.weight, std=0.5)
    x = torch.rand(9, 1, 35, 55) * 2 - 1
    torch.manual_seed(5)
    chunked = refine_images(R, x, amp=False)  # 3 micro-batches
    torch.manual_seed(5)
    with torch.no_grad():
        whole = R(x)  # one draw of (9, 2, 35, 55)
    assert torch.allclose(chunked, whole, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_refine_images_bf16_on_cuda_is_close_to_fp32() -> None:
    torch.manual_seed(0)
    R = build_refiner("eyes", 1).cuda()
    torch.nn.init.normal_(R.to_image.weight, std=0.05)
    x = torch.rand(4, 1, 35, 55, device="cuda") * 2 - 1
    y = refine_images(R, x, amp=True)
    assert y.dtype == torch.float32 and y.is_contiguous(memory_format=torch.channels_last)
    assert (y - refine_images(R, x, amp=False)).abs().max() < 0.05


def test_noise_channels_make_refinement_stochastic() -> None:
    torch.manual_seed(0)
    R = build_refiner("digits", 1, noise_channels=2).eval()
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    assert torch.equal(R(x), x)  # identity at initialisation, whatever the noise
    torch.nn.init.normal_(R.to_image.weight, std=0.1)  # a trained R reads its noise
    z1, z2 = torch.randn(3, 2, 8, 8), torch.randn(3, 2, 8, 8)
    with torch.no_grad():
        a, b, again = R(x, z1), R(x, z2), R(x, z1)
    assert torch.equal(a, again)  # the same z, the same refinement
    assert (a - b).abs().mean() > 1e-3  # another z, another refinement
    assert R.stem[0].in_channels == 3
    with pytest.raises(ValueError, match=r"noise must be \(3, 2, 8, 8\)"):
        R(x, torch.randn(3, 1, 8, 8))
    with pytest.raises(ValueError, match="no noise channels"):
        build_refiner("digits", 1)(x, z1)
    with pytest.raises(ValueError, match="noise_channels must be >= 0"):
        build_refiner("digits", 1, noise_channels=-1)
