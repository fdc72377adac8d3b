"""The ``hands`` simulator: depth images of a kinematic hand, cropped and normalised like NYU hand pose.

Each sample is a random right hand (:mod:`simgan.sim.hand_model`: shape, pose within anatomical joint
limits, wrist and forearm) under a random global rotation, its palm centre at a random pixel of a
640x480 NYU Kinect frame and 500-900 mm away. It is ray-cast (:func:`raycast_capsules`) straight into
the NYU hand crop (:mod:`simgan.handpose`: the 300 mm cube around the palm centre, depth clamped to the
centre +/- 150 mm, background at the far plane, [-1, 1] stored as uint16), one ray per stored pixel,
so the crop costs nothing extra and any square size works (128x128 default, 224x224 as in SimGAN).

``--target pseudo-real`` adds the Kinect-like degradation of :mod:`simgan.sim.kinect_noise` to the same
hands (the hand parameters are drawn first, so a seed gives the same hands in both targets). That target
is a simulated stand-in for real sensor data for experiments, not real data.

Label (JSON, task ``handpose``):

    uv           14 x [u, v]: the NYU evaluation joints (simgan.handpose.EVAL_JOINT_NAMES) in the stored
                 image's pixel-index coordinates (pixel image[r, c] is centred on u = c, v = r)
    xyz          14 x [x, y, z]: the same joints in camera space, mm (skeletal joint centres: a joint
                 lies below the skin by its joint radius)
    joint_radius 14 radii (mm) of the sphere centred on each joint (see visible)
    visible      14 booleans: the rendered surface at the joint's pixel is the joint's own sphere
                 (depth within 2 mm of z - joint_radius), i.e. not hidden by another part; a joint
                 can lie outside the image (a fingertip beyond the 300 mm cube, about 0.3% of hands)
    centre_uvd   the crop centre (palm centre, NYU joint 32): u, v in 640x480 frame pixels, d in mm
    crop_box     [u0, v0, u1, v1]: the crop in continuous 640x480 frame pixels
    angles       joint angles in degrees, name -> value (simgan.sim.hand_model.ANGLE_LIMITS)
    shape        hand size and proportions (simgan.sim.hand_model.HandShape)
    rotation     3x3 matrix, hand frame -> camera frame; rotation_deg: {roll, pitch, yaw} it was built from
    target       synthetic | pseudo-real; kinect: the degradation parameters (pseudo-real only)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from simgan import handpose
from simgan.errors import InputError
from simgan.sim.hand_model import (
    PARTS,
    HandGeometry,
    HandShape,
    forward_kinematics,
    rot_x,
    rot_y,
    rot_z,
    sample_angles,
    sample_shape,
)
from simgan.sim.kinect_noise import DEFAULT, KinectNoise, degrade_depth
from simgan.sim.registry import Simulator, register_simulator

__all__ = [
    "RayGrid",
    "raycast_capsules",
    "raycast_nearest",
    "HandScene",
    "sample_scenes",
    "render_scenes",
    "render_parts",
    "part_masks",
    "HandsSimulator",
]

_VISIBLE_TOL_MM = 2.0
_CHUNK_PIXELS = 1 << 20
_INDEX_BITS = 16  # raycast_nearest's keys: the capsule index in the low bits
_NO_CAPSULE = (1 << _INDEX_BITS) - 1


@dataclass(frozen=True)
class RayGrid:
    """Rays of a regular pixel grid per image: pixel ``[r, c]`` of image ``i`` looks along
    ``(sx0[i] + c * dsx[i], sy0[i] + r * dsy[i], 1)`` from the camera centre (slopes x/z and y/z).

    Requires ``dsx > 0`` and ``dsy < 0`` (u to the right, v down, y up), as every camera grid here has.
    """

    sx0: np.ndarray  # (N,)
    dsx: np.ndarray  # (N,)
    sy0: np.ndarray  # (N,)
    dsy: np.ndarray  # (N,)
    height: int
    width: int

    @classmethod
    def from_box(cls, box: np.ndarray, size: tuple[int, int]) -> RayGrid:
        """The stored crop's pixels (``simgan.handpose.pixel_rays``) for crop boxes (N, 4)."""
        box = np.asarray(box, dtype=np.float64)
        h, w = size
        sx, sy = handpose.pixel_rays(box, size)  # (N, W), (N, H)
        dsx = (box[:, 2] - box[:, 0]) / w / handpose.FX  # one stored pixel, as a slope
        dsy = -(box[:, 3] - box[:, 1]) / h / handpose.FY
        return cls(sx[:, 0], dsx, sy[:, 0], dsy, h, w)

    def images(self, index: slice) -> RayGrid:
        """The rays of a subset of the images."""
        return RayGrid(
            self.sx0[index], self.dsx[index], self.sy0[index], self.dsy[index], self.height, self.width
        )

    @classmethod
    def full_frame(cls, n: int) -> RayGrid:
        """Every pixel of an NYU 640x480 frame (pixel-index coordinates), for N images."""
        one = np.ones(n)
        h, w = handpose.FRAME_SIZE
        return cls(
            -handpose.CX / handpose.FX * one,
            one / handpose.FX,
            handpose.CY / handpose.FY * one,
            -one / handpose.FY,
            h,
            w,
        )


