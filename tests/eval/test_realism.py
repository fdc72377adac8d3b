"""Realism: Wilson interval, Frechet distance, KID, the random feature network, the two-sample test.

The two-sample test's fit rule: a classifier that did not fit its training half never reports
"indistinguishable" (the issue's case: 144 eye-sized images per set, a handful of optimizer steps).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import images_dataset
from simgan.data import open_dataset
from simgan.data.embedded import load_sklearn_digits, split_indices
from simgan.errors import InputError
from simgan.eval.features import FEATURE_DIM, RandomFeatureNet, extract_features, pyramid_cnn
from simgan.eval.realism import (
    RealismConfig,
    balanced_indices,
    c2st_verdict,
    evaluate_realism,
    frechet_distance,
    kid,
    mmd2_polynomial,
    wilson_interval,
)

FAST = RealismConfig(epochs=6, max_per_set=300)


def _write(path: Path, images: np.ndarray) -> Path:
    return images_dataset(path, images)  # unlabelled, ids s00000...


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two disjoint halves of the real digits, noisy copies of half A, an inverted (clearly different) set."""
    root = tmp_path_factory.mktemp("realism")
    images, _ = load_sklearn_digits()
    halves = split_indices(len(images), {"a": 0.5, "b": 0.5}, seed=0)
    a, b = images[halves["a"]][:300], images[halves["b"]][:300]
    noise = np.random.default_rng(0).normal(size=a.shape)
    out = {"a": _write(root / "a", a), "b": _write(root / "b", b), "inverted": _write(root / "inv", 255 - b)}
    for sigma in (8, 16, 32):
        noisy = np.clip(np.rint(a + sigma * noise), 0, 255).astype(np.uint8)
        out[f"noise{sigma}"] = _write(root / f"noise{sigma}", noisy)
    return out


@pytest.fixture(scope="module")
def eyes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """144 eye-sized (35x55) noise images per set: A, an independent draw from A's distribution, and B
    (A's distribution 10 grey levels brighter: obvious in the image mean, invisible per pixel)."""
    root = tmp_path_factory.mktemp("realism_eyes")
    rng = np.random.default_rng(0)

    def draw(mean: float) -> np.ndarray:
        return np.clip(np.rint(rng.normal(mean, 40.0, size=(144, 35, 55, 1))), 0, 255).astype(np.uint8)

    return {
        "a": _write(root / "a", draw(110)),
        "same": _write(root / "same", draw(110)),
        "b": _write(root / "b", draw(120)),
    }


