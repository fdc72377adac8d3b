"""Label preservation during ``train-refiner``: does R(x) still show what the simulator's label says?

Every ``monitor_every`` global steps the run refines a fixed held-out batch of synthetic images (the same
images every time, ``monitor_size`` of them, never more than half the set, chosen by the run's seed) and
measures, with the functions ``simgan evaluate labels`` uses (simgan.eval.label_preservation), on the
pixels ``simgan refine`` would write:

| task | stats key | passes when | what it measures |
| --- | --- | --- | --- |
| classify | ``labels/agreement`` | >= ``min_agreement`` (0.9) | a classifier's predictions on x, R(x) agree |
| gaze | ``labels/pupil_shift_px`` | <= ``max_pupil_shift_px`` (1.5) | mean pupil-centre shift |
| handpose | ``labels/silhouette_iou`` | >= ``min_silhouette_iou`` (0.9) | mean silhouette IoU |

(:func:`~simgan.eval.label_preservation.pupil_center`, ``foreground_mask`` and ``silhouette_iou``.)

The classifier is the ``consistency`` task model when the run has one, else a small
:class:`~simgan.nn.classifier.DigitCNN` the run trains at its start for ``monitor_task_steps`` Adam
steps (at most 20 epochs) on the synthetic labels of the images *outside* the monitor batch (the
simulator's labels are free; R itself never reads a label). It is saved as ``RUN/monitor_task.pt`` (a
``train-task`` checkpoint, so ``--consistency RUN/monitor_task.pt`` and ``evaluate labels --oracle`` read
it) and reloaded on resume.
The 1.5 px pupil threshold sits above the paper's own refiner (1.1 +/- 0.8 px on 55 px wide eyes).
A synthetic set without a known task label turns the monitor off (the run says so once).

The monitor keeps no RNG of its own and runs under a forked torch RNG, so it never changes training and
a resumed run stays exact; what it carries across steps (:class:`MonitorState`) is in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from simgan.checkpoint import save_checkpoint
from simgan.data import ImageDataset, make_loader, to_float
from simgan.data.source import DatasetInfo, Sample, Source
from simgan.eval.label_preservation import (
    LabelsConfig,
    classify_preservation,
    gaze_preservation,
    handpose_preservation,
)
from simgan.nn.classifier import DigitCNN
from simgan.nn.refiner import refine_images
from simgan.nn.task_model import load_task_model
from simgan.train.refiner_config import RefinerTrainConfig

__all__ = [
    "MONITOR_TASK_NAME",
    "MONITORED_KEYS",
    "LabelPreservationError",
    "MonitorState",
    "LabelMonitor",
    "train_monitor_classifier",
    "build_monitor",
]

MONITOR_TASK_NAME = "monitor_task.pt"
# task -> (stats key, config field of the threshold, True when higher values are better)
MONITORED_KEYS: dict[str, tuple[str, str, bool]] = {
    "classify": ("labels/agreement", "min_agreement", True),
    "gaze": ("labels/pupil_shift_px", "max_pupil_shift_px", False),
    "handpose": ("labels/silhouette_iou", "min_silhouette_iou", True),
}


class LabelPreservationError(RuntimeError):
    """``strict``: preservation fell below its threshold; the run stopped before writing a checkpoint."""


@dataclass
class MonitorState:
    """What the monitor carries across steps (in every checkpoint): whether the last measurement passed
    (a warning is printed once per crossing), and the step ``best.pt`` holds with D's accuracy on refined
    images there (-1 / inf while there is none)."""

    passing: bool = True
    best_step: int = -1
    best_score: float = math.inf

    def state_dict(self) -> dict[str, Any]:
        return {"passing": self.passing, "best_step": self.best_step, "best_score": self.best_score}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.passing = bool(state["passing"])
        self.best_step, self.best_score = int(state["best_step"]), float(state["best_score"])


class _Pixels(Source):
    """An in-memory dataset of pixels with the synthetic set's ids, labels and info (layout ``memory``)."""

    def __init__(self, info: DatasetInfo, ids: list[str], images: np.ndarray, labels: list[Any]):
        self.info = dataclasses.replace(info, layout="memory", count=len(ids))
        self.ids, self.images, self.labels = ids, images, labels

    def read(self, index: int) -> Sample:
        return Sample(self.ids[index], self.images[index], self.labels[index])


