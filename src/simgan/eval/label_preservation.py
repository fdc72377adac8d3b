"""Does refinement keep the labels? Compare each synthetic image with its refined version (matched by id).

SimGAN trains task models on refined images with the *synthetic* labels, so the refiner must not change
what the label describes (section 2, the self-regularization term exists for this). Each task gets a
measurement that needs no human:

- **classify** (digits): an *oracle* classifier reads both versions. Reported: its accuracy on the
  synthetic images and on the refined images (both against the synthetic labels) and how often its two
  predictions agree. Here the oracle is given (a function that returns it); loading it from a
  ``train-task`` run is :func:`load_oracle`, and ``simgan evaluate labels``
  (:func:`simgan.experiment.labels.evaluate_labels`) trains one on real labelled data or on the synthetic
  set itself when no run is given.
- **gaze** (eyes): the pupil centre is detected in both versions with the same detector (centroid of the
  darkest blob, :func:`pupil_center`, searched near the labelled ``iris_center`` when the label has one)
  and the shift in pixels is reported as mean and std; the paper measured 1.1 +/- 0.8 px on 55 px wide
  eyes (by hand, fitting ellipses to 100 pupils). A detector bias common to both versions cancels; the
  search window (0.6 x the iris radius, about 4 px) means shifts much larger than that are underestimated.
- **handpose** (depth): silhouette IoU (foreground = pixels away from the far-plane background value)
  and the mean absolute depth change at the labelled joints' pixels, in [-1, 1] image units and, for
  NYU-style crops (a ``centre_uvd`` in the label), in millimetres (the range spans the 300 mm cube).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from simgan.atomic import write_json
from simgan.config import config_to_dict
from simgan.data import ImageDataset, Source, make_loader, open_dataset, to_float
from simgan.device import select_device
from simgan.errors import InputError
from simgan.eval.metrics import accuracy, predicted_classes
from simgan.handpose import CUBE_MM
from simgan.nn.task_model import load_task_model

__all__ = [
    "LabelsConfig",
    "match_ids",
    "pupil_center",
    "foreground_mask",
    "silhouette_iou",
    "Oracle",
    "oracle_checkpoint",
    "load_oracle",
    "check_oracle_data",
    "predict",
    "classify_preservation",
    "gaze_preservation",
    "handpose_preservation",
    "measure_labels",
]

# Given the synthetic set and the device, return the eval-mode digit oracle and a description of it
# (``{"oracle": ...}``, merged into the result).
Oracle = Callable[[Source, torch.device], tuple[nn.Module, dict[str, Any]]]


@dataclass(frozen=True)
class LabelsConfig:
    """Settings of ``simgan evaluate labels``.

    Attributes:
        max_samples: at most this many matched pairs (a seeded random subset) are measured.
        oracle_epochs: epochs to train the digit oracle when it is not loaded from a run (at least).
        oracle_min_steps: ... and at least this many optimizer steps (train-task's step floor), so an
            oracle of a few hundred real labels is trained to convergence.
        batch_size: oracle batch size.
        lr: oracle Adam learning rate.
        pupil_window: eyes with an ``iris_center`` label: the pupil is searched within this fraction of
            the labelled iris radius (``iris_radius_px``, else 13% of the width) around that centre, in
            both the synthetic and the refined image (eye corners and lashes stay outside).
        dark_fraction: the pupil detector's threshold: the darkest this fraction of the searched
            (smoothed) pixels; unlabelled centres are searched over the whole image with 1/10 of it.
        background_tolerance: hands: a pixel is background when within this fraction of the value range
            of the far-plane value.
        seed: subset choice, oracle initialisation and batch order.
    """

    max_samples: int = 5000
    oracle_epochs: int = 15
    oracle_min_steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    pupil_window: float = 0.6
    dark_fraction: float = 0.3
    background_tolerance: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_samples < 1 or self.oracle_epochs < 1 or self.batch_size < 1:
            raise InputError("max_samples, oracle_epochs and batch_size must be >= 1")
        if self.oracle_min_steps < 0:
            raise InputError(f"oracle_min_steps must be >= 0, got {self.oracle_min_steps}")
        if not 0.0 < self.dark_fraction < 1.0 or self.pupil_window <= 0.0:
            raise InputError(
                f"dark_fraction must lie in (0, 1) and pupil_window be > 0, got {self.dark_fraction}, "
                f"{self.pupil_window}"
            )
        if not 0.0 < self.background_tolerance < 1.0:
            raise InputError(f"background_tolerance must lie in (0, 1), got {self.background_tolerance}")


def match_ids(synthetic: Source, refined: Source) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Pairs of indices (synthetic, refined) with the same sample id, in synthetic order.

    Returns:
        idx_synthetic (N,), idx_refined (N,), and counts of unmatched ids on each side.

    Raises:
        InputError: no id is shared.
    """
    where = {refined.sample_id(j): j for j in range(len(refined))}
    pairs = [(i, where[s]) for i in range(len(synthetic)) if (s := synthetic.sample_id(i)) in where]
    if not pairs:
        raise InputError(
            f"{synthetic.info.path} and {refined.info.path} share no sample ids "
            "(label preservation compares a synthetic image with its refined version of the same id)"
        )
    ii, jj = (np.asarray(v, dtype=np.int64) for v in zip(*pairs, strict=True))
    unmatched = {"synthetic": len(synthetic) - len(pairs), "refined": len(refined) - len(pairs)}
    return ii, jj, unmatched


# --- classify -----------------------------------------------------------------------------------------


def oracle_checkpoint(oracle: str | Path | None) -> Path | None:
    """The ``train-task`` checkpoint that ``oracle`` names (a ``.pt`` file or a run folder with ``best.pt``),
    or None when it names none (a dataset, or nothing)."""
    if oracle is None:
        return None
    path = Path(oracle)
    if path.is_file() and path.suffix == ".pt":
        return path
    if (path / "best.pt").is_file():
        return path / "best.pt"
    return None


def load_oracle(
    checkpoint: str | Path, synthetic: Source, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """A digit oracle loaded from a ``train-task`` checkpoint, checked against the synthetic set.

    Returns:
        The eval-mode model and its description (``oracle``).

    Raises:
        InputError: not a classifier with the synthetic set's classes and channels.
    """
    si = synthetic.info
    model, config = load_task_model(checkpoint, device)
    if config.get("task") != "classify" or getattr(model, "num_classes", None) != len(si.classes or ()):
        raise InputError.at(
            checkpoint,
            f"not a digit classifier with {len(si.classes or ())} classes (task {config.get('task')!r})",
        )
    if getattr(model, "in_channels", si.channels) != si.channels:
        raise InputError.at(
            checkpoint, f"reads {model.in_channels}-channel images, {si.path} has {si.channels}"
        )
    return model, {"oracle": f"train-task model {checkpoint}"}


def check_oracle_data(src: Source, synthetic: Source) -> None:
    """Refuse a set to train the oracle on unless it holds labelled digits shaped like the synthetic set.

    Raises:
        InputError: unlabelled, another task, another image size or channel count, other classes.
    """
    si, oi = synthetic.info, src.info
    if oi.task != "classify" or (oi.height, oi.width, oi.channels) != (si.height, si.width, si.channels):
        raise InputError.at(
            oi.path,
            f"the oracle needs labelled digits of {si.height}x{si.width}x{si.channels} like {si.path}, "
            f"got a {'labelled ' + oi.task if oi.task else 'unlabelled'} set of "
            f"{oi.height}x{oi.width}x{oi.channels}",
        )
    if tuple(oi.classes or ()) != tuple(si.classes or ()):
        raise InputError.at(
            oi.path, f"classes {list(oi.classes or ())} differ from {si.path}'s {list(si.classes or ())}"
        )


@torch.no_grad()
def predict(
    net: nn.Module, source: Source, indices: np.ndarray, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Predicted classes of ``source[indices]``.

    Shape:
        indices (N,) -> classes (N,) int64.
    """
    net.eval()
    out = [
        net(x.to(device)).cpu().numpy()  # (B, K)
        for x, _ in make_loader(ImageDataset(source, indices), 256, shuffle=False)
    ]
    return predicted_classes(np.concatenate(out))


def classify_preservation(
    synthetic: Source,
    refined: Source,
    idx_s: np.ndarray,
    idx_r: np.ndarray,
    oracle: nn.Module,
    *,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Oracle accuracy on synthetic and refined images (synthetic labels) and their agreement rate."""
    labels = np.asarray([int(synthetic.label(int(i))) for i in idx_s])
    pred_s = predict(oracle, synthetic, idx_s, device)
    pred_r = predict(oracle, refined, idx_r, device)
    return {
        "oracle_accuracy_synthetic": accuracy(pred_s, labels),
        "oracle_accuracy_refined": accuracy(pred_r, labels),
        "agreement": float((pred_s == pred_r).mean()),
    }


# --- gaze ---------------------------------------------------------------------------------------------


def _grey(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint -> (H, W) float in [-1, 1] (channel mean)."""
    return to_float(image).mean(axis=0)


def pupil_center(
    image: np.ndarray,
    dark_fraction: float = 0.03,
    *,
    near: tuple[float, float] | None = None,
    radius: float | None = None,
) -> tuple[float, float]:
    """Pupil centre (x, y) in pixels: the darkness-weighted centroid of the darkest blob.

    The image is smoothed (sigma = width / 55 px, one pixel at the paper's 55 px width) so single dark
    pixels (noise, lashes) do not win. The searched area is the disc of ``radius`` around ``near`` when
    given (a labelled centre: eye corners and lashes, often darker than the pupil, stay outside), else the
    whole image. The threshold keeps the darkest ``dark_fraction`` of the searched pixels, and only the
    connected blob holding the darkest of them counts.

    Shape:
        image (H, W, C) uint8/uint16 -> (x, y) floats, x along columns, y along rows.
    """
    g = ndimage.gaussian_filter(_grey(image), sigma=max(1.0, image.shape[1] / 55.0), mode="nearest")  # (H, W)
    ys, xs = np.indices(g.shape)
    area = np.ones(g.shape, bool)
    if near is not None:
        r = radius if radius is not None else 0.08 * g.shape[1]
        area = (xs - near[0]) ** 2 + (ys - near[1]) ** 2 <= r * r
        if not area.any():  # a centre outside the image: fall back to the nearest pixel
            area[
                int(np.clip(round(near[1]), 0, g.shape[0] - 1)),
                int(np.clip(round(near[0]), 0, g.shape[1] - 1)),
            ] = True
    thresh = np.quantile(g[area], dark_fraction)
    blobs, _ = ndimage.label(area & (g <= thresh))
    seed = np.unravel_index(np.argmin(np.where(area, g, np.inf)), g.shape)
    mask = blobs == blobs[seed]
    weight = np.where(mask, thresh - g, 0.0) + mask * 1e-6  # darker pixels weigh more; never all zero
    total = weight.sum()
    return float((xs * weight).sum() / total), float((ys * weight).sum() / total)


def _labelled_center(label: Any) -> tuple[float, float] | None:
    """An iris/pupil centre landmark in a gaze label, when the simulator stored one."""
    if not isinstance(label, dict):
        return None
    for holder in (label, label.get("landmarks") if isinstance(label.get("landmarks"), dict) else {}):
        for key in ("iris_center", "pupil_center"):
            v = holder.get(key)
            if isinstance(v, list | tuple) and len(v) >= 2:
                return float(v[0]), float(v[1])
    return None


def gaze_preservation(
    synthetic: Source, refined: Source, idx_s: np.ndarray, idx_r: np.ndarray, cfg: LabelsConfig
) -> dict[str, Any]:
    """Pupil-centre shift between synthetic and refined eyes (same detector on both), in pixels."""
    shifts, det_err, windowed = [], [], 0
    width = synthetic.info.width
    for i, j in zip(idx_s, idx_r, strict=True):
        s = synthetic.read(int(i))
        lab = _labelled_center(s.label)
        if lab is None:
            kw: dict[str, Any] = {"dark_fraction": cfg.dark_fraction / 10}
        else:
            iris = s.label.get("iris_radius_px") if isinstance(s.label, dict) else None
            iris = float(iris) if isinstance(iris, int | float) and iris > 0 else 0.13 * width
            kw = {"dark_fraction": cfg.dark_fraction, "near": lab, "radius": cfg.pupil_window * iris}
            windowed += 1
        c_s = pupil_center(s.image, **kw)
        c_r = pupil_center(refined.read(int(j)).image, **kw)
        shifts.append(np.hypot(c_r[0] - c_s[0], c_r[1] - c_s[1]))
        if lab is not None:
            det_err.append(np.hypot(c_s[0] - lab[0], c_s[1] - lab[1]))
    out: dict[str, Any] = {
        "pupil_shift_px_mean": float(np.mean(shifts)),
        "pupil_shift_px_std": float(np.std(shifts)),
        "pupil_shift_px_median": float(np.median(shifts)),
        "image_width": width,
        "detector": "darkness-weighted centroid of the darkest blob "
        + (
            f"within {cfg.pupil_window:g} x the labelled iris radius of the labelled iris centre"
            if windowed
            else "in the whole image"
        ),
    }
    if det_err:
        # How far the detector lands from the labelled centre on synthetic images: its own error scale.
        out["detector_error_synthetic_px_mean"] = float(np.mean(det_err))
    return out


# --- handpose -----------------------------------------------------------------------------------------


def _background_value(depth: np.ndarray) -> float:
    """The far-plane value: the most common value on the image border (a hand crop never fills it)."""
    border = np.concatenate([depth[0], depth[-1], depth[:, 0], depth[:, -1]])
    values, counts = np.unique(border, return_counts=True)
    return float(values[np.argmax(counts)])


def foreground_mask(depth: np.ndarray, background: float, tolerance: float = 0.05) -> np.ndarray:
    """Pixels farther than ``tolerance`` (in [-1, 1] units / 2) from the background value.

    Shape:
        depth (H, W) float in [-1, 1] -> (H, W) bool.
    """
    return np.abs(depth - background) > 2.0 * tolerance


def silhouette_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def handpose_preservation(
    synthetic: Source, refined: Source, idx_s: np.ndarray, idx_r: np.ndarray, cfg: LabelsConfig
) -> dict[str, Any]:
    """Silhouette IoU and mean absolute depth change at the labelled joints (depth in [-1, 1] units)."""
    ious, changes, nyu_crops = [], [], 0
    for i, j in zip(idx_s, idx_r, strict=True):
        s = synthetic.read(int(i))
        d_s, d_r = _grey(s.image), _grey(refined.read(int(j)).image)  # (H, W) in [-1, 1]
        bg = _background_value(d_s)  # the synthetic far plane; the refiner should keep it
        ious.append(
            silhouette_iou(
                foreground_mask(d_s, bg, cfg.background_tolerance),
                foreground_mask(d_r, bg, cfg.background_tolerance),
            )
        )
        if isinstance(s.label, dict) and "uv" in s.label:
            uv = np.rint(np.asarray(s.label["uv"], dtype=np.float64)).astype(np.int64)  # (14, 2) as (u, v)
            u = np.clip(uv[:, 0], 0, d_s.shape[1] - 1)
            v = np.clip(uv[:, 1], 0, d_s.shape[0] - 1)
            changes.append(np.abs(d_r[v, u] - d_s[v, u]).mean())
            nyu_crops += "centre_uvd" in s.label
    out: dict[str, Any] = {
        "silhouette_iou_mean": float(np.mean(ious)),
        "silhouette_iou_std": float(np.std(ious)),
        "foreground": f"pixels more than {cfg.background_tolerance:.0%} of the range from the far plane",
    }
    if changes:
        out["joint_depth_change_mean"] = float(np.mean(changes))
        out["joint_depth_change_std"] = float(np.std(changes))
        out["depth_units"] = "image range scaled to [-1, 1] (2.0 = full range)"
        if nyu_crops == len(changes):
            # NYU-style crops (a crop centre in the label): [-1, 1] spans the CUBE_MM cube around it.
            out["joint_depth_change_mm_mean"] = float(np.mean(changes) * CUBE_MM / 2.0)
            out["joint_depth_change_mm_std"] = float(np.std(changes) * CUBE_MM / 2.0)
    return out


# --- entry point --------------------------------------------------------------------------------------


def measure_labels(
    synthetic: str | Path | Source,
    refined: str | Path | Source,
    cfg: LabelsConfig | None = None,
    *,
    oracle: Oracle | None = None,
    out: str | Path | None = None,
    device: str | torch.device = "auto",
) -> dict[str, Any]:
    """Label preservation of a refined dataset (see the module docstring); writes ``OUT/metrics.json``.

    Args:
        synthetic: the labelled synthetic dataset.
        refined: its refined version (same ids).
        cfg: see :class:`LabelsConfig` (default settings when None).
        oracle: classify only: returns the digit oracle (called once, after the inputs are checked).
        out: optional output folder for ``metrics.json``.
        device: for the oracle.

    Raises:
        InputError: unreadable folders, an unlabelled synthetic set, no shared ids, different image sizes,
            digits without an ``oracle``.
    """
    cfg = cfg or LabelsConfig()
    syn = synthetic if isinstance(synthetic, Source) else open_dataset(synthetic)
    ref = refined if isinstance(refined, Source) else open_dataset(refined)
    task = syn.info.task
    if task is None:
        raise InputError.at(syn.info.path, "unlabelled: label preservation needs the labelled synthetic set")
    si, ri = syn.info, ref.info
    if (si.height, si.width, si.channels) != (ri.height, ri.width, ri.channels):
        raise InputError(
            f"{ri.path} holds {ri.height}x{ri.width}x{ri.channels} images but {si.path} holds "
            f"{si.height}x{si.width}x{si.channels} (a refined set keeps the synthetic size)"
        )
    idx_s, idx_r, unmatched = match_ids(syn, ref)
    if len(idx_s) > cfg.max_samples:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(idx_s), cfg.max_samples, replace=False))
        idx_s, idx_r = idx_s[keep], idx_r[keep]
    result: dict[str, Any] = {
        "task": task,
        "synthetic": str(si.path),
        "refined": str(ri.path),
        "n_matched": len(idx_s),
        "n_unmatched": unmatched,
    }
    if task == "classify":
        if oracle is None:
            raise InputError.at(si.path, "digits: label preservation needs an oracle classifier")
        dev = select_device(device) if isinstance(device, str) else device
        net, about = oracle(syn, dev)
        result.update(about)
        result.update(classify_preservation(syn, ref, idx_s, idx_r, net, device=dev))
    elif task == "gaze":
        result.update(gaze_preservation(syn, ref, idx_s, idx_r, cfg))
    else:
        result.update(handpose_preservation(syn, ref, idx_s, idx_r, cfg))
    result["config"] = config_to_dict(cfg)
    if out is not None:
        write_json(Path(out) / "metrics.json", result)
    return result
