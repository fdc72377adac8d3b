"""The kinematic hand of the ``hands`` simulator: joint limits, random shapes and poses, forward kinematics.

A right hand built from capsules (a segment with a radius; a sphere is a capsule whose two ends
coincide): a phalanx per finger bone, metacarpals, a wrist, thenar and hypothenar pads and the
forearm. Everything is vectorised over a batch of N hands.

Local hand frame (millimetres, wrist centre at the origin): **x ulnar** (toward the pinky), **y distal**
(toward the fingertips), **z palmar** (out of the palm). It has the handedness of the camera frame
(x right, y up, z forward), so any rotation keeps it a right hand; at the identity the camera sees the
back of a right hand, fingers up, thumb on the image's left.

Joint angles (degrees, :data:`ANGLE_LIMITS`; the sampler never leaves these ranges):

=======================  ============  ==================================================================
angle                    limits        meaning (positive direction)
=======================  ============  ==================================================================
``<finger>_mcp_flex``    -20 .. 90     MCP flexion toward the palm (negative = hyperextension)
``<finger>_mcp_abd``     see table     MCP abduction toward the thumb (radial); about the palm normal
``<finger>_pip``         0 .. 110      PIP flexion
``<finger>_dip``         0 .. 80       DIP flexion
``thumb_cmc_flex``       -15 .. 50     CMC flexion: the thumb swings across the palm toward the pinky
``thumb_cmc_abd``        0 .. 60       CMC palmar abduction: the thumb leaves the palm plane (and its
                                       pad turns toward the palm, so it flexes over the palm)
``thumb_mcp``            -10 .. 60     thumb MCP flexion
``thumb_ip``             -15 .. 80     thumb IP flexion (negative = hyperextension)
``wrist_flex``           -60 .. 60     wrist flexion (the hand bends toward the palm); moves the forearm
``wrist_dev``            -30 .. 20     wrist deviation (positive = radial); moves the forearm
=======================  ============  ==================================================================

``<finger>`` is ``index``, ``middle``, ``ring`` or ``pinky``; MCP abduction limits are index -15..25,
middle -15..15, ring -15..15, pinky -25..15 (the pinky spreads ulnarly, the index radially). A finger
joint rotates its bone frame about the bone's x axis (flexion, y toward z) or about its z axis
(abduction, y toward -x), so the angle between consecutive bones equals the flexion angle.

Hand shape (:class:`HandShape`, all per hand): ``scale`` (every length and radius, 0.82..1.12 of a
190 mm adult hand), ``palm_width`` and ``palm_length`` (palm proportions), ``finger_length`` (all
phalanges) and ``finger_scale`` (each finger; index, middle, ring, pinky, thumb), ``thickness`` (all
radii).

Part ids (:data:`PARTS`, the per-pixel labels of the ``hands`` simulator's masks): every capsule belongs
to one part, :attr:`HandGeometry.part`. 0 is the background (no capsule), 1 the palm (metacarpals,
knuckle bar, thenar and hypothenar pads, wrist), then each finger's three segments from the knuckle out
(thumb: metacarpal, proximal, distal; index, middle, ring, pinky: proximal, middle, distal phalanx),
and 17 the forearm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simgan.handpose import EVAL_JOINT_NAMES

__all__ = [
    "FINGERS",
    "PARTS",
    "ANGLE_LIMITS",
    "SKELETON_POINTS",
    "EVAL_POINTS",
    "HandShape",
    "HandGeometry",
    "sample_shape",
    "sample_angles",
    "forward_kinematics",
    "rot_x",
    "rot_y",
    "rot_z",
]

FINGERS = ("index", "middle", "ring", "pinky")

_SEGMENTS = {
    "thumb": ("metacarpal", "proximal", "distal"),
    **{f: ("proximal", "intermediate", "distal") for f in FINGERS},
}
# Part ids: the index in this tuple (module docstring); at most 256 so a mask fits in uint8.
PARTS: tuple[str, ...] = (
    "background",
    "palm",
    *(f"{f}_{seg}" for f in ("thumb", *FINGERS) for seg in _SEGMENTS[f]),
    "forearm",
)
_PART_ID = {name: i for i, name in enumerate(PARTS)}

_MCP_ABD = {"index": (-15.0, 25.0), "middle": (-15.0, 15.0), "ring": (-15.0, 15.0), "pinky": (-25.0, 15.0)}
ANGLE_LIMITS: dict[str, tuple[float, float]] = {
    **{
        f"{f}_{j}": lim
        for f in FINGERS
        for j, lim in (
            ("mcp_flex", (-20.0, 90.0)),
            ("mcp_abd", _MCP_ABD[f]),
            ("pip", (0.0, 110.0)),
            ("dip", (0.0, 80.0)),
        )
    },
    "thumb_cmc_flex": (-15.0, 50.0),
    "thumb_cmc_abd": (0.0, 60.0),
    "thumb_mcp": (-10.0, 60.0),
    "thumb_ip": (-15.0, 80.0),
    "wrist_flex": (-60.0, 60.0),
    "wrist_dev": (-30.0, 20.0),
}

# Named skeleton points returned by forward kinematics (each (N, 3)).
SKELETON_POINTS = (
    *(f"{f}_{j}" for f in FINGERS for j in ("mcp", "pip", "dip", "tip")),
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "wrist",
    "wrist_ulnar",
    "wrist_radial",
    "palm_centre",
    "elbow",
)
# The 14 NYU evaluation joints in order, as skeleton points (the skeleton uses the same names).
EVAL_POINTS = EVAL_JOINT_NAMES

# --- Nominal geometry of a 190 mm hand (mm, local frame). ---
_MCP = {
    "index": (-28.0, 94.0, 0.0),
    "middle": (-9.0, 97.0, 0.0),
    "ring": (9.5, 93.0, 0.0),
    "pinky": (26.0, 84.0, 1.0),
}
_SPLAY = {"index": 5.0, "middle": 0.0, "ring": -5.0, "pinky": -11.0}  # rest direction, degrees radial
_PHALANX = {
    "index": (38.0, 22.0, 15.0),
    "middle": (43.0, 26.0, 16.0),
    "ring": (40.0, 25.0, 16.0),
    "pinky": (31.0, 18.0, 14.0),
}
_RADIUS = {
    "index": (9.0, 8.2, 7.3),
    "middle": (9.3, 8.5, 7.5),
    "ring": (8.8, 8.0, 7.1),
    "pinky": (7.8, 7.0, 6.3),
}
_METACARPAL_R = {"index": 13.0, "middle": 13.5, "ring": 13.0, "pinky": 11.5}
_THUMB_CMC = (-22.0, 24.0, 8.0)
_THUMB_LEN = (40.0, 30.0, 21.0)  # metacarpal, proximal, distal (to the tip joint)
_THUMB_R = (11.5, 10.0, 8.8)
_THUMB_REST_DIR = (-0.70, 0.70, 0.15)  # radial, distal and a little palmar
_THUMB_TWIST = 20.0  # degrees the pad of an adducted thumb faces palmar; abduction turns it toward the palm
_WRIST_HALF, _WRIST_R = 14.0, 15.0
_PALM_CENTRE_Y = 48.0  # the palm centre lies on the middle metacarpal's axis at this height
_METACARPAL_BASE_Y = 18.0
_THENAR = ((-10.0, 18.0, 4.0), (-20.0, 52.0, 4.0), 12.0)
_HYPOTHENAR = ((12.0, 14.0, 2.0), (21.0, 64.0, 2.0), 10.5)
_FOREARM_LEN, _FOREARM_HALF, _FOREARM_R, _FOREARM_START = 260.0, 12.0, 17.0, 12.0


def rot_x(deg: np.ndarray) -> np.ndarray:
    """Rotations about x by ``deg`` degrees (y turns toward z). Shape: (N,) -> (N, 3, 3)."""
    t = np.deg2rad(np.asarray(deg, dtype=np.float64))
    c, s, o, i = np.cos(t), np.sin(t), np.zeros_like(t), np.ones_like(t)
    return np.stack([np.stack([i, o, o], -1), np.stack([o, c, -s], -1), np.stack([o, s, c], -1)], -2)


def rot_y(deg: np.ndarray) -> np.ndarray:
    """Rotations about y by ``deg`` degrees (z turns toward x). Shape: (N,) -> (N, 3, 3)."""
    t = np.deg2rad(np.asarray(deg, dtype=np.float64))
    c, s, o, i = np.cos(t), np.sin(t), np.zeros_like(t), np.ones_like(t)
    return np.stack([np.stack([c, o, s], -1), np.stack([o, i, o], -1), np.stack([-s, o, c], -1)], -2)


def rot_z(deg: np.ndarray) -> np.ndarray:
    """Rotations about z by ``deg`` degrees (x turns toward y, y toward -x). Shape: (N,) -> (N, 3, 3)."""
    t = np.deg2rad(np.asarray(deg, dtype=np.float64))
    c, s, o, i = np.cos(t), np.sin(t), np.zeros_like(t), np.ones_like(t)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


@dataclass(frozen=True)
class HandShape:
    """Per-hand size and proportions (module docstring); every field has N rows."""

    scale: np.ndarray  # (N,)
    palm_width: np.ndarray  # (N,)
    palm_length: np.ndarray  # (N,)
    finger_length: np.ndarray  # (N,)
    thickness: np.ndarray  # (N,)
    finger_scale: np.ndarray  # (N, 5): index, middle, ring, pinky, thumb

    def label(self, i: int) -> dict[str, Any]:
        """Hand ``i``'s shape as a JSON-ready dict."""
        return {
            "scale": round(float(self.scale[i]), 4),
            "palm_width": round(float(self.palm_width[i]), 4),
            "palm_length": round(float(self.palm_length[i]), 4),
            "finger_length": round(float(self.finger_length[i]), 4),
            "thickness": round(float(self.thickness[i]), 4),
            "finger_scale": np.round(self.finger_scale[i], 4).tolist(),
        }


