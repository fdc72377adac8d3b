"""Test-time augmentation: the views per task, and predictions moved back into the image's frame."""

from __future__ import annotations

import torch
from torch import nn

from simgan.eval.tta import View, tta_pad, tta_predictions, tta_views
from simgan.nn.hourglass import HourglassNet


def test_views_per_task() -> None:
    assert tta_pad(8, 8) == 1 and tta_pad(35, 55) == 2 and tta_pad(64, 64) == 4
    classify = tta_views("classify", 8, 8)
    assert len(classify) == 5 and classify[0] == View(0, 0, False) and not any(v.mirrored for v in classify)
    gaze = tta_views("gaze", 35, 55)
    assert len(gaze) == 10 and sum(v.mirrored for v in gaze) == 5
    assert {(v.du, v.dv) for v in gaze} == {(0, 0), (-2, -2), (2, -2), (-2, 2), (2, 2)}


class _Constant(nn.Module):
    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out.expand(x.shape[0], *self.out.shape[1:])


def test_classify_averages_the_logits_of_its_views() -> None:
    model = _Constant(torch.tensor([[1.0, 3.0, 2.0]]))
    out = tta_predictions(model, "classify", torch.zeros(4, 1, 8, 8))
    assert torch.allclose(out, torch.tensor([[1.0, 3.0, 2.0]] * 4))


class _Gaze(nn.Module):
    """Looks at where the bright pixel is: gaze x from its column (a mirror negates it), y fixed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[3]
        cols = torch.arange(w, dtype=x.dtype)
        u = (x.clamp(0, 1).sum(2)[:, 0] * cols).sum(1) / x.clamp(0, 1).sum((1, 2, 3))  # (B,)
        gx = (u - (w - 1) / 2) / w  # 0 at the centre
        return torch.stack([gx, torch.full_like(gx, 0.2), torch.full_like(gx, -1.0)], dim=1)


def test_gaze_views_undo_the_mirror() -> None:
    x = -torch.ones(2, 1, 35, 55)
    x[0, 0, 17, 10] = 1.0  # left of centre
    x[1, 0, 17, 27] = 1.0  # at the centre
    plain = torch.nn.functional.normalize(_Gaze()(x), dim=1)
    tta = tta_predictions(_Gaze(), "gaze", x)
    # Shifts move the dot by up to 2 px and average out; mirrored views, undone, agree with plain ones.
    assert torch.allclose(tta, plain, atol=0.02), (tta, plain)
    assert tta[0, 0] < 0 and abs(float(tta[1, 0])) < 0.01


class _Joints(HourglassNet):
    """An 'hourglass' whose decoded joint is the brightest pixel: TTA must put it back where it is."""

    def __init__(self) -> None:
        super().__init__(in_channels=1, num_joints=1, stacks=1, channels=8, depth=1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, None]  # (B, S=1, J=1, H, W): the image as the heatmap

    def decode_joints(self, heatmaps: torch.Tensor) -> torch.Tensor:
        b, j, h, w = heatmaps.shape
        idx = heatmaps.flatten(2).argmax(-1)  # (B, J)
        return torch.stack([idx % w, idx // w], dim=-1).float()  # (B, J, 2) as (u, v)


def test_handpose_views_move_joints_back() -> None:
    x = -torch.ones(1, 1, 32, 32)
    x[0, 0, 9, 20] = 1.0  # v = 9, u = 20
    joints = tta_predictions(_Joints(), "handpose", x)
    assert torch.allclose(joints, torch.tensor([[[20.0, 9.0]]]))
