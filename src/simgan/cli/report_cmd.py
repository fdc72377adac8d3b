"""Write one static HTML page about a run: config, loss and D-accuracy curves, sample grids over training,
the gap table and %-within-d curves, realism and label-preservation numbers, embeddings.

Only what the run folder holds is shown. The page needs no server and fetches nothing from the internet;
its images are written beside it in FILE_files/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simgan.cli.common import add_json, print_json
from simgan.viz.report import build_report

NAME = "report"
INTERRUPTED = "nothing was half-written: rerun the same command (it starts again)"
ORDER = 70
HELP = "static HTML report of a run folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run folder (train-refiner, train-task or experiment output)")
    p.add_argument("--out", metavar="FILE.html", help="the page to write (default: RUN/report.html)")
    p.add_argument("--title", help="page title (default: the run folder's name)")
    add_json(p)


def run(args: argparse.Namespace) -> int:
    out = args.out or str(Path(args.run) / "report.html")
    summary = build_report(args.run, out, title=args.title)
    if args.json:
        print_json(summary)
        return 0
    print(
        f"wrote {summary['out']} (sections: {', '.join(summary['sections'])}; images in {summary['assets']})"
    )
    return 0
