"""Gaze vectors and angles in the MPIIGaze convention, and angular error (NumPy and torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simgan.gaze import angular_error, mirror_gaze, pitchyaw_error, pitchyaw_to_vector, vector_to_pitchyaw


def _formula_vector(p: float, y: float) -> list[float]:
    # FORMATS.md, written out independently of the module.
    return [-math.cos(p) * math.sin(y), -math.sin(p), -math.cos(p) * math.cos(y)]


def test_known_directions() -> None:
    np.testing.assert_allclose(pitchyaw_to_vector(np.zeros(2)), [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(vector_to_pitchyaw(np.array([0.0, 0.0, -1.0])), [0.0, 0.0], atol=1e-12)
    # Looking up (y is down in the camera) is positive pitch; looking toward the camera's left is yaw > 0.
    assert vector_to_pitchyaw(np.array([0.0, -1.0, -1.0]))[0] == pytest.approx(math.pi / 4)
    assert vector_to_pitchyaw(np.array([-1.0, 0.0, -1.0]))[1] == pytest.approx(math.pi / 4)


def test_matches_the_formulas(rng: np.random.Generator) -> None:
    py = rng.uniform(-1.2, 1.2, (50, 2))
    expected = np.array([_formula_vector(p, y) for p, y in py])
    np.testing.assert_allclose(pitchyaw_to_vector(py), expected, atol=1e-12)
    back = np.array([[math.asin(-v[1]), math.atan2(-v[0], -v[2])] for v in expected])
    np.testing.assert_allclose(vector_to_pitchyaw(expected), back, atol=1e-12)


def test_round_trip_numpy_and_torch(rng: np.random.Generator) -> None:
    py = rng.uniform(-1.4, 1.4, (4, 7, 2))
    np.testing.assert_allclose(vector_to_pitchyaw(pitchyaw_to_vector(py)), py, atol=1e-10)
    t = torch.from_numpy(py)
    out = vector_to_pitchyaw(pitchyaw_to_vector(t))
    assert isinstance(out, torch.Tensor) and out.shape == (4, 7, 2)
    torch.testing.assert_close(out, t, atol=1e-10, rtol=0)
    # Vector length does not matter for the angles.
    g = rng.normal(size=(20, 3))
    np.testing.assert_allclose(vector_to_pitchyaw(3.5 * g), vector_to_pitchyaw(g), atol=1e-12)


def test_angular_error_known_values(rng: np.random.Generator) -> None:
    g = rng.normal(size=(30, 3))
    np.testing.assert_allclose(angular_error(g, g), 0.0, atol=1e-6)
    np.testing.assert_allclose(angular_error(g, 2.0 * g), 0.0, atol=1e-6)
    np.testing.assert_allclose(angular_error(g, -g), 180.0, atol=1e-6)
    orth = np.cross(g, rng.normal(size=(30, 3)))
    np.testing.assert_allclose(angular_error(g, orth), 90.0, atol=1e-9)
    # Against the FORMATS.md formula on random pairs.
    h = rng.normal(size=(30, 3))
    cos = (g * h).sum(-1) / np.linalg.norm(g, axis=-1) / np.linalg.norm(h, axis=-1)
    np.testing.assert_allclose(angular_error(g, h), np.degrees(np.arccos(np.clip(cos, -1, 1))), atol=1e-9)


def test_angular_error_torch_broadcasts_and_has_gradients() -> None:
    a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    b = torch.tensor([0.0, 0.0, -1.0])
    err = angular_error(a, b)
    torch.testing.assert_close(err, torch.tensor([90.0, 90.0]))
    err.sum().backward()
    assert torch.isfinite(a.grad).all()
    same = torch.tensor([[0.0, 0.0, -1.0]], requires_grad=True)
    angular_error(same, b).sum().backward()  # a perfect prediction must not poison a loss with NaN
    assert torch.isfinite(same.grad).all()


def test_pitchyaw_error_of_a_pure_yaw_difference() -> None:
    assert float(pitchyaw_error(np.array([0.0, 0.1]), np.array([0.0, 0.4]))) == pytest.approx(
        math.degrees(0.3)
    )


def test_mirror_negates_yaw_keeps_pitch(rng: np.random.Generator) -> None:
    py = rng.uniform(-0.5, 0.5, (10, 2))
    mirrored = vector_to_pitchyaw(mirror_gaze(pitchyaw_to_vector(py)))
    np.testing.assert_allclose(mirrored, py * [1.0, -1.0], atol=1e-12)
    t = mirror_gaze(torch.tensor([[0.1, 0.2, -0.9]]))
    torch.testing.assert_close(t, torch.tensor([[-0.1, 0.2, -0.9]]))


def test_shape_errors_name_the_shape() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        vector_to_pitchyaw(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        pitchyaw_to_vector(torch.zeros(4, 3))