def _screen_bounds(a: np.ndarray, b: np.ndarray, radius: np.ndarray, grid: RayGrid) -> np.ndarray:
    """Conservative pixel bounds ``[r0, r1, c0, c1]`` (inclusive, clipped; empty when r0 > r1 or c0 > c1)
    of each capsule's projection: the box around both end spheres, seen through the pinhole.

    Shape:
        a, b: (N, K, 3); radius: (N, K) -> (N, K, 4) int64.
    """
    r = radius[..., None]
    lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r  # (N, K, 3) axis-aligned box
    zlo = np.maximum(lo[..., 2], 1.0)  # parts behind the camera are not drawn (hi z <= 1 -> empty below)
    zhi = np.maximum(hi[..., 2], zlo)
    # x / z over the box is extreme at its corners (z > 0).
    sx = np.stack([lo[..., 0] / zlo, lo[..., 0] / zhi, hi[..., 0] / zlo, hi[..., 0] / zhi], -1)
    sy = np.stack([lo[..., 1] / zlo, lo[..., 1] / zhi, hi[..., 1] / zlo, hi[..., 1] / zhi], -1)
    sx0, dsx = grid.sx0[:, None], grid.dsx[:, None]
    sy0, dsy = grid.sy0[:, None], grid.dsy[:, None]
    c0 = np.ceil((sx.min(-1) - sx0) / dsx)
    c1 = np.floor((sx.max(-1) - sx0) / dsx)
    r0 = np.ceil((sy.max(-1) - sy0) / dsy)  # dsy < 0: the top row sees the largest y / z
    r1 = np.floor((sy.min(-1) - sy0) / dsy)
    out = np.stack(
        [
            np.maximum(r0, 0),
            np.minimum(r1, grid.height - 1),
            np.maximum(c0, 0),
            np.minimum(c1, grid.width - 1),
        ],
        -1,
    )
    out[hi[..., 2] <= 1.0] = (1, 0, 1, 0)
    return out.astype(np.int64)


def _ladder(limit: int) -> np.ndarray:
    """Box sizes 1, 2, 3, 4, 6, 8, 12, ... up to ``limit`` (then ``limit`` itself): at most 1.5x padding."""
    sizes = {min(m << k, limit) for k in range(max(limit, 1).bit_length() + 1) for m in (2, 3)}
    return np.array(sorted(sizes | {1}), dtype=np.int64)


