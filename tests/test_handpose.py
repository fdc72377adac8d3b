"""NYU conventions: projection, the crop box, depth normalisation and the crop of a full frame."""

from __future__ import annotations

import numpy as np
import pytest

from simgan import handpose as hp
from simgan.data.images import from_float, to_float


def test_joint_tables_match_nyu_names() -> None:
    assert len(hp.NYU_JOINT_NAMES) == 36 and len(set(hp.NYU_JOINT_NAMES)) == 36
    names = [hp.NYU_JOINT_NAMES[i] for i in hp.EVAL_JOINTS]
    assert names[0] == "F1_KNU3_A" and names[1] == "F1_KNU2_B"  # pinky tip, pinky PIP
    assert names[8:11] == ["TH_KNU3_A", "TH_KNU3_B", "TH_KNU2_B"]
    assert names[11:] == ["PALM_1", "PALM_2", "PALM_3"]
    assert len(hp.EVAL_JOINT_NAMES) == 14
    assert hp.EVAL_JOINT_NAMES[hp.CENTRE_EVAL_INDEX] == "palm_centre"
    assert hp.EVAL_JOINTS[hp.CENTRE_EVAL_INDEX] == hp.CENTRE_JOINT == 32


def test_projection_known_value_and_round_trip(rng: np.random.Generator) -> None:
    uvd = hp.xyz_to_uvd(np.array([100.0, 50.0, 1000.0]))
    np.testing.assert_allclose(uvd, [320 + 58.803, 240 - 29.3535, 1000.0], atol=1e-9)
    np.testing.assert_allclose(hp.xyz_to_uvd(np.array([0.0, 0.0, 700.0])), [hp.CX, hp.CY, 700.0])
    xyz = np.stack([rng.uniform(-200, 200, 50), rng.uniform(-200, 200, 50), rng.uniform(300, 1500, 50)], 1)
    np.testing.assert_allclose(hp.uvd_to_xyz(hp.xyz_to_uvd(xyz)), xyz, atol=1e-9)


def test_crop_box_spans_the_cube_at_the_centre_depth() -> None:
    box = hp.crop_box(np.array([300.0, 200.0, 600.0]), 300.0)
    np.testing.assert_allclose(box[2] - box[0], hp.FX * 300.0 / 600.0)
    np.testing.assert_allclose(box[3] - box[1], hp.FY * 300.0 / 600.0)
    np.testing.assert_allclose(
        [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], [300.5, 200.5]
    )  # index -> continuous


@pytest.mark.parametrize("size", [(128, 128), (224, 224), (64, 96)])
def test_crop_uv_known_values_and_round_trip(size: tuple[int, int], rng: np.random.Generator) -> None:
    h, w = size
    centre = np.array([40.0, -30.0, 650.0])
    box = hp.crop_box(hp.xyz_to_uvd(centre))
    # The centre lands in the middle of the stored image; 75 mm to the right, a quarter of the cube further.
    pts = np.stack([centre, centre + [75.0, 0.0, 0.0], centre + [0.0, 150.0, 0.0]])
    uv = hp.frame_to_crop_uv(hp.xyz_to_uvd(pts)[:, :2], box, size)
    np.testing.assert_allclose(uv[0], [(w - 1) / 2, (h - 1) / 2], atol=1e-9)
    np.testing.assert_allclose(uv[1], [0.75 * w - 0.5, (h - 1) / 2], atol=1e-9)
    np.testing.assert_allclose(uv[2], [(w - 1) / 2, -0.5], atol=1e-9)  # top face of the cube: the top edge
    frame = rng.uniform(0, 640, (10, 2))
    np.testing.assert_allclose(hp.crop_to_frame_uv(hp.frame_to_crop_uv(frame, box, size), box, size), frame)
    xyz = centre + rng.uniform(-100, 100, (10, 3))
    back = hp.crop_uvd_to_xyz(hp.frame_to_crop_uv(hp.xyz_to_uvd(xyz)[:, :2], box, size), xyz[:, 2], box, size)
    np.testing.assert_allclose(back, xyz, atol=1e-9)


