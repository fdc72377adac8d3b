"""``simgan inspect``: right numbers for every plain layout; every bad input is exit 2 with one clear line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, write_png

RunCli = Callable[..., tuple[int, str, str]]


def _folder(root: Path, shape: tuple, dtype: type, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        write_png(root / f"{k:03d}.png", rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype))
    return root


def _simgan(root: Path, n: int = 4) -> Path:
    with DatasetWriter(root, height=6, width=5, channels=1, task="classify", classes=["no", "yes"]) as w:
        for i in range(n):
            w.add(f"id{i}", np.full((6, 5, 1), i, np.uint8), int(i == 0))
    return root


def _json(run_cli: RunCli, *args: str | Path) -> dict:
    code, out, err = run_cli("inspect", *args, "--json")
    assert code == 0, err
    assert err == ""  # no progress bar or warnings mixed into a pipe
    return json.loads(out)


@pytest.mark.parametrize(
    ("shape", "dtype", "channels", "dtype_name"),
    [
        ((7, 9, 1), np.uint8, 1, "uint8"),
        ((7, 9, 3), np.uint8, 3, "uint8"),
        ((7, 9, 1), np.uint16, 1, "uint16"),
    ],
    ids=["grey8", "rgb8", "grey16"],
)
def test_plain_folder(tmp_path: Path, run_cli: RunCli, shape, dtype, channels, dtype_name) -> None:
    s = _json(run_cli, _folder(tmp_path / "d", shape, dtype, n=4))
    assert (s["layout"], s["count"], s["height"], s["width"], s["channels"], s["dtype"]) == (
        "folder",
        4,
        7,
        9,
        channels,
        dtype_name,
    )
    assert "classes" not in s


def test_class_subfolders(tmp_path: Path, run_cli: RunCli) -> None:
    _folder(tmp_path / "d" / "zebra", (4, 4, 3), np.uint8, n=2)
    _folder(tmp_path / "d" / "ant", (4, 4, 3), np.uint8, n=3)
    s = _json(run_cli, tmp_path / "d")
    assert (s["layout"], s["count"], s["height"], s["width"], s["channels"], s["dtype"]) == (
        "classes",
        5,
        4,
        4,
        3,
        "uint8",
    )
    assert s["classes"] == {"ant": 3, "zebra": 2}


def test_simgan_dir(tmp_path: Path, run_cli: RunCli) -> None:
    s = _json(run_cli, _simgan(tmp_path / "d", n=5))
    assert (s["layout"], s["count"], s["height"], s["width"], s["channels"], s["dtype"]) == (
        "simgan",
        5,
        6,
        5,
        1,
        "uint8",
    )
    assert s["classes"] == {"no": 4, "yes": 1} and s["task"] == "classify"


def test_table_output_and_explicit_format(tmp_path: Path, run_cli: RunCli) -> None:
    d = _simgan(tmp_path / "d")
    code, out, err = run_cli("inspect", d, "--format", "simgan")
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["layout"] == ["simgan"] and rows["count"] == ["4"] and rows["dtype"] == ["uint8"]
    assert rows["no"] == ["3"] and rows["yes"] == ["1"]
    code, out, _ = run_cli("inspect", d, "--no-verify", "--json")
    assert code == 0 and json.loads(out)["count"] == 4


# ------------------------------------------------------------------------------------ bad input


def _truncated(tmp: Path) -> tuple[Path, list[str]]:
    d = _folder(tmp / "d", (16, 16, 3), np.uint8)
    data = (d / "001.png").read_bytes()
    (d / "001.png").write_bytes(data[: len(data) // 2])
    return d, [str(d / "001.png"), "truncated"]


def _garbage(tmp: Path) -> tuple[Path, list[str]]:
    d = _folder(tmp / "d", (4, 4, 1), np.uint8)
    (d / "002.png").write_bytes(b"\x89PNG but not really")
    return d, [str(d / "002.png"), "not a readable image"]


def _mixed(tmp: Path) -> tuple[Path, list[str]]:
    d = _folder(tmp / "d", (4, 4, 1), np.uint8)
    write_png(d / "zzz.png", np.zeros((4, 8, 1), np.uint8))
    return d, [str(d / "zzz.png"), "mixed sizes"]


def _labels(tmp: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    d = _simgan(tmp / "d")
    lines = (d / "labels.jsonl").read_text().splitlines()
    (d / "labels.jsonl").write_text("".join(line + "\n" for line in edit(lines)))
    return d


def _meta(tmp: Path, **changes: object) -> Path:
    d = _simgan(tmp / "d")
    meta = json.loads((d / "dataset.json").read_text())
    (d / "dataset.json").write_text(json.dumps({**meta, **changes}))
    return d


def _simgan_bad_image(tmp: Path) -> tuple[Path, list[str]]:
    d = _simgan(tmp / "d")
    write_png(d / "images" / "00000002.png", np.zeros((6, 5, 3), np.uint8))
    return d, [str(d / "images" / "00000002.png"), "image is 6x5x3"]


def _outside(lines: list[str]) -> list[str]:
    return [lines[0], json.dumps({**json.loads(lines[1]), "file": "../../etc/passwd"}), *lines[2:]]


def _duplicate(lines: list[str]) -> list[str]:
    return [*lines[:3], json.dumps({**json.loads(lines[3]), "id": "id1"})]


def _file(tmp: Path) -> Path:
    (tmp / "f.png").write_bytes(b"x")
    return tmp / "f.png"


def _empty(tmp: Path) -> Path:
    (tmp / "e").mkdir()
    return tmp / "e"


BAD_INPUTS: dict[str, Callable[[Path], tuple[Path, list[str]]]] = {
    "missing": lambda t: (t / "nope", [str(t / "nope"), "no such file or folder"]),
    "file": lambda t: (_file(t), [str(t / "f.png"), "not a folder"]),
    "empty": lambda t: (_empty(t), [str(t / "e"), "empty folder"]),
    "truncated": _truncated,
    "garbage": _garbage,
    "mixed-size": _mixed,
    "simgan-mixed-size": _simgan_bad_image,
    "malformed-json": lambda t: (
        _labels(t, lambda ls: [ls[0], ls[1], "{not json", ls[3]]),
        [str(t / "d" / "labels.jsonl"), "line 3: malformed JSON"],
    ),
    "duplicate-id": lambda t: (_labels(t, _duplicate), ["labels.jsonl", "line 4: duplicate id 'id1'"]),
    "missing-ids": lambda t: (_labels(t, lambda ls: ls[:3]), ["labels.jsonl", "3 samples", "count 4"]),
    "outside": lambda t: (_labels(t, _outside), ["labels.jsonl", "line 2", "outside the dataset folder"]),
    "version": lambda t: (_meta(t, version=99), [str(t / "d" / "dataset.json"), "unknown format version 99"]),
    "incomplete": lambda t: (_meta(t, complete=False, count=None), [str(t / "d"), "incomplete dataset"]),
}


def assert_one_line_error(code: int, out: str, err: str, fragments: list[str]) -> None:
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1 and "\r" not in err, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, run_cli: RunCli, case: str, as_json: bool) -> None:
    path, fragments = BAD_INPUTS[case](tmp_path)
    code, out, err = run_cli("inspect", path, *(["--json"] if as_json else []))
    assert_one_line_error(code, out, err, ["simgan inspect: error:", *fragments])


def test_format_errors(tmp_path: Path, run_cli: RunCli) -> None:
    d = _folder(tmp_path / "d", (4, 4, 1), np.uint8)
    code, _, err = run_cli("inspect", d, "--format", "jpeg2000")
    assert code == 2 and "invalid choice: 'jpeg2000'" in err
    code, out, err = run_cli("inspect", d, "--format", "simgan")  # named, but not that layout
    assert_one_line_error(code, out, err, [str(d / "dataset.json"), "not a simgan dataset folder"])
    code, out, err = run_cli("inspect", d, "--format", "classes")
    assert_one_line_error(code, out, err, [str(d), "no class subfolders"])
