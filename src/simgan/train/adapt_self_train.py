"""The self-training step of ``train-task --adapt self-train``: a mean teacher (Tarvainen & Valpola 2017;
French et al. 2018, "Self-ensembling for visual domain adaptation") labels weakly augmented unlabelled real
images, and the student learns those pseudo-labels under strong augmentation (FixMatch-style, Sohn et al.
2020), next to the supervised loss on the labelled source batch.

Per step (the teacher T is an EMA of the student S, updated after every optimizer step)::

    x_w = weak(x_t)                                   # a random 1-pixel shift
    classify:        p = softmax(T(x_w)); with distribution alignment (ReMixMatch, Berthelot et al. 2020)
                     p <- normalise(p * prior / m), m the running mean of p over target batches and prior
                     the source labels' class frequencies; keep where max p >= pseudo_threshold; label
                     argmax p
    gaze / handpose: T on two weak views (shifts s and -s); keep where they agree within
                     pseudo_max_error (deg / px); label T's prediction on the first view
    x_s, y = strong(x_w, label)                       # shift + contrast x[0.8, 1.2] + Gaussian noise 0.1
    loss = task_loss(S(x), y_src) + w * (kept / B) * task_loss(S(x_s[kept]), y[kept])

Why align: the teacher's confident mistakes feed back into its pseudo-labels. On the embedded default the
source model reads many real 1s as 4s, and plain self-training deepened that (the 1 -> 4 confusion grew from
46 to 86 of 165 test 1s; the teacher's predictions on the unlabelled split put 18% on 4 and 4% on 1).
Alignment divides out that drift toward the class prior, which the source labels give without any real
label; it assumes the real images' classes are about as frequent as the synthetic ones.

Geometric ops move the pseudo-label with the pixels (``simgan.data.augment``), so joints stay on the hand.
The run starts from the best source-only model (the train phase), so the first pseudo-labels are sensible.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from simgan.adapt.self_train import EMATeacher
from simgan.data.augment import random_jitter, translate
from simgan.gaze import angular_error
from simgan.nn.task_model import predictions, task_loss
from simgan.train.adapt_learner import Learner

__all__ = ["SelfTrainLearner", "DEFAULT_MAX_ERROR"]

DEFAULT_MAX_ERROR = {"gaze": 3.0, "handpose": 2.0}  # degrees, pixels: pseudo_max_error = 0
ALIGN_DECAY = 0.99  # the running mean of the teacher's target predictions spans about 100 batches
STRONG_NOISE = 0.1  # std of the Gaussian noise of the strong view, in [-1, 1] pixel units


class SelfTrainLearner(Learner):
    """Supervised loss + the mean teacher's pseudo-label loss; logs ``self_train/mask_rate`` and ``/loss``.

    Args:
        model: the student (the task network being trained), initialised from the source-only model.
        task: classify, gaze or handpose.
        target: endless stream of unlabelled target batches, already on the model's device.
        weight: w, the weight of the pseudo-label loss.
        confidence: classify: the teacher probability a pseudo-label needs.
        max_error: gaze / handpose: the largest disagreement (degrees / pixels) between the teacher's two
            weak views; 0 takes :data:`DEFAULT_MAX_ERROR`.
        ema_decay: the teacher's EMA decay per step.
        generator: draws the augmentation parameters (CPU).
        prior: classify: the source class frequencies (K,) for distribution alignment; None turns it off.
    """

    def __init__(
        self,
        model: nn.Module,
        task: str,
        target: Iterator[torch.Tensor],
        *,
        weight: float,
        confidence: float,
        max_error: float,
        ema_decay: float,
        generator: torch.Generator,
        prior: torch.Tensor | None = None,
    ):
        super().__init__(model, task)
        self.prior = None if prior is None else prior.float() / prior.float().sum()  # (K,)
        self.running: torch.Tensor | None = None  # (K,) running mean of the teacher's target predictions
        self.teacher = EMATeacher(model, decay=ema_decay)
        self.target = target
        self.weight = weight
        self.confidence = confidence
        self.max_error = max_error or DEFAULT_MAX_ERROR.get(task, 0.0)
        self.generator = generator

    def _shift(self, n: int) -> torch.Tensor:
        return torch.randint(-1, 2, (n, 2), generator=self.generator)  # (n, 2): the weak 1-pixel shift

    def _nonzero_shift(self, n: int) -> torch.Tensor:
        nonzero = torch.tensor([(u, v) for u in (-1, 0, 1) for v in (-1, 0, 1) if (u, v) != (0, 0)])
        return nonzero[torch.randint(0, 8, (n,), generator=self.generator)]  # (n, 2)

    @torch.no_grad()
    def pseudo_labels(self, x_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The weak view, the teacher's pseudo-labels on it, and the mask of those it trusts.

        Shape:
            x_t: (B, C, H, W); returns x_w (B, C, H, W), labels (B,) / (B, 3) / (B, J, 2), mask (B,) bool.
        """
        teacher = self.teacher.module
        b = x_t.shape[0]
        if self.task == "classify":
            x_w, _ = translate(
                x_t, torch.zeros(b, dtype=torch.long, device=x_t.device), "classify", self._shift(b)
            )
            probs = self.align(F.softmax(teacher(x_w).float(), dim=1))  # (B, K)
            conf, label = probs.max(dim=1)
            return x_w, label, conf >= self.confidence
        like = torch.zeros((b, 3) if self.task == "gaze" else (b, 1, 2), device=x_t.device)
        s1 = self._nonzero_shift(b)
        s2 = -s1  # two views that always differ (by 2 pixels along at least one axis)
        x_w, _ = translate(x_t, like, self.task, s1)
        x_w2, _ = translate(x_t, like, self.task, s2)
        p1 = predictions(teacher, self.task, teacher(x_w))
        p2 = predictions(teacher, self.task, teacher(x_w2))
        if self.task == "gaze":
            error = angular_error(p1, p2)  # (B,) degrees; a 1-pixel shift keeps the gaze label
        else:  # joints of view 2, moved into view 1's pixels: u + du1 - du2
            moved = p2 + (s1 - s2).to(p2.device, p2.dtype)[:, None, :]  # (B, J, 2)
            error = (p1 - moved).norm(dim=-1).mean(dim=1)  # (B,) mean joint distance in pixels
        return x_w, p1, error <= self.max_error

    @torch.no_grad()
    def align(self, probs: torch.Tensor) -> torch.Tensor:
        """Distribution alignment: ``probs * prior / running mean``, renormalised; the running mean first
        takes this batch in. Without a prior the probabilities pass unchanged.

        Shape:
            probs: (B, K) rows summing to 1; returns (B, K).
        """
        if self.prior is None:
            return probs
        mean = probs.mean(dim=0)  # (K,)
        self.running = mean if self.running is None else self.running.lerp(mean, 1.0 - ALIGN_DECAY)
        aligned = probs * (self.prior.to(probs.device) / self.running.clamp_min(1e-6))
        return aligned / aligned.sum(dim=1, keepdim=True)

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: int, total: int) -> torch.Tensor:
        supervised = task_loss(self.model, self.task, self.net(x), y)
        x_w, label, keep = self.pseudo_labels(next(self.target))
        self.stats.add("self_train/mask_rate", float(keep.float().mean()))
        if not bool(keep.any()):
            self.stats.add("self_train/loss", 0.0)
            return supervised
        # Strong view of the kept samples; the shift moves joint labels with the pixels.
        x_s, y_s = translate(x_w[keep], label[keep], self.task, self._shift(int(keep.sum())))
        x_s, y_s = random_jitter(x_s, y_s, self.task, self.generator, brightness=0.0, contrast=0.2)
        noise = torch.randn(x_s.shape, generator=self.generator).to(x_s.device, x_s.dtype)
        x_s = (x_s + STRONG_NOISE * noise).clamp(-1.0, 1.0)
        unlabelled = task_loss(self.model, self.task, self.net(x_s), y_s) * keep.float().mean()
        self.stats.add("self_train/loss", float(unlabelled.detach()))
        return supervised + self.weight * unlabelled

    def after_step(self) -> None:
        self.teacher.update(self.model)

    def evaluated(self) -> nn.Module:
        return self.teacher.module  # the EMA teacher: the smoother of the two, and the one reported

    # The source validation score is flat within its noise while self-training (measured on the embedded
    # default: 0.965-0.98 over 100 epochs as the mask rate rose 0.76 -> 0.93), so its argmax picks noise;
    # the last teacher has learned from the most pseudo-labels.
    select_last = True
