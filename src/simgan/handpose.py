"""NYU hand pose conventions: camera intrinsics, the 14 evaluation joints, and the hand crop.

Real NYU frames (``simgan.data.nyu``) and the ``hands`` simulator (``simgan.sim.hands``) both end up as
the same stored image through the functions here, so a model cannot tell the two apart by geometry.

Coordinates:
    * Camera space ``xyz`` in millimetres: x right, y **up**, z forward (away from the camera), the
      NYU convention ``x = (u - cx) z / fx``, ``y = (cy - v) z / fy`` (FORMATS.md).
    * Pixel coordinates ``uv`` are *pixel-index* coordinates, as in NYU's ``joint_uvd``: pixel
      ``image[r, c]`` is centred on ``u = c, v = r`` (u right, v down). The continuous image plane
      that crop boxes live in is shifted by half a pixel: pixel ``[r, c]`` covers ``[c, c + 1) x
      [r, r + 1)`` there, so continuous = index + 0.5.
    * ``d`` (the third value of ``uvd``) is the z coordinate in mm (depth along the optical axis,
      not range), as a Kinect reports it.

The hand crop (common NYU practice; the SimGAN paper crops 224x224):
    1. centre on the palm joint (NYU joint 32) at ``(u_c, v_c, d_c)``; the crop box is the projection
       of a ``cube_mm`` cube around it: ``fx * cube / d_c`` by ``fy * cube / d_c`` pixels;
    2. resample the box to ``size`` by nearest neighbour (never blend depth across the silhouette);
    3. clamp depth to ``d_c +/- cube / 2``; missing readings (0), anything beyond the far face of the
       cube and anything outside the frame become the far plane;
    4. normalise ``(depth - d_c) / (cube / 2)`` to [-1, 1] (near = -1, background = +1) and store it as
       uint16, 0..65535 linearly = [-1, 1] (what :func:`simgan.data.to_float` inverts).

The 14 evaluation joints (Tompson et al. 2014) are indices ``EVAL_JOINTS`` of NYU's 36. NYU names
fingers F1..F4 = pinky, ring, middle, index and TH = thumb; each finger has ``KNU3`` (distal phalanx),
``KNU2`` (middle) and ``KNU1`` (proximal) with ``A`` the distal end and ``B`` the base of the bone.
Our semantic mapping, used by the simulator's skeleton:

==  =====  ==============  ===================================================
i   NYU    name            meaning
==  =====  ==============  ===================================================
0   0      pinky_tip       F1_KNU3_A, end of the distal phalanx
1   3      pinky_pip       F1_KNU2_B, base of the middle phalanx (PIP joint)
2   6      ring_tip        F2_KNU3_A
3   9      ring_pip        F2_KNU2_B
4   12     middle_tip      F3_KNU3_A
5   15     middle_pip      F3_KNU2_B
6   18     index_tip       F4_KNU3_A
7   21     index_pip       F4_KNU2_B
8   24     thumb_tip       TH_KNU3_A
9   25     thumb_ip        TH_KNU3_B, base of the distal phalanx (IP joint)
10  27     thumb_mcp       TH_KNU2_B, base of the proximal phalanx (MCP joint)
11  30     wrist_ulnar     PALM_1, pinky side of the wrist
12  31     wrist_radial    PALM_2, thumb side of the wrist
13  32     palm_centre     PALM_3, the crop centre
==  =====  ==============  ===================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FX",
    "FY",
    "CX",
    "CY",
    "FRAME_SIZE",
    "CUBE_MM",
    "NYU_JOINT_NAMES",
    "EVAL_JOINTS",
    "EVAL_JOINT_NAMES",
    "CENTRE_JOINT",
    "CENTRE_EVAL_INDEX",
    "xyz_to_uvd",
    "uvd_to_xyz",
    "crop_box",
    "frame_to_crop_uv",
    "crop_to_frame_uv",
    "crop_uvd_to_xyz",
    "pixel_rays",
    "normalize_depth",
    "denormalize_depth",
    "depth_to_uint16",
    "HandCrop",
    "crop_hand",
]

FX, FY, CX, CY = 588.03, 587.07, 320.0, 240.0  # NYU Kinect depth intrinsics (pixels)
FRAME_SIZE = (480, 640)  # (H, W) of an NYU depth frame
CUBE_MM = 300.0

NYU_JOINT_NAMES: tuple[str, ...] = (
    *(f"{f}_KNU{k}_{ab}" for f in ("F1", "F2", "F3", "F4", "TH") for k in (3, 2, 1) for ab in ("A", "B")),
    *(f"PALM_{i}" for i in range(1, 7)),
)
EVAL_JOINTS: tuple[int, ...] = (0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32)
EVAL_JOINT_NAMES: tuple[str, ...] = (
    "pinky_tip",
    "pinky_pip",
    "ring_tip",
    "ring_pip",
    "middle_tip",
    "middle_pip",
    "index_tip",
    "index_pip",
    "thumb_tip",
    "thumb_ip",
    "thumb_mcp",
    "wrist_ulnar",
    "wrist_radial",
    "palm_centre",
)
CENTRE_JOINT = 32
CENTRE_EVAL_INDEX = EVAL_JOINTS.index(CENTRE_JOINT)


def xyz_to_uvd(xyz: np.ndarray) -> np.ndarray:
    """Project camera-space points (mm) to pixel-index ``(u, v)`` plus depth ``d = z`` (mm).

    Shape:
        xyz: (..., 3) -> (..., 3).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.stack([CX + FX * x / z, CY - FY * y / z, z], axis=-1)


