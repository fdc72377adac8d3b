"""The hands simulator: ray-casting, kinematics, labels against pixels, determinism, pseudo-real target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simgan import handpose as hp
from simgan.data import ImageDataset, open_dataset, to_float
from simgan.data.simgan_dir import mask_classes, read_mask
from simgan.errors import InputError
from simgan.sim import SIMULATORS, get_simulator, simulate
from simgan.sim.hand_model import (
    ANGLE_LIMITS,
    FINGERS,
    PARTS,
    forward_kinematics,
    sample_angles,
    sample_shape,
)
from simgan.sim.hands import (
    RayGrid,
    raycast_capsules,
    raycast_nearest,
    render_parts,
    render_scenes,
    sample_scenes,
)

SIM = get_simulator("hands")


def _angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unsigned angle between vectors (..., 3), robust near 0."""
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v), axis=-1), (u * v).sum(-1)))


def _stored_depth_mm(images: np.ndarray, labels: list[dict]) -> np.ndarray:
    """Decode stored uint16 crops (N, H, W, 1) back to mm with each label's centre depth."""
    z = np.stack([to_float(im)[0] for im in images])  # (N, H, W) in [-1, 1]
    return hp.denormalize_depth(z, np.array([lab["centre_uvd"][2] for lab in labels]))


# --- Ray-casting ------------------------------------------------------------------------------------


def test_sphere_known_depth_and_silhouette() -> None:
    centre, r = np.array([0.0, 0.0, 600.0]), 50.0
    a = centre.reshape(1, 1, 3)
    depth = raycast_capsules(a, a.copy(), np.array([[r]]), RayGrid.full_frame(1))[0]
    assert depth[int(hp.CY), int(hp.CX)] == pytest.approx(550.0, abs=1e-3)  # the optical axis hits the pole
    # Silhouette: a cone of half-angle asin(r / d), radius f tan(asin(r / d)) pixels.
    rad_px = np.sqrt(hp.FX * hp.FY) * np.tan(np.arcsin(r / 600.0))
    assert np.isfinite(depth).sum() == pytest.approx(np.pi * rad_px**2, rel=0.02)
    assert np.isinf(depth[0, 0])


def _march(
    a: np.ndarray, b: np.ndarray, r: np.ndarray, sx: np.ndarray, sy: np.ndarray, dt: float
) -> np.ndarray:
    """Reference depth by marching each ray in steps of dt and stopping inside the first capsule."""
    t = np.arange(500.0, 700.0, dt)  # (T,)
    rays = np.stack(np.broadcast_arrays(sx[None, :], sy[:, None], 1.0), -1)  # (H, W, 3)
    depth = np.full(rays.shape[:2], np.inf)
    for k in range(len(r)):
        ba = b[k] - a[k]
        for i in range(rays.shape[0]):  # one image row at a time keeps memory small
            p = t[None, :, None] * rays[i][:, None, :] - a[k]  # (W, T, 3)
            s = np.clip((p @ ba) / max(ba @ ba, 1e-12), 0.0, 1.0)
            inside = np.linalg.norm(p - s[..., None] * ba, axis=-1) <= r[k]
            first = np.where(inside.any(1), t[np.argmax(inside, axis=1)], np.inf)
            depth[i] = np.minimum(depth[i], first)
    return depth


def test_raycast_matches_ray_marching(rng: np.random.Generator) -> None:
    a = np.array([[-40.0, 10.0, 600.0], [10.0, -30.0, 580.0], [30.0, 40.0, 640.0], [-10.0, -50.0, 650.0]])
    b = np.array([[20.0, 30.0, 660.0], [50.0, -10.0, 540.0], [30.0, 40.0, 640.0], [-60.0, 40.0, 620.0]])
    r = np.array([15.0, 9.0, 22.0, 12.0])  # the third is a sphere (a == b)
    a, b = a + rng.uniform(-5, 5, a.shape), b + rng.uniform(-5, 5, b.shape)
    b[2] = a[2]
    box = hp.crop_box(np.array([hp.CX, hp.CY, 600.0]), 160.0)
    size = (32, 32)
    grid = RayGrid.from_box(box[None], size)
    fast = raycast_capsules(a[None], b[None], r[None], grid)[0]
    sx, sy = hp.pixel_rays(box, size)
    dt = 0.1
    ref = _march(a, b, r, sx, sy, dt)
    both = np.isfinite(fast) & np.isfinite(ref)
    assert (np.isfinite(fast) == np.isfinite(ref)).mean() > 0.99  # only grazing rays may disagree
    assert both.mean() > 0.15  # the scene is not empty
    err = ref[both] - fast[both]  # marching stops at most one step past the surface
    assert err.min() > -2e-3 and err.max() < dt + 2e-3


