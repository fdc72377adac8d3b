"""Writers of tiny datasets in the exact native layouts of UnityEyes, MPIIGaze and NYU hands (FORMATS.md).

Nothing is downloaded: each writer renders a few samples from a simple physical model, writes them the way
the real tools do, and returns the ground truth the tests check the readers against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image

__all__ = [
    "UNITY_FOCAL",
    "EYEBALL_RADIUS",
    "write_unityeyes",
    "write_mpiigaze",
    "write_nyu",
    "encode_nyu_depth",
    "NYU_FX",
    "NYU_FY",
]

UNITY_FOCAL = 900.0  # px, the fixture camera's focal length
EYEBALL_RADIUS = 12.0  # mm
NYU_FX, NYU_FY = 588.03, 587.07


def _vec(values: Any) -> str:
    """UnityEyes' string encoding of a vector: ``"(x, y, z)"`` with 4 decimals."""
    return "(" + ", ".join(f"{float(v):.4f}" for v in values) + ")"


def _unity_project(p: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Unity camera (x right, y up, z forward) -> screen (x, y from the bottom-left, depth)."""
    h, w = size
    p = np.atleast_2d(p)
    return np.stack(
        [w / 2.0 + UNITY_FOCAL * p[:, 0] / p[:, 2], h / 2.0 + UNITY_FOCAL * p[:, 1] / p[:, 2], p[:, 2]],
        axis=1,
    )


def write_unityeyes(
    folder: Path,
    look_vecs: list[tuple[float, float, float]],
    *,
    numbers: list[int] | None = None,
    size: tuple[int, int] = (480, 640),
    eye_offset_mm: tuple[float, float] = (3.0, -2.0),
) -> list[dict[str, Any]]:
    """Render one eye per look vector as ``N.jpg`` + ``N.json`` (N from 1 unless ``numbers`` is given).

    The eyeball sits ``eye_offset_mm`` off the optical axis, 80 mm away; the iris is a dark disk where the
    look vector leaves the eyeball, the lids an ellipse around the eyeball centre. Landmarks are written as
    UnityEyes does: screen coordinates from the bottom-left, third value depth.

    Returns:
        Per sample: ``number``, ``look_vec``, ``iris_centre`` and ``margin_centre`` in source pixel-index
        coordinates (u, v from the top-left), ``margin_size`` (width, height) in source pixels.
    """
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    numbers = numbers or list(range(1, len(look_vecs) + 1))
    centre3d = np.array([eye_offset_mm[0], eye_offset_mm[1], 80.0])
    out = []
    for n, look in zip(numbers, look_vecs, strict=True):
        look = np.asarray(look, dtype=np.float64)
        look = look / np.linalg.norm(look)
        iris3d = centre3d + EYEBALL_RADIUS * look
        iris_s = _unity_project(iris3d, size)[0]  # (3,) screen
        ang = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        iris_pts = np.stack(
            [iris_s[0] + 14 * np.cos(ang), iris_s[1] + 14 * np.sin(ang), np.full(32, 75.0)], 1
        )
        eye_s = _unity_project(centre3d, size)[0]
        ang16 = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        margin = np.stack(
            [eye_s[0] + 60 * np.cos(ang16), eye_s[1] + 25 * np.sin(ang16), np.full(16, 70.0)], 1
        )
        ang7 = np.linspace(-0.5, 0.5, 7)
        caruncle = np.stack(
            [eye_s[0] - 60 + 6 * np.cos(ang7), eye_s[1] + 6 * np.sin(ang7), np.full(7, 71.0)], 1
        )
        # Pixels: rows count from the top, so row = H - y (continuous); the pixel grid samples centres.
        yy, xx = np.mgrid[0:h, 0:w] + 0.5
        sy = h - yy
        img = np.full((h, w), 110.0)
        img[((xx - eye_s[0]) / 60) ** 2 + ((sy - eye_s[1]) / 25) ** 2 <= 1] = 215.0
        img[(xx - iris_s[0]) ** 2 + (sy - iris_s[1]) ** 2 <= 14**2] = 35.0
        rgb = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
        Image.fromarray(rgb).save(folder / f"{n}.jpg", quality=95)
        doc = {
            "interior_margin_2d": [_vec(p) for p in margin],
            "caruncle_2d": [_vec(p) for p in caruncle],
            "iris_2d": [_vec(p) for p in iris_pts],
            "eye_details": {
                "look_vec": _vec([*look, 0.0]),
                "pupil_size": "0.1215",
                "iris_size": "0.9750",
                "iris_texture": "eyeball_brown_1",
            },
            "lighting_details": {
                "skybox_texture": "cubemap_14",
                "skybox_exposure": "0.9112",
                "skybox_rotation": "210",
                "ambient_intensity": "0.8419",
                "light_rotation": "(43.2185, 190.0552, 0.0000)",
                "light_intensity": "1.1093",
            },
            "eye_region_details": {
                "pca_shape_coeffs": ["-0.4170", "0.7203", "-0.9998"],
                "primary_skin_texture": "m04_darker",
                "skin_colour_hue_offset": "0.0213",
            },
            "head_pose": "(351.9072, 170.2468, 0.0000)",
        }
        (folder / f"{n}.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
        lo, hi = margin[:, :2].min(0), margin[:, :2].max(0)
        mid = (lo + hi) / 2
        out.append(
            {
                "number": n,
                "look_vec": look,
                "iris_centre": np.array([iris_s[0] - 0.5, h - iris_s[1] - 0.5]),
                "margin_centre": np.array([mid[0] - 0.5, h - mid[1] - 0.5]),
                "margin_size": hi - lo,
            }
        )
    return out


def _gaze_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    pitch = rng.uniform(-0.4, 0.4, n)
    yaw = rng.uniform(-0.5, 0.5, n)
    g = np.stack([-np.cos(pitch) * np.sin(yaw), -np.sin(pitch), -np.cos(pitch) * np.cos(yaw)], 1)
    return g


def write_mpiigaze(
    root: Path, days: dict[str, dict[str, int]], rng: np.random.Generator, evaluation: bool = True
) -> dict[tuple[str, str], dict[str, Any]]:
    """Write ``root/Data/Normalized/pNN/dayMM.mat`` files (MATLAB v5, the real struct layout).

    ``days`` maps person -> day -> sample count. A day with one sample squeezes on load like the real
    files do. With ``evaluation``, ``root/Evaluation Subset/sample list for eye image/pNN.txt`` lists
    every other sample per eye, right eyes first, so its order differs from the files'.

    Returns:
        (person, day) -> {"filenames", "left": {gaze, image, pose}, "right": {...}, "eval": [lines]}.
    """
    truth: dict[tuple[str, str], dict[str, Any]] = {}
    eval_dir = root / "Evaluation Subset" / "sample list for eye image"
    for person, per_day in days.items():
        pdir = root / "Data" / "Normalized" / person
        pdir.mkdir(parents=True, exist_ok=True)
        lines: list[str] = []
        for day, n in per_day.items():
            names = [f"{k + 1:04d}.jpg" for k in range(n)]
            entry: dict[str, Any] = {"filenames": names}
            data = {}
            for side in ("left", "right"):
                ramp = np.linspace(0, 180, 60)[None, None, :]  # brighter to the right: shows a mirror
                image = np.clip(ramp + rng.integers(0, 60, (n, 36, 60)), 0, 255).astype(np.uint8)
                arrays = {"gaze": _gaze_vectors(rng, n), "image": image, "pose": rng.normal(0, 0.2, (n, 3))}
                data[side] = arrays
                entry[side] = arrays
            cell = np.empty((n, 1), dtype=object)
            for k, name in enumerate(names):
                cell[k, 0] = name
            scipy.io.savemat(pdir / f"{day}.mat", {"data": data, "filenames": cell}, do_compression=True)
            entry["eval"] = [f"{day}/{name} right" for name in names[::2]] + [
                f"{day}/{name} left" for name in names[1::2]
            ]
            lines += entry["eval"]
            truth[(person, day)] = entry
        if evaluation:
            eval_dir.mkdir(parents=True, exist_ok=True)
            (eval_dir / f"{person}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return truth


def encode_nyu_depth(depth_mm: np.ndarray) -> np.ndarray:
    """NYU's PNG encoding: (H, W, 3) uint8 with G = depth >> 8, B = depth & 255, R unused (a pattern here)."""
    d = depth_mm.astype(np.uint16)
    h, w = d.shape
    r = (np.add.outer(np.arange(h) * 3, np.arange(w) * 7) % 256).astype(np.uint8)
    return np.stack([r, (d >> 8).astype(np.uint8), (d & 255).astype(np.uint8)], axis=2)


def write_nyu(folder: Path, n: int, rng: np.random.Generator, kinects: int = 3) -> dict[str, np.ndarray]:
    """Write ``depth_K_IIIIIII.png`` frames and ``joint_data.mat`` ((kinects, n, 36, 3)) into ``folder``.

    Each frame: a far wall at 1400 mm with a few missing (0) pixels, a round hand of constant depth
    ``d_c - 40`` mm centred on joint 32 at (u_c, v_c, d_c), and a small near object 200 mm in front of the
    hand inside the crop.

    Returns:
        ``depth`` (kinects, n, 480, 640) uint16, ``uvd`` and ``xyz`` (kinects, n, 36, 3).
    """
    folder.mkdir(parents=True, exist_ok=True)
    uvd = np.zeros((kinects, n, 36, 3))
    depth = np.zeros((kinects, n, 480, 640), dtype=np.uint16)
    vv, uu = np.mgrid[0:480, 0:640]
    for k in range(kinects):
        for i in range(n):
            uc, vc, dc = rng.uniform(280, 360), rng.uniform(200, 280), rng.uniform(650, 900)
            joints = np.stack(
                [uc + rng.uniform(-50, 50, 36), vc + rng.uniform(-50, 50, 36), dc + rng.uniform(-60, 60, 36)],
                1,
            )
            joints[32] = (uc, vc, dc)
            uvd[k, i] = joints
            frame = np.full((480, 640), 1400, dtype=np.uint16)
            frame[rng.random((480, 640)) < 0.02] = 0  # missing readings
            frame[(uu - uc) ** 2 + (vv - vc) ** 2 <= 45**2] = int(round(dc - 40))
            frame[(uu - (uc - 60)) ** 2 + (vv - (vc - 60)) ** 2 <= 6**2] = int(round(dc - 200))
            depth[k, i] = frame
            png = encode_nyu_depth(frame)
            Image.fromarray(png).save(folder / f"depth_{k + 1}_{i + 1:07d}.png", compress_level=1)
    xyz = np.stack(
        [
            (uvd[..., 0] - 320) * uvd[..., 2] / NYU_FX,
            (240 - uvd[..., 1]) * uvd[..., 2] / NYU_FY,
            uvd[..., 2],
        ],
        axis=-1,
    )
    names = np.empty((1, 36), dtype=object)
    for j in range(36):
        names[0, j] = f"F{j // 6}_KNU{j % 6}"
    scipy.io.savemat(
        folder / "joint_data.mat",
        {"joint_names": names, "joint_uvd": uvd.astype(np.float32), "joint_xyz": xyz.astype(np.float32)},
    )
    return {"depth": depth, "uvd": uvd.astype(np.float32).astype(np.float64), "xyz": xyz.astype(np.float32)}
