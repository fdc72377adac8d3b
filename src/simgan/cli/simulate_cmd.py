"""Render a labelled synthetic dataset with a registered simulator into a simgan dataset directory.

Labels are free: digits stores the class index; eyes and hands store their gaze / pose label dicts with
every randomised parameter as extra keys. The same seed gives the same bytes. Writing is atomic and
streaming; an interrupted run resumes when rerun with the same arguments (no sample lost or duplicated).
``--target pseudo-real`` adds the simulator's documented degradation model (a stand-in real domain).
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_seed, size_arg
from simgan.sim import SIMULATORS, TARGETS, simulate

NAME = "simulate"
ORDER = 20
HELP = "render a labelled synthetic dataset (digits, eyes, hands)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("simulator", choices=sorted(SIMULATORS), help="which simulator")
    p.add_argument("--n", type=int, required=True, help="number of samples")
    p.add_argument("--out", required=True, help="output simgan dataset folder (resumed if it exists)")
    add_seed(p)
    p.add_argument(
        "--size",
        type=size_arg,
        default=None,
        metavar="HxW",
        help="output size (default: the simulator's own; digits: 8x8, 28x28 or 32x32)",
    )
    p.add_argument("--target", choices=TARGETS, default="synthetic", help="simulator alone or pseudo-real")
    p.add_argument(
        "--equalize",
        action="store_true",
        help="write histogram-equalised images, as MPIIGaze stores its eyes (train-refiner, refine and "
        "train-task equalise gaze data themselves, so the raw images are the default)",
    )
    p.add_argument(
        "--fonts", default=None, metavar="DIR", help="digits only: a folder of extra .ttf/.otf fonts"
    )


def run(args: argparse.Namespace) -> int:
    options = {"fonts": args.fonts} if args.fonts is not None else {}
    info = simulate(
        args.simulator,
        args.n,
        args.out,
        seed=args.seed,
        size=args.size,
        target=args.target,
        equalize=args.equalize,
        **options,
    )
    print(
        f"wrote {info.count} {args.simulator} samples ({info.height}x{info.width}x{info.channels} "
        f"{info.dtype}, {args.target}) to {args.out}"
    )
    return 0