def test_batches_render_like_single_hands() -> None:
    scenes = sample_scenes(np.random.default_rng(12), 70)  # 70 > 64: two chunks at 128x128
    batch, _ = render_scenes(scenes, (128, 128))
    box = hp.crop_box(scenes.centre_uvd)
    g = scenes.geometry
    for i in (0, 69):
        one = raycast_capsules(
            g.a[i : i + 1], g.b[i : i + 1], g.radius[i : i + 1], RayGrid.from_box(box[i : i + 1], (128, 128))
        )
        np.testing.assert_array_equal(batch[i], one[0])


def test_raycast_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="expected a, b"):
        raycast_capsules(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), np.ones((1, 3)), RayGrid.full_frame(1))


def test_direct_crop_render_equals_cropping_a_full_frame() -> None:
    scenes = sample_scenes(np.random.default_rng(11), 1)
    g = scenes.geometry
    size = (64, 64)
    direct, box = render_scenes(scenes, size)
    full = raycast_capsules(g.a, g.b, g.radius, RayGrid.full_frame(1))[0]
    crop = hp.crop_hand(
        np.where(np.isfinite(full), full, 0.0), g.eval_xyz[0], hp.uvd_to_xyz(scenes.centre_uvd[0]), size=size
    )
    np.testing.assert_allclose(crop.box, box[0])
    z_direct = hp.normalize_depth(direct, scenes.centre_uvd[:, 2])[0]
    z_crop = to_float(crop.image)[0]
    fg_d, fg_c = z_direct < 1, z_crop < 1
    assert (fg_d & fg_c).sum() / (fg_d | fg_c).sum() > 0.9  # the same silhouette
    assert np.median(np.abs(z_direct - z_crop)[fg_d & fg_c]) * 150 < 1.0  # mm
    uv = hp.frame_to_crop_uv(hp.xyz_to_uvd(g.eval_xyz)[..., :2], box, size)[0]
    np.testing.assert_allclose(crop.uv, uv)


# --- Kinematics ---------------------------------------------------------------------------------------


def test_sampled_angles_stay_inside_their_limits_and_use_them() -> None:
    angles = sample_angles(np.random.default_rng(0), 20000)
    assert set(angles) == set(ANGLE_LIMITS)
    for name, (lo, hi) in ANGLE_LIMITS.items():
        x = angles[name]
        assert x.min() >= lo and x.max() <= hi, name
        assert x.max() - x.min() > 0.9 * (hi - lo), name  # the sampler reaches both ends


def test_bones_bend_by_the_labelled_angles() -> None:
    rng = np.random.default_rng(1)
    angles = sample_angles(rng, 300)
    p = forward_kinematics(sample_shape(rng, 300), angles).points
    for f in FINGERS:
        prox, mid, dist = (
            p[f"{f}_pip"] - p[f"{f}_mcp"],
            p[f"{f}_dip"] - p[f"{f}_pip"],
            p[f"{f}_tip"] - p[f"{f}_dip"],
        )
        np.testing.assert_allclose(_angle_deg(prox, mid), np.abs(angles[f"{f}_pip"]), atol=1e-6)
        np.testing.assert_allclose(_angle_deg(mid, dist), np.abs(angles[f"{f}_dip"]), atol=1e-6)
    meta, prox, dist = (
        p["thumb_mcp"] - p["thumb_cmc"],
        p["thumb_ip"] - p["thumb_mcp"],
        p["thumb_tip"] - p["thumb_ip"],
    )
    np.testing.assert_allclose(_angle_deg(meta, prox), np.abs(angles["thumb_mcp"]), atol=1e-6)
    np.testing.assert_allclose(_angle_deg(prox, dist), np.abs(angles["thumb_ip"]), atol=1e-6)


