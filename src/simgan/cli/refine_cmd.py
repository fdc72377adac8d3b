"""Refine a dataset with a trained refiner: same ids and labels, refined pixels, written as a simgan dataset.

Streams in batches, uses the GPU when there is one (bf16 autocast + channels_last), records the refiner
(run, step, config) in the output's provenance, and resumes when rerun after an interruption.
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_device
from simgan.refine import refine

NAME = "refine"
ORDER = 31
HELP = "refine synthetic images with a trained refiner"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--refiner", required=True, metavar="RUN", help="train-refiner run folder or checkpoint file"
    )
    p.add_argument("--input", required=True, metavar="DIR", help="dataset to refine (any layout)")
    p.add_argument("--out", required=True, metavar="DIR", help="output simgan dataset folder")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers decoding the input")
    add_device(p)


def run(args: argparse.Namespace) -> int:
    info = refine(
        args.refiner,
        args.input,
        args.out,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.workers,
    )
    print(f"refined {info.count} images ({info.height}x{info.width}x{info.channels}) into {args.out}")
    return 0
