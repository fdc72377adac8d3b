"""The ``simgan`` entry point: help for every subcommand, the plug-in contract, exit codes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from simgan import __version__
from simgan.cli import build_parser, commands

RunCli = Callable[..., tuple[int, str, str]]
COMMANDS = [m.NAME for m in commands()]


def test_top_level_help(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--help")
    assert code == 0 and "usage: simgan" in out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_help(run_cli: RunCli, name: str) -> None:
    code, out, err = run_cli(name, "--help")
    assert code == 0, err
    assert out.startswith(f"usage: simgan {name}")


@pytest.mark.parametrize("name", COMMANDS)
def test_subcommand_module_contract(name: str, run_cli: RunCli) -> None:
    mod = next(m for m in commands() if m.NAME == name)
    # HELP is the one-line summary in ``simgan --help``; the module docstring opens ``simgan NAME --help``.
    _, top, _ = run_cli("--help")
    assert mod.HELP and " ".join(mod.HELP.split()) in " ".join(top.split())
    _, own, _ = run_cli(name, "--help")
    first = mod.__doc__.strip().splitlines()[0]
    assert " ".join(first.split()[:6]) in " ".join(own.split())
    # The parser dispatches to the module's run.
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices[name].get_default("_run") is mod.run


def test_inspect_and_convert_are_registered_in_order() -> None:
    assert COMMANDS.index("inspect") < COMMANDS.index("convert")
    orders = [m.ORDER for m in commands()]
    assert orders == sorted(orders)
    build_parser()  # building twice is fine (no global state)


def test_version_and_missing_command(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"simgan {__version__}"
    code, _, err = run_cli()
    assert code == 2 and "required" in err
    code, _, err = run_cli("frobnicate")
    assert code == 2 and "invalid choice" in err


@pytest.mark.parametrize(
    ("module", "argv", "advice"),
    [
        ("inspect_cmd", ["inspect", "."], "rerun the same command (it starts again)"),
        (
            "simulate_cmd",
            ["simulate", "digits", "--n", "1", "--out", "x"],
            "rerun the same command to resume",
        ),
        ("train_refiner_cmd", ["train-refiner", "--synthetic", "a", "--real", "b", "--out", "r"], "--resume"),
        (
            "train_task_cmd",
            ["train-task", "classify", "--train", "a", "--test", "b", "--out", "r"],
            "--overwrite",
        ),
    ],
)
def test_keyboard_interrupt_is_one_line_130_saying_how_to_go_on(
    module: str, argv: list[str], advice: str, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(f"simgan.cli.{module}"), "run", interrupted)
    code, out, err = run_cli(*argv)
    assert code == 130 and err.count("\n") == 1 and "interrupted; " in err and advice in err, err


def test_console_script_bad_input_has_no_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("simgan")
    assert exe.is_file(), "the simgan console script is installed next to the interpreter"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    missing = tmp_path / "no such dir"
    proc = subprocess.run(
        [str(exe), "inspect", str(missing)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"simgan inspect: error: {missing}: no such file or folder\n"


def test_out_of_memory_and_bars_left_open_end_in_one_fresh_line(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tqdm import tqdm

    import simgan.cli.inspect_cmd as inspect_cmd

    def exhausts_memory(args: argparse.Namespace) -> int:
        bar = tqdm(total=10, desc="work")  # a bar the error leaves open, as train-task's did
        bar.update(3)
        raise MemoryError

    monkeypatch.setattr(inspect_cmd, "run", exhausts_memory)
    code, _, err = run_cli("inspect", "anything")
    assert code == 2 and "Traceback" not in err
    assert err.endswith(
        "\nsimgan inspect: error: out of memory: choose a smaller --size, --batch-size or --n\n"
    )


def test_version_answers_without_importing_torch() -> None:
    code = "import sys; from simgan.cli import main; main(['--version']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [f"simgan {__version__}", "False"]


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and every subcommand's parser below it."""
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _parsers(sub)
    return out


def test_help_shows_only_defaults_that_say_something_and_every_command_is_described() -> None:
    parsers = _parsers(build_parser())
    assert len(parsers) > len(commands())  # nested ones (experiment gap, matrix) included
    for p in parsers[1:]:
        text = p.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, p.prog
        assert p.description and len(p.description) > 20, p.prog
    train_task = next(p for p in parsers if p.prog == "simgan train-task")
    assert "(default: adam)" in train_task.format_help()  # the defaults that say something stay


@pytest.mark.parametrize(
    ("argv", "quiet"),
    [
        (["experiment", "gap", "-q"], True),
        (["experiment", "-q", "gap"], True),
        (["experiment", "gap"], False),
        (["demo", "--quiet"], True),
        (["demo"], False),
    ],
)
def test_quiet_is_taken_by_nested_commands_too(argv: list[str], quiet: bool) -> None:
    assert build_parser().parse_args(argv).quiet is quiet
