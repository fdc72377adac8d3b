"""Summarise a dataset: layout, count, image size, channels, bit depth and class counts.

Every image is decoded, so a truncated or corrupt file is reported (by name) here rather than mid-run.
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_format, add_json, print_json, print_table
from simgan.data import open_dataset, summarize

NAME = "inspect"
INTERRUPTED = "nothing was half-written: rerun the same command (it starts again)"
ORDER = 10
HELP = "summarise a dataset folder (any layout)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="dataset folder")
    add_format(p)
    add_json(p)
    p.add_argument("--no-verify", action="store_true", help="skip decoding every image (faster)")


def run(args: argparse.Namespace) -> int:
    summary = summarize(
        open_dataset(args.dir, args.format), verify=not args.no_verify, progress=not args.json
    )
    if args.json:
        print_json(summary)
        return 0
    rows = [[k, v] for k, v in summary.items() if k != "classes"]
    print_table(rows, ["key", "value"])
    if "classes" in summary:
        print()
        print_table([[k, v] for k, v in summary["classes"].items()], ["class", "count"])
    return 0
