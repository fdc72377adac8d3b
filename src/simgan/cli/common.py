"""Arguments and output helpers shared by the subcommands.

Flags that set a field of a config dataclass all follow one pattern (:class:`ConfigFlags`): the flag's
default is ``argparse.SUPPRESS``, so a flag left out leaves the value from ``--config FILE`` (or the
dataclass default) alone; its help shows the dataclass default; :func:`config_overrides` turns the flags
given into the overrides mapping of :func:`simgan.config.load_config`::

    flags = ConfigFlags(parser, RefinerTrainConfig)
    flags.add("--steps", "T: adversarial iterations")            # int, from the field's annotation
    flags.add("--no-history", "ablation: ...", field="history", const=False)
    ...
    cfg = load_config(RefinerTrainConfig, args.config, config_overrides(args))

A dotted field (``refiner.steps``) sets a field of a nested config.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Callable, Iterable
from typing import Any

from simgan.data import LAYOUTS
from simgan.data.shards import Shard
from simgan.errors import InputError
from simgan.experiment.table import format_table

__all__ = [
    "ConfigFlags",
    "config_overrides",
    "add_seed",
    "add_device",
    "add_format",
    "add_json",
    "print_json",
    "print_table",
    "size_arg",
    "shard_arg",
]

_DEST = "config:"  # namespace attributes of ConfigFlags start with this; nothing else does
_NO_CONST = object()
_METAVAR: dict[Any, str] = {int: "N", float: "X"}


class ConfigFlags:
    """Adds flags bound to the fields of the config dataclass ``cls`` to ``parser`` (module docstring).

    Args:
        parser: the subcommand's parser.
        cls: a frozen config dataclass whose fields all have defaults (the defaults shown in ``--help``).
    """

    def __init__(self, parser: argparse.ArgumentParser, cls: type) -> None:
        self.parser = parser
        self.cls = cls
        self.default = cls()

    def _field(self, path: str) -> tuple[Any, Any]:
        """(annotation, default value) of the dotted field ``path``."""
        cls, value, tp = self.cls, self.default, None
        for name in path.split("."):
            if not dataclasses.is_dataclass(cls) or name not in typing.get_type_hints(cls):
                raise ValueError(f"{self.cls.__name__} has no field {path!r}")
            tp, value = typing.get_type_hints(cls)[name], getattr(value, name)
            cls = tp
        return tp, value

    def add(
        self,
        flag: str,
        help: str,
        *,
        field: str | None = None,
        type: Callable[[str], Any] | None = None,
        choices: Iterable[str] | None = None,
        const: Any = _NO_CONST,
        metavar: str | None = None,
        shown: str | None = None,
    ) -> None:
        """Add ``flag`` bound to ``field`` (default: the flag's name, ``--lr-r`` -> ``lr_r``).

        Args:
            flag: the option, e.g. ``--batch-size``.
            help: what it sets; ``(default: ...)`` is appended.
            field: the config field, dotted for a nested config (``refiner.steps``).
            type: parses the text; default: int or float by the field's annotation, else the text itself.
            choices: allowed values (take them from the registry that holds them).
            const: make a switch that sets the field to ``const`` (no value on the command line).
            metavar: the value's name in ``--help`` (default ``N`` for int, ``X`` for float, else the
                flag's name in capitals); choices are listed instead.
            shown: the default as ``--help`` shows it (default: the dataclass default).
        """
        field = field or flag.lstrip("-").replace("-", "_")
        tp, value = self._field(field)
        kw: dict[str, Any] = {"dest": _DEST + field, "default": argparse.SUPPRESS}
        if const is not _NO_CONST:
            kw.update(action="store_const", const=const)
            shown = shown or ("on" if value == const else "off")
        else:
            if tp is bool:
                raise ValueError(f"{flag}: a bool field takes a switch (pass const=True or False)")
            kw["type"] = type or (tp if tp in (int, float) else None)
            if choices is not None:
                kw["choices"] = list(choices)  # listed in --help in place of a metavar
            else:  # argparse would name the value after the prefixed dest
                kw["metavar"] = metavar or _METAVAR.get(
                    kw["type"], flag.lstrip("-").replace("-", "_").upper()
                )
        kw["help"] = f"{help} (default: {value if shown is None else shown})"
        self.parser.add_argument(flag, **kw)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The values of the :class:`ConfigFlags` flags actually given, as a (nested) overrides mapping.

    ``--steps 5 --refiner-steps 3`` (fields ``steps`` and ``refiner.steps``) gives
    ``{"steps": 5, "refiner": {"steps": 3}}``; flags not given are absent.
    """
    out: dict[str, Any] = {}
    for key, value in vars(args).items():
        if not key.startswith(_DEST):
            continue
        *parents, name = key[len(_DEST) :].split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[name] = value
    return out


def add_seed(p: argparse.ArgumentParser, default: int = 0) -> None:
    p.add_argument("--seed", type=int, default=default, help="random seed (same seed, same result)")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")


AMP_HELP = (
    "bf16 autocast + channels_last where the device does bf16 natively (CUDA; CPUs with AMX or AVX512-BF16)"
)


def add_amp(p: argparse.ArgumentParser) -> None:
    """``--amp`` / ``--no-amp`` (default on: :mod:`simgan.amp` falls back to fp32 where bf16 is slow)."""
    p.add_argument(
        "--amp", action=argparse.BooleanOptionalAction, default=True, help=AMP_HELP + " (default: on)"
    )


def add_amp_flags(f: ConfigFlags, field: str = "amp") -> None:
    """``--amp`` / ``--no-amp`` bound to a config's ``amp`` field."""
    f.add("--amp", AMP_HELP, field=field, const=True)
    f.add("--no-amp", "fp32 everywhere", field=field, const=False)


def jobs_arg(text: str) -> int:
    """Parse ``--jobs``: a positive number of worker processes, or ``auto`` (one per CPU thread, up to 8)."""
    from simgan.experiment.parallel import resolve_workers

    try:
        return resolve_workers(text if text == "auto" else int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 or auto, got {text!r}") from None


def add_jobs(p: argparse.ArgumentParser, default: str) -> None:
    """``--jobs N|auto``: an experiment's trainings on N worker processes at once."""
    p.add_argument(
        "--jobs",
        type=jobs_arg,
        default=default,
        metavar="N",
        help="train the repeats' refiners and row models on N processes at once, each with its share of "
        f"the CPU threads; auto: one per CPU thread, at most 8 (default: {default})",
    )


EQUALIZE_HELP = "histogram-equalise every image before a model sees it (MPIIGaze's normalisation)"


def add_equalize(p: argparse.ArgumentParser, auto: str) -> None:
    """``--equalize`` / ``--no-equalize``; neither given leaves it None, which means ``auto``."""
    p.add_argument(
        "--equalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"{EQUALIZE_HELP} (default: {auto})",
    )


def add_equalize_flags(f: ConfigFlags, auto: str, field: str = "equalize") -> None:
    """``--equalize`` / ``--no-equalize`` bound to a config's ``equalize`` field (None: ``auto``)."""
    f.add("--equalize", EQUALIZE_HELP, field=field, const=True, shown=auto)
    f.add("--no-equalize", "never equalise", field=field, const=False, shown=auto)


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", *sorted(LAYOUTS)],
        help="dataset layout; auto detects it",
    )


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_table(rows: list[list[Any]], header: list[str]) -> None:
    """A plain fixed-width table on stdout (:func:`simgan.experiment.table.format_table`)."""
    print(format_table(rows, header))


def size_arg(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``35x55``) for ``--size``."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW like 35x55, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def shard_arg(text: str) -> tuple[int, int]:
    """Parse ``I/N`` (e.g. ``0/2``) for ``--shard``: shard I, counted from 0, of N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N like 0/2 (shard I of N), got {text!r}") from None
    try:
        Shard(i, n)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return i, n
