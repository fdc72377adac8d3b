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
from simgan.gaze import pitchyaw_to_vector, vector_to_pitchyaw
from simgan.sim.camera_noise import CameraNoiseConfig, degrade
from simgan.sim.randomize import smooth_noise
from simgan.sim.registry import Simulator, register_simulator

__all__ = ["EyesConfig", "EyesSimulator", "sample_params", "render_eyes", "eye_landmarks", "make_labels"]

# Reference layout, MPIIGaze's normalised crop (docs/simulate_eyes.md, "Framing"): a virtual camera with
# focal length 960 px at 600 mm from the eye gives 1.6 px/mm at 36x60, about 1.51 px/mm after the resize to
# 35x55; a 12 mm eyeball radius is then about 18 px, and the eye (corner to corner, about 2.4 radii) spans
# about 80 % of the width. The eye centre (the corners' midpoint) sits at the crop's centre.
_SCALE_PER_WIDTH = 0.33
_REF_ASPECT = 55.0 / 35.0
_LID_POINTS = 8  # lid_contour: 9 upper points (inner corner .. outer corner) + 7 lower (outer .. inner)
_IRIS_POINTS = 8
_IRIS_TEX = 64  # angular samples of the iris fibre texture (texture sizes are powers of two)
_LASH_TEX = 64  # samples of the eyelash pattern along the lid
_SKIN_CELLS = ((4, 7), (10, 16), (18, 28))  # coarse, mid and fine skin texture grids (rows, cols)
_CORNEA_OFFSET = 0.45  # cornea sphere centre = 0.45 r along g; radius 0.62 r (7.8 mm cornea / 12.5 mm eye)
_CORNEA_RADIUS = 0.62


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


