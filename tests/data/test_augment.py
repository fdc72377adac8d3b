"""Batched augmentation: labels move with the pixels, illegal ops are refused, seeds repeat."""

from __future__ import annotations

import math

import pytest
import torch

from simgan.data.augment import (
    Augmenter,
    flip,
    parse_augmentations,
    random_crop,
    random_jitter,
    random_rotate,
    rotate,
    translate,
)
from simgan.errors import InputError
from simgan.gaze import pitchyaw_to_vector, vector_to_pitchyaw


def _dots(uv: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Dark images (B, 1, h, w) with one bright pixel at each sample's first keypoint."""
    x = torch.full((len(uv), 1, h, w), -1.0)
    for b, (u, v) in enumerate(uv[:, 0].round().long().tolist()):
        x[b, 0, v, u] = 1.0
    return x


def _brightest(x: torch.Tensor) -> torch.Tensor:
    """(u, v) of each image's brightest pixel, (B, 2)."""
    w = x.shape[3]
    idx = x[:, 0].flatten(1).argmax(dim=1)
    return torch.stack([idx % w, idx // w], dim=1).float()


def test_flip_gaze_negates_yaw_and_mirrors_the_image() -> None:
    pitchyaw = torch.tensor([[0.2, 0.3], [-0.1, -0.4], [0.05, 0.0]])
    y = pitchyaw_to_vector(pitchyaw)
    x = torch.rand(3, 1, 6, 9) * 2 - 1
    mask = torch.tensor([True, True, False])
    xf, yf = flip(x, y, "gaze", mask)
    torch.testing.assert_close(xf[:2], x[:2].flip(-1))
    torch.testing.assert_close(xf[2], x[2])
    got = vector_to_pitchyaw(yf)
    torch.testing.assert_close(got[:2, 0], pitchyaw[:2, 0])  # pitch kept
    torch.testing.assert_close(got[:2, 1], -pitchyaw[:2, 1])  # yaw negated
    torch.testing.assert_close(yf[2], y[2])


def test_flip_hand_mirrors_u_and_the_dot_follows() -> None:
    uv = torch.tensor([[[3.0, 5.0], [0.0, 0.0]], [[12.0, 1.0], [15.0, 7.0]]])
    x = _dots(uv, 8, 16)
    xf, yf = flip(x, uv, "handpose", torch.tensor([True, True]))
    torch.testing.assert_close(yf[..., 0], 15.0 - uv[..., 0])  # u -> W - 1 - u
    torch.testing.assert_close(yf[..., 1], uv[..., 1])
    torch.testing.assert_close(_brightest(xf), yf[:, 0])


def test_rotating_a_hand_by_90_degrees_moves_keypoints_with_the_dot() -> None:
    uv = torch.tensor([[[30.0, 8.0]], [[10.0, 20.0]], [[24.0, 16.0]]])
    x = _dots(uv, 32, 48)
    xr, yr = rotate(x, uv, "handpose", torch.full((3,), 90.0))
    assert (_brightest(xr) - yr[:, 0]).abs().max() <= 1.0
    # Counter-clockwise as displayed about the centre (23.5, 15.5): right of centre goes up.
    torch.testing.assert_close(yr[0, 0], torch.tensor([16.0, 9.0]), atol=1e-4, rtol=0)


def test_random_rotations_keep_dot_and_keypoint_together() -> None:
    g = torch.Generator().manual_seed(3)
    uv = torch.stack([torch.randint(12, 52, (16, 1)), torch.randint(12, 52, (16, 1))], dim=-1).float()
    x = _dots(uv, 64, 64)
    xr, yr = random_rotate(x, uv, "handpose", g, max_degrees=20.0)
    assert (_brightest(xr) - yr[:, 0]).norm(dim=1).max() <= 1.0
    assert not torch.allclose(yr, uv)


def test_rotating_gaze_turns_its_in_plane_component() -> None:
    y = torch.nn.functional.normalize(torch.tensor([[0.3, 0.0, -1.0], [0.0, 0.2, -1.0]]), dim=1)
    _, yr = rotate(torch.zeros(2, 1, 9, 9), y, "gaze", torch.tensor([90.0, 90.0]))
    # Looking right turns to looking up (y < 0); looking down turns to looking right.
    torch.testing.assert_close(yr[0], torch.tensor([0.0, -y[0, 0], y[0, 2]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(yr[1], torch.tensor([y[1, 1], 0.0, y[1, 2]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(yr.norm(dim=1), torch.ones(2))


def test_crop_shifts_keypoints_consistently() -> None:
    g = torch.Generator().manual_seed(0)
    uv = torch.stack([torch.randint(6, 26, (20, 2)), torch.randint(6, 26, (20, 2))], dim=-1).float()
    x = _dots(uv, 32, 32)
    xc, yc = random_crop(x, uv, "handpose", g, pad=4)
    shift = yc - uv  # (B, J, 2): one integer shift per sample, the same for all its joints
    torch.testing.assert_close(shift[:, 0], shift[:, 1])
    assert shift.abs().max() <= 4 and (shift == shift.round()).all() and shift.abs().sum() > 0
    torch.testing.assert_close(_brightest(xc), yc[:, 0])


def test_crop_and_rotate_keep_class_and_gaze_labels() -> None:
    g = torch.Generator().manual_seed(1)
    y = torch.tensor([3, 1, 4])
    x = torch.rand(3, 1, 8, 8)
    for op in (random_crop, random_rotate, random_jitter):
        _, y2 = op(x, y, "classify", g)
        assert torch.equal(y2, y)
    gaze = torch.nn.functional.normalize(torch.randn(3, 3), dim=1)
    _, g2 = random_crop(x, gaze, "gaze", g)
    assert torch.equal(g2, gaze)


def test_jitter_changes_intensity_only() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.rand(8, 1, 6, 6) * 1.6 - 0.8
    uv = torch.rand(8, 14, 2) * 5
    xj, yj = random_jitter(x, uv, "handpose", g, brightness=0.2, contrast=0.3)
    assert torch.equal(yj, uv)
    assert xj.min() >= -1 and xj.max() <= 1 and not torch.allclose(xj, x)


def test_same_seed_same_batch() -> None:
    aug = Augmenter("handpose", "flip,crop,rotate,jitter")
    x, uv = torch.rand(6, 1, 16, 16) * 2 - 1, torch.rand(6, 14, 2) * 15
    a = aug(x, uv, torch.Generator().manual_seed(7))
    b = aug(x, uv, torch.Generator().manual_seed(7))
    c = aug(x, uv, torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_parse_refuses_unknown_and_label_corrupting_ops() -> None:
    assert parse_augmentations("jitter,flip,crop", "gaze") == ("flip", "crop", "jitter")
    assert parse_augmentations("none", "classify") == ()
    assert parse_augmentations(None, "classify") == ()
    with pytest.raises(InputError, match="'flip' is not allowed for task 'classify'"):
        parse_augmentations("crop,flip", "classify")
    with pytest.raises(InputError, match="unknown augmentation 'blur'"):
        parse_augmentations("blur", "gaze")
    with pytest.raises(ValueError, match="not label-preserving"):
        flip(torch.zeros(1, 1, 4, 4), torch.zeros(1, dtype=torch.long), "classify", torch.tensor([True]))
    with pytest.raises(ValueError, match=r"handpose targets must have shape"):
        rotate(torch.zeros(2, 1, 4, 4), torch.zeros(2, 3), "handpose", torch.zeros(2))
    assert not Augmenter("classify", "") and math.isclose(Augmenter("gaze", "rotate").max_degrees, 20.0)


def test_auto_is_the_tasks_default_and_stands_alone() -> None:
    assert parse_augmentations("auto", "classify") == ("crop",)
    assert parse_augmentations(["auto"], "gaze") == ()
    assert parse_augmentations("auto", "handpose") == ()
    with pytest.raises(InputError, match="stands alone"):
        parse_augmentations("auto,rotate", "classify")


# --- segment: the mask moves with its image -----------------------------------------------------------


def _parts(b: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose pixel value encodes its mask id exactly: x = id / 8 - 1 with ids 0..7, (B, 1, h, w)."""
    y = torch.randint(0, 8, (b, h, w), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    return y[:, None].float() / 8.0 - 1.0, y


def _ids(x: torch.Tensor) -> torch.Tensor:
    return ((x[:, 0] + 1.0) * 8.0).round().to(torch.uint8)


def test_flip_moves_the_mask_with_the_image() -> None:
    x, y = _parts(3, 6, 9)
    xf, yf = flip(x, y, "segment", torch.tensor([True, False, True]))
    assert yf.dtype == torch.uint8
    torch.testing.assert_close(yf[0], y[0].flip(-1))
    torch.testing.assert_close(yf[1], y[1])
    assert torch.equal(_ids(xf), yf)  # every pixel keeps its id


def test_crop_shifts_mask_and_image_alike() -> None:
    x, y = _parts(2, 8, 8)
    xs, ys = translate(x, y, "segment", torch.tensor([[2, -1], [-3, 3]]))
    assert torch.equal(_ids(xs), ys)  # integer shifts: the image's bilinear samples are exact pixels
    torch.testing.assert_close(ys[0, :-1, 2:], y[0, 1:, :-2])  # (u, v) -> (u + 2, v - 1)
    torch.testing.assert_close(ys[0, -1, 2:], y[0, -1, :-2])  # the bottom row replicated, as in the image


def test_rotate_resamples_masks_by_nearest_neighbour() -> None:
    x, y = _parts(4, 16, 16)
    xr, yr = rotate(x, y, "segment", torch.tensor([90.0, 33.0, -17.0, 0.0]))
    assert yr.dtype == torch.uint8 and set(yr.unique().tolist()) <= set(range(8))
    assert torch.equal(_ids(xr[[0, 3]]), yr[[0, 3]])  # exact pixel moves agree with the image
    torch.testing.assert_close(yr[0], torch.rot90(y[0], 1, dims=(0, 1)))  # counter-clockwise as shown
    # A mask of one id rotates into the same id everywhere: nothing blends ids.
    _, one = rotate(x, torch.full((4, 16, 16), 5, dtype=torch.uint8), "segment", torch.full((4,), 33.0))
    assert (one == 5).all()


def test_segment_augmenter_allows_every_op_and_checks_shapes() -> None:
    aug = Augmenter("segment", "flip,crop,rotate,jitter")
    x, y = _parts(5, 16, 16)
    xa, ya = aug(x, y, torch.Generator().manual_seed(3))
    assert xa.shape == x.shape and ya.shape == y.shape and ya.dtype == torch.uint8
    assert parse_augmentations("auto", "segment") == ()
    with pytest.raises(ValueError, match=r"segment targets must have shape \(2, 4, 4\)"):
        flip(
            torch.zeros(2, 1, 4, 4),
            torch.zeros(2, 4, 5, dtype=torch.uint8),
            "segment",
            torch.tensor([True, True]),
        )
