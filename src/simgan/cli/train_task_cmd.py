"""Train a task network (digit CNN, the paper's gaze CNN, or a 2-stack hourglass for hands) and test it.

Several --train sets are mixed (concatenated); they must agree on task, image size and channels. A seeded
--val-fraction of the training data picks the best epoch (and stops early with --patience); the --test set
is evaluated once, at the end. --finetune DIR pre-trains on the --train sets, then fine-tunes on the few
real labels in DIR at lr * --finetune-lr-factor for --finetune-epochs (default: half of --epochs).

RUN receives config.json, history.jsonl (one line per epoch), best.pt and last.pt (plain-dict checkpoints),
metrics.json (classify: accuracy, confusion; gaze: angular_error_deg, within_deg; handpose: mean_error_px,
within_px per joint, frames_within_px per frame; d = 0..20), curves.json and curves.png.
Options not given on the command line come from --config FILE (YAML), else from the defaults shown.
"""

from __future__ import annotations

import argparse
from typing import Any

from simgan.cli.common import add_format, add_json, print_json, print_table
from simgan.config import load_config
from simgan.data import open_dataset
from simgan.data.augment import AUGMENTATIONS
from simgan.train.optim import OPTIMIZERS, SCHEDULERS
from simgan.train.task import TaskConfig, train_task

NAME = "train-task"
ORDER = 40
HELP = "train and test a classifier, gaze or hand-pose network"

_D = TaskConfig()
# flag -> (config field, type, help). Defaults are SUPPRESSed so that only flags actually given override
# the --config file; the help shows the config default instead.
_OPTIONS: dict[str, tuple[str, Any, str]] = {
    "--epochs": ("epochs", int, "training epochs"),
    "--batch-size": ("batch_size", int, "samples per step"),
    "--lr": ("lr", float, "learning rate"),
    "--momentum": ("momentum", float, "momentum for momentum/nesterov"),
    "--weight-decay": ("weight_decay", float, "L2 weight decay"),
    "--lr-step": ("lr_step", int, "epochs per step decay (and per lr-gamma for exponential)"),
    "--lr-gamma": ("lr_gamma", float, "learning-rate decay factor"),
    "--val-fraction": ("val_fraction", float, "held-out share of the training data for model selection"),
    "--patience": ("patience", int, "stop after this many epochs without a better val score (0: never)"),
    "--finetune-epochs": ("finetune_epochs", int, "fine-tune epochs (0: half of --epochs)"),
    "--finetune-lr-factor": ("finetune_lr_factor", float, "fine-tune lr = lr * this"),
    "--width": ("width", int, "network width (0: 16 for the digit CNN, 64 for the hourglass)"),
    "--seed": ("seed", int, "random seed (same seed, same result)"),
    "--device": ("device", str, "auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps"),
    "--workers": ("workers", int, "DataLoader workers when a dataset streams from disk"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=["classify", "gaze", "handpose"], help="the task to train")
    p.add_argument("--train", action="append", required=True, metavar="DIR", help="training set (repeatable)")
    p.add_argument("--test", required=True, metavar="DIR", help="labelled test set (evaluated once)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder")
    p.add_argument("--finetune", metavar="DIR", default=None, help="fine-tune on these labels after training")
    p.add_argument("--config", metavar="FILE", default=None, help="YAML file of TaskConfig values")
    sup = argparse.SUPPRESS
    p.add_argument(
        "--optimizer", choices=OPTIMIZERS, default=sup, help=f"optimizer (default: {_D.optimizer})"
    )
    p.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default=sup,
        help=f"lr schedule per epoch (default: {_D.scheduler})",
    )
    p.add_argument(
        "--augment",
        default=sup,
        metavar="OPS",
        help=f"comma-separated subset of {','.join(AUGMENTATIONS)}, or none (default: none); "
        "flip is refused for classify",
    )
    for flag, (field, tp, text) in _OPTIONS.items():
        p.add_argument(flag, type=tp, default=sup, help=f"{text} (default: {getattr(_D, field)})")
    add_format(p)
    add_json(p)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"task": args.task}
    for flag, (field, _, _) in _OPTIONS.items():
        dest = flag[2:].replace("-", "_")
        if hasattr(args, dest):
            overrides[field] = getattr(args, dest)
    for name in ("optimizer", "scheduler"):
        if hasattr(args, name):
            overrides[name] = getattr(args, name)
    if hasattr(args, "augment"):
        overrides["augment"] = [a for a in args.augment.split(",") if a.strip()]
    cfg = load_config(TaskConfig, args.config, overrides)
    train = [open_dataset(d, args.format) for d in args.train]
    test = open_dataset(args.test, args.format)
    finetune = open_dataset(args.finetune, args.format) if args.finetune else None
    metrics = train_task(cfg, train, test, args.out, finetune=finetune, progress=not args.json)
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
    print_table(rows, ["metric", "value"])
    print(f"run folder: {args.out} (metrics.json, curves.png, best.pt)")
    return 0