def _rotation(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Head rotations R_h = R_z(roll) R_y(yaw) R_x(pitch), with the MPIIGaze sign of pitch and yaw.

    Built so that R_h (0, 0, -1) = pitchyaw_to_vector(pitch, yaw): a head with pitch/yaw faces the same
    way a gaze with those angles looks. Shape: (B,) each -> (B, 3, 3).
    """
    z, o = np.zeros_like(pitch), np.ones_like(pitch)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cr, sr = np.cos(roll), np.sin(roll)
    # R_x maps (0, 0, -1) to (0, -sin p, -cos p): positive pitch faces up (y is down).
    rx = np.stack([o, z, z, z, cp, sp, z, -sp, cp], -1).reshape(-1, 3, 3)
    # R_y then maps it to (-cos p sin y, -sin p, -cos p cos y), the MPIIGaze gaze of (p, y).
    ry = np.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).reshape(-1, 3, 3)
    rz = np.stack([cr, -sr, z, sr, cr, z, z, z, o], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


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
# Geometry shared by rendering and labels
# --------------------------------------------------------------------------------------------------


def _gaze(p: dict[str, np.ndarray]) -> np.ndarray:
    return pitchyaw_to_vector(np.stack([p["pitch"], p["yaw"]], -1))  # (B, 3)


def _lid_frame(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Projected eye corners and lid apexes, in camera-plane units of r relative to the eyeball centre.

    Returns the inner corner ``c_in`` (B, 2), the corner axis ``e`` (B, 2) and its upward normal ``nrm``,
    the corner distance ``length`` (B,), and per lid the apex position along the axis ``a_*`` (0..1) and
    its height ``h_*`` above the axis (upper > 0, lower < 0).
    """
    g = _gaze(p)
    r_h = _rotation(p["head_pitch"], p["head_yaw"], p["head_roll"])  # (B, 3, 3)
    g_head = np.einsum("bji,bj->bi", r_h, g)  # R_h^T g: gaze relative to the head
    lift = -g_head[:, 1]  # sin(eye-in-head pitch): > 0 looking up
    side = g_head[:, 0]

    def surface_point(x: np.ndarray, y: np.ndarray, thickness: float) -> np.ndarray:
        # A point just in front of the eyeball surface (the lid margin rides on the eye).
        z = -np.sqrt(np.clip(1.0 - x * x - y * y, 0.05, None)) - thickness
        return np.stack([x, y, z], -1)

    depth = np.full_like(lift, -0.45)
    pts = np.stack(
        [
            np.stack([p["corner_in_x"], p["corner_in_y"], depth], -1),
            np.stack([p["corner_out_x"], p["corner_out_y"], depth], -1),
            # The upper lid rests on the iris top and follows the eye's pitch (down far, up less).
            surface_point(-0.1 + 0.3 * side, -p["upper_open"] - 0.85 * lift, 0.08),
            surface_point(0.1 + 0.25 * side, p["lower_open"] - 0.3 * lift, 0.05),
        ],
        1,
    )  # (B, 4, 3) head frame
    cam = np.einsum("bij,bkj->bki", r_h, pts)[..., :2]  # (B, 4, 2) orthographic projection
    c_in, c_out, up, lo = cam[:, 0], cam[:, 1], cam[:, 2], cam[:, 3]
    axis = c_out - c_in
    length = np.linalg.norm(axis, axis=-1)
    e = axis / length[:, None]
    nrm = np.stack([e[:, 1], -e[:, 0]], -1)  # e rotated so that it points up (toward -y)
    d_up, d_lo = up - c_in, lo - c_in
    return {
        "c_in": c_in,
        "e": e,
        "nrm": nrm,
        "length": length,
        "a_up": np.clip((d_up * e).sum(-1) / length, 0.2, 0.8),
        "h_up": np.maximum((d_up * nrm).sum(-1), 0.03),
        "a_lo": np.clip((d_lo * e).sum(-1) / length, 0.2, 0.8),
        "h_lo": np.minimum((d_lo * nrm).sum(-1), -0.03),
    }


def _lid_curve(a: np.ndarray, apex: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Lid profile f(a): 0 at the corners (a = 0, 1), 1 at the apex, negative outside [0, 1].

    f = sign(1 - d^2) |1 - d^2|^shape with d the distance from the apex scaled by the apex's side, so the
    curve is smooth at the apex and ``shape`` < 1 makes it rounder (almond eyes).
    """
    # The scale is apex left of the apex and 1 - apex right of it (arithmetic, cheaper than np.where).
    d = (a - apex) / (apex + (a >= apex) * (1.0 - 2.0 * apex))
    w = 1.0 - d * d
    return np.sign(w) * np.power(np.abs(w), shape)


def eye_landmarks(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Landmarks in pixels of the stored image ((u, v), pixel centres at integers).

    Returns ``iris_center`` (B, 2), ``iris_contour`` (B, 8, 2), ``lid_contour`` (B, 16, 2) (upper lid from
    the inner to the outer corner, then the lower lid back, the corners included once), ``glint`` (B, 2)
    and ``glint_visible`` (B,) bool (on the cornea and inside the lid opening).
    """
    g = _gaze(p)
    s = p["scale"][:, None]
    centre = np.stack([p["center_u"], p["center_v"]], -1)  # (B, 2)
    ri = p["iris_radius"]
    ci = np.sqrt(1.0 - ri * ri)[:, None] * g  # iris disc centre, camera space (B, 3)
    iris_center = centre + s * ci[:, :2]

    # Iris rim: ci + ri (cos phi e1 + sin phi e2) with e1, e2 spanning the disc.
    e1 = np.stack([g[:, 2], np.zeros_like(ri), -g[:, 0]], -1)
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(g, e1)
    phi = np.linspace(0, 2 * np.pi, _IRIS_POINTS, endpoint=False)
    rim = ci[:, None, :2] + ri[:, None, None] * (
        np.cos(phi)[None, :, None] * e1[:, None, :2] + np.sin(phi)[None, :, None] * e2[:, None, :2]
    )
    iris_contour = centre[:, None] + s[:, None] * rim

    f = _lid_frame(p)
    a_up = np.linspace(0.0, 1.0, _LID_POINTS + 1)[None, :]  # (1, 9)
    a_lo = np.linspace(1.0, 0.0, _LID_POINTS + 1)[None, 1:-1]  # (1, 7)
    b_up = f["h_up"][:, None] * _lid_curve(a_up, f["a_up"][:, None], p["upper_shape"][:, None])
    b_lo = f["h_lo"][:, None] * _lid_curve(a_lo, f["a_lo"][:, None], p["lower_shape"][:, None])
    a = np.concatenate([np.broadcast_to(a_up, b_up.shape), np.broadcast_to(a_lo, b_lo.shape)], 1)
    b = np.concatenate([b_up, b_lo], 1)  # (B, 16)
    pts = (
        f["c_in"][:, None]
        + (a * f["length"][:, None])[..., None] * f["e"][:, None]
        + b[..., None] * f["nrm"][:, None]
    )
    lid_contour = centre[:, None] + s[:, None] * pts

    # Glint: the cornea point whose normal is the half vector between the light and the camera.
    light = _light(p)
    half = light + np.array([0.0, 0.0, -1.0])
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    glint3 = _CORNEA_OFFSET * g + _CORNEA_RADIUS * half
    glint = centre + s * glint3[:, :2]
    on_cornea = (half * g).sum(-1) > np.cos(np.deg2rad(50.0))
    gx, gy = (glint3[:, 0] - f["c_in"][:, 0]), (glint3[:, 1] - f["c_in"][:, 1])
    ga = (gx * f["e"][:, 0] + gy * f["e"][:, 1]) / f["length"]
    gb = gx * f["nrm"][:, 0] + gy * f["nrm"][:, 1]
    upper = f["h_up"] * _lid_curve(ga, f["a_up"], p["upper_shape"])
    lower = f["h_lo"] * _lid_curve(ga, f["a_lo"], p["lower_shape"])
    inside = (gb < upper) & (gb > lower)
    return {
        "iris_center": iris_center,
        "iris_contour": iris_contour,
        "lid_contour": lid_contour,
        "glint": glint,
        "glint_visible": on_cornea & inside,
    }


def _light(p: dict[str, np.ndarray]) -> np.ndarray:
    """Unit vectors toward the light, camera space, from the camera's side (z < 0). Shape: (B, 3)."""
    v = np.stack([p["light_x"], p["light_y"], -np.ones_like(p["light_x"])], -1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


def _lookup(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Periodic nearest-sample lookup ``table[b, floor(pos) mod N]`` for N a power of two.

    Shape: (B, N), (B, H, W) -> (B, H, W).
    """
    b, n = table.shape
    idx = np.floor(pos).astype(np.int32) & (n - 1)  # two's complement: also right for negative positions
    idx += (np.arange(b, dtype=np.int32) * n)[:, None, None]
    return np.take(table.astype(np.float32).ravel(), idx)


def render_eyes(
    p: dict[str, np.ndarray], size: tuple[int, int], clean: bool = False, sensor: bool = True
) -> np.ndarray:
    """Render eyes from parameters drawn by :func:`sample_params`.

    Args:
        p: parameters (leading dimension B).
        size: (H, W) of the output; must match the size the parameters were drawn for.
        clean: flat sclera (0.9), iris (its albedo) and pupil only: no lids, skin, glint or shading.
        sensor: add the sensor noise (``sensor_noise``); the pseudo-real target leaves it to its own
            camera model.

    Returns:
        float32 intensities in [0, 1].

    Shape:
        - output: (B, H, W)
    """
    h, w = size
    if p["skin_noise"].shape[1:] != (h, w):
        raise ValueError(f"render_eyes: parameters drawn for {p['skin_noise'].shape[1:]}, asked for {(h, w)}")
    f32 = np.float32

    def col(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=f32)[:, None, None]  # (B,) -> (B, 1, 1)

    g = _gaze(p).astype(f32)  # (B, 3)
    gx, gy, gz = col(g[:, 0]), col(g[:, 1]), col(g[:, 2])
    s = col(p["scale"])
    ri = col(p["iris_radius"])
    u = np.arange(w, dtype=f32)[None, None, :]
    v = np.arange(h, dtype=f32)[None, :, None]
    X = (u - col(p["center_u"])) / s  # (B, 1, W) camera plane, units of r
    Y = (v - col(p["center_v"])) / s  # (B, H, 1)

    # --- iris disc: ray (X, Y, t) meets the plane (P - c_i).g = 0; d = P - c_i lies in the disc plane
    cos_i = np.sqrt(1.0 - ri * ri)
    dx = X - cos_i * gx  # (B, 1, W)
    dy = Y - cos_i * gy  # (B, H, 1)
    dz = -(dx * gx + dy * gy) / gz  # (B, H, W)
    rho = np.sqrt(dx * dx + dy * dy + dz * dz)
    # Pixel-space signed distance to the rim: (ri - rho) / |grad rho| with grad rho = M^T d / rho.
    mx, my = dx - dz * gx / gz, dy - dz * gy / gz
    px_per_rho = s * rho / np.sqrt(mx * mx + my * my + 1e-12)
    sd_iris = (ri - rho) * px_per_rho  # > 0 inside, pixels
    sd_pupil = (ri * col(p["pupil_ratio"]) - rho) * px_per_rho
    iris_cov = np.clip(sd_iris + 0.5, 0.0, 1.0)
    pupil_cov = np.clip(sd_pupil + 0.5, 0.0, 1.0)
    if clean:
        iris_val = col(p["iris_albedo"]) * (1.0 - pupil_cov) + 0.05 * pupil_cov
        return (0.9 * (1.0 - iris_cov) + iris_cov * iris_val).astype(f32)

    # --- eyeball shading: Lambert on the sphere normal (X, Y, z) toward the light
    light = _light(p).astype(f32)
    lx, ly, lz = col(light[:, 0]), col(light[:, 1]), col(light[:, 2])
    r2 = X * X + Y * Y  # (B, H, W)
    zs = -np.sqrt(np.clip(1.0 - r2, 0.0, None))
    amb = col(p["ambient"])
    ndotl = np.clip(X * lx + Y * ly + zs * lz, 0.0, None)
    shade = amb + (1.0 - amb) * ndotl
    # Past the eyeball's silhouette (eye corners) the sclera turns away into shadow.
    shade = shade * np.clip((1.08 - np.sqrt(r2)) * 3.0, 0.25, 1.0)

    limbal = 1.0 - 0.45 * np.exp(np.minimum(sd_iris, 0.0) / (col(p["limbal_width"]) * s))
    sclera = col(p["sclera_albedo"]) * limbal
    e1 = np.stack([g[:, 2], np.zeros_like(g[:, 0]), -g[:, 0]], -1)
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(g, e1)
    a1 = dx * col(e1[:, 0]) + dz * col(e1[:, 2])  # e1 has no y component
    a2 = dx * col(e2[:, 0]) + dy * col(e2[:, 1]) + dz * col(e2[:, 2])
    phi = np.arctan2(a2, a1)  # angle within the iris disc
    fibres = _lookup(p["iris_fibres"], (phi + np.pi) * (_IRIS_TEX / (2 * np.pi)))
    rel = rho / ri  # 0 at the centre, 1 at the rim
    iris_val = col(p["iris_albedo"]) * (
        (1.0 + col(p["iris_texture"]) * fibres)
        * (1.0 - col(p["limbal_ring"]) * np.clip((rel - 0.75) * 4.0, 0.0, 1.0))  # dark limbal ring
        * (1.0 + 0.25 * np.exp(-(((rel - 0.45) / 0.12) ** 2)))  # collarette
    )
    eye = sclera * (1.0 - iris_cov) + iris_cov * (
        iris_val * (1.0 - pupil_cov) + col(p["pupil_albedo"]) * pupil_cov
    )
    eye = eye * shade

    # --- lids: (a, b) coordinates along the corner axis (a: 0 inner .. 1 outer) and up from it
    f = _lid_frame(p)
    qx = X - col(f["c_in"][:, 0])
    qy = Y - col(f["c_in"][:, 1])
    a = (qx * col(f["e"][:, 0]) + qy * col(f["e"][:, 1])) / col(f["length"])  # (B, H, W)
    b = qx * col(f["nrm"][:, 0]) + qy * col(f["nrm"][:, 1])
    b_up = col(f["h_up"]) * _lid_curve(a, col(f["a_up"]), col(p["upper_shape"]))
    b_lo = col(f["h_lo"]) * _lid_curve(a, col(f["a_lo"]), col(p["lower_shape"]))
    du = (b_up - b) * s  # pixels below the upper lid margin (> 0 inside the opening)
    dl = (b - b_lo) * s  # pixels above the lower lid margin
    opening = np.clip(du + 0.5, 0.0, 1.0) * np.clip(dl + 0.5, 0.0, 1.0)

    # Contact shadows: the upper lid and its lashes shade the eyeball broadly, the lower lid narrowly.
    eye = eye * (1.0 - 0.45 * np.exp(-np.maximum(du, 0.0) / (0.18 * s)))
    eye = eye * (1.0 - 0.25 * np.exp(-np.maximum(dl, 0.0) / (0.08 * s)))
    caruncle = np.exp(-(((a - 0.02) / 0.07) ** 2) - (b / 0.25) ** 2)
    skin_tone = col(p["skin_tone"])
    eye = eye * (1.0 - caruncle) + caruncle * col(p["caruncle"]) * skin_tone * shade

    # --- skin: tone, coarse + fine texture, lighting on a gently curved face, crease, brow, lid margins
    tex = 1.0 + col(p["skin_texture"]) * (p["skin_low"] + 0.6 * p["skin_mid"])
    tex = tex + col(p["skin_fine"]) * p["skin_fine_field"]  # about 1.3 mm: fine wrinkles and pores
    kappa = 0.35
    skin_ndotl = np.clip((kappa * (X * lx + Y * ly) - lz) / np.sqrt(1.0 + kappa * kappa * r2), 0.0, None)
    skin = skin_tone * tex * (amb + (1.0 - amb) * skin_ndotl)
    outside = np.maximum(-du, -dl)  # pixels outside the opening (negative inside)
    skin = skin * (1.0 - 0.35 * np.exp(-np.maximum(outside, 0.0) / (0.12 * s)))  # margin occlusion
    # Lid crease: a dark line above the upper lid, wider than the opening and following it partly.
    h_crease = 0.5 * col(f["h_up"]) + 0.3 + col(p["crease_gap"])
    crease_f = _lid_curve((a + 0.1) / 1.2, col(f["a_up"]), 0.5)
    b_crease = h_crease * crease_f
    # Fade the crease toward its ends instead of letting the curve run down past the eye corners.
    crease = np.exp(-((((b - b_crease) * s) / (0.1 * s)) ** 2)) * np.clip(crease_f * 3.0, 0.0, 1.0)
    skin = skin * (1.0 - col(p["crease_dark"]) * crease)
    # Lower-lid fold: a faint line below the lower lid, following it.
    b_fold = b_lo - col(p["fold_gap"])
    fold = np.exp(-((((b - b_fold) * s) / (0.07 * s)) ** 2)) * np.clip(-b_fold * 4.0, 0.0, 1.0)
    skin = skin * (1.0 - col(p["fold_dark"]) * fold * np.clip(np.minimum(a, 1.0 - a) * 5.0, 0.0, 1.0))
    # Brow: a band of slanted hair strokes (the eyelash pattern, sheared), darker at its core.
    brow_b = col(p["brow_height"]) + 0.25 * (2.0 * a - 1.0) ** 2
    hairs = _lookup(p["lash_pattern"], (a * 2.0 + (b - brow_b) * 0.8) * _LASH_TEX)
    brow = np.exp(-(((b - brow_b) / 0.32) ** 2)) * (0.55 + 0.45 * hairs)
    skin = skin * (1.0 - col(p["brow_dark"]) * np.clip(brow, 0.0, 1.0))

    img = skin * (1.0 - opening) + eye * opening

    # --- eyelashes: strokes fanning out above the upper lid margin, denser toward the outer corner
    t = -du  # pixels above the margin
    lash_len = col(p["lash_length"]) * s
    fan = (a - 0.5) * 1.5  # lashes lean outward away from the centre
    strokes = _lookup(p["lash_pattern"], a * _LASH_TEX + fan * t * (_LASH_TEX / (6.0 * s)))
    along = np.clip(np.minimum(a, 1.0 - a) * 8.0, 0.0, 1.0) * (0.6 + 0.5 * a)
    reach = np.exp(-np.maximum(t, 0.0) / lash_len) * np.clip(t + 1.2, 0.0, 1.0)
    lash = col(p["lash_dark"]) * along * reach * (0.45 + 0.55 * strokes)
    lower_lash = col(p["lower_lash_dark"]) * along * np.exp(-(((-dl - 0.6) / 0.9) ** 2))
    img = img * (1.0 - np.clip(lash, 0.0, 0.95)) * (1.0 - lower_lash)

    # --- corneal glint: a small Gaussian highlight, only on the visible cornea
    lm = eye_landmarks(p)
    glint_on = col(lm["glint_visible"].astype(f32) * p["glint_strength"])
    sig = col(p["glint_size"]) * s
    gu, gv = col(lm["glint"][:, 0]), col(lm["glint"][:, 1])
    glint = np.exp(-((u - gu) ** 2 + (v - gv) ** 2) / (2.0 * sig * sig + 0.3))
    img = img + glint_on * glint * opening

    img = img * col(p["intensity"])
    if sensor:  # before the 8 bits and before any equalisation, which amplifies it as in a webcam's crops
        img = img + col(p["sensor_noise"]) * p["skin_noise"]
    # A light [k, 1, k] / (1 + 2k) blur stands in for the webcam's optics and for the resampling of
    # MPIIGaze's normalisation warp and resize, which smooths the sensor noise as well.
    k = col(p["blur"])
    img = (img + k * (np.roll(img, 1, 1) + np.roll(img, -1, 1))) / (1.0 + 2.0 * k)
    img = (img + k * (np.roll(img, 1, 2) + np.roll(img, -1, 2))) / (1.0 + 2.0 * k)
    return np.clip(img, 0.0, 1.0).astype(f32)


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
