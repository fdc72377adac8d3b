"""summarize: the DESIGN.md keys for every layout, decoding (and so checking) every image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, open_dataset, summarize, write_png
from simgan.errors import InputError

KEYS = {"layout", "count", "height", "width", "channels", "dtype"}


def test_plain_folder_has_no_classes(tmp_path: Path) -> None:
    for k in range(4):
        write_png(tmp_path / f"{k}.png", np.full((3, 5, 1), k, np.uint16))
    s = summarize(open_dataset(tmp_path), progress=False)
    assert KEYS <= set(s) and "classes" not in s
    assert (s["layout"], s["count"], s["height"], s["width"], s["channels"], s["dtype"]) == (
        "folder",
        4,
        3,
        5,
        1,
        "uint16",
    )
    assert s["task"] is None and s["path"] == str(tmp_path)


def test_class_counts(tmp_path: Path) -> None:
    for name, n in {"b": 3, "a": 1, "c": 2}.items():
        (tmp_path / name).mkdir()
        for k in range(n):
            write_png(tmp_path / name / f"{k}.png", np.zeros((2, 2, 3), np.uint8))
    s = summarize(open_dataset(tmp_path), progress=False)
    assert s["layout"] == "classes" and s["count"] == 6 and s["channels"] == 3
    assert s["classes"] == {"a": 1, "b": 3, "c": 2}
    assert list(s["classes"]) == ["a", "b", "c"]


def test_simgan_classes_including_an_empty_class(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    write_images(tmp_path, np.zeros((4, 2, 2, 1), np.uint8), [2, 0, 2, 2], classes=["x", "y", "z"])
    for verify in (True, False):
        s = summarize(open_dataset(tmp_path), verify=verify, progress=False)
        assert s["layout"] == "simgan" and s["count"] == 4
        assert s["classes"] == {"x": 1, "y": 0, "z": 3}


def test_class_names_default_to_indices(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    write_images(tmp_path, np.zeros((3, 2, 2, 1), np.uint8), [0, 3, 3])
    assert summarize(open_dataset(tmp_path), progress=False)["classes"] == {"0": 1, "1": 0, "2": 0, "3": 2}


@pytest.mark.parametrize(
    ("label", "problem"),
    [(5, "class index 5 is out of range"), (-3, "out of range"), ("cat", "must be a class index")],
)
def test_bad_class_label_is_refused_at_open(tmp_path: Path, label: object, problem: str) -> None:
    with DatasetWriter(tmp_path, height=2, width=2, channels=1, task="classify", classes=["x", "y"]) as w:
        w.add("good", np.zeros((2, 2, 1), np.uint8), 1)
        w.add("bad", np.zeros((2, 2, 1), np.uint8), label)
    with pytest.raises(InputError, match=problem) as info:
        open_dataset(tmp_path)
    assert str(tmp_path / "labels.jsonl") in str(info.value) and "line 2" in str(info.value)


def test_verify_decodes_every_image(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for k in range(3):
        write_png(tmp_path / f"{k}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    data = (tmp_path / "2.png").read_bytes()
    (tmp_path / "2.png").write_bytes(data[: len(data) // 2])
    src = open_dataset(tmp_path)
    assert summarize(src, verify=False, progress=False)["count"] == 3  # headers alone look fine
    with pytest.raises(InputError, match="truncated") as info:
        summarize(src, progress=False)
    assert str(tmp_path / "2.png") in str(info.value)