def test_pixel_rays_pass_through_the_pixels_the_labels_name() -> None:
    size = (32, 48)
    box = hp.crop_box(np.array([250.0, 260.0, 800.0]))
    sx, sy = hp.pixel_rays(box, size)  # (W,), (H,)
    r, c = np.meshgrid(np.arange(size[0]), np.arange(size[1]), indexing="ij")
    z = 700.0
    xyz = np.stack([sx[c] * z, sy[r] * z, np.full(r.shape, z)], -1).reshape(-1, 3)
    uv = hp.frame_to_crop_uv(hp.xyz_to_uvd(xyz)[:, :2], box, size)
    np.testing.assert_allclose(uv, np.stack([c.ravel(), r.ravel()], 1), atol=1e-9)


def test_normalize_depth_clamps_and_sends_missing_to_far_plane() -> None:
    d = np.array([[[700.0, 850.0, 550.0, 500.0, 0.0, np.inf, 851.0, np.nan]]])
    z = hp.normalize_depth(d, np.array([700.0]))
    np.testing.assert_allclose(z[0, 0], [0.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
    assert z.dtype == np.float32
    inside = np.array([[[600.0, 700.0, 777.0]]])
    np.testing.assert_allclose(
        hp.denormalize_depth(hp.normalize_depth(inside, 700.0), 700.0), inside, atol=1e-4
    )


def test_uint16_storage_matches_the_dataset_layer(rng: np.random.Generator) -> None:
    z = rng.uniform(-1.2, 1.2, (5, 7)).astype(np.float32)
    stored = hp.depth_to_uint16(z)
    np.testing.assert_array_equal(stored[:, :, None], from_float(z[None], "uint16"))
    np.testing.assert_allclose(to_float(stored[:, :, None])[0], np.clip(z, -1, 1), atol=2 / 65535)


def test_crop_hand_of_a_synthetic_frame() -> None:
    # A frame: a 60 mm-radius disc at 700 mm around the centre, nothing (0) elsewhere.
    centre = np.array([20.0, 10.0, 700.0])
    h0, w0 = hp.FRAME_SIZE
    v, u = np.mgrid[0:h0, 0:w0]
    pix = hp.uvd_to_xyz(np.stack([u, v, np.full(u.shape, 700.0)], -1))
    disc = np.hypot(pix[..., 0] - centre[0], pix[..., 1] - centre[1]) < 60.0
    frame = np.where(disc, 700.0, 0.0).astype(np.uint16)
    joints = np.stack([centre, centre + [0.0, 50.0, 0.0]])
    crop = hp.crop_hand(frame, joints, centre, size=(64, 64))
    assert crop.image.shape == (64, 64, 1) and crop.image.dtype == np.uint16
    zc = to_float(crop.image)[0]
    assert abs(zc[32, 32]) < 1e-3  # the disc sits at the centre depth -> 0
    assert zc[0, 0] == 1.0 and zc[-1, -1] == 1.0  # background -> far plane
    # The disc covers 60 mm of the 300 mm cube: radius 12.8 of 64 pixels.
    area = (zc < 0.5).sum()
    assert abs(area - np.pi * (64 * 60 / 300) ** 2) < 0.08 * area
    np.testing.assert_allclose(crop.uv, [[31.5, 31.5], [31.5, 31.5 - 64 * 50 / 300]], atol=1e-6)
    label = crop.label()
    assert set(label) == {"uv", "xyz", "centre_uvd", "crop_box"} and len(label["uv"]) == 2


def test_crop_hand_outside_the_frame_is_background() -> None:
    frame = np.full(hp.FRAME_SIZE, 650, dtype=np.uint16)
    centre = hp.uvd_to_xyz(np.array([5.0, 5.0, 650.0]))  # the box hangs off the top-left corner
    zc = to_float(hp.crop_hand(frame, centre[None], centre, size=(32, 32)).image)[0]
    assert zc[0, 0] == 1.0 and abs(zc[-1, -1]) < 1e-3


def test_crop_hand_rejects_bad_shapes() -> None:
    frame = np.zeros(hp.FRAME_SIZE)
    with pytest.raises(ValueError, match="depth frame"):
        hp.crop_hand(frame[0], np.zeros((14, 3)), np.array([0, 0, 700.0]))
    with pytest.raises(ValueError, match="joints"):
        hp.crop_hand(frame, np.zeros((14, 2)), np.array([0, 0, 700.0]))
    with pytest.raises(ValueError, match="z > 0"):
        hp.crop_hand(frame, np.zeros((14, 3)), np.array([0, 0, -1.0]))
