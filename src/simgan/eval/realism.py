"""How far apart are two image sets? An automated visual Turing test, and FID/KID in simgan's feature space.

The SimGAN paper asks people to tell real from refined eye images (a visual Turing test, section 3.1).
:func:`c2st` automates it as a *classifier two-sample test* (Lopez-Paz & Oquab, 2017): a fresh small CNN
learns to tell set A from set B on one half of a balanced sample and is scored on the other half.
Held-out accuracy 0.5 means indistinguishable; 1.0 means trivially different. The 95% Wilson interval
and a one-sided binomial p-value (H0: accuracy = 0.5) say how sure that is for the test size.

The classifier trains for a budget of **optimizer steps**, not just epochs: ``max(min_steps, epochs x
batches per epoch)`` (or ``steps`` when set), so a small set (144 real eye crops give 72 training images
per set, one or two batches an epoch) is passed over many times instead of getting a handful of updates.
It stops early once converged: eval-mode accuracy on its last 20 training batches at least
``converged_accuracy`` (0.99). A classifier that has not learnt anything scores 0.5 on held-out data
whatever the two sets are, so held-out accuracy alone cannot certify "indistinguishable". Its accuracy on
its own training half is reported beside it (``c2st_train_accuracy``) and decides the verdict
(:func:`c2st_verdict`):

1. the Wilson interval of the held-out accuracy lies above 0.5: **distinguishable** (held-out accuracy
   above chance is evidence whatever the classifier, fit or not);
2. otherwise, training accuracy below ``fit_threshold`` (0.75): **inconclusive** -- the classifier did not
   fit its training half, so chance-level held-out accuracy says nothing about the sets (``c2st_fit``
   false); never "indistinguishable";
3. otherwise, the interval contains 0.5: **indistinguishable** (the classifier fit, possibly memorised,
   its training half and that did not carry over to held-out images);
4. otherwise (significantly below chance, which no difference between the sets explains): **inconclusive**.

Because of rule 2, two large sets from one distribution that the small CNN cannot memorise in its step
budget are reported inconclusive, not indistinguishable: more steps settle it.

:func:`frechet_distance` and :func:`kid` compare the two sets' feature distributions in the space of
:class:`~simgan.eval.features.RandomFeatureNet` (a fixed random CNN, see that module): the Frechet
distance between Gaussians fitted to the features, and the kernel inception distance, the unbiased
MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 averaged over random subsets.
:func:`evaluate_realism` runs all three on two dataset folders.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import binomtest
from torch import nn
from torch.utils.data import ConcatDataset, Dataset
from tqdm.auto import tqdm

from simgan import atomic
from simgan.atomic import write_json
from simgan.config import config_to_dict
from simgan.data import ImageDataset, Source, make_loader, open_dataset
from simgan.device import select_device
from simgan.errors import InputError
from simgan.eval.features import RandomFeatureNet, extract_features, feature_network_description, pyramid_cnn
from simgan.progress import off

__all__ = [
    "RealismConfig",
    "wilson_interval",
    "frechet_distance",
    "mmd2_polynomial",
    "kid",
    "balanced_indices",
    "c2st",
    "c2st_verdict",
    "check_same_shape",
    "evaluate_realism",
]

_Z95 = 1.959963984540054  # two-sided 95% normal quantile
_CONVERGED_WINDOW = 20  # training batches over which the two-sample classifier's running accuracy is taken
_CACHE_BYTES = 256 * 2**20  # keep decoded images in memory below this size (C2ST reads them every epoch)


@dataclass(frozen=True)
class RealismConfig:
    """Settings of ``simgan evaluate realism``.

    Attributes:
        max_per_set: at most this many images from each set (both sets are cut to the same count).
        test_fraction: share of each set held out to score the two-sample classifier.
        epochs: passes of the two-sample classifier over its training half (see ``min_steps``).
        min_steps: at least this many optimizer steps whatever the set size (small sets repeat epochs);
            0 trains for ``epochs`` only.
        steps: when > 0, the step budget instead of ``max(min_steps, epochs x batches per epoch)``.
        converged_accuracy: stop before the budget once the classifier's running accuracy over its last
            20 training batches reaches this (it has converged on its training half; more steps only grow
            its margins). Above 1 never stops early.
        fit_threshold: training accuracy the classifier must reach on its own training half before its
            held-out accuracy may be read as "indistinguishable" (see the module docstring).
        batch_size: its batch size.
        lr: its Adam learning rate.
        kid_subset_size: images per KID subset (the standard 1000, or fewer for small sets).
        kid_subsets: number of random KID subsets averaged (1 when a set fits in one subset).
        seed: subsampling, split, classifier initialisation and batch order. The feature network of
            FID/KID does not depend on it (fixed seed), so FID/KID change with it only through subsampling.
    """

    max_per_set: int = 5000
    test_fraction: float = 0.5
    epochs: int = 10
    min_steps: int = 500
    steps: int = 0
    converged_accuracy: float = 0.99
    fit_threshold: float = 0.75
    batch_size: int = 64
    lr: float = 1e-3
    kid_subset_size: int = 1000
    kid_subsets: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_per_set < 4:
            raise InputError(f"max_per_set must be at least 4, got {self.max_per_set}")
        if not 0.0 < self.test_fraction < 1.0:
            raise InputError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.kid_subsets < 1 or self.kid_subset_size < 2:
            raise InputError("epochs, batch_size and kid_subsets must be >= 1, kid_subset_size >= 2")
        if self.min_steps < 0 or self.steps < 0:
            raise InputError(f"min_steps and steps must be >= 0, got {self.min_steps} and {self.steps}")
        if not 0.5 <= self.fit_threshold <= 1.0:
            raise InputError(f"fit_threshold must lie in [0.5, 1], got {self.fit_threshold}")
        if self.converged_accuracy < self.fit_threshold:
            raise InputError(
                f"converged_accuracy must be >= fit_threshold, got {self.converged_accuracy} "
                f"and {self.fit_threshold}"
            )
        if not self.lr > 0.0:
            raise InputError(f"lr must be > 0, got {self.lr}")

    def total_steps(self, batches_per_epoch: int) -> int:
        """Step budget of the two-sample classifier for a training half of that many batches."""
        if self.steps > 0:
            return self.steps
        return max(self.min_steps, self.epochs * batches_per_epoch)


def wilson_interval(successes: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default); (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _check_features(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected feature arrays (N, D) and (M, D), got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 samples per set, got {len(a)} and {len(b)}")
    return a, b


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(feat_a: np.ndarray, feat_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the formula of FID).

    d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with Tr((S_a S_b)^(1/2)) computed as the
    trace of the PSD matrix (S_a^(1/2) S_b S_a^(1/2))^(1/2), which is stable where S_a S_b is not
    symmetric or is near-singular (more dimensions than samples). Identical sets give 0 up to rounding.

    Shape:
        feat_a (N, D), feat_b (M, D) -> float.
    """
    a, b = _check_features(feat_a, feat_b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)  # (D, D)
    r_a = _sqrt_psd(s_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r_a @ s_b @ r_a), 0.0, None)).sum()
    d2 = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * cross)
    return max(d2, 0.0)


