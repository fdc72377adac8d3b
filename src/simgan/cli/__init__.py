"""The ``simgan`` command line: one module per subcommand, each thin (parse, build config, call library).

A subcommand is a module ``simgan/cli/<name>_cmd.py`` defining ``NAME``, ``HELP``, ``ORDER`` (its place in
``--help``), ``add_arguments(parser)`` and ``run(args) -> int``; it is found automatically.
Bad input anywhere (an :class:`~simgan.errors.InputError`) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from simgan import __version__
from simgan.errors import InputError

__all__ = ["main", "build_parser", "commands"]


def commands() -> list[ModuleType]:
    """Every ``*_cmd`` module of this package, in ``ORDER``."""
    mods = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if m.name.endswith("_cmd")
    ]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like every other bad-input error of simgan."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="simgan",
        description="Learning from simulated and unsupervised images: simulate, refine (SimGAN), "
        "train task models, measure the reality gap.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"simgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__, formatter_class=_Formatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simgan`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except InputError as e:
        print(f"simgan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"simgan {args.command}: interrupted (rerun with the same arguments to resume)", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