def test_camera_sees_a_right_hand() -> None:
    """In camera space (x right, y up, z forward) a right hand has (radial x distal) . palmar < 0: fingers up
    and palm to the camera (palmar = -z), its thumb side is on the right (+x). Palmar is where flexed
    fingers curl, so this checks the geometry, not just det(R) = 1."""
    scenes = sample_scenes(np.random.default_rng(2), 400)
    np.testing.assert_allclose(np.linalg.det(scenes.rotation), 1.0, atol=1e-9)
    p = scenes.geometry.points
    flexed = (scenes.angles["middle_mcp_flex"] > 30) & (scenes.angles["middle_pip"] > 30)
    assert flexed.sum() > 50
    radial = p["index_mcp"] - p["pinky_mcp"]
    distal = p["middle_mcp"] - p["wrist"]
    curl = p["middle_tip"] - p["middle_mcp"]
    assert ((np.cross(radial, distal) * curl).sum(-1)[flexed] < 0).all()


# --- Images and labels --------------------------------------------------------------------------------


def test_registered_with_the_dataset_contract() -> None:
    assert SIMULATORS["hands"] is SIM
    assert SIM.task == "handpose" and SIM.dtype == "uint16" and SIM.channels == 1
    assert SIM.default_size == (128, 128)
    assert SIM.check_size((224, 224)) == (224, 224)
    for bad in [(64, 32), (8, 8)]:
        with pytest.raises(InputError, match="square"):
            SIM.check_size(bad)
    with pytest.raises(InputError, match="--target"):
        SIM.render(np.random.default_rng(0), 1, (32, 32), "photoreal")


def test_same_seed_same_hands_different_seed_different() -> None:
    a_img, a_lab = SIM.render(np.random.default_rng(5), 6, (48, 48))
    b_img, b_lab = SIM.render(np.random.default_rng(5), 6, (48, 48))
    c_img, c_lab = SIM.render(np.random.default_rng(6), 6, (48, 48))
    assert a_img.shape == (6, 48, 48, 1) and a_img.dtype == np.uint16
    np.testing.assert_array_equal(a_img, b_img)
    assert a_lab == b_lab
    assert not np.array_equal(a_img, c_img) and a_lab != c_lab


def test_labels_schema_and_json(rng: np.random.Generator) -> None:
    _, labels = SIM.render(rng, 3, (32, 32))
    lab = labels[0]
    json.dumps(lab)
    assert np.asarray(lab["uv"]).shape == (14, 2) and np.asarray(lab["xyz"]).shape == (14, 3)
    assert len(lab["visible"]) == 14 and len(lab["joint_radius"]) == 14
    assert set(lab["angles"]) == set(ANGLE_LIMITS)
    for name, v in lab["angles"].items():
        assert ANGLE_LIMITS[name][0] <= v <= ANGLE_LIMITS[name][1]
    assert (
        np.asarray(lab["rotation"]).shape == (3, 3) and lab["target"] == "synthetic" and "kinect" not in lab
    )
    np.testing.assert_allclose(
        lab["xyz"][hp.CENTRE_EVAL_INDEX], hp.uvd_to_xyz(np.asarray(lab["centre_uvd"])), atol=0.02
    )


def test_rendered_depth_at_each_joint_lies_on_the_hand() -> None:
    """At each joint's labelled pixel the stored depth is hand (not background), never behind the
    joint's own sphere (z - radius), and for the joints not hidden by another part equal to it."""
    size = (128, 128)
    images, labels = SIM.render(np.random.default_rng(7), 32, size)
    depth = _stored_depth_mm(images, labels)  # (N, H, W)
    uv = np.array([lab["uv"] for lab in labels])  # (N, 14, 2)
    xyz = np.array([lab["xyz"] for lab in labels])
    radius = np.array([lab["joint_radius"] for lab in labels])
    zc = np.array([lab["centre_uvd"][2] for lab in labels])[:, None]
    c, r = np.rint(uv[..., 0]).astype(int), np.rint(uv[..., 1]).astype(int)
    inside = (c >= 0) & (c < size[1]) & (r >= 0) & (r < size[0])
    assert inside.mean() > 0.99
    n = np.arange(len(labels))[:, None]
    seen = depth[n, np.clip(r, 0, size[0] - 1), np.clip(c, 0, size[1] - 1)]  # (N, 14)
    skin = np.maximum(xyz[..., 2] - radius, zc - 150.0)  # the joint's own surface, clamped like the image
    assert (seen[inside] < zc.repeat(14, 1)[inside] + 150.0 - 1e-3).all()  # not the far plane
    assert (seen[inside] <= skin[inside] + 1.0).all()  # nothing renders behind the joint's own sphere
    on_own = np.abs(seen - skin) <= 1.0
    assert on_own[inside].mean() > 0.4  # most joints are seen directly, to within 1 mm
    visible = np.array([lab["visible"] for lab in labels])
    assert (on_own[inside] <= visible[inside]).all()  # a joint seen within 1 mm is labelled visible


