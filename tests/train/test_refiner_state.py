"""The refiner run's state: checkpoint dicts that restore an exact continuation, resume checks, stats
truncation and the log accumulators."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from simgan.checkpoint import load_checkpoint, save_checkpoint
from simgan.data import DatasetWriter, open_dataset
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.train.refiner import schedule
from simgan.train.refiner_config import RefinerTrainConfig
from simgan.train.refiner_state import Averages, RefinerState, build_state, load_resume, truncate_stats

CFG = RefinerTrainConfig(
    preset="digits",
    steps=4,
    batch_size=8,
    history_size=12,
    pretrain_r_steps=1,
    pretrain_d_steps=1,
    lr_r=1e-3,
    lr_d=1e-3,
    scheduler_r="step",
    scheduler_d="exponential",
    scheduler_step_size=2,
)


def _write(path: Path, n: int, seed: int, height: int = 8) -> Source:
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, height=height, width=8, channels=1) as w:
        for i in range(n):
            w.add(f"{i:04d}", rng.integers(0, 256, (height, 8, 1), dtype=np.uint8), None)
    return open_dataset(path)


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Source, Source]:
    return _write(tmp_path / "syn", 20, seed=1), _write(tmp_path / "real", 16, seed=2)


def _step(state: RefinerState) -> dict[str, float]:
    """One global step of the phase that holds ``state.step``."""
    phase = next(p for p in schedule(state.config) if p.start <= state.step < p.end)
    values = phase.run(state)
    state.step += 1
    return {k: float(v) for k, v in values.items()}


def test_checkpoint_dict_restores_an_exact_continuation(
    sources: tuple[Source, Source], tmp_path: Path
) -> None:
    a = build_state(CFG, *sources, torch.device("cpu"))
    for _ in range(3):  # pretrain R, pretrain D (fills the buffer), one adversarial iteration
        a.averages.add(_step(a))
    save_checkpoint(tmp_path / "ckpt.pt", a.state_dict(), "refiner")
    ckpt = load_checkpoint(tmp_path / "ckpt.pt", "refiner")
    assert ckpt["step"] == 3 and ckpt["iteration"] == 1 and ckpt["history"]["count"] == 12
    assert ckpt["streams"] == {"synthetic_R": 3, "synthetic_D": 5, "real": 2}  # 1 + K_g; 3 to fill B + 2
    assert ckpt["image"] == {"channels": 1, "height": 8, "width": 8, "dtype": "uint8"}

    b = build_state(CFG, *sources, torch.device("cpu"), ckpt)  # fresh networks and optimizers, restored
    assert b.step == 3 and b.averages.state_dict() == a.averages.state_dict()
    assert a.sched_R is not None and b.sched_R is not None and b.sched_R.last_epoch == 3
    torch.set_rng_state(ckpt["rng"]["torch"])
    want = _step(a)
    torch.set_rng_state(ckpt["rng"]["torch"])
    assert _step(b) == want
    for key in ("R", "D"):
        sa, sb = getattr(a, key).state_dict(), getattr(b, key).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), f"{key} differs after restore"
    assert a.history is not None and b.history is not None
    assert torch.equal(a.history.images, b.history.images)


def test_fresh_states_are_seeded(sources: tuple[Source, Source]) -> None:
    a, b = (build_state(CFG, *sources, torch.device("cpu")) for _ in range(2))
    other = build_state(dataclasses.replace(CFG, seed=1), *sources, torch.device("cpu"))
    w = "stem.0.weight"
    assert torch.equal(a.R.state_dict()[w], b.R.state_dict()[w])
    assert not torch.equal(a.R.state_dict()[w], other.R.state_dict()[w])
    assert torch.equal(a.batch("real"), b.batch("real")) and a.streams["real"].position == 1
    assert a.batch("synthetic_D").shape == (4, 1, 8, 8)  # b/2 current images with a history
    no_history = build_state(dataclasses.replace(CFG, history=False), *sources, torch.device("cpu"))
    assert no_history.history is None and no_history.batch("synthetic_D").shape == (8, 1, 8, 8)


def test_load_resume(sources: tuple[Source, Source], tmp_path: Path) -> None:
    run = tmp_path / "run"
    info, real = sources[0].info, sources[1].info
    assert load_resume(run, CFG, info, real, resume=False) == (CFG, None)
    assert load_resume(run, CFG, info, real, resume=True) == (CFG, None)  # nothing to resume yet: a fresh run
    run.mkdir()
    state = build_state(CFG, *sources, torch.device("cpu"))
    save_checkpoint(run / "checkpoint.pt", state.state_dict(), "refiner")
    with pytest.raises(InputError, match="already holds a refiner run: pass --resume"):
        load_resume(run, CFG, info, real, resume=False)
    asked = dataclasses.replace(CFG, preset="auto", steps=9, log_every=3)
    cfg, ckpt = load_resume(run, asked, info, real, resume=True)
    assert ckpt is not None and ckpt["step"] == 0
    assert (cfg.preset, cfg.steps, cfg.log_every, cfg.lr_r) == ("digits", 9, 3, 1e-3)
    with pytest.raises(InputError, match=r"cannot change k_g when resuming \(the run has 2, asked 3\)"):
        load_resume(run, dataclasses.replace(CFG, k_g=3), info, real, resume=True)
    taller = _write(tmp_path / "taller", 4, seed=3, height=9).info
    with pytest.raises(InputError, match=r"synthetic images are 9x8x1 but the run .* trained on 8x8x1"):
        load_resume(run, CFG, taller, real, resume=True)
    other_real = _write(tmp_path / "other_real", 4, seed=4).info
    with pytest.raises(
        InputError, match=r"cannot change --real when resuming \(the run trained on .*, asked"
    ):
        load_resume(run, CFG, info, other_real, resume=True)
    with pytest.raises(InputError, match=r"cannot change --synthetic when resuming"):
        load_resume(run, CFG, other_real, real, resume=True)


def test_truncate_stats_drops_later_and_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "stats.jsonl"
    truncate_stats(path, 3)  # no file: nothing to do
    assert not path.exists()
    lines = [json.dumps({"step": s, "loss/R/reg": 0.5}) for s in range(1, 6)]
    path.write_text("\n".join(lines) + '\n{"step": 6, "lo')  # a kill mid-write leaves a torn line
    truncate_stats(path, 3)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]


def test_averages_mean_since_last_pop_and_round_trip() -> None:
    avg = Averages()
    avg.add({"b": 1.0, "a": 2.0})
    avg.add({"b": 3.0})
    copy = Averages()
    copy.load_state_dict(avg.state_dict())
    assert avg.pop() == {"a": 2.0, "b": 2.0} and list(copy.pop()) == ["a", "b"]
    assert avg.pop() == {}
