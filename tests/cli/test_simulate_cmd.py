"""``simgan simulate``: writes a dataset ``inspect`` reads, choices from the registry, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from simgan.cli import build_parser
from simgan.sim import SIMULATORS

RunCli = Callable[..., tuple[int, str, str]]


def _one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simgan simulate: error:"), err
    for f in fragments:
        assert f in lines[0]


def test_simulate_digits_then_inspect(tmp_path: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli("simulate", "digits", "--n", "50", "--out", tmp_path / "d", "--seed", "2")
    assert code == 0 and "50" in out and str(tmp_path / "d") in out
    code, out, _ = run_cli("inspect", tmp_path / "d", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["count"] == 50 and summary["layout"] == "simgan"
    assert (summary["height"], summary["width"], summary["channels"]) == (8, 8, 1)
    assert set(summary["classes"]) <= set("0123456789") and sum(summary["classes"].values()) == 50
    assert len(summary["classes"]) >= 8  # 50 uniform draws over 10 classes


def test_size_and_target_flags(tmp_path: Path, run_cli: RunCli) -> None:
    code, _, _ = run_cli(
        "simulate",
        "digits",
        "--n",
        "6",
        "--out",
        tmp_path / "m",
        "--size",
        "28x28",
        "--target",
        "pseudo-real",
    )
    assert code == 0
    meta = json.loads((tmp_path / "m" / "dataset.json").read_text())
    assert (meta["height"], meta["width"], meta["channels"]) == (28, 28, 1)
    assert meta["provenance"]["target"] == "pseudo-real"


def test_same_arguments_same_bytes(tmp_path: Path, run_cli: RunCli) -> None:
    for name in ("a", "b"):
        assert run_cli("simulate", "digits", "--n", "20", "--out", tmp_path / name, "--seed", "9")[0] == 0
    assert (tmp_path / "a" / "labels.jsonl").read_bytes() == (tmp_path / "b" / "labels.jsonl").read_bytes()
    for k in range(20):
        f = f"images/{k:08d}.png"
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_extra_fonts_folder(tmp_path: Path, run_cli: RunCli) -> None:
    from simgan.sim.digits import matplotlib_fonts

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / "Extra.ttf").write_bytes(matplotlib_fonts()[0].read_bytes())
    code, _, err = run_cli("simulate", "digits", "--n", "5", "--out", tmp_path / "d", "--fonts", fonts)
    assert code == 0, err
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert meta["provenance"]["options"] == {"fonts": str(fonts)}


def test_bad_input_exits_2_with_one_line(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "d"
    _one_line_error(
        *run_cli("simulate", "digits", "--n", "5", "--out", out, "--size", "9x9"), "--size 9x9", "8x8"
    )
    _one_line_error(*run_cli("simulate", "digits", "--n", "0", "--out", out), "--n 0")
    _one_line_error(*run_cli("simulate", "digits", "--n", "-3", "--out", out), "--n -3")
    missing = tmp_path / "no-fonts"
    _one_line_error(
        *run_cli("simulate", "digits", "--n", "5", "--out", out, "--fonts", missing), str(missing)
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(
        *run_cli("simulate", "digits", "--n", "5", "--out", out, "--fonts", empty), "no usable font"
    )
    assert not (out / "labels.jsonl").exists()  # nothing written on bad input


def test_malformed_values_are_usage_errors(tmp_path: Path, run_cli: RunCli) -> None:
    # argparse rejects what it cannot parse: exit 2, the last line names the option.
    code, _, err = run_cli("simulate", "digits", "--n", "5", "--out", tmp_path, "--size", "big")
    assert code == 2 and "--size" in err.strip().splitlines()[-1]
    code, _, err = run_cli("simulate", "nope", "--n", "5", "--out", tmp_path)
    assert code == 2 and "invalid choice" in err


def test_simulator_choices_come_from_the_registry() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["simulate"]
    positional = next(a for a in sub._actions if a.dest == "simulator")
    assert list(positional.choices) == sorted(SIMULATORS) and "digits" in positional.choices


def test_a_rerun_resumes_and_other_arguments_are_refused(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "d"
    assert run_cli("simulate", "digits", "--n", "30", "--out", out, "--seed", "0")[0] == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, text, _ = run_cli("simulate", "digits", "--n", "30", "--out", out, "--seed", "0")
    assert code == 0 and "30" in text  # the same command: the dataset is already complete
    for flags, key in ((["--seed", "1"], "provenance.seed"), (["--n", "20"], "provenance.n")):
        code, text, err = run_cli("simulate", "digits", "--n", "30", "--seed", "0", *flags, "--out", out)
        _one_line_error(code, text, err, key, "different dataset")
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing relabelled
