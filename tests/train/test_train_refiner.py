"""The SimGAN loop (Algorithm 1): gradient isolation, the history rule in D's step, run folder contents,
exact resumes, NaN handling and input errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan import losses
from simgan.checkpoint import load_checkpoint
from simgan.data import DatasetWriter, open_dataset
from simgan.data.simgan_dir import SimganSource
from simgan.errors import InputError
from simgan.nn.discriminator import build_discriminator
from simgan.nn.refiner import build_refiner
from simgan.train.batches import ImageStream, SeededBatches
from simgan.train.history import HistoryBuffer
from simgan.train.refiner import (
    NonFiniteLossError,
    RefinerTrainConfig,
    discriminator_step,
    refiner_step,
    schedule,
    train_refiner,
)
from simgan.train.refiner_state import build_state
from simgan.viz.grids import save_refiner_grid

TINY = RefinerTrainConfig(
    preset="digits",
    steps=6,
    batch_size=8,
    history_size=12,
    pretrain_r_steps=2,
    pretrain_d_steps=2,
    lr_r=1e-3,
    lr_d=1e-3,
    log_every=1,
    ckpt_every=3,
    grid_every=5,
    grid_rows=4,
)


def write_set(path: Path, n: int, *, channels: int = 1, labelled: bool = False, seed: int = 0) -> Path:
    """``n`` random 8x8 images as a simgan dataset (labelled 0..9 when ``labelled``)."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(
        path,
        height=8,
        width=8,
        channels=channels,
        task="classify" if labelled else None,
        classes=[str(d) for d in range(10)] if labelled else None,
    ) as w:
        for i in range(n):
            w.add(
                f"{i:04d}",
                rng.integers(0, 256, (8, 8, channels), dtype=np.uint8),
                i % 10 if labelled else None,
            )
    return path


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return write_set(tmp_path / "syn", 40, labelled=True, seed=1), write_set(tmp_path / "real", 30, seed=2)


def _params(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_gradient_isolation_between_r_and_d_steps() -> None:
    torch.manual_seed(0)
    R, D = build_refiner("digits", 1), build_discriminator("digits", 1)
    opt_R = torch.optim.Adam(R.parameters(), lr=1e-2)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-2, weight_decay=0.1)  # would move D if ever stepped
    x, y = torch.rand(8, 1, 8, 8) * 2 - 1, torch.rand(8, 1, 8, 8) * 2 - 1
    for _ in range(2):  # the second step runs with a non-identity R, so every R weight has a gradient
        d_before, r_before = _params(D), _params(R)
        refiner_step(R, D, opt_R, x, lambda_reg=0.1)
        assert _same(d_before, _params(D)), "D changed during R's step"
        assert all(p.grad is None for p in D.parameters()) and all(p.requires_grad for p in D.parameters())
        assert not _same(r_before, _params(R))
    r_before, d_before = _params(R), _params(D)
    history = HistoryBuffer(8)
    history.push(torch.zeros(8, 1, 8, 8))
    discriminator_step(R, D, opt_D, x[:4], y, history)
    assert _same(r_before, _params(R)), "R changed during D's step"
    assert not _same(d_before, _params(D))


def test_d_step_uses_half_current_half_history() -> None:
    torch.manual_seed(0)
    R, D = build_refiner("digits", 1), build_discriminator("digits", 1)
    seen: list[torch.Tensor] = []
    D.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    history = HistoryBuffer(10, seed=0)
    history.push(torch.full((10, 1, 8, 8), 0.77))  # markers
    x = torch.full((4, 1, 8, 8), -0.5)  # R is the identity at init: refined = x
    out = discriminator_step(
        R, D, torch.optim.SGD(D.parameters(), lr=0.1), x, torch.zeros(8, 1, 8, 8), history
    )
    refined_batch = seen[0]
    assert refined_batch.shape[0] == 8  # b = b/2 current + b/2 history
    assert (refined_batch[:4] == -0.5).all() and (refined_batch[4:] == 0.77).all()
    assert int((history.images[:, 0, 0, 0] == -0.5).sum()) == 4  # b/2 slots replaced by the new images
    assert {"loss/D/real", "loss/D/refined", "acc/D/real", "acc/D/refined"} <= out.keys()


def test_schedule_phases() -> None:
    phases = schedule(TINY)
    assert [(p.name, p.length) for p in phases] == [("pretrain_R", 2), ("pretrain_D", 2), ("adversarial", 6)]
    cfg = dataclasses.replace(TINY, pretrain_r_steps=3, pretrain_d_steps=0, steps=5)
    assert [(p.start, p.end) for p in schedule(cfg)] == [(0, 3), (3, 3), (3, 8)]  # N_D = 0: empty phase