def mmd2_polynomial(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(u, v) = (u.v / d + 1)^3 (KID's estimator).

    Shape:
        x (N, D), y (M, D) -> float (may be slightly negative: the estimator is unbiased).
    """
    x, y = _check_features(x, y)
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3  # (N, N)
    k_yy = (y @ y.T / d + 1.0) ** 3  # (M, M)
    k_xy = (x @ y.T / d + 1.0) ** 3  # (N, M)
    n, m = len(x), len(y)
    # The diagonals k(x_i, x_i) are dropped: that is what makes the estimate unbiased.
    return float(
        (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        - 2.0 * k_xy.mean()
    )


def kid(
    feat_a: np.ndarray,
    feat_b: np.ndarray,
    *,
    subset_size: int = 1000,
    n_subsets: int = 10,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Kernel inception distance: mean and std of :func:`mmd2_polynomial` over random subsets.

    When both sets fit in one subset, the whole sets are used once (std 0).

    Shape:
        feat_a (N, D), feat_b (M, D) -> (mean, std).
    """
    a, b = _check_features(feat_a, feat_b)
    size = min(subset_size, len(a), len(b))
    if size >= len(a) and size >= len(b):
        return mmd2_polynomial(a, b), 0.0
    rng = rng or np.random.default_rng(0)
    vals = [
        mmd2_polynomial(
            a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        )
        for _ in range(n_subsets)
    ]
    return float(np.mean(vals)), float(np.std(vals))


def balanced_indices(
    n_a: int, n_b: int, max_per_set: int, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Random, equally many indices into two sets: ``min(n_a, n_b, max_per_set)`` from each, sorted."""
    n = min(n_a, n_b, max_per_set)
    return np.sort(rng.choice(n_a, n, replace=False)), np.sort(rng.choice(n_b, n, replace=False))


def check_same_shape(a: Source, b: Source) -> None:
    """Refuse two datasets whose images differ in size or channels (InputError naming both)."""
    ia, ib = a.info, b.info
    if (ia.height, ia.width, ia.channels) != (ib.height, ib.width, ib.channels):
        raise InputError(
            f"{ia.path} holds {ia.height}x{ia.width}x{ia.channels} images but {ib.path} holds "
            f"{ib.height}x{ib.width}x{ib.channels} (both sets must have the same size and channels)"
        )


class _Domain(Dataset):
    """Relabel a dataset's items with a constant domain target (0 = A, 1 = B)."""

    def __init__(self, images: ImageDataset, domain: int):
        self.images, self.domain = images, torch.tensor(float(domain))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i][0], self.domain


def _domain_set(a: Source, idx_a: np.ndarray, b: Source, idx_b: np.ndarray) -> ConcatDataset:
    info = a.info
    cache = (len(idx_a) + len(idx_b)) * info.channels * info.height * info.width * 4 < _CACHE_BYTES
    return ConcatDataset(
        [_Domain(ImageDataset(a, idx_a, cache), 0), _Domain(ImageDataset(b, idx_b, cache), 1)]
    )


def _two_sample_classifier(channels: int, height: int, width: int) -> nn.Module:
    body, dim = pyramid_cnn(channels, height, width, (16, 32, 64), min_blocks=2, batch_norm=True)
    return nn.Sequential(body, nn.Linear(dim, 1))  # (B, C, H, W) -> (B, 1) logit of "from B"


def _train_classifier(
    net: nn.Module, train: Dataset, cfg: RealismConfig, device: torch.device | str, progress: bool
) -> int:
    """Adam on the BCE of "from B" until converged or out of step budget; returns the steps taken.

    The budget is :meth:`RealismConfig.total_steps`; training stops early once the accuracy on the last
    :data:`_CONVERGED_WINDOW` batches (each scored in eval mode before its own update) reaches
    ``converged_accuracy``.
    """
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    # drop_last avoids a size-1 batch, which BatchNorm cannot normalise.
    loader = make_loader(
        train, cfg.batch_size, shuffle=True, seed=cfg.seed, drop_last=len(train) > cfg.batch_size
    )
    total = cfg.total_steps(len(loader))
    recent: deque[tuple[int, int]] = deque(maxlen=_CONVERGED_WINDOW)  # (hits, batch size) per step
    step = 0
    with tqdm(total=total, desc="two-sample classifier", disable=off(progress), leave=False) as bar:
        while step < total:  # each pass draws a fresh permutation from the loader's own generator
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                # Convergence is judged as the classifier is scored, in eval mode (BatchNorm's running
                # statistics): batch statistics can separate a mixed A/B batch that eval mode does not.
                net.eval()
                with torch.no_grad():
                    recent.append((int(((net(x).squeeze(1) > 0).float() == y).sum()), len(y)))
                net.train()
                loss = loss_fn(net(x).squeeze(1), y)  # (B,) logits of "from B"
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                bar.update()
                hits, seen = sum(h for h, _ in recent), sum(m for _, m in recent)
                converged = len(recent) == _CONVERGED_WINDOW and hits >= cfg.converged_accuracy * seen
                if step == total or converged:
                    return step
    return step


@torch.no_grad()
def _count_correct(net: nn.Module, ds: Dataset, device: torch.device | str) -> int:
    net.eval()
    hits = 0
    for x, y in make_loader(ds, 256, shuffle=False):
        pred = (net(x.to(device)).squeeze(1) > 0).float().cpu()  # logit > 0 <=> p(B) > 1/2
        hits += int((pred == y).sum())
    return hits


def c2st_verdict(
    train_accuracy: float, accuracy: float, ci: tuple[float, float] | list[float], fit_threshold: float = 0.75
) -> tuple[bool, str]:
    """Whether the two-sample classifier fit its training half, and the one-line verdict.

    The rules of the module docstring: "distinguishable" when the 95% interval ``ci`` of the held-out
    accuracy lies above 0.5; else "inconclusive" when training accuracy is below ``fit_threshold``
    (chance-level held-out accuracy from a classifier that learnt nothing says nothing); else
    "indistinguishable" when the interval contains 0.5, and "inconclusive" when it lies below.

    Returns:
        ``(fit, verdict)``; the verdict starts with "inconclusive", "distinguishable" or "indistinguishable".
    """
    lo, hi = ci
    fit = train_accuracy >= fit_threshold
    held_out = f"held-out accuracy {accuracy:.3f} [{lo:.3f}, {hi:.3f}], train accuracy {train_accuracy:.3f}"
    if lo > 0.5:
        return fit, f"distinguishable: {held_out}"
    if not fit:
        return fit, (
            f"inconclusive: the two-sample classifier did not fit its training half (train accuracy "
            f"{train_accuracy:.3f} < {fit_threshold:.2f}); train longer (--steps) or give more images"
        )
    if hi >= 0.5:
        return fit, f"indistinguishable: {held_out}"
    # A 2.5% event under H0 with independent draws; dependence within a set (near duplicates, stratified
    # sampling) makes it likelier.
    return (
        fit,
        f"inconclusive: held-out accuracy below chance ({held_out}); "
        "are the images within a set independent draws?",
    )


def c2st(
    a: Source,
    b: Source,
    idx_a: np.ndarray,
    idx_b: np.ndarray,
    cfg: RealismConfig,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Classifier two-sample test: train on one split of A vs B, report training and held-out accuracy.

    Args:
        a, b: the two datasets (same image size and channels).
        idx_a, idx_b: equally many indices into each (see :func:`balanced_indices`).
        cfg: steps (epochs, min_steps or steps), batch size, learning rate, test fraction, fit threshold
            and seed.
        device: where to train.
        progress: show a progress bar over optimizer steps.

    Returns:
        ``c2st_accuracy`` (held-out, 0.5 = indistinguishable), ``c2st_ci`` [lo, hi] (95% Wilson),
        ``c2st_p_value`` (one-sided binomial, H0 accuracy 0.5), ``c2st_train_accuracy``, ``c2st_steps``
        (optimizer steps taken), ``c2st_fit`` (training accuracy >= ``fit_threshold``), ``verdict``
        (one line, see :func:`c2st_verdict`), ``n_test``, ``n_train``.
    """
    if len(idx_a) != len(idx_b):
        raise ValueError(f"balanced sets expected, got {len(idx_a)} and {len(idx_b)} indices")
    rng = np.random.default_rng(cfg.seed)
    n = len(idx_a)
    n_test = min(n - 1, max(1, round(n * cfg.test_fraction)))  # per set; both splits non-empty
    pa, pb = rng.permutation(idx_a), rng.permutation(idx_b)
    train = _domain_set(a, pa[n_test:], b, pb[n_test:])
    test = _domain_set(a, pa[:n_test], b, pb[:n_test])

    info = a.info
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = _two_sample_classifier(info.channels, info.height, info.width).to(device)
    steps = _train_classifier(net, train, cfg, device, progress)

    k, n_eval = _count_correct(net, test, device), len(test)
    lo, hi = wilson_interval(k, n_eval)
    train_acc = _count_correct(net, train, device) / len(train)
    fit, verdict = c2st_verdict(train_acc, k / n_eval, (lo, hi), cfg.fit_threshold)
    return {
        "c2st_accuracy": k / n_eval,
        "c2st_ci": [lo, hi],
        "c2st_p_value": float(binomtest(k, n_eval, 0.5, alternative="greater").pvalue),
        "c2st_train_accuracy": train_acc,
        "c2st_steps": steps,
        "c2st_fit": fit,
        "verdict": verdict,
        "n_test": n_eval,
        "n_train": len(train),
    }


@atomic.one_writer("out")
def evaluate_realism(
    a: str | Path | Source,
    b: str | Path | Source,
    cfg: RealismConfig | None = None,
    *,
    out: str | Path | None = None,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Two-sample test, FID and KID between two datasets; writes ``OUT/metrics.json`` when ``out`` is set.

    Args:
        a, b: dataset folders (any readable layout) or opened sources.
        cfg: see :class:`RealismConfig` (default settings when None).
        out: optional output folder for ``metrics.json``.
        device: ``auto``, ``cpu``, ``cuda``... for the classifier and the feature network.
        progress: show progress bars.

    Returns:
        The metrics: ``c2st_accuracy``, ``c2st_ci``, ``c2st_p_value``, ``c2st_train_accuracy``,
        ``c2st_steps``, ``c2st_fit``, ``verdict``, ``n_test``, ``n_train``, ``fid``, ``kid``, ``kid_std``,
        ``n_per_set``, and a description of the feature network.

    Raises:
        InputError: a folder is unreadable, or the two sets differ in image size or channels.
    """
    cfg = cfg or RealismConfig()
    src_a = a if isinstance(a, Source) else open_dataset(a)
    src_b = b if isinstance(b, Source) else open_dataset(b)
    check_same_shape(src_a, src_b)
    if min(len(src_a), len(src_b)) < 4:
        raise InputError(
            f"need at least 4 images per set for a two-sample test, got {len(src_a)} in {src_a.info.path} "
            f"and {len(src_b)} in {src_b.info.path}"
        )
    dev = select_device(device) if isinstance(device, str) else device
    rng = np.random.default_rng(cfg.seed)
    idx_a, idx_b = balanced_indices(len(src_a), len(src_b), cfg.max_per_set, rng)

    result: dict[str, Any] = {
        "a": str(src_a.info.path),
        "b": str(src_b.info.path),
        "n_per_set": len(idx_a),
    }
    result.update(c2st(src_a, src_b, idx_a, idx_b, cfg, device=dev, progress=progress))

    info = src_a.info
    net = RandomFeatureNet(info.channels, info.height, info.width)
    feat_a = extract_features(src_a, idx_a, net=net, device=dev, progress=progress)  # (n, 256)
    feat_b = extract_features(src_b, idx_b, net=net, device=dev, progress=progress)  # (n, 256)
    kid_mean, kid_std = kid(
        feat_a, feat_b, subset_size=cfg.kid_subset_size, n_subsets=cfg.kid_subsets, rng=rng
    )
    result.update(
        {
            "fid": frechet_distance(feat_a, feat_b),
            "kid": kid_mean,
            "kid_std": kid_std,
            "features": feature_network_description(info.channels, info.height, info.width),
            "config": config_to_dict(cfg),
        }
    )
    if out is not None:
        write_json(Path(out) / "metrics.json", result)
    return result
