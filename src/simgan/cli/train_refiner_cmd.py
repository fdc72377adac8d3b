"""Train a SimGAN refiner R against a local patch discriminator D (S+U learning, Algorithm 1 of the paper).

Pretrains R on self-regularization only, then D, then alternates K_g refiner and K_d discriminator updates
for --steps adversarial iterations, with a history buffer of refined images. Values come from the config
defaults, then --config FILE, then the flags given. The run folder gets config.json, checkpoint.pt,
stats.jsonl (one JSON line per logged step), grids/step_XXXXXXX.png and tb/ (TensorBoard).
--resume continues an interrupted or finished run up to --steps. The real images' labels are never used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simgan.config import load_config
from simgan.train.optim import OPTIMIZERS, SCHEDULERS
from simgan.train.refiner import NonFiniteLossError, RefinerTrainConfig, train_refiner

NAME = "train-refiner"
ORDER = 30
HELP = "train a SimGAN refiner on synthetic + unlabelled real images"

_D = RefinerTrainConfig()
_S = argparse.SUPPRESS  # flags not given leave the config (file or defaults) unchanged


def _opt(p: argparse.ArgumentParser, flag: str, field: str, help: str, **kw: object) -> None:
    kw.setdefault("metavar", {int: "N", float: "X"}.get(kw.get("type"), None))  # type: ignore[arg-type]
    p.add_argument(flag, dest=field, default=_S, help=f"{help} (default: {getattr(_D, field)})", **kw)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synthetic", required=True, metavar="DIR", help="synthetic images (labels unused)")
    p.add_argument("--real", required=True, metavar="DIR", help="unlabelled real images")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder")
    p.add_argument("--config", metavar="FILE", help="YAML config (keys of RefinerTrainConfig)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN up to --steps")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    _opt(
        p,
        "--preset",
        "preset",
        "network sizes; auto picks from the image size",
        choices=["auto", "digits", "eyes", "hands"],
    )
    _opt(p, "--steps", "steps", "T: adversarial iterations after pretraining (run total)", type=int)
    _opt(p, "--batch-size", "batch_size", "b: mini-batch size (even)", type=int)
    _opt(p, "--lambda-reg", "lambda_reg", "lambda: self-regularization weight", type=float)
    _opt(
        p,
        "--psi",
        "psi",
        "self-regularization feature map",
        choices=["identity", "channel_mean", "downsample"],
    )
    _opt(p, "--history-size", "history_size", "B: refined images in the history buffer", type=int)
    p.add_argument(
        "--no-history",
        dest="history",
        action="store_const",
        const=False,
        default=_S,
        help="ablation: D sees only the current refined images",
    )
    p.add_argument(
        "--global-adversarial",
        dest="global_adversarial",
        action="store_const",
        const=True,
        default=_S,
        help="ablation: one real/refined decision per image instead of per patch",
    )
    _opt(p, "--pretrain-r-steps", "pretrain_r_steps", "N_R: R updates on self-regularization only", type=int)
    _opt(p, "--pretrain-d-steps", "pretrain_d_steps", "N_D: D updates before the adversarial phase", type=int)
    _opt(p, "--k-g", "k_g", "K_g: R updates per iteration", type=int)
    _opt(p, "--k-d", "k_d", "K_d: D updates per iteration", type=int)
    _opt(p, "--optimizer-r", "optimizer_r", "R's optimizer", choices=OPTIMIZERS)
    _opt(p, "--optimizer-d", "optimizer_d", "D's optimizer", choices=OPTIMIZERS)
    _opt(p, "--lr-r", "lr_r", "R's learning rate", type=float)
    _opt(p, "--lr-d", "lr_d", "D's learning rate", type=float)
    _opt(p, "--scheduler-r", "scheduler_r", "R's lr schedule", choices=SCHEDULERS)
    _opt(p, "--scheduler-d", "scheduler_d", "D's lr schedule", choices=SCHEDULERS)
    _opt(p, "--log-every", "log_every", "steps between stats.jsonl lines", type=int)
    _opt(p, "--ckpt-every", "ckpt_every", "steps between checkpoints", type=int)
    _opt(p, "--grid-every", "grid_every", "steps between image grids", type=int)
    _opt(p, "--seed", "seed", "random seed (same seed, same run)", type=int)


def run(args: argparse.Namespace) -> int:
    names = {f for f in RefinerTrainConfig.__dataclass_fields__}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    base = args.config
    saved = Path(args.out) / "config.json"
    if base is None and args.resume and saved.is_file():
        base = saved  # a resumed run keeps its own config; flags given still override (steps, intervals)
    cfg = load_config(RefinerTrainConfig, base, overrides)
    try:
        result = train_refiner(
            args.synthetic, args.real, args.out, cfg, resume=args.resume, device=args.device
        )
    except NonFiniteLossError as e:
        print(f"simgan {NAME}: stopped: {e}", file=sys.stderr)
        return 1
    s = result.stats
    acc = ""
    if "acc/D/real" in s:
        acc = f"; D accuracy real {s['acc/D/real']:.3f}, refined {s['acc/D/refined']:.3f}"
    print(f"trained refiner in {result.run} (step {result.step}, iteration {result.iteration}{acc})")
    return 0