def test_pseudo_real_breaks_the_silhouette_of_the_same_hands() -> None:
    size = (96, 96)
    syn, syn_lab = SIM.render(np.random.default_rng(4), 12, size, "synthetic")
    real, real_lab = SIM.render(np.random.default_rng(4), 12, size, "pseudo-real")
    assert [lab["xyz"] for lab in syn_lab] == [lab["xyz"] for lab in real_lab]  # the same hands
    assert real_lab[0]["target"] == "pseudo-real" and real_lab[0]["kinect"]["baseline_mm"] == 75.0
    assert 0.25 <= real_lab[0]["kinect"]["edge_hole_rate"] <= 0.6
    fg = syn[..., 0] < 65535  # (N, H, W) hand pixels of the synthetic render
    pad = np.pad(fg, ((0, 0), (1, 1), (1, 1)))
    core = fg & pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1] & pad[:, 1:-1, :-2] & pad[:, 1:-1, 2:]
    band = fg & ~core  # the silhouette: hand pixels with a background neighbour
    hole = real[..., 0] == 65535
    assert not (syn[..., 0] == 65535)[band].any()
    assert hole[band].mean() > 0.15
    assert hole[band].mean() > 3 * hole[core].mean()


def test_simulate_writes_a_handpose_dataset(tmp_path: Path) -> None:
    info = simulate("hands", 3, tmp_path / "a", seed=3, size=(32, 32), progress=False)
    assert (info.count, info.height, info.width, info.channels, info.dtype, info.task) == (
        3,
        32,
        32,
        1,
        "uint16",
        "handpose",
    )
    ds = ImageDataset(open_dataset(tmp_path / "a"))
    image, target = ds[0]
    assert tuple(image.shape) == (1, 32, 32) and tuple(target.shape) == (14, 2)
    assert float(image.max()) == 1.0 and float(image.min()) < 0.5  # background far plane and a hand
    simulate("hands", 3, tmp_path / "b", seed=3, size=(32, 32), progress=False)
    simulate("hands", 3, tmp_path / "c", seed=4, size=(32, 32), progress=False)
    labels = {d: (tmp_path / d / "labels.jsonl").read_text() for d in "abc"}
    assert labels["a"] == labels["b"] != labels["c"]
    src_a, src_b = open_dataset(tmp_path / "a"), open_dataset(tmp_path / "b")
    np.testing.assert_array_equal(src_a.read(2).image, src_b.read(2).image)


# --- Part masks ---------------------------------------------------------------------------------------


def test_raycast_nearest_is_the_argmin_of_single_capsule_renders(rng: np.random.Generator) -> None:
    a = np.array([[-40.0, 10.0, 600.0], [10.0, -30.0, 580.0], [30.0, 40.0, 640.0], [-10.0, -50.0, 650.0]])
    b = np.array([[20.0, 30.0, 660.0], [50.0, -10.0, 540.0], [30.0, 40.0, 640.0], [-60.0, 40.0, 620.0]])
    r = np.array([15.0, 9.0, 22.0, 12.0])
    a, b = a + rng.uniform(-5, 5, a.shape), b + rng.uniform(-5, 5, b.shape)
    b[2] = a[2]  # a sphere
    grid = RayGrid.from_box(hp.crop_box(np.array([hp.CX, hp.CY, 600.0]), 160.0)[None], (32, 32))
    depth, index = raycast_nearest(a[None], b[None], r[None], grid)
    np.testing.assert_array_equal(depth, raycast_capsules(a[None], b[None], r[None], grid))  # bit for bit
    alone = np.stack(
        [
            raycast_capsules(a[None, k : k + 1], b[None, k : k + 1], r[None, k : k + 1], grid)[0]
            for k in range(4)
        ]
    )
    expected = np.where(np.isfinite(alone.min(0)), alone.argmin(0), -1)  # (H, W)
    np.testing.assert_array_equal(index[0], expected)
    assert set(np.unique(index)) == {-1, 0, 1, 2, 3}  # every capsule is seen somewhere, and background


