"""The adaptation building blocks: gradient reversal flips the gradient's sign, the ramp, DANN's domain
loss and accuracy, the mean teacher is an EMA, and the consistency loss is zero for the identity refiner."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from simgan.adapt.consistency import consistency_loss
from simgan.adapt.dann import DomainAdversary, dann_loss, domain_accuracy
from simgan.adapt.grl import GradReverse, dann_alpha, grad_reverse
from simgan.adapt.self_train import EMATeacher
from simgan.nn.classifier import DigitCNN
from simgan.nn.gaze_net import GazeNet
from simgan.nn.hourglass import HourglassNet


def test_grad_reverse_is_identity_forward_and_negates_the_gradient() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(4, 3)
    y = grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -0.7 * w)
    x.grad = None
    (GradReverse(2.0)(x) * w).sum().backward()
    assert torch.allclose(x.grad, -2.0 * w)


def test_dann_alpha_ramp() -> None:
    assert dann_alpha(0.0) == 0.0
    assert dann_alpha(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert 0.9999 < dann_alpha(1.0) < 1.0
    with pytest.raises(ValueError):
        dann_alpha(1.5)


def test_domain_loss_and_accuracy() -> None:
    src, tgt = torch.tensor([-5.0, -5.0]), torch.tensor([5.0, -5.0])
    assert float(domain_accuracy(src, tgt)) == 0.75
    # A confident, correct classifier pays little; the same logits with the domains swapped pay a lot.
    assert float(dann_loss(src, -src)) < 0.01 < 4.0 < float(dann_loss(-src, src))


def test_domain_adversary_trains_g_d_and_reverses_into_the_features() -> None:
    torch.manual_seed(0)
    adv = DomainAdversary(feature_dim=5, hidden=8, layers=1)
    f_s = (torch.randn(16, 5) - 1).requires_grad_(True)
    f_t = (torch.randn(16, 5) + 1).requires_grad_(True)
    out = adv(f_s, f_t, alpha=1.0)
    out.loss.backward()
    g_features = f_s.grad.clone()
    # Without reversal the feature gradient is exactly the opposite one.
    f_s.grad = None
    plain = dann_loss(*(adv.classifier(f) for f in (f_s, f_t)))
    plain.backward()
    assert torch.allclose(g_features, -f_s.grad, atol=1e-6)
    assert all(p.grad is not None for p in adv.parameters())
    with pytest.raises(ValueError):
        adv(torch.randn(2, 4), torch.randn(2, 5))


def test_ema_teacher_is_an_exponential_moving_average() -> None:
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    teacher = EMATeacher(student, decay=0.9)
    start = [p.detach().clone() for p in teacher.module.parameters()]
    assert all(not p.requires_grad for p in teacher.module.parameters())
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
        student[1].running_mean.fill_(3.0)
    teacher.update(student)
    for t, t0, s in zip(teacher.module.parameters(), start, student.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * t0 + 0.1 * s)
    assert torch.equal(teacher.module[1].running_mean, student[1].running_mean)  # buffers copied
    with pytest.raises(ValueError):
        EMATeacher(student, decay=1.0)


@pytest.mark.parametrize("task", ["classify", "gaze", "handpose"])
def test_consistency_is_zero_for_the_identity_and_positive_otherwise(task: str) -> None:
    torch.manual_seed(0)
    model: nn.Module
    if task == "classify":
        model, x = DigitCNN(in_channels=1, num_classes=10, width=4), torch.rand(6, 1, 8, 8) * 2 - 1
    elif task == "gaze":
        model, x = GazeNet(in_channels=1, height=35, width=55), torch.rand(6, 1, 35, 55) * 2 - 1
    else:
        model = HourglassNet(in_channels=1, num_joints=3, stacks=1, channels=8, depth=1)
        x = torch.rand(6, 1, 32, 32) * 2 - 1
    model.eval().requires_grad_(False)
    assert float(consistency_loss(model, x, x.clone(), task)) == pytest.approx(0.0, abs=1e-6)
    refined = (x + 0.5 * torch.randn_like(x)).clamp(-1, 1).requires_grad_(True)
    loss = consistency_loss(model, x, refined, task)
    assert float(loss.detach()) > 1e-6
    loss.backward()
    assert refined.grad is not None and float(refined.grad.abs().sum()) > 0  # R learns through f(R(x))