def _to_pixels(y: torch.Tensor, dtype: str) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8/uint16, rounded as ``simgan refine`` writes them."""
    s = 65535.0 if dtype == "uint16" else 255.0
    arr = np.clip((y.cpu().numpy() + 1.0) * (s / 2.0), 0.0, s)
    return np.rint(arr).astype(dtype).transpose(0, 2, 3, 1)


class LabelMonitor:
    """Measures label preservation of R on the fixed batch (module docstring) and judges it.

    Args:
        synthetic: the fixed batch (pixels, ids, labels; :class:`_Pixels`).
        task: ``classify``, ``gaze`` or ``handpose``.
        threshold: the pass mark of the task's measure.
        classifier: classify: the frozen model that reads x and R(x), on the run's device.
    """

    def __init__(self, synthetic: _Pixels, task: str, threshold: float, classifier: nn.Module | None = None):
        self.synthetic, self.task, self.threshold, self.classifier = synthetic, task, threshold, classifier
        self.key, _, self.higher_is_better = MONITORED_KEYS[task]
        self.images = torch.stack([torch.from_numpy(to_float(s.image)) for s in synthetic])  # (n, C, H, W)
        self.index = np.arange(len(synthetic))

    def passes(self, value: float) -> bool:
        """Whether a measured value keeps the labels (compared with the threshold)."""
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def judge(
        self, state: MonitorState, step: int, value: float, d_accuracy: float | None
    ) -> tuple[bool, bool]:
        """Update ``state`` with the measurement of global step ``step``.

        The best-checkpoint rule (label-free): the latest measured step of the adversarial phase whose
        preservation passes. Training makes R more realistic (that is what it optimises), the monitor says
        when that costs the labels, so the last step that kept them is the most trained R worth keeping.
        (The first rule, the passing step with the lowest D accuracy on refined images, picked the first
        adversarial measurement on the embedded default: D was only starting to learn there, so its
        accuracy compared different Ds, not R's realism.) ``d_accuracy`` is None outside the adversarial
        phase, where R is not trained against D and is no candidate; it is kept as ``best_score``.

        Returns:
            ``(crossed, best)``: preservation failed here after passing at the last measurement, and this
            step is the new best.
        """
        ok = self.passes(value)
        crossed = state.passing and not ok
        state.passing = ok
        best = ok and d_accuracy is not None
        if best:
            state.best_step, state.best_score = step, float(d_accuracy)  # type: ignore[arg-type]
        return crossed, best

    def describe(self, value: float) -> str:
        """``labels/agreement 0.812 < 0.9``: the value against the threshold it failed or passed."""
        ok = self.passes(value)
        op = (">=" if ok else "<") if self.higher_is_better else ("<=" if ok else ">")
        return f"{self.key} {value:.3f} {op} {self.threshold:g}"

    @torch.no_grad()
    def measure(self, R: nn.Module, device: torch.device, amp: bool) -> dict[str, float]:
        """The task's measure (and, for classify, the classifier's accuracy on R(x)) for the current R.

        Shape:
            refines the (n, C, H, W) batch; returns scalars keyed like stats lines (``labels/...``).
        """
        with torch.random.fork_rng(devices=[]):  # nothing here may move the training RNG
            R.eval()
            refined = refine_images(R, self.images.to(device), amp=amp)  # (n, C, H, W)
            R.train()
            info = self.synthetic.info
            pixels = _to_pixels(refined, info.dtype)  # (n, H, W, C)
            src = self.synthetic  # R(x) keeps x's id and label, as simgan refine writes them
            out_src = _Pixels(info, src.ids, pixels, src.labels)
            if self.task == "classify":
                assert self.classifier is not None
                m = classify_preservation(
                    src, out_src, self.index, self.index, self.classifier, device=device
                )
                return {self.key: m["agreement"], "labels/accuracy_refined": m["oracle_accuracy_refined"]}
            if self.task == "gaze":
                m = gaze_preservation(src, out_src, self.index, self.index, LabelsConfig())
                return {self.key: m["pupil_shift_px_mean"]}
            m = handpose_preservation(src, out_src, self.index, self.index, LabelsConfig())
            return {self.key: m["silhouette_iou_mean"]}


def _held_out(n: int, cfg: RefinerTrainConfig) -> np.ndarray:
    """The monitor batch: ``monitor_size`` (at most n // 2) indices, sorted, drawn from the run's seed."""
    m = max(1, min(cfg.monitor_size, n // 2))
    return np.sort(np.random.default_rng([cfg.seed, 4]).choice(n, size=m, replace=False))


def train_monitor_classifier(
    synthetic: Source, indices: np.ndarray, cfg: RefinerTrainConfig, device: torch.device
) -> tuple[nn.Module, dict[str, Any]]:
    """A small DigitCNN fitted to the synthetic labels of ``synthetic[indices]`` (Adam, lr 1e-3, batch 64)
    for ``monitor_task_steps`` steps or 20 epochs, whichever is fewer (a tiny set needs no more).

    Returns:
        The eval-mode model on ``device`` and the ``train-task`` checkpoint state that rebuilds it.
    """
    info = synthetic.info
    spec = {
        "arch": "digit_cnn",
        "kwargs": {"in_channels": info.channels, "num_classes": len(info.classes or ()), "width": 16},
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 5)
        model = DigitCNN(**spec["kwargs"]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        step, epoch = 0, 0
        data = ImageDataset(synthetic, indices, cache=True)
        steps = min(cfg.monitor_task_steps, 20 * math.ceil(len(indices) / 64))
        while step < steps:
            for x, y in make_loader(data, 64, shuffle=True, seed=cfg.seed + 1000 * epoch):
                loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                if step == steps:
                    break
            epoch += 1
    state = {
        "model": model.state_dict(),
        "model_spec": spec,
        "phase": "monitor",
        "epoch": epoch,
        "record": {"steps": step, "final_loss": float(loss.detach())},
        "config": {"task": "classify", "trained_on": str(info.path), "images": len(indices)},
        "image": {"channels": info.channels, "height": info.height, "width": info.width},
    }
    return model.eval(), state


def build_monitor(
    synthetic: Source,
    cfg: RefinerTrainConfig,
    run: Path,
    device: torch.device,
    classifier: nn.Module | None = None,
) -> tuple[LabelMonitor | None, str]:
    """The run's monitor, or None with the reason it is off.

    Args:
        synthetic: the synthetic set (its task decides the measure).
        cfg: the run's config (``monitor_*`` fields and thresholds).
        run: the run folder (``monitor_task.pt`` is written or reloaded there).
        device: the run's device.
        classifier: classify: a frozen task model to use (the consistency model) instead of training one.
    """
    info = synthetic.info
    if cfg.monitor_every == 0:
        return None, "label-preservation monitor off (monitor_every 0)"
    if info.task not in MONITORED_KEYS:
        what = f"task {info.task!r}" if info.task else "no labels"
        return None, f"label-preservation monitor off: the synthetic set {info.path} has {what}"
    if info.task == "classify" and len(info.classes or ()) < 2:
        return None, f"label-preservation monitor off: the synthetic set {info.path} has under 2 classes"
    held = _held_out(len(synthetic), cfg)
    if info.task == "classify" and classifier is None:
        path = run / MONITOR_TASK_NAME
        if path.is_file():
            classifier, _ = load_task_model(path, device)
        else:
            rest = np.setdiff1d(np.arange(len(synthetic)), held)
            classifier, state = train_monitor_classifier(synthetic, rest, cfg, device)
            run.mkdir(parents=True, exist_ok=True)
            save_checkpoint(path, state, "task")
        classifier.requires_grad_(False)
    samples = [synthetic.read(int(i)) for i in held]
    batch = _Pixels(
        info,
        [s.id for s in samples],
        np.stack([s.image for s in samples]),  # (n, H, W, C)
        [s.label for s in samples],
    )
    key, field, _ = MONITORED_KEYS[info.task]
    threshold = float(getattr(cfg, field))
    return LabelMonitor(batch, info.task, threshold, classifier), f"{key} every {cfg.monitor_every} steps"
