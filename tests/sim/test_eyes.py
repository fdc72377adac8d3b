"""The eyes simulator: determinism, geometry against pixels, gaze conventions, ranges, labels, pseudo-real."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.path import Path as Polygon
from scipy import ndimage

from simgan.data import open_dataset
from simgan.data.equalize import equalize
from simgan.data.image_stats import MPIIGAZE_CROPS, array_statistics
from simgan.errors import InputError
from simgan.gaze import pitchyaw_to_vector, vector_to_pitchyaw
from simgan.sim import get_simulator, simulate
from simgan.sim.camera_noise import CameraNoiseConfig, degrade
from simgan.sim.eyes import EyesConfig, eye_landmarks, render_eyes, sample_params

SIZE = (35, 55)


def _iris_centroids(images: np.ndarray) -> np.ndarray:
    """Centre of the dark (iris + pupil) pixels of clean renders, measured from pixels only.

    Clean renders are sclera at 0.9 * 255 = 229.5 and iris at most 0.5 * 255 = 127.5, so 180 separates them.
    Shape: (B, H, W) uint8 or float in 0..255 -> (B, 2) as (u, v).
    """
    mask = (np.asarray(images, dtype=np.float64) < 180.0).astype(np.float64)
    v, u = np.indices(mask.shape[1:])
    area = mask.sum((1, 2))
    return np.stack([(mask * u).sum((1, 2)) / area, (mask * v).sum((1, 2)) / area], -1)


def _render_at(pitch: np.ndarray, yaw: np.ndarray, seed: int = 0, clean: bool = True) -> tuple:
    """Clean renders of the same eye (head, camera, anatomy) at the given camera-space gaze angles."""
    n = len(pitch)
    p = sample_params(np.random.default_rng(seed), 1, SIZE)
    p = {k: np.repeat(v, n, axis=0) for k, v in p.items()}
    p["pitch"], p["yaw"] = np.asarray(pitch, float), np.asarray(yaw, float)
    return np.round(render_eyes(p, SIZE, clean=clean) * 255.0), eye_landmarks(p), p


# --------------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_through_the_registry(tmp_path: Path) -> None:
    sim = get_simulator("eyes")
    a, la = sim.render(np.random.default_rng([3, 0]), 16, SIZE)
    b, lb = sim.render(np.random.default_rng([3, 0]), 16, SIZE)
    c, _ = sim.render(np.random.default_rng([4, 0]), 16, SIZE)
    np.testing.assert_array_equal(a, b)
    assert la == lb
    assert not np.array_equal(a, c)
    # And on disk, through simulate(): same seed, same images and labels; another seed, other images.
    for name, seed in (("s1", 5), ("s2", 5), ("s3", 6)):
        simulate("eyes", 3, tmp_path / name, seed=seed, progress=False)
    d1, d2, d3 = (open_dataset(tmp_path / n) for n in ("s1", "s2", "s3"))
    for i in range(3):
        np.testing.assert_array_equal(d1.read(i).image, d2.read(i).image)
        assert d1.read(i).label == d2.read(i).label
    assert not np.array_equal(d1.read(0).image, d3.read(0).image)


# --------------------------------------------------------------------------------------------------
# Geometry: labelled iris centre against pixels; direction conventions
# --------------------------------------------------------------------------------------------------


def test_labelled_iris_centre_matches_the_rendered_iris_on_a_gaze_grid() -> None:
    deg = np.deg2rad([-30.0, -15.0, 0.0, 15.0, 30.0])
    pitch, yaw = (a.ravel() for a in np.meshgrid(deg, deg))
    for seed in (0, 1):
        img, lm, _ = _render_at(pitch, yaw, seed)
        err = np.linalg.norm(_iris_centroids(img) - lm["iris_center"], axis=-1)
        assert err.max() < 0.5, err
        # The rim points are symmetric about the centre.
        np.testing.assert_allclose(lm["iris_contour"].mean(1), lm["iris_center"], atol=1e-9)


@pytest.mark.parametrize("size", [(35, 55), (36, 60), (70, 110)])
def test_iris_centre_label_through_the_registry_any_size(size: tuple[int, int]) -> None:
    sim = get_simulator("eyes").configure(clean=True)
    img, labels = sim.render(np.random.default_rng(11), 24, size)
    assert img.shape == (24, *size, 1) and img.dtype == np.uint8
    labelled = np.array([lb["iris_center"] for lb in labels])
    err = np.linalg.norm(_iris_centroids(img[..., 0]) - labelled, axis=-1)
    assert err.max() < 0.5, err


def test_positive_yaw_moves_the_iris_left_and_positive_pitch_moves_it_up() -> None:
    steps = np.deg2rad(np.linspace(-30, 30, 7))
    zeros = np.zeros_like(steps)
    img, _, _ = _render_at(zeros, steps)
    u = _iris_centroids(img)[:, 0]
    assert (np.diff(u) < -0.5).all(), u  # measured from pixels: image left = smaller column
    img, _, _ = _render_at(steps, zeros)
    v = _iris_centroids(img)[:, 1]
    assert (np.diff(v) < -0.5).all(), v  # image up = smaller row


def _opening_mask(p: dict[str, np.ndarray]) -> np.ndarray:
    """Pixels of the open eye, found from pixels: those that the skin tone changes by under half a grey level
    (the caruncle's Gaussian tail reaches a little further).

    Shape: -> (B, H, W) bool.
    """
    a = render_eyes({**p, "skin_tone": np.full_like(p["skin_tone"], 0.8)}, SIZE)
    b = render_eyes({**p, "skin_tone": np.full_like(p["skin_tone"], 0.4)}, SIZE)
    return np.abs(a - b) < 2e-3


def test_lid_contour_bounds_the_rendered_opening() -> None:
    p = sample_params(np.random.default_rng(8), 12, SIZE)
    opening = _opening_mask(p)
    lids = eye_landmarks(p)["lid_contour"]
    v, u = np.indices(SIZE)
    pix = np.stack([u.ravel(), v.ravel()], -1)
    for k in range(12):
        inside = Polygon(lids[k]).contains_points(pix).reshape(SIZE)
        deep_in = ndimage.binary_erosion(inside, iterations=2)
        deep_out = ~ndimage.binary_dilation(inside, iterations=2)
        # The caruncle takes the skin tone on purpose; it spans the inner quarter of the eye: leave it out.
        width = np.linalg.norm(lids[k, 8] - lids[k, 0])
        far_from_caruncle = np.hypot(u - lids[k, 0, 0], v - lids[k, 0, 1]) > 0.25 * width
        assert deep_in.sum() > 50
        assert opening[k][deep_in & far_from_caruncle].all()
        assert not opening[k][deep_out].any()


def test_upper_lid_follows_the_eye_down() -> None:
    pitch = np.deg2rad([25.0, 0.0, -25.0])
    _, lm, p = _render_at(pitch, np.zeros(3))
    upper_apex_v = lm["lid_contour"][:, 1:8, 1].min(1)  # highest point of the upper lid
    assert upper_apex_v[0] < upper_apex_v[1] < upper_apex_v[2]
    # Measured from pixels: the top row of the opening in the middle column drops as the eye looks down.
    opening = _opening_mask(p)
    mid = int(round(lm["iris_center"][1, 0]))
    top = opening[:, :, mid].argmax(1)
    assert top[0] < top[1] < top[2], top


def test_gaze_label_agrees_with_the_angles(tmp_path: Path) -> None:
    _, labels = get_simulator("eyes").render(np.random.default_rng(2), 32, SIZE)
    for lb in labels:
        p, y = lb["pitch"], lb["yaw"]
        g = lb["gaze"]
        # The MPIIGaze formulas (FORMATS.md), written out here.
        expected = [-math.cos(p) * math.sin(y), -math.sin(p), -math.cos(p) * math.cos(y)]
        np.testing.assert_allclose(g, expected, atol=1e-12)
        assert math.asin(-g[1]) == pytest.approx(p, abs=1e-12)
        assert math.atan2(-g[0], -g[2]) == pytest.approx(y, abs=1e-12)
        np.testing.assert_allclose(vector_to_pitchyaw(np.array(g)), [p, y], atol=1e-12)
        np.testing.assert_allclose(pitchyaw_to_vector(np.array([p, y])), g, atol=1e-12)
        assert np.linalg.norm(g) == pytest.approx(1.0, abs=1e-12)


def test_glint_is_drawn_where_labelled() -> None:
    p = sample_params(np.random.default_rng(21), 128, SIZE)  # about 1 glint in 30 falls outside the lids
    lit = render_eyes(p, SIZE)
    dark = render_eyes({**p, "glint_strength": np.zeros(128)}, SIZE)
    lm = eye_landmarks(p)
    diff = (lit - dark).reshape(128, -1)
    visible = lm["glint_visible"]
    assert visible.sum() > 10 and (~visible).sum() > 0
    assert np.abs(diff[~visible]).max() == 0.0
    peak = np.stack(np.unravel_index(diff[visible].argmax(1), SIZE), -1)[:, ::-1]  # (u, v)
    assert np.abs(peak - lm["glint"][visible]).max() <= 1.0


# --------------------------------------------------------------------------------------------------
# Ranges, sizes, labels, options
# --------------------------------------------------------------------------------------------------


def test_gaze_ranges_over_a_large_batch() -> None:
    p = sample_params(np.random.default_rng(0), 5000, (8, 8))
    for key in ("pitch", "yaw"):
        deg = np.degrees(p[key])
        assert np.abs(deg).max() <= 30.0 and deg.min() < -29.0 and deg.max() > 29.0
    assert np.degrees(np.abs(p["head_yaw"])).max() <= 15.0
    narrow = sample_params(np.random.default_rng(0), 2000, (8, 8), EyesConfig(pitch_deg=10, yaw_deg=5))
    assert np.degrees(np.abs(narrow["pitch"])).max() <= 10.0
    assert np.degrees(np.abs(narrow["yaw"])).max() <= 5.0


def test_rendered_labels_stay_within_the_configured_range() -> None:
    sim = get_simulator("eyes").configure(pitch_deg="12", yaw_deg=20)
    _, labels = sim.render(np.random.default_rng(9), 64, SIZE)
    assert max(abs(lb["pitch"]) for lb in labels) <= math.radians(12.0)
    assert max(abs(lb["yaw"]) for lb in labels) <= math.radians(20.0)


@pytest.mark.parametrize("size", [(36, 60), (70, 110), (20, 24)])
def test_any_size_gives_uint8_with_landmarks_inside(size: tuple[int, int]) -> None:
    img, labels = get_simulator("eyes").render(np.random.default_rng(1), 8, size)
    assert img.shape == (8, *size, 1) and img.dtype == np.uint8
    assert img.std() > 10  # an image, not a flat field
    h, w = size
    for lb in labels:
        pts = np.array([lb["iris_center"], *lb["lid_contour"]])
        assert (pts[:, 0] > 0).all() and (pts[:, 0] < w - 1).all()
        assert (pts[:, 1] > 0).all() and (pts[:, 1] < h - 1).all()


def test_labels_are_json_and_record_every_random_parameter() -> None:
    _, labels = get_simulator("eyes").render(np.random.default_rng(4), 4, SIZE)
    params = sample_params(np.random.default_rng(4), 4, SIZE)
    lb = json.loads(json.dumps(labels[0]))
    assert len(lb["lid_contour"]) == 16 and len(lb["iris_contour"]) == 8
    recorded = {k for v in lb.values() if isinstance(v, dict) for k in v} | set(lb)
    scalars = {k for k, v in params.items() if v.ndim == 1}
    assert scalars <= recorded, scalars - recorded
    assert lb["target"] == "synthetic" and "degradation" not in lb
    assert lb["camera"]["center_u"] == pytest.approx(params["center_u"][0], abs=1e-5)


def test_bad_options_are_input_errors() -> None:
    sim = get_simulator("eyes")
    with pytest.raises(InputError, match="unknown eyes option 'colour'"):
        sim.configure(colour=1)
    with pytest.raises(InputError, match="pitch_deg=80"):
        sim.configure(pitch_deg=80)
    with pytest.raises(InputError, match="expected true or false"):
        sim.configure(clean="maybe")
    with pytest.raises(InputError, match="expected a number"):
        sim.configure(yaw_deg="wide")
    assert sim.configure(clean="true").config.clean and not sim.config.clean


def test_framing_centres_the_eye_corners_as_mpiigaze_does() -> None:
    p = sample_params(np.random.default_rng(3), 500, SIZE)
    lids = eye_landmarks(p)["lid_contour"]  # (B, 16, 2): [0] the inner corner, [8] the outer one
    mid = (lids[:, 0] + lids[:, 8]) / 2.0
    centre = np.array([(SIZE[1] - 1) / 2.0, (SIZE[0] - 1) / 2.0])
    # Within the camera jitter (5 % of the side) plus what head rotation moves the corners, and unbiased.
    assert (np.abs(mid - centre) <= 0.05 * np.array(SIZE[::-1]) + 2.5).all()
    assert np.abs(mid.mean(0) - centre).max() < 0.5
    width = np.linalg.norm(lids[:, 8] - lids[:, 0], axis=1) / SIZE[1]
    assert 0.72 < width.mean() < 0.88  # about 80 % of the crop's width (1.5 px/mm, a 30 mm eye)
    assert np.degrees(np.abs(p["head_roll"])).max() <= 4.0  # normalisation leaves little roll


def test_sensor_noise_is_the_synthetic_targets_and_scales_with_its_parameter() -> None:
    p = sample_params(np.random.default_rng(2), 64, SIZE)
    noisy, quiet = render_eyes(p, SIZE), render_eyes(p, SIZE, sensor=False)
    assert np.array_equal(quiet, render_eyes({**p, "sensor_noise": np.zeros(64)}, SIZE))
    spread = (noisy - quiet).std(axis=(1, 2))
    assert np.corrcoef(spread, p["sensor_noise"])[0, 1] > 0.9
    # The pseudo-real target leaves the noise to its own camera model: its scene is the quiet render.
    rng = np.random.default_rng(5)
    q = sample_params(rng, 8, SIZE)
    want, _ = degrade(render_eyes(q, SIZE, sensor=False), rng, CameraNoiseConfig())
    got, _ = get_simulator("eyes").render(np.random.default_rng(5), 8, SIZE, "pseudo-real")
    assert np.array_equal(got[..., 0], want)


def test_equalised_eyes_match_the_mpiigaze_statistics() -> None:
    images, _ = get_simulator("eyes").render(np.random.default_rng(0), 300, SIZE)
    stats, raw = array_statistics(equalize(images)), array_statistics(images)
    for key, real in MPIIGAZE_CROPS.items():
        if key != "mean_std":  # a few thousandths in both: not a ratio to hold
            assert abs(stats[key] / real - 1.0) <= 0.15, (key, stats[key], real)
    assert abs(raw["std"] / MPIIGAZE_CROPS["std"] - 1.0) > 0.3  # the raw renders do not: equalising does it


# --------------------------------------------------------------------------------------------------
# Pseudo-real target
# --------------------------------------------------------------------------------------------------


def _laplacian_median(x: np.ndarray) -> np.ndarray:
    lap = 4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    return np.median(np.abs(lap).reshape(len(x), -1), axis=1)


def test_pseudo_real_is_the_same_scene_degraded_as_documented() -> None:
    sim = get_simulator("eyes")
    syn, ls = sim.render(np.random.default_rng(5), 128, SIZE, "synthetic")
    real, lr = sim.render(np.random.default_rng(5), 128, SIZE, "pseudo-real")
    assert real.shape == syn.shape and real.dtype == np.uint8
    # Same scene and labels (the degradation is drawn after the scene) plus the recorded degradation.
    assert [lb["gaze"] for lb in lr] == [lb["gaze"] for lb in ls]
    assert lr[0]["target"] == "pseudo-real" and "jpeg_quality" in lr[0]["degradation"]
    s, r = syn[..., 0].astype(float), real[..., 0].astype(float)
    assert (s != r).mean() > 0.5
    # Sensor noise and JPEG: more high-frequency energy in flat areas (median |Laplacian|) on average.
    assert _laplacian_median(r).mean() > 1.2 * _laplacian_median(s).mean()
    # Under-exposure and the camera response: darker and lower in contrast on average.
    assert r.mean() < s.mean() - 5.0
    assert r.std(axis=(1, 2)).mean() < s.std(axis=(1, 2)).mean()


def test_simulate_cli_pseudo_real(tmp_path: Path, run_cli) -> None:
    code, out, err = run_cli(
        "simulate", "eyes", "--n", "4", "--out", tmp_path / "pr", "--target", "pseudo-real"
    )
    assert code == 0, err
    src = open_dataset(tmp_path / "pr")
    assert (src.info.count, src.info.height, src.info.width, src.info.channels) == (4, 35, 55, 1)
    assert src.info.task == "gaze" and src.read(0).label["target"] == "pseudo-real"
