"""The ``simgan`` command line: one module per subcommand, each thin (parse, build config, call library).

A subcommand is a module ``simgan/cli/<name>_cmd.py`` defining ``NAME``, ``HELP``, ``ORDER`` (its place in
``--help``), ``add_arguments(parser)`` and ``run(args) -> int``, and optionally ``INTERRUPTED``, what to
do after Ctrl-C (default: the same command resumes); it is found automatically.
Bad input anywhere (an :class:`~simgan.errors.InputError`) becomes one line on stderr and exit code 2;
so does an output the OS refuses to write (a path under a file, a read-only or full disk: an
``OSError``) and a job too large for memory. Files already written are left as they were, and the
writers are resumable, so the same command resumes once the cause is fixed.

Under torchrun (simgan.distributed) only the commands in :data:`JOB_COMMANDS` run; any other is refused,
since N copies of it would write the same files. A rank that torchrun stops because another failed says
so in one line (exit 1).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from simgan import __version__, progress
from simgan.errors import InputError, describe_os_error

__all__ = ["main", "build_parser", "commands", "JOB_COMMANDS"]

RESUMES = "rerun the same command to resume"

# The commands that run as one job of several torchrun processes.
JOB_COMMANDS = ("train-refiner", "train-task", "refine")


def commands() -> list[ModuleType]:
    """Every ``*_cmd`` module of this package, in ``ORDER``."""
    mods = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if m.name.endswith("_cmd")
    ]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown where they say something: not for required options, switches or empty defaults."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required or action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action) or text


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like every other bad-input error of simgan."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_quiet(p: argparse.ArgumentParser, nested: bool = False) -> None:
    """``-q/--quiet`` on a command and on each of its nested commands, so that ``experiment gap -q`` and
    ``experiment -q gap`` both work (a nested parser sets it only when given, never back to False)."""
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if nested else False,
        help="no progress bars or notices (errors and results still print)",
    )
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_quiet(sub, nested=True)


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
        _add_quiet(p)
        p.set_defaults(_run=mod.run, _interrupted=getattr(mod, "INTERRUPTED", RESUMES))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simgan`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:  # answered before torch is imported (the parser imports every command)
        print(f"simgan {__version__}")
        return 0
    args = build_parser().parse_args(argv)
    with progress.quieted(args.quiet):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; bad input and the OS's refusals become one line (exit 2)."""
    from simgan import distributed
    from simgan.experiment.parallel import WorkerLost

    try:
        ranks = distributed.ranks_from_env()
        if ranks.active and args.command not in JOB_COMMANDS:
            raise InputError(
                f"runs in one process: start it without torchrun (under torchrun: {', '.join(JOB_COMMANDS)})"
            )
        code = int(args._run(args) or 0)
        distributed.shutdown()
        return code
    except RuntimeError as e:
        if not distributed.ranks_from_env().active or not distributed.lost_peer(e):
            raise
        distributed.stop_quietly()  # a second SIGTERM from torchrun ends the process without a traceback
        _end_bars()
        rank = distributed.ranks_from_env().rank
        what = str(e) if isinstance(e, distributed.PeerStopped) else "lost contact with another process"
        print(f"simgan {args.command}: rank {rank}: {what}; {distributed.STOPPED}", file=sys.stderr)
        return 1
    except WorkerLost as e:  # a worker of `--jobs N` killed mid-job
        _end_bars()
        print(f"simgan {args.command}: {e}", file=sys.stderr)
        return 1
    except InputError as e:
        return _fail(args.command, str(e))
    except OSError as e:
        return _fail(args.command, describe_os_error(e))
    except MemoryError:
        return _fail(args.command, "out of memory: choose a smaller --size, --batch-size or --n")
    except KeyboardInterrupt:
        _end_bars()
        print(f"simgan {args.command}: interrupted; {args._interrupted}", file=sys.stderr)
        return 130


def _fail(command: str, message: str) -> int:
    """Print the one error line (on a line of its own) and return exit code 2."""
    _end_bars()
    print(f"simgan {command}: error: {message}", file=sys.stderr)
    return 2


def _end_bars() -> None:
    """Close progress bars an error left open, so the message starts on a fresh line."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
