"""Train a SimGAN refiner R against a local patch discriminator D (S+U learning, Algorithm 1 of the paper).

Pretrains R on self-regularization only, then D, then alternates K_g refiner and K_d discriminator updates
for --steps adversarial iterations, with a history buffer of refined images. Values come from the config
defaults, then --config FILE, then the flags given. The run folder gets config.json, checkpoint.pt,
stats.jsonl (one JSON line per logged step), grids/step_XXXXXXX.png and tb/ (TensorBoard).
--resume continues an interrupted or finished run up to --steps, from its saved config.json unless
--config is given. The real images' labels are never used.

Labels are guarded: every --monitor-every steps a held-out synthetic batch is refined and its labels
checked (digits: a synthetic-trained classifier's agreement on x and R(x); eyes: pupil shift; hands:
silhouette IoU), logged as labels/... in stats.jsonl; a fall below the threshold prints one warning
(--strict stops the run, exit 2), and RUN/best.pt keeps the latest adversarial step that kept the
labels; simgan refine uses it. --consistency TASK_RUN adds CyCADA's semantic loss: a frozen
train-task model must read R(x) as it reads x.

Several processes: torchrun --nproc-per-node N -m simgan train-refiner ... (the same flags). Each rank
draws --batch-size images of every batch (the global batch is N times it); rank 0 writes the run folder.
"""

from __future__ import annotations

import argparse
import sys

from simgan import distributed, losses
from simgan.cli.common import ConfigFlags, add_amp_flags, add_device, add_equalize_flags, config_overrides
from simgan.config import run_config
from simgan.nn import refiner as refiner_nn
from simgan.train import optim
from simgan.train.refiner import (
    LabelPreservationError,
    NonFiniteLossError,
    RefinerTrainConfig,
    train_refiner,
)
from simgan.viz.grids import save_refiner_grid

NAME = "train-refiner"
INTERRUPTED = "rerun with --resume (and the same arguments) to continue from the last checkpoint"
ORDER = 30
HELP = "train a SimGAN refiner on synthetic + unlabelled real images"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synthetic", required=True, metavar="DIR", help="synthetic images (labels unused)")
    p.add_argument("--real", required=True, metavar="DIR", help="unlabelled real images")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder")
    p.add_argument("--config", metavar="FILE", help="YAML config (keys of RefinerTrainConfig)")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN up to --steps")
    add_device(p)
    p.add_argument(
        "--log-to",
        default="tensorboard",
        metavar="LIST",
        help="where the numbers also go, comma-separated: tensorboard (RUN/tb), wandb (when installed)",
    )
    f = ConfigFlags(p, RefinerTrainConfig)
    presets = ["auto", *sorted(refiner_nn.REFINER_PRESETS)]
    f.add("--preset", "network sizes; auto picks by what the images are, then their size", choices=presets)
    f.add("--steps", "T: adversarial iterations after pretraining (run total)")
    f.add("--batch-size", "b: mini-batch size (even)")
    f.add("--lambda-reg", "lambda: self-regularization weight")
    f.add("--psi", "self-regularization feature map", choices=losses.PSI)
    f.add("--history-size", "B: refined images in the history buffer")
    f.add("--no-history", "ablation: D sees only the current refined images", field="history", const=False)
    f.add(
        "--global-adversarial",
        "ablation: one real/refined decision per image instead of per patch",
        const=True,
    )
    f.add(
        "--noise-channels", "K noise maps concatenated to R's input: stochastic refinement (refine --samples)"
    )
    f.add("--pretrain-r-steps", "N_R: R updates on self-regularization only")
    f.add("--pretrain-d-steps", "N_D: D updates before the adversarial phase")
    f.add("--k-g", "K_g: R updates per iteration")
    f.add("--k-d", "K_d: D updates per iteration")
    f.add("--optimizer-r", "R's optimizer", choices=optim.OPTIMIZERS)
    f.add("--optimizer-d", "D's optimizer", choices=optim.OPTIMIZERS)
    f.add("--lr-r", "R's learning rate")
    f.add("--lr-d", "D's learning rate")
    f.add("--scheduler-r", "R's lr schedule", choices=optim.SCHEDULERS)
    f.add("--scheduler-d", "D's lr schedule", choices=optim.SCHEDULERS)
    f.add("--log-every", "steps between stats.jsonl lines")
    f.add("--ckpt-every", "steps between checkpoints")
    f.add("--grid-every", "steps between image grids")
    f.add("--seed", "random seed (same seed, same run)")
    add_amp_flags(f)
    add_equalize_flags(f, "auto: on for gaze data")
    f.add(
        "--consistency",
        "train-task run (or its best.pt) trained on the synthetic data: R pays when it reads R(x) "
        "unlike x; empty: off",
        metavar="TASK_RUN",
        shown="off",
    )
    f.add("--lambda-consistency", "weight of the consistency loss")
    f.add("--monitor-every", "steps between label-preservation checks (0: off, no best.pt)")
    f.add("--monitor-size", "held-out synthetic images the check refines")
    f.add("--min-agreement", "digits: least classifier agreement on x and R(x) that keeps labels")
    f.add("--max-pupil-shift-px", "eyes: largest mean pupil shift that keeps labels")
    f.add("--min-silhouette-iou", "hands: least mean silhouette IoU that keeps labels")
    f.add("--strict", "stop (exit 2) when labels are no longer kept, instead of warning", const=True)


def run(args: argparse.Namespace) -> int:
    cfg = run_config(RefinerTrainConfig, args.out, args.config, config_overrides(args), resume=args.resume)
    try:
        result = train_refiner(
            args.synthetic,
            args.real,
            args.out,
            cfg,
            resume=args.resume,
            device=args.device,
            on_grid=save_refiner_grid,
            log_to=args.log_to,
        )
    except NonFiniteLossError as e:
        print(f"simgan {NAME}: stopped: {e}", file=sys.stderr)
        return 1
    except LabelPreservationError as e:
        print(f"simgan {NAME}: error: {e}", file=sys.stderr)
        return 2
    if not distributed.ranks_from_env().main:
        return 0  # rank 0 reports for the job
    s = result.stats
    acc = ""
    if "acc/D/real" in s:
        acc = f"; D accuracy real {s['acc/D/real']:.3f}, refined {s['acc/D/refined']:.3f}"
    best = result.run / "best.pt"
    kept = f"; best.pt: step {result.best_step}" if best.is_file() and result.best_step >= 0 else ""
    print(f"trained refiner in {result.run} (step {result.step}, iteration {result.iteration}{acc}{kept})")
    return 0
