"""Summarise a dataset: layout, count, image size, channels, bit depth and class counts.

Every image is decoded, so a truncated or corrupt file is reported (by name) here rather than mid-run.
--stats adds per-image statistics (brightness and its spread, contrast, gradient, high-frequency energy,
percentiles, dark share) over up to --stats-n images: hold a simulator's output against real images of
your own without training anything (simgan.data.image_stats).
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_format, add_json, print_json, print_table
from simgan.data import open_dataset, summarize
from simgan.data.image_stats import image_statistics
from simgan.errors import InputError

NAME = "inspect"
INTERRUPTED = "nothing was half-written: rerun the same command (it starts again)"
ORDER = 10
HELP = "summarise a dataset folder (any layout)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="dataset folder")
    add_format(p)
    add_json(p)
    p.add_argument("--no-verify", action="store_true", help="skip decoding every image (faster)")
    p.add_argument("--stats", action="store_true", help="add per-image statistics (simgan.data.image_stats)")
    p.add_argument("--stats-n", type=int, default=2000, metavar="N", help="images the statistics read")


def run(args: argparse.Namespace) -> int:
    if args.stats_n < 1:
        raise InputError(f"--stats-n {args.stats_n}: must be at least 1")
    source = open_dataset(args.dir, args.format)
    summary = summarize(source, verify=not args.no_verify, progress=not args.json)
    if args.stats:
        summary["statistics"] = image_statistics(source, args.stats_n, progress=not args.json)
    if args.json:
        print_json(summary)
        return 0
    rows = [[k, v] for k, v in summary.items() if k not in ("classes", "statistics")]
    print_table(rows, ["key", "value"])
    if "statistics" in summary:
        print()
        print_table([[k, v] for k, v in summary["statistics"].items()], ["statistic", "value"])
    if "classes" in summary:
        print()
        print_table([[k, v] for k, v in summary["classes"].items()], ["class", "count"])
    return 0
