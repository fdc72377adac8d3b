"""The one option pattern (ConfigFlags): flags bound to config fields, defaults shown, registry choices."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simgan import losses
from simgan.cli import build_parser
from simgan.cli.common import ConfigFlags, config_overrides, size_arg
from simgan.config import load_config
from simgan.nn import refiner as refiner_nn
from simgan.train import optim

RunCli = Callable[..., tuple[int, str, str]]


@dataclass(frozen=True)
class Inner:
    steps: int = 7
    rate: float = 0.5


@dataclass(frozen=True)
class Opts:
    lr: float = 0.1
    batch_size: int = 16
    mode: str = "fast"
    history: bool = True
    size: tuple[int, ...] = ()
    inner: Inner = field(default_factory=Inner)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config")
    f = ConfigFlags(p, Opts)
    f.add("--lr", "learning rate")
    f.add("--batch-size", "samples per step")
    f.add("--mode", "speed", choices=("fast", "slow"))
    f.add("--no-history", "ablation", field="history", const=False)
    f.add("--size", "image HxW", type=size_arg, shown="the simulator's")
    f.add("--inner-steps", "nested steps", field="inner.steps")
    return p


def test_flags_not_given_leave_the_file_values(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("lr: 0.3\nbatch_size: 4\ninner: {steps: 2, rate: 0.25}\n")
    args = _parser().parse_args(["--config", str(cfg_file)])
    assert config_overrides(args) == {}
    assert load_config(Opts, args.config, config_overrides(args)) == Opts(
        lr=0.3, batch_size=4, inner=Inner(steps=2, rate=0.25)
    )


def test_given_flags_override_file_and_defaults(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("lr: 0.3\ninner: {rate: 0.25}\n")
    argv = ["--config", str(cfg_file), "--lr", "0.02", "--batch-size", "8", "--no-history"]
    args = _parser().parse_args([*argv, "--size", "3x5", "--inner-steps", "9", "--mode", "slow"])
    over = config_overrides(args)
    assert over == {
        "lr": 0.02, "batch_size": 8, "history": False, "size": (3, 5), "mode": "slow", "inner": {"steps": 9}
    }  # fmt: skip
    cfg = load_config(Opts, args.config, over)
    # The nested flag changes only inner.steps; the file's inner.rate stays.
    assert cfg == Opts(lr=0.02, batch_size=8, mode="slow", history=False, size=(3, 5), inner=Inner(9, 0.25))


def test_help_shows_the_dataclass_defaults() -> None:
    text = " ".join(_parser().format_help().split())
    assert "--lr X learning rate (default: 0.1)" in text
    assert "--batch-size N samples per step (default: 16)" in text
    assert "--inner-steps N nested steps (default: 7)" in text
    assert "--size SIZE image HxW (default: the simulator's)" in text
    assert "--mode {fast,slow} speed (default: fast)" in text
    assert "--no-history ablation (default: off)" in text


def test_bad_field_names_and_bool_without_const_are_programming_errors() -> None:
    f = ConfigFlags(argparse.ArgumentParser(), Opts)
    with pytest.raises(ValueError, match="no field 'inner.depth'"):
        f.add("--depth", "x", field="inner.depth")
    with pytest.raises(ValueError, match="switch"):
        f.add("--history", "x")


def test_cli_help_shows_config_defaults(run_cli: RunCli) -> None:
    code, out, _ = run_cli("train-refiner", "--help")
    text = " ".join(out.split())
    assert code == 0
    assert "T: adversarial iterations after pretraining (run total) (default: 1000)" in text
    assert "lambda: self-regularization weight (default: 0.2)" in text
    code, out, _ = run_cli("experiment", "gap", "--help")
    text = " ".join(out.split())
    assert "refiner adversarial iterations (default: 1000)" in text
    assert "task-model epochs (default: 10)" in text


def _choices(parser: argparse.ArgumentParser, *path: str) -> dict[str, list[str]]:
    """option string -> choices of the (sub)parser reached by ``path``."""
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {s: list(a.choices) for a in parser._actions if a.choices for s in a.option_strings}


def test_choices_come_from_the_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(losses.PSI, "edges", losses.PSI["identity"])
    monkeypatch.setitem(refiner_nn.REFINER_PRESETS, "faces", refiner_nn.REFINER_PRESETS["eyes"])
    monkeypatch.setattr(optim, "OPTIMIZERS", (*optim.OPTIMIZERS, "lion"))
    monkeypatch.setattr(optim, "SCHEDULERS", (*optim.SCHEDULERS, "cosine"))
    parser = build_parser()
    refiner = _choices(parser, "train-refiner")
    assert refiner["--psi"] == list(losses.PSI) and "edges" in refiner["--psi"]
    assert refiner["--preset"] == ["auto", "digits", "eyes", "faces", "hands"]
    assert "lion" in refiner["--optimizer-r"] and "cosine" in refiner["--scheduler-d"]
    task = _choices(parser, "train-task")
    assert task["--optimizer"][-1] == "lion" and task["--scheduler"][-1] == "cosine"
    args = parser.parse_args(
        ["train-refiner", "--synthetic", "s", "--real", "r", "--out", "o", "--psi", "edges"]
    )
    assert config_overrides(args) == {"psi": "edges"}


def test_bad_flag_value_is_one_line_exit_2(run_cli: RunCli) -> None:
    code, out, err = run_cli(
        "train-refiner", "--synthetic", "s", "--real", "r", "--out", "o", "--psi", "nope"
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--psi" in err and "invalid choice: 'nope'" in err
    code, _, err = run_cli("experiment", "gap", "--size", "3by5")
    assert code == 2 and err.count("\n") == 1 and "expected HxW" in err