def sample_shape(rng: np.random.Generator, n: int) -> HandShape:
    """Random hand sizes and proportions (ranges in the module docstring)."""
    return HandShape(
        scale=rng.uniform(0.82, 1.12, n),
        palm_width=rng.uniform(0.9, 1.12, n),
        palm_length=rng.uniform(0.92, 1.08, n),
        finger_length=rng.uniform(0.88, 1.1, n),
        thickness=rng.uniform(0.85, 1.15, n),
        finger_scale=rng.uniform(0.95, 1.05, (n, 5)),
    )


def _clip(name: str, x: np.ndarray) -> np.ndarray:
    lo, hi = ANGLE_LIMITS[name]
    return np.clip(x, lo, hi)


def sample_angles(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Random poses inside :data:`ANGLE_LIMITS`: mostly natural (coupled) curls, some independent.

    Natural hands move fingers together: each hand draws a global curl in [0, 1], each finger a curl
    near it (or, one time in four, its own: pointing, "ok", pinching), and its joints follow the curl
    with noise, DIP about two thirds of PIP; spread shrinks as fingers curl. One hand in five instead
    draws every angle uniformly within its limits. Everything is clipped to the limits.

    Returns:
        name -> (N,) degrees, for every key of :data:`ANGLE_LIMITS`.
    """
    uniform = rng.random(n) < 0.2  # (N,) hands with independent uniform angles
    g = rng.random(n)  # (N,) global curl
    out: dict[str, np.ndarray] = {}
    for f in FINGERS:
        own = rng.random(n) < 0.25
        c = np.where(own, rng.random(n), np.clip(g + 0.25 * rng.standard_normal(n), 0.0, 1.0))
        spread = rng.standard_normal(n)
        natural = {
            "mcp_flex": -10.0 + 95.0 * c + 10.0 * rng.standard_normal(n),
            "mcp_abd": (1.0 - c) * 8.0 * spread,
            "pip": 105.0 * c + 10.0 * rng.standard_normal(n),
        }
        natural["dip"] = 0.67 * natural["pip"] + 8.0 * rng.standard_normal(n)
        for j in ("mcp_flex", "mcp_abd", "pip", "dip"):
            lo, hi = ANGLE_LIMITS[f"{f}_{j}"]
            out[f"{f}_{j}"] = _clip(f"{f}_{j}", np.where(uniform, rng.uniform(lo, hi, n), natural[j]))
    c = np.where(rng.random(n) < 0.3, rng.random(n), np.clip(g + 0.3 * rng.standard_normal(n), 0.0, 1.0))
    thumb = {
        "thumb_cmc_flex": -10.0 + 55.0 * c + 8.0 * rng.standard_normal(n),
        "thumb_cmc_abd": 10.0 + 40.0 * rng.random(n),
        "thumb_mcp": 5.0 + 45.0 * c + 8.0 * rng.standard_normal(n),
        "thumb_ip": 65.0 * c + 12.0 * rng.standard_normal(n),
        "wrist_flex": 30.0 * rng.standard_normal(n),
        "wrist_dev": -5.0 + 12.0 * rng.standard_normal(n),
    }
    for name, x in thumb.items():
        lo, hi = ANGLE_LIMITS[name]
        out[name] = _clip(name, np.where(uniform, rng.uniform(lo, hi, n), x))
    return out


@dataclass(frozen=True)
class HandGeometry:
    """Skeleton points and the capsules that make up N hands (in one frame: local or camera).

    Attributes:
        points: name (:data:`SKELETON_POINTS`) -> (N, 3).
        a: (N, K, 3) first end of each capsule.
        b: (N, K, 3) second end (equal to ``a`` for a sphere).
        radius: (N, K) capsule radii.
        eval_radius: (N, 14) the radius of the sphere (a capsule end) centred on each evaluation joint,
            i.e. how far below the skin the joint lies when seen head-on.
        part: (K,) uint8 part id (:data:`PARTS`) of each capsule; the same for every hand.
    """

    points: dict[str, np.ndarray]
    a: np.ndarray
    b: np.ndarray
    radius: np.ndarray
    eval_radius: np.ndarray
    part: np.ndarray

    @property
    def eval_xyz(self) -> np.ndarray:
        """(N, 14, 3) the NYU evaluation joints (order of :data:`EVAL_POINTS`)."""
        return np.stack([self.points[p] for p in EVAL_POINTS], axis=1)

    def transformed(self, rotation: np.ndarray, origin: np.ndarray, translation: np.ndarray) -> HandGeometry:
        """``x -> rotation @ (x - origin) + translation`` for every point and capsule end.

        Shape:
            rotation: (N, 3, 3); origin, translation: (N, 3).
        """

        def f(x: np.ndarray) -> np.ndarray:  # (N, ..., 3)
            extra = x.ndim - 2
            o = origin.reshape(origin.shape[0], *([1] * extra), 3)
            t = translation.reshape(translation.shape[0], *([1] * extra), 3)
            return np.einsum("nij,n...j->n...i", rotation, x - o) + t

        return HandGeometry(
            {k: f(v) for k, v in self.points.items()},
            f(self.a),
            f(self.b),
            self.radius,
            self.eval_radius,
            self.part,
        )


def _vec(v: tuple[float, float, float], n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=np.float64), (n, 3)).copy()


def forward_kinematics(shape: HandShape, angles: dict[str, np.ndarray]) -> HandGeometry:
    """Skeleton and capsules of N hands in the local hand frame (module docstring).

    Args:
        shape: per-hand proportions.
        angles: name -> (N,) degrees for every key of :data:`ANGLE_LIMITS`.

    Returns:
        The :class:`HandGeometry` in the local frame (wrist centre at the origin).
    """
    n = shape.scale.shape[0]
    s = shape.scale[:, None]  # (N, 1)
    palm = np.stack([shape.palm_width, shape.palm_length, np.ones(n)], axis=1) * s  # (N, 3) per axis
    rad = (shape.scale * shape.thickness)[:, None]  # (N, 1) radius scale

    def palm_pt(p: tuple[float, float, float]) -> np.ndarray:  # nominal palm point -> (N, 3)
        return _vec(p, n) * palm

    caps: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (a (N,3), b (N,3), r (N,))
    parts: list[int] = []  # the part id of each capsule

    def cap(a: np.ndarray, b: np.ndarray, r: np.ndarray | float, part: str = "palm") -> None:
        caps.append((a, b, np.broadcast_to(np.asarray(r, dtype=np.float64), (n,)) * rad[:, 0]))
        parts.append(_PART_ID[part])

    pts: dict[str, np.ndarray] = {}
    eval_r: dict[str, np.ndarray] = {}
    y = np.array([0.0, 1.0, 0.0])

    # Fingers: MCP -> PIP -> DIP -> tip, each bone along its frame's y axis.
    for fi, f in enumerate(FINGERS):
        length = (shape.finger_length * shape.finger_scale[:, fi])[:, None] * s  # (N, 1)
        mcp = palm_pt(_MCP[f])
        frame = rot_z(np.full(n, _SPLAY[f])) @ rot_z(angles[f"{f}_mcp_abd"]) @ rot_x(angles[f"{f}_mcp_flex"])
        joints = [mcp]
        for k, bend in enumerate((None, angles[f"{f}_pip"], angles[f"{f}_dip"])):
            if bend is not None:
                frame = frame @ rot_x(bend)
            joints.append(joints[-1] + _PHALANX[f][k] * length * (frame @ y))
        for k in range(3):
            cap(joints[k], joints[k + 1], _RADIUS[f][k], f"{f}_{_SEGMENTS[f][k]}")
        pts.update({f"{f}_mcp": mcp, f"{f}_pip": joints[1], f"{f}_dip": joints[2], f"{f}_tip": joints[3]})
        eval_r[f"{f}_tip"] = _RADIUS[f][2] * rad[:, 0]
        eval_r[f"{f}_pip"] = max(_RADIUS[f][0], _RADIUS[f][1]) * rad[:, 0]

    # Thumb: CMC -> MCP -> IP -> tip. Its rest frame has y along the thumb and z along the palm normal;
    # CMC flexion swings it about that normal toward the pinky, abduction lifts it out of the palm plane.
    # The thumb pad faces a little palmar (a twist about the bone) and turns toward the palm as the thumb
    # abducts; MCP and IP flexion curl the thumb the way its pad faces (about the twisted frame's z).
    ty = np.asarray(_THUMB_REST_DIR) / np.linalg.norm(_THUMB_REST_DIR)
    tz = np.array([0.0, 0.0, 1.0]) - ty[2] * ty
    tz /= np.linalg.norm(tz)
    t0 = np.stack([np.cross(ty, tz), ty, tz], axis=1)  # columns x, y, z of the thumb's rest frame
    tlen = (shape.finger_length * shape.finger_scale[:, 4])[:, None] * s
    frame = (
        t0
        @ rot_z(-angles["thumb_cmc_flex"])
        @ rot_x(angles["thumb_cmc_abd"])
        @ rot_y(angles["thumb_cmc_abd"] - _THUMB_TWIST)
    )
    cmc = palm_pt(_THUMB_CMC)
    joints = [cmc]
    for k, bend in enumerate((None, angles["thumb_mcp"], angles["thumb_ip"])):
        if bend is not None:
            frame = frame @ rot_z(-bend)
        joints.append(joints[-1] + _THUMB_LEN[k] * tlen * (frame @ y))
    for k in range(3):
        cap(joints[k], joints[k + 1], _THUMB_R[k], f"thumb_{_SEGMENTS['thumb'][k]}")
    pts.update({"thumb_cmc": cmc, "thumb_mcp": joints[1], "thumb_ip": joints[2], "thumb_tip": joints[3]})
    eval_r["thumb_tip"] = _THUMB_R[2] * rad[:, 0]
    eval_r["thumb_ip"] = max(_THUMB_R[1], _THUMB_R[2]) * rad[:, 0]
    eval_r["thumb_mcp"] = max(_THUMB_R[0], _THUMB_R[1]) * rad[:, 0]

    # Palm: metacarpals from near the wrist to each MCP, a knuckle bar, thenar and hypothenar pads.
    for f in FINGERS:
        base = palm_pt((0.75 * _MCP[f][0], _METACARPAL_BASE_Y, 0.0))
        cap(base, pts[f"{f}_mcp"], _METACARPAL_R[f])
        if f == "middle":
            frac = (_PALM_CENTRE_Y - _METACARPAL_BASE_Y) / (_MCP[f][1] - _METACARPAL_BASE_Y)
            pts["palm_centre"] = base + frac * (pts[f"{f}_mcp"] - base)
            eval_r["palm_centre"] = _METACARPAL_R[f] * rad[:, 0]
    cap(pts["index_mcp"], pts["pinky_mcp"], 9.5)
    cap(palm_pt(_THENAR[0]), palm_pt(_THENAR[1]), _THENAR[2])
    cap(palm_pt(_HYPOTHENAR[0]), palm_pt(_HYPOTHENAR[1]), _HYPOTHENAR[2])

    # Wrist and forearm: the forearm axis turns with wrist flexion and deviation (seen from the hand).
    ulnar, radial = palm_pt((_WRIST_HALF, 0.0, 0.0)), palm_pt((-_WRIST_HALF, 0.0, 0.0))
    cap(ulnar, radial, _WRIST_R)
    pts.update({"wrist": np.zeros((n, 3)), "wrist_ulnar": ulnar, "wrist_radial": radial})
    eval_r["wrist_ulnar"] = eval_r["wrist_radial"] = _WRIST_R * rad[:, 0]
    fore = -(rot_z(-angles["wrist_dev"]) @ rot_x(-angles["wrist_flex"]) @ y)  # (N, 3) wrist -> elbow
    pts["elbow"] = fore * _FOREARM_LEN * s
    for side in (-1.0, 1.0):
        start = palm_pt((side * _FOREARM_HALF, 0.0, 0.0)) + fore * _FOREARM_START * s
        cap(start, start + pts["elbow"], _FOREARM_R, "forearm")

    a = np.stack([c[0] for c in caps], axis=1)  # (N, K, 3)
    b = np.stack([c[1] for c in caps], axis=1)
    r = np.stack([c[2] for c in caps], axis=1)  # (N, K)
    eval_radius = np.stack([eval_r[p] for p in EVAL_POINTS], axis=1)
    return HandGeometry(pts, a, b, r, eval_radius, np.asarray(parts, dtype=np.uint8))