def raycast_capsules(a: np.ndarray, b: np.ndarray, radius: np.ndarray, grid: RayGrid) -> np.ndarray:
    """Depth (z, mm) of the nearest capsule along each pixel's ray; ``inf`` where a ray hits nothing.

    Images go in chunks of about a million pixels. Within a chunk each capsule is tested only against
    the pixels of its screen-space bounding box. Boxes are padded
    to a few standard sizes (at most 1.5x per side) and every capsule of a size class, over the whole
    batch, is tested at once as one (capsules, rows, cols) array; the nearest hit per pixel is a
    scatter-min into the output. Per-capsule constants broadcast, and the ray terms that depend only
    on the column or only on the row are computed once per line. The ray-capsule test is the analytic
    one: the nearer root against the capsule's infinite cylinder if it lands between the two ends,
    otherwise the nearer root against the end sphere on that side (a sphere is a capsule with
    ``a == b``). The ray direction ``(sx, sy, 1)`` has unit z, so the ray parameter *is* the depth z.

    Args:
        a: first end of each capsule, camera space (mm).
        b: second end.
        radius: capsule radii (mm).
        grid: the pixel rays.

    Returns:
        depth (N, H, W) float32.

    Shape:
        a, b: (N, K, 3); radius: (N, K).
    """
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or radius.shape != a.shape[:2]:
        raise ValueError(
            f"expected a, b (N, K, 3) and radius (N, K), got {a.shape}, {b.shape}, {radius.shape}"
        )
    return _raycast(a, b, radius, grid, with_index=False)[0]


