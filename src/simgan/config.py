"""Typed configs: frozen dataclasses, loaded from YAML, overridden by CLI flags, saved as JSON.

Every component owns a frozen dataclass (the refiner's lives in ``simgan.train.refiner``, the task trainer's
in ``simgan.train.task``); this module holds the machinery they share:

- :func:`load_config` builds a config from defaults, then an optional YAML file, then CLI overrides
  (later wins; a nested mapping overrides key by key), rejecting unknown keys with a message that names
  the file and the key;
- :func:`run_config` is the same for a run folder: a resumed run with no file given starts from the
  ``config.json`` it saved, so that it continues the training it started;
- :func:`save_config` writes the final config as JSON, atomically, with the non-default values listed
  under ``"_non_default"`` so a reader sees at a glance what a run changed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from simgan import atomic
from simgan.errors import InputError

__all__ = [
    "CONFIG_NAME",
    "load_config",
    "run_config",
    "save_config",
    "config_from_dict",
    "config_to_dict",
    "non_defaults",
]

T = TypeVar("T")
CONFIG_NAME = "config.json"  # the final config of a run, in its run folder


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _as_float(value: Any) -> float | None:
    """``value`` as a float, or None. PyYAML (YAML 1.1) reads "1e-3" as a string: it wants a dot in the
    mantissa ("1.0e-3"), so numeric strings count too."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert a YAML/JSON value to the annotated field type, or raise InputError naming ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        errors = []
        for a in args:
            try:
                return _coerce(a, value, where)
            except InputError as e:
                errors.append(str(e))
        raise InputError(errors[0] if errors else f"{where}: cannot interpret {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise InputError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        out = [_coerce(item, v, where) for v in value]
        return tuple(out) if origin is tuple else out
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise InputError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return config_from_dict(tp, value, where)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise InputError(f"{where}: expected true/false, got {value!r}")
    if tp is float and not isinstance(value, bool):
        number = _as_float(value)
        if number is not None:
            if not math.isfinite(number):
                raise InputError(f"{where}: expected a finite number, got {value!r}")
            return number
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if tp in (int, float, str):
        raise InputError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build ``cls`` from a mapping, checking keys and types; missing keys keep their defaults."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    # Keys starting with "_" are annotations (save_config's "_non_default"), not fields.
    unknown = sorted(k for k in set(data) - names if not k.startswith("_"))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(hints[k], v, f"{where}: {k}") for k, v in data.items() if not k.startswith("_")}
    return cls(**kwargs)


def load_config(
    cls: type[T], path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> T:
    """Defaults, then the YAML (or JSON) file at ``path``, then ``overrides`` whose value is not None.

    A mapping in ``overrides`` merges into the file's mapping for a nested config (``{"refiner":
    {"steps": 5}}`` changes only ``refiner.steps``).

    Raises:
        InputError: the file is missing, not YAML, not a mapping, or has an unknown key or a wrong type.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError.at(path, "config file not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            at = f" at line {line + 1}" if line is not None else ""
            raise InputError.at(path, f"not valid YAML{at}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise InputError.at(path, "expected a mapping of config keys at the top level")
        loaded.pop("_non_default", None)
        data.update(loaded)
        where = str(path)
    else:
        where = "config"
    return config_from_dict(cls, _merge(data, overrides or {}), where)


def _merge(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with ``overrides`` applied: None leaves a value alone, a mapping merges into a mapping."""
    out = dict(data)
    for k, v in overrides.items():
        if v is None:
            continue
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def run_config(
    cls: type[T],
    run_dir: str | Path,
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
) -> T:
    """The config of the run in ``run_dir``: :func:`load_config`, except that a resumed run falls back to
    its own saved ``run_dir/config.json`` when no file is given.

    A resumed run continues the training it started, so its saved values (lambda, preset, ...) win over
    the defaults; ``overrides`` still apply on top (e.g. a larger ``steps``). A fresh run, or a resumed one
    without a saved config yet, reads ``path`` or the defaults.

    Raises:
        InputError: as :func:`load_config`, naming the file read.
    """
    saved = Path(run_dir) / CONFIG_NAME
    if path is None and resume and saved.is_file():
        path = saved
    return load_config(cls, path, overrides)


def non_defaults(cfg: Any) -> dict[str, Any]:
    """The fields of ``cfg`` that differ from the dataclass defaults (top level)."""
    default = type(cfg)()
    a, b = config_to_dict(cfg), config_to_dict(default)
    return {k: v for k, v in a.items() if b.get(k) != v}


def save_config(cfg: Any, path: str | Path) -> None:
    """Write ``cfg`` as JSON (atomically), with ``_non_default`` listing what differs from defaults."""
    data = config_to_dict(cfg)
    try:
        data["_non_default"] = non_defaults(cfg)
    except TypeError:  # a config class with required fields has no default instance
        pass
    atomic.write_json(path, data)