# --- statistics -----------------------------------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    z2 = 1.959963984540054**2
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z2 / (10 + z2))  # closed form for zero successes
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi and 0.5 - lo == pytest.approx(hi - 0.5)  # symmetric at p = 1/2
    assert hi - lo == pytest.approx(0.1923, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    narrow = wilson_interval(500, 1000)
    assert narrow[1] - narrow[0] < hi - lo  # more samples, tighter interval


def test_frechet_distance_zero_for_identical_and_closed_form_for_affine(rng: np.random.Generator) -> None:
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # b = 2a + 3: mu_b = 2 mu_a + 3, S_b = 4 S_a, so d^2 = |mu_a + 3|^2 + Tr(S_a + 4 S_a - 2 * 2 S_a).
    b = 2 * a + 3
    expected = ((a.mean(0) + 3) ** 2).sum() + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_handles_more_dimensions_than_samples(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 1.0
    d = frechet_distance(a, b)
    assert math.isfinite(d) and d > 64 * 0.5  # the mean shift alone contributes 64


def test_frechet_distance_rejects_bad_shapes(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="feature arrays"):
        frechet_distance(rng.normal(size=(5, 3)), rng.normal(size=(5, 4)))


def test_mmd2_matches_the_definition(rng: np.random.Generator) -> None:
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 0.5

    def k(u: np.ndarray, v: np.ndarray) -> float:
        return (u @ v / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / (7 * 5)
    assert mmd2_polynomial(x, y) == pytest.approx(xx + yy - 2 * xy)


def test_kid_separates_distributions_and_uses_subsets(rng: np.random.Generator) -> None:
    same_a, same_b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    shifted = rng.normal(size=(300, 8)) + 1.0
    assert abs(kid(same_a, same_b)[0]) < kid(same_a, shifted)[0]
    mean, std = kid(same_a, shifted, subset_size=50, n_subsets=5, rng=np.random.default_rng(0))
    assert mean > 0 and std > 0  # several different subsets


def test_verdict_rules() -> None:
    fit, verdict = c2st_verdict(0.6, 0.5, (0.42, 0.58))
    assert not fit and verdict.startswith("inconclusive") and "train accuracy 0.600" in verdict
    assert "did not fit its training half" in verdict and "--steps" in verdict and "\n" not in verdict
    assert c2st_verdict(1.0, 0.5, (0.42, 0.58)) == (
        True,
        "indistinguishable: held-out accuracy 0.500 [0.420, 0.580], train accuracy 1.000",
    )
    assert c2st_verdict(0.75, 0.5, [0.42, 0.58])[1].startswith("indistinguishable")  # threshold inclusive
    assert c2st_verdict(0.74, 0.5, [0.42, 0.58], fit_threshold=0.74)[0]
    assert c2st_verdict(1.0, 0.9, (0.85, 0.94))[1].startswith("distinguishable")
    # Above chance on held-out images is evidence even from a classifier that underfits its training half.
    fit, verdict = c2st_verdict(0.6, 0.62, (0.6, 0.64))
    assert not fit and verdict.startswith("distinguishable")
    assert c2st_verdict(1.0, 0.4, (0.35, 0.45))[1].startswith("inconclusive: held-out accuracy below chance")


def test_step_budget_has_a_floor_and_an_override() -> None:
    cfg = RealismConfig(epochs=10, min_steps=500)
    assert cfg.total_steps(2) == 500  # 144 images a set: 2 batches an epoch, 20 steps without the floor
    assert cfg.total_steps(100) == 1000
    assert RealismConfig(min_steps=0).total_steps(2) == 20
    assert RealismConfig(steps=7).total_steps(100) == 7


def test_balanced_indices_are_equal_and_capped() -> None:
    ia, ib = balanced_indices(100, 40, 30, np.random.default_rng(0))
    assert len(ia) == len(ib) == 30 and len(set(ia)) == 30 and ib.max() < 40


# --- feature network ------------------------------------------------------------------------------------


def test_random_feature_net_is_fixed_whatever_the_global_seed() -> None:
    x = torch.rand(4, 1, 35, 55) * 2 - 1
    torch.manual_seed(1)
    f1 = RandomFeatureNet(1, 35, 55)(x)
    torch.manual_seed(2)
    f2 = RandomFeatureNet(1, 35, 55)(x)
    assert f1.shape == (4, FEATURE_DIM)
    assert torch.equal(f1, f2)
    with pytest.raises(ValueError, match=r"\(B, 1, 35, 55\)"):
        RandomFeatureNet(1, 35, 55)(torch.zeros(2, 3, 35, 55))


@pytest.mark.parametrize("size", [(8, 8), (35, 55), (96, 128)])
def test_pyramid_reaches_a_few_pixels(size: tuple[int, int]) -> None:
    net, dim = pyramid_cnn(3, *size)
    assert net(torch.zeros(2, 3, *size)).shape == (2, dim)
    n_stride2 = sum(1 for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2))
    assert max(size) / 2**n_stride2 <= 4.0 or n_stride2 == 3


def test_fid_is_zero_for_identical_sets_and_grows_with_noise(digits: dict[str, Path]) -> None:
    a = open_dataset(digits["a"])
    fa = extract_features(a)
    assert frechet_distance(fa, extract_features(a)) == pytest.approx(0.0, abs=1e-9)
    fids = [frechet_distance(fa, extract_features(open_dataset(digits[f"noise{s}"]))) for s in (8, 16, 32)]
    assert fids[0] > 1e-6
    assert fids[0] < fids[1] < fids[2], fids


# --- the whole evaluation -------------------------------------------------------------------------------


def test_two_halves_of_one_set_are_indistinguishable(digits: dict[str, Path]) -> None:
    r = evaluate_realism(digits["a"], digits["b"], FAST)
    lo, hi = r["c2st_ci"]
    assert lo <= 0.5 <= hi, r
    assert lo <= r["c2st_accuracy"] <= hi
    assert r["n_test"] == 300 and r["n_train"] == 300 and r["n_per_set"] == 300
    assert r["c2st_p_value"] > 0.01
    assert r["c2st_fit"] and r["c2st_train_accuracy"] >= 0.75, r
    assert r["verdict"].startswith("indistinguishable"), r["verdict"]


def test_clearly_different_sets_are_told_apart(digits: dict[str, Path], tmp_path: Path) -> None:
    r = evaluate_realism(digits["a"], digits["inverted"], FAST, out=tmp_path / "m")
    assert r["c2st_accuracy"] > 0.95 and r["c2st_ci"][0] > 0.9
    assert r["c2st_p_value"] < 1e-6
    assert r["c2st_fit"] and r["verdict"].startswith("distinguishable")
    same = evaluate_realism(digits["a"], digits["b"], FAST)
    assert r["fid"] > 10 * same["fid"] and r["kid"] > same["kid"]
    assert (tmp_path / "m" / "metrics.json").is_file()
    assert "not comparable" in r["features"]["note"]


def test_seed_makes_it_reproducible(digits: dict[str, Path]) -> None:
    cfg = RealismConfig(epochs=2, max_per_set=100, seed=3)
    r1, r2 = evaluate_realism(digits["a"], digits["b"], cfg), evaluate_realism(digits["a"], digits["b"], cfg)
    keys = ("c2st_accuracy", "c2st_train_accuracy", "c2st_steps", "c2st_fit", "verdict", "fid")
    assert {k: r1[k] for k in keys} == {k: r2[k] for k in keys}
    r3 = evaluate_realism(digits["a"], digits["b"], RealismConfig(epochs=2, max_per_set=100, seed=4))
    assert (r3["c2st_accuracy"], r3["c2st_steps"]) != (r1["c2st_accuracy"], r1["c2st_steps"])


# --- the fit rule on few eye-sized images (the case) --------------------------------------------


def test_few_images_of_different_domains_are_told_apart_with_the_defaults(
    eyes: dict[str, Path], tmp_path: Path
) -> None:
    # 72 training images per set: the old default (10 epochs, 20 optimizer steps) reported 0.57, interval
    # [0.49, 0.65], i.e. "indistinguishable"; the step floor fits the training half and separates them.
    r = evaluate_realism(eyes["a"], eyes["b"], out=tmp_path)
    assert r["n_train"] == 144 and r["n_test"] == 144
    assert r["c2st_train_accuracy"] > 0.95 and r["c2st_accuracy"] > 0.95, r
    assert r["c2st_fit"] and r["verdict"].startswith("distinguishable")
    # It stopped once converged on its training half, well before the 500-step floor.
    assert 20 <= r["c2st_steps"] < 500
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["c2st_steps"] == r["c2st_steps"] and saved["verdict"] == r["verdict"]
    assert saved["config"]["min_steps"] == 500


def test_same_distribution_fits_its_training_half_and_is_indistinguishable(eyes: dict[str, Path]) -> None:
    r = evaluate_realism(eyes["a"], eyes["same"])
    lo, hi = r["c2st_ci"]
    assert lo <= 0.5 <= hi and abs(r["c2st_accuracy"] - 0.5) < 0.1, r
    assert r["c2st_train_accuracy"] > 0.95 and r["c2st_fit"], r  # memorised: fit, and it did not carry over
    assert r["verdict"].startswith("indistinguishable"), r["verdict"]


def test_an_underfit_classifier_is_never_indistinguishable(eyes: dict[str, Path]) -> None:
    r = evaluate_realism(eyes["a"], eyes["same"], RealismConfig(steps=1, lr=1e-9))
    assert r["c2st_steps"] == 1 and not r["c2st_fit"] and r["c2st_train_accuracy"] < 0.75, r
    assert r["c2st_ci"][0] <= 0.5 <= r["c2st_ci"][1]  # the old reading: "indistinguishable"
    assert r["verdict"].startswith("inconclusive: the two-sample classifier did not fit its training half")
    # The budget (10 epochs of 2 batches, no floor) on sets that differ: never "indistinguishable".
    old = evaluate_realism(eyes["a"], eyes["b"], RealismConfig(min_steps=0))
    assert old["c2st_steps"] <= 20
    assert not old["verdict"].startswith("indistinguishable"), old


def test_different_image_sizes_are_refused(digits: dict[str, Path], tmp_path: Path) -> None:
    big = _write(tmp_path / "big", np.zeros((5, 16, 16, 1), np.uint8))
    with pytest.raises(InputError, match=r"8x8x1.*16x16x1"):
        evaluate_realism(digits["a"], big, FAST)
    rgb = _write(tmp_path / "rgb", np.zeros((5, 8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="channels"):
        evaluate_realism(digits["a"], rgb, FAST)


def test_too_few_images_are_refused(digits: dict[str, Path], tmp_path: Path) -> None:
    tiny = _write(tmp_path / "tiny", np.zeros((3, 8, 8, 1), np.uint8))
    with pytest.raises(InputError, match="at least 4"):
        evaluate_realism(digits["a"], tiny, FAST)


def test_config_values_are_checked() -> None:
    with pytest.raises(InputError, match="test_fraction"):
        RealismConfig(test_fraction=1.0)
    with pytest.raises(InputError, match="min_steps and steps"):
        RealismConfig(min_steps=-1)
    with pytest.raises(InputError, match="fit_threshold"):
        RealismConfig(fit_threshold=0.4)
    with pytest.raises(InputError, match="converged_accuracy must be >= fit_threshold"):
        RealismConfig(converged_accuracy=0.7)
    with pytest.raises(InputError, match="lr"):
        RealismConfig(lr=0.0)
