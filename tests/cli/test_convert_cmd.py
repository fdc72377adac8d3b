"""``simgan convert DIR --out DIR``: identical pixels and labels for every layout, reruns, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, open_dataset, write_png

RunCli = Callable[..., tuple[int, str, str]]


def _folder(root: Path, shape: tuple, dtype: type, n: int = 3, seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        write_png(root / f"{k:03d}.png", rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype))
    return root


def _classes(root: Path) -> Path:
    _folder(root / "cat", (5, 4, 3), np.uint8, n=2, seed=1)
    _folder(root / "dog", (5, 4, 3), np.uint8, n=3, seed=2)
    return root


def _simgan(root: Path) -> Path:
    with DatasetWriter(root, height=3, width=3, channels=1, dtype="uint16", task="handpose") as w:
        for i in range(3):
            uv = [[float(i), float(j)] for j in range(14)]
            w.add(f"h{i}", np.full((3, 3, 1), 30000 + i, np.uint16), {"uv": uv, "xyz": [[0.0] * 3] * 14})
    return root


def _one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.endswith("\n") and "\r" not in err and "Traceback" not in err, err
    assert err.startswith("simgan convert: error:")
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: _folder(p, (6, 7, 1), np.uint8),
        lambda p: _folder(p, (6, 7, 3), np.uint8),
        lambda p: _folder(p, (6, 7, 1), np.uint16),
        _classes,
        _simgan,
    ],
    ids=["grey8", "rgb8", "grey16", "classes", "simgan-uint16-handpose"],
)
def test_round_trip(tmp_path: Path, run_cli: RunCli, make) -> None:
    src_dir, out = make(tmp_path / "src"), tmp_path / "out"
    code, stdout, err = run_cli("convert", src_dir, "--out", out)
    assert code == 0, err
    src, dst = open_dataset(src_dir), open_dataset(out)
    i = dst.info
    assert (
        stdout.strip() == f"wrote {len(src)} samples ({i.height}x{i.width}x{i.channels} {i.dtype}) to {out}"
    )
    assert i.layout == "simgan" and len(dst) == len(src)
    assert (i.height, i.width, i.channels, i.dtype, i.task, i.classes) == (
        src.info.height,
        src.info.width,
        src.info.channels,
        src.info.dtype,
        src.info.task,
        src.info.classes,
    )
    for k in range(len(src)):
        a, b = src.read(k), dst.read(k)
        assert a.id == b.id and a.label == b.label and a.image.dtype == b.image.dtype
        np.testing.assert_array_equal(a.image, b.image)


def test_rerun_is_a_no_op(tmp_path: Path, run_cli: RunCli) -> None:
    src, out = _classes(tmp_path / "src"), tmp_path / "out"
    assert run_cli("convert", src, "--out", out)[0] == 0
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    code, stdout, err = run_cli("convert", src, "--out", out)
    assert code == 0 and "wrote 5 samples" in stdout, err
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == {p: data for p, (data, _) in snapshot.items()}
    images = [p for p in snapshot if p.parent.name == "images"]
    assert all(p.stat().st_mtime_ns == snapshot[p][1] for p in images)  # no image rewritten


def test_into_a_folder_holding_a_different_dataset(tmp_path: Path, run_cli: RunCli) -> None:
    a = _folder(tmp_path / "a", (4, 4, 1), np.uint8, seed=1)
    b = _folder(tmp_path / "b", (4, 4, 1), np.uint8, seed=2)  # same size and file names
    c = _folder(tmp_path / "c", (8, 4, 1), np.uint8)
    out = tmp_path / "out"
    assert run_cli("convert", a, "--out", out)[0] == 0
    for other in (b, c):
        code, stdout, err = run_cli("convert", other, "--out", out)
        _one_line_error(code, stdout, err, str(out), "already holds a different dataset")
    photos = _folder(tmp_path / "photos", (4, 4, 1), np.uint8)
    code, stdout, err = run_cli("convert", a, "--out", photos)
    _one_line_error(code, stdout, err, str(photos), "not empty and is not a simgan dataset")
    assert sorted(p.name for p in photos.iterdir()) == ["000.png", "001.png", "002.png"]  # untouched
    code, stdout, err = run_cli("convert", a, "--out", photos / "000.png")
    _one_line_error(code, stdout, err, str(photos / "000.png"), "not a folder")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_bad_input(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli("convert", tmp_path / "nope", "--out", out)
    _one_line_error(code, stdout, err, str(tmp_path / "nope"), "no such file or folder")
    assert not out.exists()  # nothing written for a source that cannot be opened
    (tmp_path / "empty").mkdir()
    _one_line_error(*run_cli("convert", tmp_path / "empty", "--out", out), str(tmp_path / "empty"), "empty")

    d = _folder(tmp_path / "trunc", (16, 16, 3), np.uint8)
    _truncate(d / "002.png")
    code, stdout, err = run_cli("convert", d, "--out", out)
    _one_line_error(code, stdout, err, str(d / "002.png"), "truncated")

    m = _folder(tmp_path / "mixed", (4, 4, 1), np.uint8)
    write_png(m / "004.png", np.zeros((4, 4, 3), np.uint8))
    _one_line_error(*run_cli("convert", m, "--out", tmp_path / "o2"), str(m / "004.png"), "mixed sizes")

    s = _simgan(tmp_path / "s")
    meta = json.loads((s / "dataset.json").read_text())
    (s / "dataset.json").write_text(json.dumps({**meta, "complete": False}))
    _one_line_error(*run_cli("convert", s, "--out", tmp_path / "o3"), str(s), "incomplete dataset")

    code, _, err = run_cli("convert", m, "--out", tmp_path / "o4", "--format", "tiff")
    assert code == 2 and "invalid choice" in err
    code, _, err = run_cli("convert", m)
    assert code == 2 and "--out" in err


def test_interrupted_then_rerun_completes(tmp_path: Path, run_cli: RunCli) -> None:
    src = _folder(tmp_path / "src", (16, 16, 3), np.uint8, n=6)
    good = (src / "004.png").read_bytes()
    _truncate(src / "004.png")
    out = tmp_path / "out"
    assert run_cli("convert", src, "--out", out)[0] == 2  # stops at the bad file, keeps what it wrote
    assert len((out / "labels.jsonl").read_text().splitlines()) == 4
    (src / "004.png").write_bytes(good)  # the user fixes the file and reruns
    code, _, err = run_cli("convert", src, "--out", out)
    assert code == 0, err
    dst = open_dataset(out)
    assert dst.ids == [f"{k:03d}.png" for k in range(6)]
