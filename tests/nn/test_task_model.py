"""Task networks as one family: build per task, rebuild from a spec, load a checkpoint, loss, predictions."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from simgan.checkpoint import save_checkpoint
from simgan.errors import InputError
from simgan.nn.hourglass import HourglassNet
from simgan.nn.task_model import build_task_model, load_task_model, model_from_spec, predictions, task_loss
from simgan.train.task import TaskConfig

SMALL = TaskConfig(gaze_hidden=16, hg_depth=1, width=4)


@pytest.mark.parametrize(
    ("task", "size", "outputs", "arch", "out_shape"),
    [
        ("classify", (8, 8), 4, "digit_cnn", (2, 4)),
        ("gaze", (35, 55), 3, "gaze_net", (2, 3)),
        ("handpose", (16, 16), 14, "hourglass", (2, 2, 14, 4, 4)),  # (B, S, J, h, w), stride 4
    ],
)
def test_each_task_gets_its_network_and_a_spec_that_rebuilds_it(
    task: str, size: tuple[int, int], outputs: int, arch: str, out_shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, task=task)  # type: ignore[arg-type]
    model, spec = build_task_model(cfg, channels=1, height=size[0], width=size[1], num_outputs=outputs)
    assert spec["arch"] == arch
    x = torch.randn(2, 1, *size)
    assert model.eval()(x).shape == out_shape
    again = model_from_spec(spec)
    again.load_state_dict(model.state_dict())  # same architecture: every key and shape matches
    assert torch.equal(again.eval()(x), model(x))


def test_spec_defaults_follow_the_config() -> None:
    _, cnn = build_task_model(TaskConfig(), channels=3, height=8, width=8, num_outputs=10)
    assert cnn["kwargs"] == {"in_channels": 3, "num_classes": 10, "width": 16}  # width 0: the default 16
    cfg = TaskConfig(task="handpose", hg_stride=2, hg_decode="soft-argmax", hg_sigma=2.0)
    _, hg = build_task_model(cfg, channels=1, height=16, width=16, num_outputs=14)
    assert hg["kwargs"]["channels"] == 64 and hg["kwargs"]["stride"] == 2
    assert hg["kwargs"]["decode"] == "soft-argmax" and hg["kwargs"]["sigma"] == 2.0
    _, gz = build_task_model(TaskConfig(task="gaze"), channels=1, height=35, width=55, num_outputs=99)
    assert gz["kwargs"] == {"in_channels": 1, "height": 35, "width": 55, "hidden": 1000}


def test_unknown_architecture_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown model architecture 'resnet'"):
        model_from_spec({"arch": "resnet", "kwargs": {}})


def test_load_task_model_round_trips_a_checkpoint(tmp_path: Path) -> None:
    model, spec = build_task_model(SMALL, channels=1, height=8, width=8, num_outputs=4)
    state = {"model": model.state_dict(), "config": {"task": "classify", "lr": 0.5}, "model_spec": spec}
    save_checkpoint(tmp_path / "best.pt", state, "task")
    loaded, config = load_task_model(tmp_path)  # a run folder: its best.pt
    assert config == {"task": "classify", "lr": 0.5} and not loaded.training
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(loaded(x), model.eval()(x))
    save_checkpoint(tmp_path / "refiner.pt", state, "refiner")
    with pytest.raises(InputError, match="not a simgan train-task checkpoint"):
        load_task_model(tmp_path / "refiner.pt")
    with pytest.raises(InputError, match="missing.pt"):
        load_task_model(tmp_path / "missing.pt")


def test_task_losses_known_values() -> None:
    uniform = torch.zeros(5, 4)
    y = torch.tensor([0, 1, 2, 3, 0])
    assert float(task_loss(torch.nn.Identity(), "classify", uniform, y)) == pytest.approx(math.log(4))
    out = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    target = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # Euclidean loss: squared distance summed over xyz, mean over the batch: (2 + 0) / 2.
    assert float(task_loss(torch.nn.Identity(), "gaze", out, target)) == pytest.approx(1.0)


def test_predictions_are_what_the_metrics_compare() -> None:
    logits = torch.randn(2, 4)
    assert torch.equal(predictions(torch.nn.Identity(), "classify", logits), logits)
    g = predictions(torch.nn.Identity(), "gaze", torch.tensor([[3.0, 0.0, -4.0]]))
    assert torch.allclose(g, torch.tensor([[0.6, 0.0, -0.8]]))
    net = HourglassNet(num_joints=14, stacks=2, channels=4, depth=1, stride=4).eval()
    heatmaps = torch.zeros(1, 2, 14, 4, 4)
    heatmaps[0, 0, :, 0, 0] = 1.0  # the first stack (intermediate supervision only) peaks elsewhere
    heatmaps[0, 1, :, 2, 1] = 1.0  # the last stack peaks at heatmap pixel (u, v) = (1, 2)
    uv = predictions(net, "handpose", heatmaps)
    assert uv.shape == (1, 14, 2)
    # Heatmap pixel centres map to image pixel centres: (1, 2) -> ((1 + 0.5) * 4 - 0.5, (2 + 0.5) * 4 - 0.5).
    assert torch.allclose(uv, torch.tensor([5.5, 9.5]).expand(1, 14, 2))
