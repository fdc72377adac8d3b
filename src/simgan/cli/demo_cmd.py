"""The embedded default, end to end: font-rendered 8x8 digits refined against scikit-learn's real handwriting.

Runs ``experiment gap --task digits`` with the demo's settings (real data split once with a fixed seed into
unlabelled / labelled / test; the refiner never sees the test images), prints the gap table, and writes the
HTML report to OUT/report.html. ``--quick`` is a shorter version (one repeat, less data, fewer steps) for
smoke tests. A rerun resumes; a rerun with other settings starts over in the same folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simgan.cli.common import add_amp, add_device, add_jobs, add_seed
from simgan.experiment.demo import run_demo
from simgan.experiment.gap import OPT_IN, ROWS

NAME = "demo"
HELP = "run the whole loop on the embedded default (digits) and write the report"
ORDER = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    p.add_argument("--repeats", type=int, default=None, help="repeats (default 3; 1 with --quick)")
    p.add_argument(
        "--methods",
        type=lambda t: [m.strip() for m in t.split(",") if m.strip()],
        default=None,
        metavar="ROWS",
        help=f"comma-separated rows, from {','.join(ROWS)} (default: all but {','.join(OPT_IN)}; synthetic "
        "and real always run)",
    )
    add_amp(p)
    add_jobs(p, "auto")
    add_seed(p)
    add_device(p)


def run(args: argparse.Namespace) -> int:
    run_demo(
        args.out,
        quick=args.quick,
        repeats=args.repeats,
        seed=args.seed,
        device=args.device,
        methods=args.methods,
        amp=args.amp,
        workers=args.jobs,
    )
    return 0
