"""Convert any readable dataset (image folder, class subfolders, native formats) into a simgan dataset
directory. Ids and labels are kept; an interrupted conversion resumes when rerun with the same arguments.
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_format
from simgan.data import convert, open_dataset

NAME = "convert"
ORDER = 11
HELP = "convert a dataset into a simgan dataset directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="source dataset folder")
    p.add_argument("--out", required=True, help="output simgan dataset folder")
    add_format(p)


def run(args: argparse.Namespace) -> int:
    info = convert(open_dataset(args.dir, args.format), args.out)
    print(
        f"wrote {info.count} samples ({info.height}x{info.width}x{info.channels} {info.dtype}) to {args.out}"
    )
    return 0
