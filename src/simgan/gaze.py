"""Gaze directions in the MPIIGaze normalized-camera convention: vectors, angles and angular error.

The camera looks along +z with x to the camera's right (image column u grows with x) and y down (image row
v grows with y). A gaze vector g = (x, y, z) points from the eye to where it looks, so looking straight
into the camera gives g = (0, 0, -1) and pitch = yaw = 0 (FORMATS.md, MPIIGaze)::

    pitch = asin(-y)            yaw = atan2(-x, -z)                       (angles, radians)
    x = -cos(pitch) sin(yaw)    y = -sin(pitch)    z = -cos(pitch) cos(yaw)

So positive pitch looks up in the image and positive yaw looks toward the camera's left (smaller u).
Angular error between a and b = degrees(arccos(a.b / (|a||b|))); it is computed here as
``atan2(|a x b|, a.b)``, the same angle but accurate near 0 and 180 degrees, and its torch gradient is
finite everywhere (zero for identical vectors), so it also serves as a loss.

Every function takes NumPy arrays or torch tensors (any leading batch shape, any float dtype) and returns
the same kind, so data readers, the trainer's loss and the evaluation metrics share one definition.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = ["pitchyaw_to_vector", "vector_to_pitchyaw", "angular_error", "pitchyaw_error", "mirror_gaze"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _check_last(x: np.ndarray | torch.Tensor, n: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != n:
        raise ValueError(f"{name}: expected shape (..., {n}), got {tuple(x.shape)}")


def _as_float(x: np.ndarray | torch.Tensor | list) -> np.ndarray | torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.float()
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def pitchyaw_to_vector(pitchyaw: Array) -> Array:
    """Unit gaze vectors from (pitch, yaw) in radians.

    Args:
        pitchyaw: angles, ``[..., 0]`` = pitch, ``[..., 1]`` = yaw.

    Returns:
        unit vectors (x, y, z) in the MPIIGaze normalized camera.

    Shape:
        - pitchyaw: (..., 2)
        - output: (..., 3)
    """
    pitchyaw = _as_float(pitchyaw)
    _check_last(pitchyaw, 2, "pitchyaw")
    xp = torch if isinstance(pitchyaw, torch.Tensor) else np
    p, y = pitchyaw[..., 0], pitchyaw[..., 1]
    cp = xp.cos(p)
    return xp.stack([-cp * xp.sin(y), -xp.sin(p), -cp * xp.cos(y)], -1)


def vector_to_pitchyaw(gaze: Array) -> Array:
    """(pitch, yaw) in radians of gaze vectors (normalised here, so any positive length works).

    Args:
        gaze: vectors (x, y, z) in the MPIIGaze normalized camera; zero vectors give NaN.

    Returns:
        ``[..., 0]`` = pitch in [-pi/2, pi/2], ``[..., 1]`` = yaw in (-pi, pi].

    Shape:
        - gaze: (..., 3)
        - output: (..., 2)
    """
    gaze = _as_float(gaze)
    _check_last(gaze, 3, "gaze")
    if isinstance(gaze, torch.Tensor):
        g = gaze / torch.linalg.vector_norm(gaze, dim=-1, keepdim=True)
        pitch = torch.asin(torch.clamp(-g[..., 1], -1.0, 1.0))
        return torch.stack([pitch, torch.atan2(-g[..., 0], -g[..., 2])], -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = gaze / np.linalg.norm(gaze, axis=-1, keepdims=True)
    pitch = np.arcsin(np.clip(-g[..., 1], -1.0, 1.0))
    return np.stack([pitch, np.arctan2(-g[..., 0], -g[..., 2])], -1)


def angular_error(a: Array, b: Array) -> Array:
    """Angle in degrees between gaze vectors ``a`` and ``b`` (need not be unit length; broadcast).

    Shape:
        - a, b: (..., 3), broadcastable
        - output: (...)
    """
    a, b = _as_float(a), _as_float(b)
    _check_last(a, 3, "a")
    _check_last(b, 3, "b")
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        dtype = torch.promote_types(a.dtype, b.dtype)
        a, b = torch.broadcast_tensors(a.to(dtype), b.to(dtype))
        cross = torch.linalg.vector_norm(torch.linalg.cross(a, b, dim=-1), dim=-1)
        return torch.rad2deg(torch.atan2(cross, (a * b).sum(-1)))
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, (a * b).sum(-1)))


def pitchyaw_error(a: Array, b: Array) -> Array:
    """Angular error in degrees between two sets of (pitch, yaw) angles in radians.

    Shape:
        - a, b: (..., 2), broadcastable
        - output: (...)
    """
    return angular_error(pitchyaw_to_vector(a), pitchyaw_to_vector(b))


def mirror_gaze(gaze: Array) -> Array:
    """The gaze of the horizontally mirrored image (``image[:, ::-1]``): x flips, so yaw changes sign.

    MPIIGaze practice for right eyes (FORMATS.md) and the ``flip`` augmentation both use it.

    Shape:
        - gaze: (..., 3)
        - output: (..., 3)
    """
    gaze = _as_float(gaze)
    _check_last(gaze, 3, "gaze")
    if isinstance(gaze, torch.Tensor):
        return gaze * gaze.new_tensor([-1.0, 1.0, 1.0])
    return gaze * np.array([-1.0, 1.0, 1.0], dtype=gaze.dtype)
