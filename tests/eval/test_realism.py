"""Realism: Wilson interval, Frechet distance, KID, the random feature network, the two-sample test."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.data import DatasetWriter, open_dataset
from simgan.data.embedded import load_sklearn_digits, split_indices
from simgan.errors import InputError
from simgan.eval.features import FEATURE_DIM, RandomFeatureNet, extract_features, pyramid_cnn
from simgan.eval.realism import (
    RealismConfig,
    balanced_indices,
    evaluate_realism,
    frechet_distance,
    kid,
    mmd2_polynomial,
    wilson_interval,
)

FAST = RealismConfig(epochs=6, max_per_set=300)


def _write(path: Path, images: np.ndarray) -> Path:
    with DatasetWriter(path, height=images.shape[1], width=images.shape[2], channels=images.shape[3]) as w:
        for k, img in enumerate(images):
            w.add(f"s{k:05d}", img)
    return path


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


def test_clearly_different_sets_are_told_apart(digits: dict[str, Path], tmp_path: Path) -> None:
    r = evaluate_realism(digits["a"], digits["inverted"], FAST, out=tmp_path / "m")
    assert r["c2st_accuracy"] > 0.95 and r["c2st_ci"][0] > 0.9
    assert r["c2st_p_value"] < 1e-6
    same = evaluate_realism(digits["a"], digits["b"], FAST)
    assert r["fid"] > 10 * same["fid"] and r["kid"] > same["kid"]
    assert (tmp_path / "m" / "metrics.json").is_file()
    assert "not comparable" in r["features"]["note"]


def test_seed_makes_it_reproducible(digits: dict[str, Path]) -> None:
    cfg = RealismConfig(epochs=2, max_per_set=100, seed=3)
    r1, r2 = evaluate_realism(digits["a"], digits["b"], cfg), evaluate_realism(digits["a"], digits["b"], cfg)
    assert r1["c2st_accuracy"] == r2["c2st_accuracy"] and r1["fid"] == r2["fid"]


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