def test_each_phase_runs_its_updates(data: tuple[Path, Path]) -> None:
    cfg = dataclasses.replace(TINY, k_g=3, k_d=2)
    state = build_state(cfg, open_dataset(data[0]), open_dataset(data[1]), torch.device("cpu"))
    pretrain_r, pretrain_d, adversarial = schedule(cfg)
    d_before = _params(state.D)
    assert set(pretrain_r.run(state)) == {"loss/R/reg", "loss/R/total"}  # self-regularization only
    assert _same(d_before, _params(state.D)) and state.streams["real"].position == 0
    assert {"loss/D/real", "acc/D/refined"} <= set(pretrain_d.run(state))
    assert state.history is not None and state.history.full  # filled before D's first update
    positions = {k: s.position for k, s in state.streams.items()}
    values = adversarial.run(state)
    assert {"loss/R/adv", "loss/R/reg", "loss/D/total"} <= set(values) and values["loss/R/adv"].ndim == 0
    moved = {k: s.position - positions[k] for k, s in state.streams.items()}
    assert moved == {"synthetic_R": 3, "synthetic_D": 2, "real": 2}  # K_g R batches, K_d D batches


def test_seeded_batches_resume_and_cover_epochs() -> None:
    full = SeededBatches(10, 4, seed=5)
    it = iter(full)
    first = [next(it) for _ in range(6)]
    later = iter(SeededBatches(10, 4, seed=5, start=3))
    assert [next(later) for _ in range(3)] == first[3:]
    flat = [i for b in first for i in b]  # 24 indices: two full epochs then 4 more
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))


def test_run_folder(data: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train_refiner(*data, run, TINY, device="cpu", progress=False, on_grid=save_refiner_grid)
    assert result.step == 10 and result.iteration == 6
    ckpt = load_checkpoint(run, "refiner")  # weights_only=True
    assert ckpt["step"] == 10 and ckpt["config"]["steps"] == 6 and ckpt["history"]["count"] == 12
    assert json.loads((run / "config.json").read_text())["_non_default"]["steps"] == 6
    lines = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, 11))
    assert [r["phase"] for r in lines] == ["pretrain_R"] * 2 + ["pretrain_D"] * 2 + ["adversarial"] * 6
    assert "loss/D/real" not in lines[0] and lines[0]["loss/R/reg"] == 0.0  # R starts as the identity
    last = lines[-1]
    for key in ("loss/R/adv", "loss/R/reg", "loss/D/real", "loss/D/refined", "acc/D/real", "acc/D/refined"):
        assert np.isfinite(last[key])
    assert last["lr/R"] == pytest.approx(1e-3) and 0 <= last["acc/D/real"] <= 1
    assert sorted(p.name for p in (run / "grids").iterdir()) == ["step_0000005.png", "step_0000010.png"]
    assert any((run / "tb").iterdir())
    assert not torch.equal(result.refiner.to_image.weight, torch.zeros_like(result.refiner.to_image.weight))


def test_on_grid_gets_the_grid_images(data: tuple[Path, Path], tmp_path: Path) -> None:
    calls: list[tuple[Path, tuple[int, ...], tuple[int, ...], tuple[int, ...], int]] = []

    def on_grid(path: Path, syn: torch.Tensor, refined: torch.Tensor, real: torch.Tensor, rows: int) -> None:
        assert refined.dtype == torch.float32 and not refined.requires_grad
        calls.append((path, tuple(syn.shape), tuple(refined.shape), tuple(real.shape), rows))

    run = tmp_path / "run"
    train_refiner(*data, run, TINY, device="cpu", progress=False, on_grid=on_grid)
    shape = (4, 1, 8, 8)  # grid_rows = 4 images of each set
    assert calls == [(run / "grids" / f"step_{s:07d}.png", shape, shape, shape, 4) for s in (5, 10)]
    train_refiner(*data, tmp_path / "quiet", TINY, device="cpu", progress=False)
    assert not (tmp_path / "quiet" / "grids").exists()  # no on_grid: no grids


