"""Run under torchrun by tests/train/test_distributed.py (or alone, as one process): Algorithm 1's phases
for a few steps on the given data, recording R's and D's weights after every global step.

    python dist_worker.py SYNTHETIC REAL OUT BATCH_SIZE STEPS [history]

Each rank writes OUT/rank{r}.pt: {"weights": [(R vector, D vector) per step], "losses": [dict per step]}.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from simgan import distributed
from simgan.data import open_dataset
from simgan.train.refiner import RefinerTrainConfig, resolve_preset, schedule
from simgan.train.refiner_state import build_state


def _vector(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()]).clone()


def main() -> None:
    syn_dir, real_dir, out, batch, steps, *rest = sys.argv[1:]
    torch.set_num_threads(1)
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