def test_parts_name_every_capsule() -> None:
    shape, angles = sample_shape(np.random.default_rng(0), 2), sample_angles(np.random.default_rng(0), 2)
    g = forward_kinematics(shape, angles)
    assert PARTS[0] == "background" and PARTS[1] == "palm" and PARTS[-1] == "forearm" and len(PARTS) == 18
    assert g.part.shape == (g.radius.shape[1],) and g.part.dtype == np.uint8
    assert sorted(set(g.part.tolist())) == list(range(1, len(PARTS)))  # every part has a capsule
    for f in ("thumb", *FINGERS):
        assert (g.part == PARTS.index(f"{f}_distal")).sum() == 1  # one capsule per finger segment


def test_masks_agree_with_the_depth() -> None:
    size = (64, 64)
    images, labels, masks = SIM.render_with_masks(np.random.default_rng(5), 48, size)
    plain, plain_labels = SIM.render(np.random.default_rng(5), 48, size)
    np.testing.assert_array_equal(images, plain)  # masks cost no random draw: the same hands
    assert labels == plain_labels
    assert masks.shape == (48, *size) and masks.dtype == np.uint8 and int(masks.max()) < len(PARTS)
    np.testing.assert_array_equal(masks == 0, images[..., 0] == 65535)  # background is background in both
    assert set(np.unique(masks)) == set(range(len(PARTS)))  # every part shows up in 48 hands
    # A visible fingertip's pixel shows its finger's distal segment (a neighbour within the 2 mm of the
    # visibility test may rarely be in front).
    uv = np.rint([lab["uv"] for lab in labels]).astype(int)  # (N, 14, 2)
    visible = np.array([lab["visible"] for lab in labels])
    n = np.arange(48)[:, None]
    seen = masks[n, np.clip(uv[..., 1], 0, 63), np.clip(uv[..., 0], 0, 63)]  # (N, 14)
    for f in ("thumb", *FINGERS):
        j = hp.EVAL_JOINT_NAMES.index(f"{f}_tip")
        assert (seen[visible[:, j], j] == PARTS.index(f"{f}_distal")).mean() >= 0.95, f


def test_every_pixel_the_index_tip_segment_hits_first_gets_its_id() -> None:
    scenes = sample_scenes(np.random.default_rng(2), 16)
    size = (64, 64)
    depth, box, part = render_parts(scenes, size)
    g = scenes.geometry
    k = int(np.flatnonzero(g.part == PARTS.index("index_distal"))[0])
    alone = raycast_capsules(
        g.a[:, k : k + 1], g.b[:, k : k + 1], g.radius[:, k : k + 1], RayGrid.from_box(box, size)
    )
    first = np.isfinite(alone) & (alone == depth)  # (N, H, W) the index's distal segment is the nearest
    assert first.sum() > 20
    assert (part[first] == PARTS.index("index_distal")).all()
    assert (part[np.isinf(depth)] == 0).all() and (part[np.isfinite(depth)] > 0).all()


def test_pseudo_real_masks_are_the_clean_hands() -> None:
    syn, _, syn_masks = SIM.render_with_masks(np.random.default_rng(4), 8, (32, 32), "synthetic")
    real, _, real_masks = SIM.render_with_masks(np.random.default_rng(4), 8, (32, 32), "pseudo-real")
    np.testing.assert_array_equal(syn_masks, real_masks)
    assert not np.array_equal(syn, real)


def test_simulate_writes_masks_beside_the_images(tmp_path: Path) -> None:
    info = simulate("hands", 5, tmp_path / "a", seed=3, size=(32, 32), progress=False)
    simulate("hands", 5, tmp_path / "b", seed=3, size=(32, 32), progress=False)
    src = open_dataset(tmp_path / "a")
    assert mask_classes(src) == PARTS and info.extra["mask_classes"] == list(PARTS)
    line = json.loads((tmp_path / "a" / "labels.jsonl").read_text().splitlines()[4])
    assert line["mask"] == "masks/00000004.png" and "mask" not in line["label"]
    images, labels, masks = SIM.render_with_masks(np.random.default_rng([3, 0]), 256, (32, 32))
    for i in range(5):
        np.testing.assert_array_equal(read_mask(src, i), masks[i])
        assert src.label(i) == json.loads(json.dumps(labels[i]))
    for i in range(5):  # the same seed, the same bytes
        name = f"masks/{i:08d}.png"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
