"""The ``eyes`` simulator: procedural grayscale eye regions with free gaze labels, in the UnityEyes spirit.

Geometry (units of the eyeball radius r, MPIIGaze normalized camera: x right, y down, z forward, the
camera looks along +z at the eye). A pixel (row i, column j) has its centre at image point (u, v) = (j, i);
the eyeball centre projects to (c_u, c_v) and the camera is orthographic with ``scale`` pixels per r, so a
camera point (X, Y, Z) lands on u = c_u + scale X, v = c_v + scale Y.

- **Eyeball and iris.** The gaze g is a unit vector in camera space (label, ``gaze``). The iris is a flat
  disc of radius sin(theta_i) = ``iris_radius`` centred at cos(theta_i) g, orthogonal to g, so its rim
  lies on the eyeball sphere; the pupil is a concentric disc. A pixel's orthographic ray meets the iris
  plane at an in-plane radius rho; iris where rho < sin(theta_i): the projected ellipse whose centre is
  the landmark ``iris_center`` = (c_u, c_v) + scale cos(theta_i) (g_x, g_y). Hence **positive yaw moves
  the iris toward smaller u (image left), positive pitch toward smaller v (image up)**, the image being
  what the camera sees (not mirrored). The eye is a *left* eye: its inner corner (caruncle, toward the
  nose) is on the image left; MPIIGaze mirrors right eyes (``image[:, ::-1]``, yaw negated) to match.
- **Head jitter.** A head rotation R_h (pitch, yaw, roll) moves the eye corners and lid apexes, which are
  3-D points in the head frame, relative to the eyeball. The eye-in-head gaze R_h^T g drives the lids:
  the upper lid follows the eye downward (its apex tracks the eye's pitch), the lower lid moves a little.
- **Appearance.** Sclera with Lambertian shading, limbal darkening and shadow under the upper lid; iris
  with radial fibres, a dark limbal ring and a collarette; pupil; caruncle; lids as curves through the
  projected corners and apexes; eyelashes; a lid crease; an optional eyebrow; skin albedo (tone) with
  low- and high-frequency texture and directional lighting; a corneal glint where the light's half
  vector meets the cornea sphere. ``clean=True`` renders only sclera, iris and pupil in flat tones (no
  lids, skin, glint, shading or texture), so tests can measure the iris centre from pixels.

Ranges follow UnityEyes' defaults in spirit: gaze pitch and yaw uniform within +/- ``pitch_deg`` /
``yaw_deg`` (30 degrees) in *camera* space, which is what the label and the task use; head jitter is
added on top and only changes appearance. ``target="pseudo-real"`` passes the renders through
:mod:`simgan.sim.camera_noise` (a simulated webcam, not real data).

Rendering is vectorised over (B, H, W) in float32 NumPy; every random choice (textures included) is drawn
first by :func:`sample_params`, so :func:`render_eyes` is a pure function of the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np

from simgan.errors import InputError
from simgan.gaze import vector_to_pitchyaw
from simgan.sim.camera_noise import CameraNoiseConfig, degrade
from simgan.sim.eye_model import _IRIS_TEX, _LASH_TEX, _gaze, _rotation, eye_landmarks
from simgan.sim.eye_render import render_eyes
from simgan.sim.randomize import smooth_noise
from simgan.sim.registry import Simulator, register_simulator

__all__ = ["EyesConfig", "EyesSimulator", "sample_params", "render_eyes", "eye_landmarks", "make_labels"]

# Reference layout, MPIIGaze's normalised crop (docs/simulate_eyes.md, "Framing"): a virtual camera with
# focal length 960 px at 600 mm from the eye gives 1.6 px/mm at 36x60, about 1.51 px/mm after the resize to
# 35x55; a 12 mm eyeball radius is then about 18 px, and the eye (corner to corner, about 2.4 radii) spans
# about 80 % of the width. The eye centre (the corners' midpoint) sits at the crop's centre.
_SCALE_PER_WIDTH = 0.33
_REF_ASPECT = 55.0 / 35.0
_SKIN_CELLS = ((4, 7), (10, 16), (18, 28))  # coarse, mid and fine skin texture grids (rows, cols)


@dataclass(frozen=True)
class EyesConfig:
    """Options of the eye simulator (``simulate("eyes", ..., clean=True)`` or ``configure``)."""

    pitch_deg: float = 30.0  # |gaze pitch| limit, camera space
    yaw_deg: float = 30.0  # |gaze yaw| limit, camera space
    head_pitch_deg: float = 10.0  # head jitter limits
    head_yaw_deg: float = 15.0
    head_roll_deg: float = 4.0  # what normalisation leaves (it aligns the camera with the head's x axis)
    shift: float = 0.05  # camera jitter: eye centre shift, fraction of the image side
    scale_jitter: float = 0.1  # relative zoom jitter
    clean: bool = False  # only sclera / iris / pupil in flat tones (for measuring landmarks)

    def validate(self) -> EyesConfig:
        for name, hi in (("pitch_deg", 45.0), ("yaw_deg", 45.0)):
            v = getattr(self, name)
            if not 0.0 <= v <= hi:
                raise InputError(f"eyes option {name}={v}: must be within [0, {hi}] degrees")
        for name in ("head_pitch_deg", "head_yaw_deg", "head_roll_deg"):
            v = getattr(self, name)
            if not 0.0 <= v <= 30.0:
                raise InputError(f"eyes option {name}={v}: must be within [0, 30] degrees")
        if not 0.0 <= self.shift <= 0.2:
            raise InputError(f"eyes option shift={self.shift}: must be within [0, 0.2]")
        if not 0.0 <= self.scale_jitter <= 0.3:
            raise InputError(f"eyes option scale_jitter={self.scale_jitter}: must be within [0, 0.3]")
        return self


def _parse_option(name: str, value: Any, kind: type) -> Any:
    """Options arrive as Python values or as CLI strings."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise InputError(f"eyes option {name}={value!r}: expected true or false")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"eyes option {name}={value!r}: expected a number") from None


# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------


def _smooth_circular(x: np.ndarray, passes: int) -> np.ndarray:
    """[1, 2, 1] / 4 smoothing along the last axis, wrapping around. Shape: (B, N) -> (B, N)."""
    for _ in range(passes):
        x = 0.25 * np.roll(x, 1, -1) + 0.5 * x + 0.25 * np.roll(x, -1, -1)
    return x


def sample_params(
    rng: np.random.Generator, n: int, size: tuple[int, int], config: EyesConfig | None = None
) -> dict[str, np.ndarray]:
    """Draw every random choice of ``n`` eyes at ``size`` (H, W): geometry, appearance and textures.

    Returns a dict of float arrays with leading dimension ``n``; :func:`render_eyes` and
    :func:`make_labels` read it. Changing e.g. ``pitch`` / ``yaw`` before rendering is allowed.
    """
    cfg = config or EyesConfig()
    h, w = size

    def uni(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    def sym(limit_deg: float) -> np.ndarray:
        return np.deg2rad(rng.uniform(-limit_deg, limit_deg, n))

    ref = min(float(w), h * _REF_ASPECT)  # the reference layout fits inside any aspect ratio
    p: dict[str, np.ndarray] = {
        # gaze (camera space) and head / camera jitter
        "pitch": sym(cfg.pitch_deg),
        "yaw": sym(cfg.yaw_deg),
        "head_pitch": sym(cfg.head_pitch_deg),
        "head_yaw": sym(cfg.head_yaw_deg),
        "head_roll": sym(cfg.head_roll_deg),
        "center_u": (w - 1) / 2.0 + uni(-1, 1) * cfg.shift * w,  # moved below to centre the corners
        "center_v": (h - 1) / 2.0 + uni(-1, 1) * cfg.shift * h,
        "scale": _SCALE_PER_WIDTH * ref * (1.0 + uni(-1, 1) * cfg.scale_jitter),
        # eye anatomy (units of the eyeball radius)
        "iris_radius": uni(0.46, 0.54),
        "pupil_ratio": uni(0.28, 0.55),  # pupil radius / iris radius
        "corner_in_x": uni(-1.30, -1.15),
        "corner_in_y": uni(0.02, 0.16),
        "corner_out_x": uni(1.10, 1.25),
        "corner_out_y": uni(-0.12, 0.04),
        "upper_open": uni(0.36, 0.58),
        "lower_open": uni(0.36, 0.52),
        "upper_shape": uni(0.45, 0.8),
        "lower_shape": uni(0.7, 1.1),
        "crease_gap": uni(0.2, 0.55),
        "crease_dark": uni(0.0, 0.3),
        "fold_gap": uni(0.25, 0.45),  # lower-lid fold below the lid margin, units of r
        "fold_dark": uni(0.0, 0.2),
        "brow_height": uni(1.75, 2.5),
        "brow_dark": uni(0.0, 0.45) * (rng.random(n) < 0.6),
        # albedos and textures
        "sclera_albedo": uni(0.72, 0.92),
        "iris_albedo": uni(0.12, 0.5),
        "iris_texture": uni(0.1, 0.35),
        "limbal_ring": uni(0.2, 0.6),
        "limbal_width": uni(0.05, 0.14),  # sclera darkening width, units of r
        "pupil_albedo": uni(0.02, 0.08),
        "caruncle": uni(0.55, 0.8),  # caruncle tone / skin tone
        "skin_tone": uni(0.3, 0.85),
        "skin_texture": uni(0.03, 0.12),
        "skin_fine": uni(0.01, 0.04),
        "lash_dark": uni(0.35, 0.85),
        "lash_length": uni(0.12, 0.3),  # units of r
        "lower_lash_dark": uni(0.05, 0.3),
        # lighting: direction toward the light (camera space, front hemisphere), ambient, intensity
        "light_x": uni(-0.9, 0.9),
        "light_y": uni(-0.9, 0.5),
        "ambient": uni(0.25, 0.6),
        "intensity": uni(0.75, 1.15),
        "glint_strength": uni(0.4, 1.0),
        "glint_size": uni(0.035, 0.07),  # Gaussian sigma, units of r
        # sensor: read + shot noise of a webcam, std as a fraction of full scale, before any equalisation
        "sensor_noise": uni(0.002, 0.006),
        "blur": uni(0.3, 0.5),  # neighbour weight k of the [k, 1, k] optics and resampling blur
    }
    # Normalisation centres the crop on the eye centre, the midpoint of the two corners.
    p["center_u"] -= p["scale"] * (p["corner_in_x"] + p["corner_out_x"]) / 2.0
    p["center_v"] -= p["scale"] * (p["corner_in_y"] + p["corner_out_y"]) / 2.0
    # Texture tables: drawn here so that rendering is a pure function of the parameters.
    p["iris_fibres"] = _smooth_circular(rng.standard_normal((n, _IRIS_TEX)), 1)
    p["lash_pattern"] = _smooth_circular((rng.random((n, _LASH_TEX)) < 0.55).astype(np.float64), 1)
    p["skin_low"] = smooth_noise(rng, n, (h, w), _SKIN_CELLS[0])  # (B, H, W)
    p["skin_mid"] = smooth_noise(rng, n, (h, w), _SKIN_CELLS[1])
    p["skin_fine_field"] = smooth_noise(rng, n, (h, w), _SKIN_CELLS[2])
    p["skin_noise"] = rng.standard_normal((n, h, w), dtype=np.float32)  # the sensor's noise field
    return p


# --------------------------------------------------------------------------------------------------
# Labels and the registered simulator
# --------------------------------------------------------------------------------------------------

_GROUPS: dict[str, tuple[str, ...]] = {
    "head": ("head_pitch", "head_yaw", "head_roll"),
    "eye": (
        "iris_radius",
        "pupil_ratio",
        "iris_albedo",
        "iris_texture",
        "limbal_ring",
        "limbal_width",
        "pupil_albedo",
        "sclera_albedo",
        "caruncle",
        "corner_in_x",
        "corner_in_y",
        "corner_out_x",
        "corner_out_y",
        "upper_open",
        "lower_open",
        "upper_shape",
        "lower_shape",
    ),
    "skin": (
        "skin_tone",
        "skin_texture",
        "skin_fine",
        "crease_gap",
        "crease_dark",
        "fold_gap",
        "fold_dark",
        "brow_height",
        "brow_dark",
        "lash_dark",
        "lash_length",
        "lower_lash_dark",
    ),
    "lighting": ("light_x", "light_y", "ambient", "intensity", "glint_strength", "glint_size"),
    "camera": ("center_u", "center_v", "scale", "sensor_noise", "blur"),
}


def make_labels(
    p: dict[str, np.ndarray], target: str = "synthetic", degradation: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """JSON-ready labels: gaze (unit vector, pitch, yaw), landmarks in pixels and every random parameter.

    Gaze and angles keep full float precision (they round-trip exactly through :mod:`simgan.gaze`);
    landmarks are rounded to 1/1000 pixel and parameters to 5 decimals to keep ``labels.jsonl`` small.
    """
    g = _gaze(p)
    pitchyaw = vector_to_pitchyaw(g)
    lm = eye_landmarks(p)
    r_h = _rotation(p["head_pitch"], p["head_yaw"], p["head_roll"])
    g_head = np.round(vector_to_pitchyaw(np.einsum("bji,bj->bi", r_h, g)), 6).tolist()
    iris_px = p["iris_radius"] * p["scale"]
    # Round whole arrays once, then split per sample (much cheaper than rounding value by value).
    px = {k: np.round(lm[k], 3).tolist() for k in ("iris_center", "iris_contour", "lid_contour", "glint")}
    radii = np.round(np.stack([iris_px, iris_px * p["pupil_ratio"]], -1), 3).tolist()
    groups = {grp: {k: np.round(p[k], 5).tolist() for k in keys} for grp, keys in _GROUPS.items()}
    gl, py, vis = g.tolist(), pitchyaw.tolist(), lm["glint_visible"].tolist()
    labels = []
    for i in range(len(gl)):
        label: dict[str, Any] = {
            "gaze": gl[i],
            "pitch": py[i][0],
            "yaw": py[i][1],
            **{k: v[i] for k, v in px.items()},
            "glint_visible": vis[i],
            "iris_radius_px": radii[i][0],
            "pupil_radius_px": radii[i][1],
            "eye_in_head": {"pitch": g_head[i][0], "yaw": g_head[i][1]},
        }
        for grp, cols in groups.items():
            label[grp] = {k: v[i] for k, v in cols.items()}
        label["target"] = target
        if degradation is not None:
            label["degradation"] = degradation[i]
        labels.append(label)
    return labels


@register_simulator("eyes")
class EyesSimulator(Simulator):
    """Procedural 35x55 grayscale eye regions labelled with gaze (MPIIGaze convention) and landmarks."""

    task = "gaze"
    default_size = (35, 55)
    channels = 1
    dtype = "uint8"
    label_schema: ClassVar[dict[str, Any]] = {
        "gaze": "unit vector [x, y, z], MPIIGaze normalized camera (x right, y down, z away from the viewer)",
        "pitch": "radians, asin(-y); > 0 looks up (iris moves up in the image)",
        "yaw": "radians, atan2(-x, -z); > 0 looks toward image left (iris moves to smaller u)",
        "iris_center": "[u, v] of the projected iris centre, in pixels (pixel centres at integers)",
        "iris_contour": "8 [u, v] points on the projected iris rim",
        "lid_contour": "16 [u, v]: upper lid inner corner .. outer corner (9), lower lid back (7); left eye",
        "glint": "[u, v] of the corneal reflection; glint_visible says whether it is rendered",
        "iris_radius_px": "iris radius in pixels (the major semi-axis of its ellipse)",
        "pupil_radius_px": "pupil radius in pixels",
        "eye_in_head": "pitch, yaw of the gaze relative to the jittered head (radians)",
        "head": "head jitter pitch, yaw, roll (radians)",
        "eye": "anatomy and albedos (radii and corners in eyeball radii)",
        "skin": "skin tone and texture, crease, brow, lashes",
        "lighting": "light_x, light_y toward the light (z = -1, then normalised), ambient, intensity, glint",
        "camera": "eyeball centre [pixels] and scale (pixels per eyeball radius)",
        "target": "synthetic or pseudo-real",
        "degradation": "pseudo-real only: the camera_noise parameters of this image",
    }

    def __init__(self, config: EyesConfig | None = None, noise: CameraNoiseConfig | None = None) -> None:
        self.config = (config or EyesConfig()).validate()
        self.noise = noise or CameraNoiseConfig()

    def configure(self, **options: Any) -> EyesSimulator:
        """A copy with options changed (``clean``, ``pitch_deg``, ``yaw_deg``, ``head_*_deg``, ``shift``,
        ``scale_jitter``); values may be strings as they come from a command line."""
        known = {fl.name: fl for fl in fields(EyesConfig)}
        changes = {}
        for name, value in options.items():
            if name not in known:
                raise InputError(f"unknown eyes option {name!r} (choose from {', '.join(known)})")
            changes[name] = _parse_option(name, value, bool if name == "clean" else float)
        return EyesSimulator(replace(self.config, **changes), self.noise)

    def render(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[Any]]:
        h, w = self.check_size(size)
        p = sample_params(rng, n, (h, w), self.config)
        sensor = target == "synthetic"  # pseudo-real: its camera model adds the noise
        img = render_eyes(p, (h, w), clean=self.config.clean, sensor=sensor)  # (B, H, W) in [0, 1]
        degradation = None
        if target == "pseudo-real":
            out, degradation = degrade(img, rng, self.noise)
        elif target == "synthetic":
            out = np.round(img * 255.0).astype(np.uint8)
        else:
            raise InputError(f"--target {target}: choose from synthetic, pseudo-real")
        return out[..., None], make_labels(p, target, degradation)  # (B, H, W, 1)
