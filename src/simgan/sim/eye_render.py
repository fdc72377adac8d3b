"""Rendering eyes from drawn parameters (:func:`render_eyes`), vectorised over (B, H, W) in float32 NumPy."""

from __future__ import annotations

import numpy as np

from simgan.sim.eye_model import _IRIS_TEX, _LASH_TEX, _gaze, _lid_curve, _lid_frame, _light, eye_landmarks

__all__ = ["render_eyes"]


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
    f32, col = np.float32, _col

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

    skin = _skin(p, f, X, Y, a, b, b_lo, du, dl, light, r2)
    img = skin * (1.0 - opening) + eye * opening

    img = _lashes(p, img, a, du, dl)
    img = img + _glint(p, u, v) * opening
    return _camera(p, img, sensor)


def _col(x: np.ndarray) -> np.ndarray:
    """(B,) -> (B, 1, 1) float32, to broadcast a per-image parameter over (B, H, W)."""
    return np.asarray(x, dtype=np.float32)[:, None, None]


def _skin(
    p: dict[str, np.ndarray],
    f: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    b_lo: np.ndarray,
    du: np.ndarray,
    dl: np.ndarray,
    light: np.ndarray,
    r2: np.ndarray,
) -> np.ndarray:
    """The skin around the eye: tone, coarse + fine texture, lighting on a gently curved face, the margin
    occlusion, lid crease, lower-lid fold and brow. ``(a, b)``: lid coordinates; ``du``, ``dl``: pixels
    inside the upper and lower lid margins. Shape: (B, H, W)."""
    col = _col
    s, amb, skin_tone = col(p["scale"]), col(p["ambient"]), col(p["skin_tone"])
    lx, ly, lz = col(light[:, 0]), col(light[:, 1]), col(light[:, 2])
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
    return skin * (1.0 - col(p["brow_dark"]) * np.clip(brow, 0.0, 1.0))


def _lashes(
    p: dict[str, np.ndarray], img: np.ndarray, a: np.ndarray, du: np.ndarray, dl: np.ndarray
) -> np.ndarray:
    """``img`` under the eyelashes: strokes fanning out above the upper lid margin, denser toward the
    outer corner, and a faint lower lash line. Shape: (B, H, W)."""
    col, s = _col, _col(p["scale"])
    t = -du  # pixels above the margin
    lash_len = col(p["lash_length"]) * s
    fan = (a - 0.5) * 1.5  # lashes lean outward away from the centre
    strokes = _lookup(p["lash_pattern"], a * _LASH_TEX + fan * t * (_LASH_TEX / (6.0 * s)))
    along = np.clip(np.minimum(a, 1.0 - a) * 8.0, 0.0, 1.0) * (0.6 + 0.5 * a)
    reach = np.exp(-np.maximum(t, 0.0) / lash_len) * np.clip(t + 1.2, 0.0, 1.0)
    lash = col(p["lash_dark"]) * along * reach * (0.45 + 0.55 * strokes)
    lower_lash = col(p["lower_lash_dark"]) * along * np.exp(-(((-dl - 0.6) / 0.9) ** 2))
    return img * (1.0 - np.clip(lash, 0.0, 0.95)) * (1.0 - lower_lash)


def _glint(p: dict[str, np.ndarray], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The corneal glint: a small Gaussian highlight where the cornea is visible. Shape: (B, H, W)."""
    col, s = _col, _col(p["scale"])
    lm = eye_landmarks(p)
    glint_on = col(lm["glint_visible"].astype(np.float32) * p["glint_strength"])
    sig = col(p["glint_size"]) * s
    gu, gv = col(lm["glint"][:, 0]), col(lm["glint"][:, 1])
    return glint_on * np.exp(-((u - gu) ** 2 + (v - gv) ** 2) / (2.0 * sig * sig + 0.3))


def _camera(p: dict[str, np.ndarray], img: np.ndarray, sensor: bool) -> np.ndarray:
    """Exposure, sensor noise and the light blur, clipped to [0, 1] float32. Shape: (B, H, W)."""
    col = _col
    img = img * col(p["intensity"])
    if sensor:  # before the 8 bits and before any equalisation, which amplifies it as in a webcam's crops
        img = img + col(p["sensor_noise"]) * p["skin_noise"]
    # A light [k, 1, k] / (1 + 2k) blur stands in for the webcam's optics and for the resampling of
    # MPIIGaze's normalisation warp and resize, which smooths the sensor noise as well.
    k = col(p["blur"])
    img = (img + k * (np.roll(img, 1, 1) + np.roll(img, -1, 1))) / (1.0 + 2.0 * k)
    img = (img + k * (np.roll(img, 1, 2) + np.roll(img, -1, 2))) / (1.0 + 2.0 * k)
    return np.clip(img, 0.0, 1.0).astype(np.float32)
