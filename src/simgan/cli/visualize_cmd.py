"""Map several datasets to 2-D (PCA, or t-SNE on a PCA-50 reduction) and plot them in one figure.

Points are coloured by dataset; where the datasets have class labels a second panel colours them by class
(marker = dataset). Features: raw pixels (large images block-averaged to at most 64 px a side), or the
penultimate layer of a trained task model (--features task --task-run RUN). Same --seed, same picture.
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_json, add_seed, print_json, print_table
from simgan.viz.embedding import METHODS, visualize

NAME = "visualize"
INTERRUPTED = "nothing was half-written: rerun the same command (it starts again)"
ORDER = 60
HELP = "PCA / t-SNE map of several datasets, coloured by dataset and class"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", action="append", required=True, metavar="DIR", help="a dataset (repeat the flag)"
    )
    p.add_argument(
        "--name", action="append", metavar="NAME", help="display name per --data (default: folder)"
    )
    p.add_argument(
        "--method", choices=METHODS, default="pca", help="pca, or tsne (on 50 principal components)"
    )
    p.add_argument("--features", choices=("pixels", "task"), default="pixels", help="what is embedded")
    p.add_argument("--task-run", metavar="RUN", help="train-task run (or .pt checkpoint) for --features task")
    p.add_argument("--out", required=True, metavar="FILE.png", help="the figure to write")
    p.add_argument("--max-per-set", type=int, default=2000, help="points per dataset at most (seeded subset)")
    add_seed(p)
    add_json(p)


def run(args: argparse.Namespace) -> int:
    summary = visualize(
        args.data,
        args.out,
        names=args.name,
        method=args.method,
        features=args.features,
        task_run=args.task_run,
        max_per_set=args.max_per_set,
        seed=args.seed,
    )
    if args.json:
        print_json(summary)
        return 0
    print_table([[name, n] for name, n in summary["datasets"].items()], ["dataset", "points"])
    print(
        f"\nwrote {summary['out']} ({summary['method']} of {summary['features']}, {summary['points']} points)"
    )
    return 0