def uvd_to_xyz(uvd: np.ndarray) -> np.ndarray:
    """Back-project pixel-index ``(u, v)`` and depth (mm) to camera space (mm); inverse of :func:`xyz_to_uvd`.

    Shape:
        uvd: (..., 3) -> (..., 3).
    """
    uvd = np.asarray(uvd, dtype=np.float64)
    u, v, d = uvd[..., 0], uvd[..., 1], uvd[..., 2]
    return np.stack([(u - CX) * d / FX, (CY - v) * d / FY, d], axis=-1)


def crop_box(centre_uvd: np.ndarray, cube_mm: float = CUBE_MM) -> np.ndarray:
    """The crop box ``(u0, v0, u1, v1)`` in continuous frame pixels: the cube projected at the centre depth.

    Shape:
        centre_uvd: (..., 3) -> (..., 4).
    """
    c = np.asarray(centre_uvd, dtype=np.float64)
    hu, hv = FX * cube_mm / 2.0 / c[..., 2], FY * cube_mm / 2.0 / c[..., 2]
    u, v = c[..., 0] + 0.5, c[..., 1] + 0.5  # index -> continuous
    return np.stack([u - hu, v - hv, u + hu, v + hv], axis=-1)


def frame_to_crop_uv(uv: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Map frame pixel-index points into the stored crop's pixel-index coordinates.

    Shape:
        uv: (..., J, 2); box: (..., 4) (broadcast against uv's leading axes) -> (..., J, 2).
    """
    uv = np.asarray(uv, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)[..., None, :]  # (..., 1, 4)
    h, w = size
    u = (uv[..., 0] + 0.5 - box[..., 0]) * w / (box[..., 2] - box[..., 0]) - 0.5
    v = (uv[..., 1] + 0.5 - box[..., 1]) * h / (box[..., 3] - box[..., 1]) - 0.5
    return np.stack([u, v], axis=-1)


def crop_to_frame_uv(uv: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`frame_to_crop_uv`: stored-image pixel-index points back to frame pixels.

    Shape:
        uv: (..., J, 2); box: (..., 4) -> (..., J, 2).
    """
    uv = np.asarray(uv, dtype=np.float64)
    box = np.asarray(box, dtype=np.float64)[..., None, :]
    h, w = size
    u = (uv[..., 0] + 0.5) * (box[..., 2] - box[..., 0]) / w + box[..., 0] - 0.5
    v = (uv[..., 1] + 0.5) * (box[..., 3] - box[..., 1]) / h + box[..., 1] - 0.5
    return np.stack([u, v], axis=-1)


def crop_uvd_to_xyz(
    uv: np.ndarray, depth_mm: np.ndarray, box: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Camera-space points (mm) from stored-image pixel coordinates and depth (e.g. a predicted joint).

    Shape:
        uv: (..., J, 2); depth_mm: (..., J); box: (..., 4) -> (..., J, 3).
    """
    frame_uv = crop_to_frame_uv(uv, box, size)
    return uvd_to_xyz(np.concatenate([frame_uv, np.asarray(depth_mm, dtype=np.float64)[..., None]], axis=-1))


def pixel_rays(box: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Ray slopes through the stored pixels' centres: the camera-space ray of pixel ``[r, c]`` is
    ``t * (sx[c], sy[r], 1)``, so a point at depth z on it has ``x = sx z`` and ``y = sy z``.

    Shape:
        box: (..., 4) -> sx (..., W), sy (..., H).
    """
    box = np.asarray(box, dtype=np.float64)
    h, w = size
    # Pixel [r, c]'s centre in continuous frame coordinates, then -0.5 to pixel-index coordinates.
    u = box[..., 0:1] + (np.arange(w) + 0.5) * ((box[..., 2:3] - box[..., 0:1]) / w) - 0.5
    v = box[..., 1:2] + (np.arange(h) + 0.5) * ((box[..., 3:4] - box[..., 1:2]) / h) - 0.5
    return (u - CX) / FX, (CY - v) / FY


def normalize_depth(
    depth_mm: np.ndarray, centre_z: np.ndarray | float, cube_mm: float = CUBE_MM
) -> np.ndarray:
    """Crop steps 3-4: ``(depth - d_c) / (cube / 2)`` clamped to [-1, 1]; no reading (0, inf, NaN) or
    beyond the far face -> +1 (the far plane).

    Shape:
        depth_mm: (..., H, W); centre_z: (...) or scalar -> (..., H, W) float32.
    """
    d = np.asarray(depth_mm, dtype=np.float32)  # float32 resolves 0.0001 mm at 1 m, far below uint16 steps
    zc = np.asarray(centre_z, dtype=np.float32)[..., None, None]
    with np.errstate(invalid="ignore"):
        z = (d - zc) * np.float32(2.0 / cube_mm)
        background = ~np.isfinite(d) | (d <= 0) | (z > 1.0)
    return np.where(background, np.float32(1.0), np.maximum(z, np.float32(-1.0)))


def denormalize_depth(z: np.ndarray, centre_z: np.ndarray | float, cube_mm: float = CUBE_MM) -> np.ndarray:
    """Stored [-1, 1] values back to millimetres (the far plane comes back as ``d_c + cube / 2``).

    Shape:
        z: (..., H, W); centre_z: (...) or scalar -> (..., H, W) float64.
    """
    zc = np.asarray(centre_z, dtype=np.float64)[..., None, None]
    return zc + np.asarray(z, dtype=np.float64) * (cube_mm / 2.0)


def depth_to_uint16(z: np.ndarray) -> np.ndarray:
    """[-1, 1] -> 0..65535 linearly (the stored form, 0.0046 mm per step for a 300 mm cube).

    The same rounding as :func:`simgan.data.from_float`, which this equals for one image.
    """
    return np.rint((np.clip(z, -1.0, 1.0) + 1.0) * (65535.0 / 2.0)).astype(np.uint16)


@dataclass(frozen=True)
class HandCrop:
    """One stored hand crop and its label fields.

    Attributes:
        image: (H, W, 1) uint16, the normalised depth (crop steps 1-4).
        uv: (J, 2) joints in the stored image's pixel-index coordinates.
        xyz: (J, 3) joints in camera space (mm), unchanged.
        centre_uvd: (3,) the crop centre in frame pixels and mm.
        box: (4,) the crop box ``(u0, v0, u1, v1)`` in continuous frame pixels.
    """

    image: np.ndarray
    uv: np.ndarray
    xyz: np.ndarray
    centre_uvd: np.ndarray
    box: np.ndarray

    def label(self) -> dict[str, Any]:
        """The JSON-ready handpose label: ``uv``, ``xyz``, ``centre_uvd``, ``crop_box``."""
        return {
            "uv": np.round(self.uv, 4).tolist(),
            "xyz": np.round(self.xyz, 3).tolist(),
            "centre_uvd": np.round(self.centre_uvd, 4).tolist(),
            "crop_box": np.round(self.box, 4).tolist(),
        }


def crop_hand(
    depth_mm: np.ndarray,
    joints_xyz: np.ndarray,
    centre_xyz: np.ndarray,
    *,
    size: tuple[int, int] = (128, 128),
    cube_mm: float = CUBE_MM,
) -> HandCrop:
    """Cut the hand cube out of a full depth frame and map its joints into the stored image.

    Args:
        depth_mm: a depth frame in mm (0 = no reading), e.g. a decoded NYU ``depth_K_*.png``.
        joints_xyz: joints in camera space (mm), e.g. the 14 evaluation joints.
        centre_xyz: the crop centre in camera space (NYU joint 32, the palm), z > 0.
        size: stored (H, W).
        cube_mm: side of the cube around the centre.

    Returns:
        The :class:`HandCrop`.

    Raises:
        ValueError: shapes that do not match or a centre not in front of the camera.

    Shape:
        depth_mm: (H0, W0); joints_xyz: (J, 3); centre_xyz: (3,).
    """
    depth = np.asarray(depth_mm)
    joints = np.asarray(joints_xyz, dtype=np.float64)
    centre = np.asarray(centre_xyz, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"expected a depth frame of shape (H, W), got {depth.shape}")
    if joints.ndim != 2 or joints.shape[1] != 3:
        raise ValueError(f"expected joints of shape (J, 3), got {joints.shape}")
    if centre.shape != (3,) or not centre[2] > 0:
        raise ValueError(f"expected a centre (x, y, z) with z > 0, got {centre.tolist()}")
    h, w = size
    centre_uvd = xyz_to_uvd(centre)
    box = crop_box(centre_uvd, cube_mm)
    # Nearest neighbour: the frame pixel under each stored pixel's centre.
    cols = np.floor(box[0] + (np.arange(w) + 0.5) * (box[2] - box[0]) / w).astype(np.int64)  # (W,)
    rows = np.floor(box[1] + (np.arange(h) + 0.5) * (box[3] - box[1]) / h).astype(np.int64)  # (H,)
    src_h, src_w = depth.shape
    inside = ((rows >= 0) & (rows < src_h))[:, None] & ((cols >= 0) & (cols < src_w))[None, :]
    patch = depth[np.clip(rows, 0, src_h - 1)[:, None], np.clip(cols, 0, src_w - 1)[None, :]]  # (H, W)
    patch = np.where(inside, patch.astype(np.float64), 0.0)
    z = normalize_depth(patch, centre_uvd[2], cube_mm)
    uv = frame_to_crop_uv(xyz_to_uvd(joints)[:, :2], box, size)
    return HandCrop(depth_to_uint16(z)[:, :, None], uv, joints, centre_uvd, box)
