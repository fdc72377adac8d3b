"""Typed configs: defaults < YAML file < CLI overrides; errors name the file and the key; JSON out."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from simgan.config import (
    config_from_dict,
    config_to_dict,
    load_config,
    non_defaults,
    run_config,
    save_config,
)
from simgan.errors import InputError


@dataclass(frozen=True)
class Inner:
    depth: int = 2
    width: float = 0.5


@dataclass(frozen=True)
class Opts:
    lr: float = 0.1
    steps: int = 10
    name: str = "run"
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    mode: Literal["fast", "slow"] = "fast"
    limit: int | None = None
    inner: Inner = field(default_factory=Inner)


@dataclass(frozen=True)
class Required:
    path: str
    n: int = 1


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file() -> None:
    assert load_config(Opts) == Opts()


def test_yaml_values_and_types(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "lr: 3\nsteps: 5\nname: hello\nflag: true\nsizes: [4, 5, 6]\nmode: slow\nlimit: 7\n"
        "inner: {depth: 4}\n",
    )
    cfg = load_config(Opts, path)
    assert cfg == Opts(
        lr=3.0, steps=5, name="hello", flag=True, sizes=(4, 5, 6), mode="slow", limit=7, inner=Inner(depth=4)
    )
    assert isinstance(cfg.lr, float) and isinstance(cfg.sizes, tuple)


def test_yaml_exponent_without_dot_is_a_float(tmp_path: Path) -> None:
    # PyYAML reads "1e-3" as a string; a float field still accepts it.
    assert load_config(Opts, _yaml(tmp_path, "lr: 1e-3\n")).lr == pytest.approx(1e-3)


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "lr: 0.2\nlearning_rat: 0.3\n")
    with pytest.raises(InputError) as info:
        load_config(Opts, path)
    msg = str(info.value)
    assert str(path) in msg and "learning_rat" in msg and "unknown key" in msg


def test_unknown_nested_key_names_file_and_key(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "inner: {depht: 3}\n")
    with pytest.raises(InputError) as info:
        load_config(Opts, path)
    assert str(path) in str(info.value) and "depht" in str(info.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("steps: many\n", "steps"),
        ("steps: 2.5\n", "steps"),
        ("steps: true\n", "steps"),
        ("flag: 1\n", "flag"),
        ("lr: fast\n", "lr"),
        ("name: 3\n", "name"),
        ("mode: medium\n", "mode"),
        ("sizes: 3\n", "sizes"),
        ("sizes: [1, x]\n", "sizes"),
        ("limit: lots\n", "limit"),
        ("inner: 3\n", "inner"),
    ],
)
def test_wrong_type_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = _yaml(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_config(Opts, path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_overrides_win_and_none_is_ignored(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "lr: 0.5\nsteps: 20\nname: from-file\n")
    cfg = load_config(Opts, path, {"steps": 99, "name": None, "limit": None, "flag": True})
    assert cfg.steps == 99  # the flag beats the file
    assert cfg.name == "from-file"  # a flag left at None does not erase the file's value
    assert cfg.lr == 0.5 and cfg.limit is None and cfg.flag is True


def test_override_unknown_key_and_wrong_type() -> None:
    with pytest.raises(InputError, match="bogus"):
        load_config(Opts, None, {"bogus": 1})
    with pytest.raises(InputError, match="steps"):
        load_config(Opts, None, {"steps": "ten"})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_config(Opts, tmp_path / "missing.yaml")
    bad = _yaml(tmp_path, "lr: [1, 2\nsteps: 3\n")
    with pytest.raises(InputError, match="not valid YAML") as info:
        load_config(Opts, bad)
    assert str(bad) in str(info.value)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        load_config(Opts, lst)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(Opts, empty) == Opts()


def test_save_config_json_has_non_default(tmp_path: Path) -> None:
    cfg = Opts(lr=0.01, sizes=(3,), inner=Inner(depth=8))
    out = tmp_path / "run" / "config.json"
    save_config(cfg, out)
    data = json.loads(out.read_text())
    assert data["lr"] == 0.01 and data["steps"] == 10 and data["inner"] == {"depth": 8, "width": 0.5}
    assert data["_non_default"] == {"lr": 0.01, "sizes": [3], "inner": {"depth": 8, "width": 0.5}}
    assert non_defaults(Opts()) == {}


def test_saved_json_loads_back(tmp_path: Path) -> None:
    cfg = Opts(lr=0.25, steps=3, mode="slow", limit=4, sizes=(7, 8), inner=Inner(width=2.0))
    out = tmp_path / "config.json"
    save_config(cfg, out)
    assert load_config(Opts, out) == cfg  # JSON is YAML
    # A checkpoint holds the same dict; the "_non_default" annotation is not a field.
    assert config_from_dict(Opts, json.loads(out.read_text())) == cfg


def test_config_to_dict_and_required_fields(tmp_path: Path) -> None:
    assert config_to_dict(Opts())["sizes"] == [1, 2]
    cfg = load_config(Required, None, {"path": "/x"})
    assert cfg == Required(path="/x")
    save_config(cfg, tmp_path / "c.json")  # no default instance: no _non_default, but still saved
    assert json.loads((tmp_path / "c.json").read_text()) == {"path": "/x", "n": 1}


def test_result_is_frozen() -> None:
    cfg = load_config(Opts, None, {"steps": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 4  # type: ignore[misc]


def test_nested_override_merges_into_the_file(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "steps: 3\ninner: {width: 2.0}\n")
    cfg = load_config(Opts, path, {"inner": {"depth": 5, "width": None}})
    assert cfg.inner == Inner(depth=5, width=2.0) and cfg.steps == 3
    assert load_config(Opts, None, {"inner": {"depth": 6}}).inner == Inner(depth=6, width=0.5)


def test_run_config_resume_falls_back_to_the_saved_config(tmp_path: Path) -> None:
    run = tmp_path / "run"
    save_config(Opts(lr=0.3, steps=4, mode="slow"), run / "config.json")
    # A resumed run keeps its saved values; the overrides given still apply on top.
    cfg = run_config(Opts, run, None, {"steps": 8}, resume=True)
    assert cfg == Opts(lr=0.3, steps=8, mode="slow")
    # A fresh run does not read the folder's config; an explicit file wins over the saved one.
    assert run_config(Opts, run, None, {"steps": 8}) == Opts(steps=8)
    other = _yaml(tmp_path, "lr: 0.7\n")
    assert run_config(Opts, run, other, None, resume=True) == Opts(lr=0.7)
    # Resuming a run that has not saved its config yet starts from the defaults.
    assert run_config(Opts, tmp_path / "new", None, {"name": "x"}, resume=True) == Opts(name="x")


def test_run_config_names_a_bad_saved_config(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"lr": 0.1, "stepz": 3}')
    with pytest.raises(InputError) as info:
        run_config(Opts, run, resume=True)
    assert str(run / "config.json") in str(info.value) and "stepz" in str(info.value)