def _stats(run: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


class _Stop(Exception):
    pass


def test_resume_equals_uninterrupted(data: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(TINY, steps=8)
    train_refiner(*data, tmp_path / "a", cfg, device="cpu", progress=False)

    def interrupt(step: int, _values: dict[str, float]) -> None:
        if step == 8:  # the last checkpoint was written after step 6
            raise _Stop

    with pytest.raises(_Stop):
        train_refiner(*data, tmp_path / "b", cfg, device="cpu", progress=False, on_step=interrupt)
    assert load_checkpoint(tmp_path / "b", "refiner")["step"] == 6
    train_refiner(*data, tmp_path / "b", cfg, resume=True, device="cpu", progress=False)
    a, b = load_checkpoint(tmp_path / "a", "refiner"), load_checkpoint(tmp_path / "b", "refiner")
    assert a["step"] == b["step"] == 12
    for key in ("R", "D"):
        assert _same(a[key], b[key]), f"{key} differs after resume"
    assert torch.equal(a["history"]["images"], b["history"]["images"])
    assert _stats(tmp_path / "a") == _stats(tmp_path / "b")  # no duplicated or missing lines


def test_resume_extends_a_finished_run(data: tuple[Path, Path], tmp_path: Path) -> None:
    train_refiner(*data, tmp_path / "a", dataclasses.replace(TINY, steps=7), device="cpu", progress=False)
    train_refiner(*data, tmp_path / "b", dataclasses.replace(TINY, steps=4), device="cpu", progress=False)
    done = train_refiner(
        *data, tmp_path / "b", dataclasses.replace(TINY, steps=7), resume=True, progress=False
    )
    assert done.iteration == 7
    a, b = load_checkpoint(tmp_path / "a", "refiner"), load_checkpoint(tmp_path / "b", "refiner")
    assert _same(a["R"], b["R"]) and _same(a["D"], b["D"])
    steps = [r["step"] for r in _stats(tmp_path / "b")]
    assert steps == sorted(set(steps)) and steps[-1] == 11
    with pytest.raises(InputError, match=r"already at step 11 \(iteration 7\); --steps 5 would end before"):
        train_refiner(*data, tmp_path / "b", dataclasses.replace(TINY, steps=5), resume=True, progress=False)


def test_nan_stops_and_keeps_last_good_checkpoint(
    data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_loss = losses.refiner_adversarial_loss

    def poisoned(logits: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        out = real_loss(logits)
        return out * float("nan") if calls["n"] > 6 else out  # iteration 4 (global step 8) goes NaN

    monkeypatch.setattr(losses, "refiner_adversarial_loss", poisoned)
    run = tmp_path / "run"
    with pytest.raises(
        NonFiniteLossError, match=r"step 8 \(adversarial\): non-finite .*loss/R/adv = nan.*checkpoint\.pt"
    ):
        train_refiner(*data, run, dataclasses.replace(TINY, ckpt_every=2), device="cpu", progress=False)
    ckpt = load_checkpoint(run, "refiner")
    assert ckpt["step"] == 6
    assert all(torch.isfinite(v).all() for v in ckpt["R"].values())
    assert max(r["step"] for r in _stats(run)) == 7


def test_ablations_run(data: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = dataclasses.replace(TINY, steps=2, history=False, global_adversarial=True, psi="downsample")
    train_refiner(*data, tmp_path / "run", cfg, device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / "run", "refiner")
    assert ckpt["history"] is None and "head.1.weight" in ckpt["D"]  # the global D's linear layer


def test_real_labels_are_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syn = write_set(tmp_path / "syn", 20, labelled=True)
    real = open_dataset(write_set(tmp_path / "real", 20, labelled=True, seed=3))
    assert isinstance(real, SimganSource)

    def forbidden(_index: int) -> object:
        raise AssertionError("the real set's labels were read")

    monkeypatch.setattr(real, "label", forbidden)
    train_refiner(
        syn, real, tmp_path / "run", dataclasses.replace(TINY, steps=1), device="cpu", progress=False
    )


def test_input_errors(data: tuple[Path, Path], tmp_path: Path) -> None:
    syn, real = data
    rgb = write_set(tmp_path / "rgb", 10, channels=3)
    with pytest.raises(InputError, match=r"rgb: real images have 3 channel\(s\) but the synthetic .* have 1"):
        train_refiner(syn, rgb, tmp_path / "r1", TINY, progress=False)
    with pytest.raises(InputError, match=r"--synthetic .*missing: no such file"):
        train_refiner(tmp_path / "missing", real, tmp_path / "r2", TINY, progress=False)
    with pytest.raises(InputError, match="batch_size: must be even"):
        train_refiner(syn, real, tmp_path / "r3", dataclasses.replace(TINY, batch_size=7), progress=False)
    with pytest.raises(InputError, match=r"too small for the 'eyes' discriminator \(expected at least 23x23"):
        train_refiner(syn, real, tmp_path / "r4", dataclasses.replace(TINY, preset="eyes"), progress=False)
    run = tmp_path / "run"
    train_refiner(syn, real, run, dataclasses.replace(TINY, steps=1), progress=False)
    with pytest.raises(InputError, match="already holds a refiner run"):
        train_refiner(syn, real, run, TINY, progress=False)
    with pytest.raises(
        InputError, match=r"cannot change lambda_reg when resuming \(the run has 0.2, asked 2.0\)"
    ):
        train_refiner(syn, real, run, dataclasses.replace(TINY, lambda_reg=2.0), resume=True, progress=False)
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="checkpoint.pt: corrupt or unreadable checkpoint"):
        train_refiner(syn, real, run, TINY, resume=True, progress=False)


def test_image_stream_from_disk_equals_in_memory(data: tuple[Path, Path]) -> None:
    src = open_dataset(data[0])
    memory = ImageStream(src, 8, seed=4, start=2)
    disk = ImageStream(src, 8, seed=4, start=2, preload_limit_bytes=0)  # DataLoader path for large sets
    for _ in range(6):  # crosses an epoch boundary (40 images, batches of 8)
        assert torch.equal(next(memory), next(disk))
    assert memory.position == disk.position == 8
