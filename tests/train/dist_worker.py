"""Run under torchrun by tests/train/test_distributed.py (or alone, as one process).

    python dist_worker.py SYNTHETIC REAL OUT BATCH_SIZE STEPS [history]

runs Algorithm 1's phases for a few steps on the given data, recording R's and D's weights after every
global step; each rank writes OUT/rank{r}.pt: {"weights": [(R vector, D vector) per step], "losses": [...]}.

    python dist_worker.py isolation OUT

checks that the gradient isolation of R and D steps holds with R and D in DDP (each rank feeds other
images); each rank writes OUT/rank{r}.pt with the weights after each update, or fails an assertion.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from simgan import distributed
from simgan.data import open_dataset
from simgan.nn.discriminator import build_discriminator
from simgan.nn.refiner import build_refiner
from simgan.train.history import HistoryBuffer
from simgan.train.refiner import (
    RefinerTrainConfig,
    discriminator_step,
    refiner_step,
    resolve_preset,
    schedule,
)
from simgan.train.refiner_state import build_state


def _vector(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()]).clone()


def isolation(out: Path) -> None:
    """The single-process gradient-isolation test (tests/train/test_train_refiner.py), under DDP."""
    ranks = distributed.setup()
    torch.manual_seed(0)
    R, D = build_refiner("digits", 1), build_discriminator("digits", 1)
    R_ddp, D_ddp = distributed.wrap(R, ranks), distributed.wrap(D, ranks)
    opt_R = torch.optim.Adam(R.parameters(), lr=1e-2)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-2, weight_decay=0.1)  # would move D if ever stepped
    generator = torch.Generator().manual_seed(100 + ranks.rank)  # each rank its own images
    x, y = (torch.rand(8, 1, 8, 8, generator=generator) * 2 - 1 for _ in range(2))
    weights = []
    for _ in range(2):
        d_before, r_before = _vector(D), _vector(R)
        refiner_step(R_ddp, D, opt_R, x, lambda_reg=0.1)
        assert torch.equal(d_before, _vector(D)), "D changed during R's step"
        assert all(p.grad is None for p in D.parameters()) and all(p.requires_grad for p in D.parameters())
        assert not torch.equal(r_before, _vector(R))
        weights.append((_vector(R), _vector(D)))
    r_before, d_before = _vector(R), _vector(D)
    history = HistoryBuffer(8)
    history.push(torch.zeros(8, 1, 8, 8))
    discriminator_step(R, D_ddp, opt_D, x[:4], y, history)
    assert torch.equal(r_before, _vector(R)), "R changed during D's step"
    assert not torch.equal(d_before, _vector(D))
    weights.append((_vector(R), _vector(D)))
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"weights": weights}, out / f"rank{ranks.rank}.pt")
    distributed.shutdown()


def main() -> None:
    torch.set_num_threads(1)
    if sys.argv[1] == "isolation":
        isolation(Path(sys.argv[2]))
        return
    syn_dir, real_dir, out, batch, steps, *rest = sys.argv[1:]
    ranks = distributed.setup()
    syn, real = open_dataset(syn_dir), open_dataset(real_dir)
    info = syn.info
    cfg = RefinerTrainConfig(
        preset=resolve_preset(info.height, info.width, info.channels, info.task),
        batch_size=int(batch),
        history="history" in rest,
        history_size=8,
        steps=int(steps),
        pretrain_r_steps=2,
        pretrain_d_steps=2,
        monitor_every=0,
        lr_r=1e-3,
        lr_d=1e-3,
        amp=False,  # fp32: 2 ranks at b/2 must match 1 process at b within 1e-4
    )
    state = build_state(cfg, syn, real, torch.device("cpu"), None, ranks)
    weights, losses = [], []
    for phase in schedule(cfg):
        while phase.start <= state.step < phase.end:
            values = distributed.mean_values(phase.run(state), ranks)
            state.step += 1
            weights.append((_vector(state.R), _vector(state.D)))
            losses.append({k: float(v) for k, v in values.items()})
    Path(out).mkdir(parents=True, exist_ok=True)
    torch.save({"weights": weights, "losses": losses}, Path(out) / f"rank{ranks.rank}.pt")
    distributed.shutdown()


if __name__ == "__main__":
    main()