def raycast_nearest(
    a: np.ndarray, b: np.ndarray, radius: np.ndarray, grid: RayGrid
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`raycast_capsules` that also says which capsule each ray hit first.

    The depth is the same, bit for bit. The scatter-min runs on one int64 key per hit, the depth's float32
    bits (mapped to an order-preserving integer) above the capsule's index, so the smallest key is the
    nearest hit and, where two capsules meet a ray at exactly the same depth (two bones sharing a joint
    sphere), the one listed first.

    Returns:
        depth (N, H, W) float32 (``inf`` = no hit) and index (N, H, W) int64: the capsule (0..K-1) each
        ray hit first, -1 where it hit none.

    Shape:
        a, b: (N, K, 3); radius: (N, K); K < 65535.
    """
    if radius.ndim == 2 and radius.shape[1] >= _NO_CAPSULE:
        raise ValueError(f"at most {_NO_CAPSULE - 1} capsules per image, got {radius.shape[1]}")
    depth, index = _raycast(a, b, radius, grid, with_index=True)
    assert index is not None
    return depth, index


def _depth_keys(depth: np.ndarray, capsule: np.ndarray) -> np.ndarray:
    """Order-preserving int64 keys of (depth, capsule): float32 bits (sign-folded) above 16 index bits."""
    bits = depth.astype(np.float32).view(np.int32)
    ordered = np.where(bits >= 0, bits, bits ^ np.int32(0x7FFFFFFF)).astype(np.int64)
    return (ordered << _INDEX_BITS) | capsule.astype(np.int64)


def _split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`_depth_keys`: (depth float32, capsule int64 with -1 for no hit)."""
    ordered = (keys >> _INDEX_BITS).astype(np.int32)
    depth = np.where(ordered >= 0, ordered, ordered ^ np.int32(0x7FFFFFFF)).view(np.float32)
    capsule = keys & _NO_CAPSULE
    return depth, np.where(capsule == _NO_CAPSULE, -1, capsule)


def _raycast(
    a: np.ndarray, b: np.ndarray, radius: np.ndarray, grid: RayGrid, with_index: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The ray-caster of :func:`raycast_capsules` (docstring there); with ``with_index`` it also returns
    the nearest capsule per pixel (:func:`raycast_nearest`)."""
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or radius.shape != a.shape[:2]:
        raise ValueError(
            f"expected a, b (N, K, 3) and radius (N, K), got {a.shape}, {b.shape}, {radius.shape}"
        )
    n, h, w = radius.shape[0], grid.height, grid.width
    # About a million pixels at a time keeps the per-size-class temporaries in cache (1.5x faster).
    step = max(1, _CHUNK_PIXELS // (h * w))
    if n > step:
        parts = [
            _raycast(
                a[i : i + step],
                b[i : i + step],
                radius[i : i + step],
                grid.images(slice(i, i + step)),
                with_index,
            )
            for i in range(0, n, step)
        ]
        index = np.concatenate([p[1] for p in parts]) if with_index else None  # type: ignore[misc]
        return np.concatenate([p[0] for p in parts]), index
    k = radius.shape[1]
    if with_index:  # the nearest hit's key: no hit is inf with no capsule
        nearest = np.full(n * h * w, _depth_keys(np.array(np.inf), np.array(_NO_CAPSULE)), dtype=np.int64)
    else:
        nearest = np.full(n * h * w, np.inf, dtype=np.float32)
    bounds = _screen_bounds(a, b, radius, grid).reshape(n * k, 4)
    keep = np.flatnonzero((bounds[:, 1] >= bounds[:, 0]) & (bounds[:, 3] >= bounds[:, 2]))
    if keep.size == 0:
        return _finish(nearest, with_index, (n, h, w))
    img = keep // k  # (M,) image of each kept capsule
    bounds = bounds[keep]
    # Pad each box to a standard size, shifted back inside the image where the padding would leave it.
    lad_h, lad_w = _ladder(h), _ladder(w)
    bh = lad_h[np.searchsorted(lad_h, bounds[:, 1] - bounds[:, 0] + 1)]
    bw = lad_w[np.searchsorted(lad_w, bounds[:, 3] - bounds[:, 2] + 1)]
    r0 = np.minimum(bounds[:, 0], h - bh)
    c0 = np.minimum(bounds[:, 2], w - bw)

    # Per-capsule constants (float64, then float32 for the per-pixel arithmetic). Each ray starts at
    # depth t0 near its capsule instead of at the camera, so the float32 quadratic works with numbers
    # of the capsule's size rather than its distance (0.001 mm instead of 0.1 mm errors at grazing rays).
    pa = a.reshape(n * k, 3)[keep]
    ba = b.reshape(n * k, 3)[keep] - pa  # (M, 3) axis
    consts = np.stack(
        [
            grid.sx0[img] + c0 * grid.dsx[img],  # slope of the box's first column
            grid.dsx[img],
            grid.sy0[img] + r0 * grid.dsy[img],  # slope of the box's first row
            grid.dsy[img],
            pa[:, 2] + 0.5 * ba[:, 2],  # t0: the capsule's middle depth
            *pa.T,
            *ba.T,
            (ba * ba).sum(1),
            radius.reshape(n * k)[keep] ** 2,
        ]
    ).astype(np.float32)  # (13, M)
    base = img * (h * w) + r0 * w + c0  # (M,) flat output index of each box's first pixel
    size_class = bh * (w + 1) + bw
    for cls in np.unique(size_class):
        sel = np.flatnonzero(size_class == cls)
        hb, wb = int(bh[sel[0]]), int(bw[sel[0]])
        sx0, dsx, sy0, dsy, t0, ax, ay, az, bax, bay, baz, baba, rr = consts[:, sel, None, None]  # (m, 1, 1)
        rx = sx0 + np.arange(wb, dtype=np.float32)[None, None, :] * dsx  # (m, 1, wb) ray (rx, ry, 1)
        ry = sy0 + np.arange(hb, dtype=np.float32)[None, :, None] * dsy  # (m, hb, 1)
        ox, oy, oz = t0 * rx - ax, t0 * ry - ay, t0 - az  # ray start minus a, per column / row / capsule
        with np.errstate(invalid="ignore", divide="ignore"):
            # Terms that are sums of a per-column and a per-row part: one full-size add each.
            rdrd = (rx * rx + 1.0) + ry * ry  # (m, hb, wb) |rd|^2
            bard = (bax * rx + baz) + bay * ry  # rd . ba
            rdoa = (rx * ox + oz) + ry * oy  # rd . oa
            baoa = (bax * ox + baz * oz) + bay * oy  # ba . oa
            oaoa = (ox * ox + oz * oz) + oy * oy  # |oa|^2
            # Cylinder: |oa + t rd|^2 - ((oa + t rd) . ba)^2 / baba = r^2, times baba; half-b form.
            qa = baba * rdrd - bard * bard
            qb = baba * rdoa - baoa * bard
            disc = qb * qb - qa * (baba * (oaoa - rr) - baoa * baoa)
            t = (-qb - np.sqrt(disc)) / qa
            along = baoa + t * bard  # (hit - a) . ba: inside the segment when 0 < along < baba
            on_side = (disc >= 0) & (along > 0) & (along < baba)
            # Otherwise the end sphere on the side the cylinder hit fell (a sphere: always the end at a).
            use_b = along > 0
            bs = np.where(use_b, rdoa - bard, rdoa)  # rd . (start - centre)
            cs = np.where(use_b, oaoa - 2.0 * baoa + baba, oaoa) - rr  # |start - centre|^2 - r^2
            dsph = bs * bs - rdrd * cs
            tsph = (-bs - np.sqrt(dsph)) / rdrd
            hit = t0 + np.where(on_side, t, np.where((disc >= 0) & (dsph >= 0), tsph, np.float32(np.inf)))
        pixel = base[sel, None, None] + (np.arange(hb) * w)[None, :, None] + np.arange(wb)[None, None, :]
        found = np.isfinite(hit)
        if with_index:
            capsule = np.broadcast_to((keep[sel] % k)[:, None, None], found.shape)
            np.minimum.at(nearest, pixel[found], _depth_keys(hit[found], capsule[found]))
        else:
            np.minimum.at(nearest, pixel[found], hit[found])
    return _finish(nearest, with_index, (n, h, w))


def _finish(
    nearest: np.ndarray, with_index: bool, shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The scatter-min's result as depth (N, H, W) and, with ``with_index``, the capsule index."""
    if not with_index:
        return nearest.reshape(shape), None
    depth, capsule = _split_keys(nearest)
    return depth.reshape(shape), capsule.reshape(shape)


@dataclass(frozen=True)
class HandScene:
    """Everything random about N hands, drawn before any pixel.

    Attributes:
        shape: sizes and proportions.
        angles: joint angles, name -> (N,) degrees.
        rotation_deg: (N, 3) roll (about the optical axis), pitch (about camera x), yaw (about camera y).
        rotation: (N, 3, 3) hand frame -> camera frame, ``Rz(roll) @ Rx(pitch) @ Ry(yaw)``.
        centre_uvd: (N, 3) the palm centre in frame pixels and mm.
        geometry: skeleton and capsules in camera space (mm).
    """

    shape: HandShape
    angles: dict[str, np.ndarray]
    rotation_deg: np.ndarray
    rotation: np.ndarray
    centre_uvd: np.ndarray
    geometry: HandGeometry


def _sample_rotations(rng: np.random.Generator, forearm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random views: any turn of the palm (yaw), tilt (pitch) -50..40 degrees, in-plane roll -110..110
    degrees from fingers-up; redrawn (up to 8 times) while the forearm points toward the camera, which
    an arm reaching out from a body in front of a Kinect does not do.

    Shape:
        forearm: (N, 3) wrist -> elbow in the hand frame -> euler (N, 3) degrees, rotation (N, 3, 3).
    """
    n = forearm.shape[0]
    euler = np.zeros((n, 3))
    todo = np.arange(n)
    for _ in range(8):
        m = todo.size
        euler[todo] = np.stack(
            [rng.uniform(-110, 110, m), rng.uniform(-50, 40, m), rng.uniform(-180, 180, m)], 1
        )
        rot = rot_z(euler[todo, 0]) @ rot_x(euler[todo, 1]) @ rot_y(euler[todo, 2])
        toward = np.einsum("nij,nj->ni", rot, forearm[todo])[:, 2] / np.linalg.norm(forearm[todo], axis=1)
        todo = todo[toward < -0.3]
        if todo.size == 0:
            break
    return euler, rot_z(euler[:, 0]) @ rot_x(euler[:, 1]) @ rot_y(euler[:, 2])


def sample_scenes(rng: np.random.Generator, n: int) -> HandScene:
    """Draw N hands: shape, pose, view, and a palm centre at pixel (220..420, 160..320), 500..900 mm away."""
    shape = sample_shape(rng, n)
    angles = sample_angles(rng, n)
    local = forward_kinematics(shape, angles)
    euler, rotation = _sample_rotations(rng, local.points["elbow"] - local.points["wrist"])
    centre_uvd = np.stack([rng.uniform(220, 420, n), rng.uniform(160, 320, n), rng.uniform(500, 900, n)], 1)
    geometry = local.transformed(rotation, local.points["palm_centre"], handpose.uvd_to_xyz(centre_uvd))
    return HandScene(shape, angles, euler, rotation, centre_uvd, geometry)


def render_scenes(
    scenes: HandScene, size: tuple[int, int], cube_mm: float = handpose.CUBE_MM
) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast the hands into their NYU crops.

    Returns:
        depth in mm (N, H, W) float32 (``inf`` = background, before clamping) and the crop boxes (N, 4).
    """
    box = handpose.crop_box(scenes.centre_uvd, cube_mm)
    g = scenes.geometry
    return raycast_capsules(g.a, g.b, g.radius, RayGrid.from_box(box, size)), box


def render_parts(
    scenes: HandScene, size: tuple[int, int], cube_mm: float = handpose.CUBE_MM
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`render_scenes` (the same depth, bit for bit) plus the part each pixel's ray hit first.

    Returns:
        depth in mm (N, H, W) float32, the crop boxes (N, 4) and part ids (N, H, W) uint8
        (:data:`simgan.sim.hand_model.PARTS`; 0 where the ray hit nothing, before the far-plane clamp).
    """
    box = handpose.crop_box(scenes.centre_uvd, cube_mm)
    g = scenes.geometry
    depth, capsule = raycast_nearest(g.a, g.b, g.radius, RayGrid.from_box(box, size))
    part = np.where(capsule >= 0, g.part[np.maximum(capsule, 0)], 0).astype(np.uint8)
    return depth, box, part


def part_masks(part: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """The masks as stored: each pixel's part id, 0 wherever the stored depth is the background value.

    A ray that hits the hand beyond the crop's far face is stored as background (the far plane), so its
    mask is 0 too: mask 0 and stored background mean the same pixels.

    Shape:
        part: (N, H, W) uint8 (:func:`render_parts`); stored: (N, H, W, 1) uint16 clean crops ->
        (N, H, W) uint8.
    """
    return np.where(stored[..., 0] == np.iinfo(np.uint16).max, 0, part).astype(np.uint8)


def _joint_visibility(depth: np.ndarray, uv: np.ndarray, xyz: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Whether the surface seen at each joint's pixel is the joint's own sphere (within 2 mm); False for
    a joint outside the image.

    Shape:
        depth: (N, H, W); uv: (N, J, 2); xyz: (N, J, 3); radius: (N, J) -> (N, J) bool.
    """
    n, h, w = depth.shape
    c, r = np.rint(uv[..., 0]).astype(np.int64), np.rint(uv[..., 1]).astype(np.int64)
    inside = (c >= 0) & (c < w) & (r >= 0) & (r < h)
    seen = depth[np.arange(n)[:, None], np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)]  # (N, J)
    return inside & (np.abs(seen - (xyz[..., 2] - radius)) <= _VISIBLE_TOL_MM)


def _r(x: np.ndarray, nd: int) -> Any:
    return np.round(x, nd).tolist()


@register_simulator("hands")
class HandsSimulator(Simulator):
    """Depth images of a kinematic hand in NYU hand pose crops (module docstring)."""

    task: ClassVar[str] = "handpose"
    default_size: ClassVar[tuple[int, int]] = (128, 128)
    channels: ClassVar[int] = 1
    dtype: ClassVar[str] = "uint16"
    noise: ClassVar[KinectNoise] = DEFAULT
    mask_classes: ClassVar[tuple[str, ...]] = PARTS
    label_schema: ClassVar[dict[str, Any]] = {
        "uv": "14 NYU evaluation joints (simgan.handpose.EVAL_JOINT_NAMES), pixel-index [u, v], stored image",
        "xyz": "the same joints in camera space (mm; x right, y up, z forward), skeletal joint centres",
        "joint_radius": "radius (mm) of the sphere centred on each joint",
        "visible": "per joint: the surface at its pixel is its own sphere (not hidden by another part)",
        "centre_uvd": "crop centre (palm centre, NYU joint 32): u, v in 640x480 frame pixels, d in mm",
        "crop_box": "crop [u0, v0, u1, v1] in continuous 640x480 frame pixels",
        "angles": "joint angles in degrees (simgan.sim.hand_model.ANGLE_LIMITS)",
        "shape": "hand size and proportions (simgan.sim.hand_model.HandShape)",
        "rotation": "3x3 hand frame -> camera frame; rotation_deg: roll, pitch, yaw it was built from",
        "target": "synthetic or pseudo-real; kinect: the degradation parameters (pseudo-real only)",
        "depth": "stored uint16 0..65535 = (depth - d) / 150 mm in [-1, 1], background +1",
    }

    def check_size(self, size: tuple[int, int]) -> tuple[int, int]:
        h, w = size
        if h != w or h < 16:
            raise InputError(f"--size {h}x{w}: the hands simulator renders square crops of at least 16x16")
        return h, w

    def render(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[Any]]:
        """Render N hands; the hand parameters come first from ``rng``, so both targets share them.

        Returns:
            images (N, H, W, 1) uint16 and N labels (module docstring).
        """
        images, labels, _ = self._render(rng, n, size, target, masks=False)
        return images, labels

    def render_with_masks(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[Any], np.ndarray]:
        """:meth:`render` (the same images and labels from the same ``rng``) plus each image's part mask.

        The mask is the clean render's in both targets (:func:`part_masks`): the hand's true parts, so
        under ``pseudo-real`` a sensor hole can lie on a part.

        Returns:
            images (N, H, W, 1) uint16, N labels and masks (N, H, W) uint8 (:data:`mask_classes`).
        """
        images, labels, masks = self._render(rng, n, size, target, masks=True)
        assert masks is not None
        return images, labels, masks

    def _render(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str, masks: bool
    ) -> tuple[np.ndarray, list[Any], np.ndarray | None]:
        if target not in ("synthetic", "pseudo-real"):
            raise InputError(f"--target {target}: the hands simulator knows synthetic and pseudo-real")
        h, w = self.check_size(size)
        scenes = sample_scenes(rng, n)
        if masks:
            depth, box, part = render_parts(scenes, (h, w))
        else:
            (depth, box), part = render_scenes(scenes, (h, w)), None
        g = scenes.geometry
        xyz = g.eval_xyz  # (N, 14, 3)
        uv = handpose.frame_to_crop_uv(handpose.xyz_to_uvd(xyz)[..., :2], box, (h, w))  # (N, 14, 2)
        visible = _joint_visibility(depth, uv, xyz, g.eval_radius)
        kinect = None
        mask = None
        if part is not None:  # from the clean crop, before any sensor model
            mask = part_masks(part, self._store(depth, scenes.centre_uvd[:, 2]))
        if target == "pseudo-real":
            depth, kinect = degrade_depth(rng, depth, (box[:, 2] - box[:, 0]) / w, self.noise)
        images = self._store(depth, scenes.centre_uvd[:, 2])
        labels = []
        for i in range(n):
            label: dict[str, Any] = {
                "uv": _r(uv[i], 3),
                "xyz": _r(xyz[i], 2),
                "joint_radius": _r(g.eval_radius[i], 2),
                "visible": visible[i].tolist(),
                "centre_uvd": _r(scenes.centre_uvd[i], 3),
                "crop_box": _r(box[i], 3),
                "angles": {k: round(float(v[i]), 2) for k, v in scenes.angles.items()},
                "shape": scenes.shape.label(i),
                "rotation": _r(scenes.rotation[i], 6),
                "rotation_deg": dict(
                    zip(("roll", "pitch", "yaw"), _r(scenes.rotation_deg[i], 2), strict=True)
                ),
                "target": target,
            }
            if kinect is not None:
                label["kinect"] = {
                    k: (round(float(v[i]), 5) if isinstance(v, np.ndarray) else v) for k, v in kinect.items()
                }
            labels.append(label)
        return images, labels, mask

    @staticmethod
    def _store(depth: np.ndarray, centre_z: np.ndarray) -> np.ndarray:
        """Depth in mm (N, H, W) -> the stored crops (N, H, W, 1) uint16 (module docstring)."""
        return handpose.depth_to_uint16(handpose.normalize_depth(depth, centre_z))[..., None]
