"""The eye's geometry, shared by the renderer (:mod:`simgan.sim.eye_render`) and the labels
(:mod:`simgan.sim.eyes`): head rotation, gaze, the lid frame and curves, the landmarks and the light.
"""

from __future__ import annotations

import numpy as np

from simgan.gaze import pitchyaw_to_vector

__all__ = ["eye_landmarks"]

_LID_POINTS = 8  # lid_contour: 9 upper points (inner corner .. outer corner) + 7 lower (outer .. inner)
_IRIS_POINTS = 8
_IRIS_TEX = 64  # angular samples of the iris fibre texture (texture sizes are powers of two)
_LASH_TEX = 64  # samples of the eyelash pattern along the lid
_CORNEA_OFFSET = 0.45  # cornea sphere centre = 0.45 r along g; radius 0.62 r (7.8 mm cornea / 12.5 mm eye)
_CORNEA_RADIUS = 0.62


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
