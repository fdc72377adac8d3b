"""Optimizers and schedulers by name: the torch class and hyper-parameters each name builds, the lr each
scheduler steps to, the first update of each rule by hand, and errors for unknown names."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from simgan.train.optim import OPTIMIZERS, SCHEDULERS, build_optimizer, build_scheduler

# name -> (torch class, param-group settings the name must set)
EXPECTED: dict[str, tuple[type[torch.optim.Optimizer], dict[str, object]]] = {
    "sgd": (torch.optim.SGD, {"momentum": 0, "nesterov": False}),
    "momentum": (torch.optim.SGD, {"momentum": 0.8, "nesterov": False}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.8, "nesterov": True}),
    "adagrad": (torch.optim.Adagrad, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adam": (torch.optim.Adam, {"betas": (0.5, 0.99)}),
}


def _param(value: float = 1.0) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.full((3,), value))


def test_names_are_the_documented_choices() -> None:
    assert OPTIMIZERS == ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
    assert set(OPTIMIZERS) == set(EXPECTED)
    assert SCHEDULERS == ("none", "step", "exponential")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_name_builds_its_class_with_the_given_settings(name: str) -> None:
    p = _param()
    opt = build_optimizer(name, [p], 0.03, weight_decay=1e-3, momentum=0.8, betas=(0.5, 0.99))
    cls, settings = EXPECTED[name]
    assert type(opt) is cls
    (group,) = opt.param_groups
    assert group["lr"] == 0.03 and group["weight_decay"] == 1e-3 and group["params"] == [p]
    for key, value in settings.items():
        assert group[key] == value, key


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_defaults_are_no_weight_decay_momentum_0_9_and_adam_betas(name: str) -> None:
    (group,) = build_optimizer(name, [_param()], 0.1).param_groups
    assert group["weight_decay"] == 0.0
    if name in ("momentum", "nesterov"):
        assert group["momentum"] == 0.9
    if name == "adam":
        assert group["betas"] == (0.9, 0.999)


# First update from theta = 1 with gradient g = 2 (loss = 2 * theta), lr = 0.1, by each rule's formula.
_G, _LR = 2.0, 0.1
FIRST_STEP = {
    "sgd": 1.0 - _LR * _G,
    "momentum": 1.0 - _LR * _G,  # the velocity starts at the first gradient
    "nesterov": 1.0 - _LR * (_G + 0.9 * _G),  # g + mu * v with v = g
    "adagrad": 1.0 - _LR * _G / (_G**2) ** 0.5,  # lr * g / sqrt(sum g^2): a step of lr
    "rmsprop": 1.0 - _LR * _G / ((1 - 0.99) * _G**2) ** 0.5,  # alpha = 0.99 running mean of g^2
    "adam": 1.0 - _LR,  # bias-corrected m / sqrt(v) = g / |g|: a step of lr
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_first_step_follows_the_update_rule(name: str) -> None:
    p = _param(1.0)
    opt = build_optimizer(name, [p], _LR)
    (_G * p).sum().backward()
    opt.step()
    torch.testing.assert_close(p.detach(), torch.full((3,), FIRST_STEP[name]), rtol=1e-4, atol=1e-6)


def test_weight_decay_adds_to_the_gradient() -> None:
    p = _param(1.0)
    opt = build_optimizer("sgd", [p], 0.1, weight_decay=0.5)
    p.sum().backward()  # g = 1, plus decay 0.5 * theta = 0.5
    opt.step()
    torch.testing.assert_close(p.detach(), torch.full((3,), 1.0 - 0.1 * 1.5))


@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_non_positive_lr_raises(lr: float) -> None:
    with pytest.raises(ValueError, match=f"learning rate must be positive, got {lr}"):
        build_optimizer("sgd", [_param()], lr)


def test_unknown_optimizer_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown optimizer 'lbfgs' \(choose from sgd, momentum, .*adam\)"):
        build_optimizer("lbfgs", [_param()], 0.1)
    with pytest.raises(ValueError, match="unknown optimizer 'SGD'"):  # names are case-sensitive
        build_optimizer("SGD", [_param()], 0.1)


def _lrs(name: str, steps: int, **kwargs: Any) -> list[float]:
    """The lr before each of ``steps`` optimizer + scheduler steps."""
    opt = build_optimizer("sgd", [_param()], 1.0)
    sched = build_scheduler(name, opt, **kwargs)
    assert sched is not None
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_none_scheduler_is_none() -> None:
    assert build_scheduler("none", build_optimizer("sgd", [_param()], 1.0)) is None


def test_step_scheduler_multiplies_by_gamma_every_step_size_steps() -> None:
    assert _lrs("step", 7, step_size=3, gamma=0.5) == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert _lrs("step", 3) == [1.0, 1.0, 1.0]  # default: halve every 1000 steps


def test_exponential_scheduler_multiplies_by_gamma_every_step() -> None:
    assert _lrs("exponential", 4, gamma=0.5) == [1.0, 0.5, 0.25, 0.125]
    assert _lrs("exponential", 4, step_size=3, gamma=0.5) == [1.0, 0.5, 0.25, 0.125]  # step_size unused


def test_unknown_scheduler_names_the_choices() -> None:
    opt = build_optimizer("sgd", [_param()], 1.0)
    with pytest.raises(
        ValueError, match=r"unknown scheduler 'cosine' \(choose from none, step, exponential\)"
    ):
        build_scheduler("cosine", opt)
