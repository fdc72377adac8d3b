"""Export a dataset as plain PNG folders: --to classes writes OUT/<class>/<id>.png (torchvision's
ImageFolder layout), --to folder writes OUT/<id>.png (e.g. a CycleGAN trainA/trainB folder).

--embedded exports the embedded real domain instead of DIR: scikit-learn's 1797 real 8x8 handwritten
digits, the real images `simgan demo` uses. Only class labels are carried. A rerun resumes.
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_format
from simgan.data import open_dataset
from simgan.data.export import LAYOUTS, embedded_digits, export
from simgan.errors import InputError

NAME = "export"
ORDER = 12
HELP = "write a dataset as class folders (ImageFolder) or a plain image folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", nargs="?", default=None, help="dataset folder (any layout)")
    p.add_argument("--embedded", action="store_true", help="export the embedded real digits instead of DIR")
    p.add_argument("--to", choices=LAYOUTS, default="classes", help="the layout to write")
    p.add_argument("--out", required=True, metavar="OUT", help="output folder")
    add_format(p)


def run(args: argparse.Namespace) -> int:
    if args.embedded == (args.dir is not None):
        raise InputError("give a dataset DIR or --embedded (one of them)")
    if args.embedded:
        manifest = embedded_digits(args.out, args.to, progress=not args.quiet)
    else:
        manifest = export(open_dataset(args.dir, args.format), args.out, args.to, progress=not args.quiet)
    print(f"exported {manifest['count']} images of {manifest['from']} to {args.out} ({args.to})")
    return 0
