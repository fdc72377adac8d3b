"""Train a task network (digit CNN, the paper's gaze CNN, a 2-stack hourglass for hands, or a small U-Net
for hand part masks: segment) and test it.

Several --train sets are mixed (concatenated); they must agree on task, image size and channels. A seeded
--val-fraction of the training data picks the best epoch (and stops early with --patience); the --test set
is evaluated once, at the end. --finetune DIR pre-trains on the --train sets, then fine-tunes on the few
real labels in DIR at lr * --finetune-lr-factor for --finetune-epochs (default: half of --epochs).
Training takes at least --epochs epochs and at least --min-steps optimizer steps, so a small set converges.
--adapt dann|self-train --target DIR adapts to unlabelled real images (docs/train_task.md).
Several processes: torchrun --nproc-per-node N -m simgan train-task ... (the same flags); --batch-size is
per rank, so a step takes N times as many images; rank 0 writes RUN and prints the result.

RUN receives config.json, history.jsonl (one line per epoch), best.pt and last.pt (plain-dict checkpoints),
metrics.json (classify: accuracy, confusion; gaze: angular_error_deg, within_deg; handpose: mean_error_px,
within_px per joint, frames_within_px per frame; d = 0..20; segment: miou over the parts, iou per part id,
pixel_accuracy, and parts, the names of the ids), curves.json and curves.png.
segment learns the per-pixel part masks that simulate hands writes (any dataset with mask_classes).
Options not given on the command line come from --config FILE (YAML), else from the defaults shown.
"""

from __future__ import annotations

import argparse
from typing import Any

from simgan import distributed
from simgan.cli.common import (
    ConfigFlags,
    add_amp_flags,
    add_equalize_flags,
    add_format,
    add_json,
    config_overrides,
    print_json,
    print_table,
)
from simgan.config import load_config
from simgan.data import augment, open_dataset, source
from simgan.train import optim
from simgan.train.task import ADAPT_METHODS, TaskConfig, train_task
from simgan.viz.curves import plot_curves

NAME = "train-task"
INTERRUPTED = "nothing of the run is resumable: rerun with --overwrite to start it again"
ORDER = 40
HELP = "train and test a classifier, gaze, hand-pose or hand-part segmentation network"


def _ops(text: str) -> list[str]:
    """``--augment flip,crop`` -> ["flip", "crop"]; the names are checked against the task by the library."""
    return [a for a in text.split(",") if a.strip()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=source.TRAIN_TASKS, help="the task to train")
    p.add_argument("--train", action="append", required=True, metavar="DIR", help="training set (repeatable)")
    p.add_argument("--test", required=True, metavar="DIR", help="labelled test set (evaluated once)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder")
    p.add_argument("--finetune", metavar="DIR", default=None, help="fine-tune on these labels after training")
    p.add_argument("--config", metavar="FILE", default=None, help="YAML file of TaskConfig values")
    p.add_argument("--overwrite", action="store_true", help="replace the run RUN already holds")
    p.add_argument(
        "--target",
        metavar="DIR",
        default=None,
        help="unlabelled real images for --adapt (only their pixels are read, never labels)",
    )
    p.add_argument(
        "--log-to",
        default="tensorboard",
        metavar="LIST",
        help="where the numbers also go, comma-separated: tensorboard (RUN/tb), wandb (when installed)",
    )
    f = ConfigFlags(p, TaskConfig)
    f.add("--optimizer", "optimizer", choices=optim.OPTIMIZERS)
    f.add("--scheduler", "lr schedule per epoch", choices=optim.SCHEDULERS)
    f.add(
        "--augment",
        f"comma-separated subset of {','.join(augment.AUGMENTATIONS)}, none, or auto (classify: crop; "
        "gaze, handpose, segment: none); flip is refused for classify",
        type=_ops,
        metavar="OPS",
        shown="auto",
    )
    add_amp_flags(f)
    add_equalize_flags(f, "auto: on for gaze")
    f.add("--tta", "also score the test set with 10-crop test-time augmentation (<metric>_tta)", const=True)
    f.add("--epochs", "training epochs (at least; --min-steps may add more)")
    f.add("--min-steps", "step floor: at least this many optimizer steps (more epochs on small sets)")
    f.add("--batch-size", "samples per step")
    f.add("--lr", "learning rate")
    f.add("--momentum", "momentum for momentum/nesterov")
    f.add("--weight-decay", "L2 weight decay")
    f.add("--lr-step", "epochs per step decay (and per lr-gamma for exponential)")
    f.add("--lr-gamma", "learning-rate decay factor")
    f.add("--val-fraction", "held-out share of the training data for model selection")
    f.add("--patience", "stop after this many epochs without a better val score (0: never)")
    f.add("--finetune-epochs", "fine-tune epochs (0: half of --epochs)")
    f.add("--finetune-lr-factor", "fine-tune lr = lr * this")
    f.add("--adapt", "adapt to the --target images: none, dann or self-train", choices=ADAPT_METHODS)
    f.add(
        "--adapt-weight",
        "dann: max reversal weight lambda; self-train: unlabelled loss weight (0: 0.3 / 1.0)",
    )
    f.add("--pseudo-threshold", "self-train, classify: teacher confidence a pseudo-label needs")
    f.add(
        "--no-pseudo-align",
        "self-train, classify: no distribution alignment of the pseudo-labels to the source class prior",
        field="pseudo_align",
        const=False,
    )
    f.add(
        "--pseudo-max-error", "self-train, gaze/handpose: max teacher-student disagreement, deg/px (0: 3 / 2)"
    )
    f.add("--ema-decay", "self-train: the mean teacher's EMA decay per step")
    f.add("--adapt-lr-factor", "self-train: adaptation-phase lr = lr * this")
    f.add("--width", "network width (0: 16 for the digit CNN and the U-Net, 64 for the hourglass)")
    f.add("--seg-depth", "segment: the U-Net's 2x down-samplings (image sides divisible by 2**this)")
    f.add("--seed", "random seed (same seed, same result)")
    f.add("--device", "auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    f.add("--workers", "DataLoader workers when a dataset streams from disk")
    add_format(p)
    add_json(p)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(TaskConfig, args.config, {**config_overrides(args), "task": args.task})
    train = [open_dataset(d, args.format) for d in args.train]
    test = open_dataset(args.test, args.format)
    finetune = open_dataset(args.finetune, args.format) if args.finetune else None
    target = open_dataset(args.target, args.format) if args.target else None
    metrics = train_task(
        cfg,
        train,
        test,
        args.out,
        finetune=finetune,
        target=target,
        progress=not args.json,
        on_curves=plot_curves,
        overwrite=args.overwrite,
        log_to=args.log_to,
    )
    if not distributed.ranks_from_env().main:
        return 0  # rank 0 reports for the job
    if args.json:
        print_json(metrics)
        return 0
    rows: list[list[Any]] = []
    for key, value in metrics.items():
        if isinstance(value, float):
            rows.append([key, f"{value:.4f}"])
        elif isinstance(value, int | str):
            rows.append([key, value])
        elif key.startswith(("within", "frames_within")):
            rows.append([key, "  ".join(f"<={d}:{value[d]:.3f}" for d in ("2", "5", "10", "15", "20"))])
        elif key == "iou":  # segment: one row per part id, named
            names = metrics.get("parts", [])
            rows += [
                [f"iou {k} {names[int(k)] if int(k) < len(names) else ''}".rstrip(), f"{v:.4f}"]
                for k, v in value.items()
            ]
    print_table(rows, ["metric", "value"])
    print(f"run folder: {args.out} (metrics.json, curves.png, best.pt)")
    return 0
