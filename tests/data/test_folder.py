"""Layouts 1 and 2: a plain image folder and class subfolders; detection; the mixed-size policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset, write_png
from simgan.data.folder import ClassFolderSource, FolderSource
from simgan.errors import InputError


def _images(folder: Path, rng: np.random.Generator, names: list[str], shape: tuple, dtype: type) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        out[name] = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
        write_png(folder / name, out[name])
    return out


@pytest.mark.parametrize(
    ("shape", "dtype"), [((6, 9, 1), np.uint8), ((6, 9, 3), np.uint8), ((6, 9, 1), np.uint16)]
)
def test_plain_folder(tmp_path: Path, rng: np.random.Generator, shape: tuple, dtype: type) -> None:
    images = _images(tmp_path, rng, ["b.png", "a.png", "c.png"], shape, dtype)
    (tmp_path / "notes.txt").write_text("not an image")
    write_png(tmp_path / ".hidden.png", np.zeros((2, 2, 1), np.uint8))  # hidden: ignored, other size
    (tmp_path / "sub").mkdir()  # a subfolder next to images does not make it a class layout
    src = open_dataset(tmp_path)
    assert isinstance(src, FolderSource) and len(src) == 3
    i = src.info
    assert (i.layout, i.count, i.height, i.width, i.channels, i.dtype) == (
        "folder",
        3,
        6,
        9,
        shape[2],
        np.dtype(dtype).name,
    )
    assert i.task is None and i.classes is None
    for k, name in enumerate(["a.png", "b.png", "c.png"]):  # sorted, ids are file names
        s = src.read(k)
        assert s.id == name == src.sample_id(k) and s.label is None and src.label(k) is None
        np.testing.assert_array_equal(s.image, images[name])
    assert [s.id for s in src] == ["a.png", "b.png", "c.png"]


def test_class_subfolders(tmp_path: Path, rng: np.random.Generator) -> None:
    dog = _images(tmp_path / "dog", rng, ["1.png", "2.png"], (4, 4, 3), np.uint8)
    cat = _images(tmp_path / "cat", rng, ["9.png"], (4, 4, 3), np.uint8)
    emu = _images(tmp_path / "emu", rng, ["a.png", "b.png", "c.png"], (4, 4, 3), np.uint8)
    (tmp_path / ".git").mkdir()
    src = open_dataset(tmp_path)
    assert isinstance(src, ClassFolderSource)
    assert src.info.layout == "classes" and src.info.task == "classify"
    assert src.info.classes == ("cat", "dog", "emu")  # sorted names, label = index
    ids = [src.sample_id(k) for k in range(len(src))]
    assert ids == ["cat/9.png", "dog/1.png", "dog/2.png", "emu/a.png", "emu/b.png", "emu/c.png"]
    assert [src.label(k) for k in range(len(src))] == [0, 1, 1, 2, 2, 2]
    expected = {f"cat/{k}": v for k, v in cat.items()} | {f"dog/{k}": v for k, v in dog.items()}
    expected |= {f"emu/{k}": v for k, v in emu.items()}
    for s in src:
        np.testing.assert_array_equal(s.image, expected[s.id])


def test_explicit_format(tmp_path: Path, rng: np.random.Generator) -> None:
    _images(tmp_path / "x", rng, ["1.png"], (3, 3, 1), np.uint8)
    assert open_dataset(tmp_path, "classes").info.layout == "classes"
    assert open_dataset(tmp_path, "auto").info.layout == "classes"
    with pytest.raises(InputError, match="empty folder"):
        open_dataset(tmp_path, "folder")  # no images at the top level
    with pytest.raises(InputError, match="unknown --format 'nope'"):
        open_dataset(tmp_path, "nope")
    with pytest.raises(InputError, match="no class subfolders"):
        open_dataset(tmp_path / "x", "classes")
    with pytest.raises(InputError, match="dataset.json"):
        open_dataset(tmp_path, "simgan")


def test_mixed_sizes_refused_when_opened_naming_the_file(tmp_path: Path, rng: np.random.Generator) -> None:
    _images(tmp_path, rng, ["a.png", "b.png"], (5, 5, 1), np.uint8)
    _images(tmp_path, rng, ["c.png"], (5, 6, 1), np.uint8)
    with pytest.raises(InputError) as info:
        open_dataset(tmp_path)
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "c.png")) and "mixed sizes" in msg and "5x6" in msg


@pytest.mark.parametrize(
    ("shape", "dtype"), [((5, 5, 3), np.uint8), ((5, 5, 1), np.uint16)], ids=["channels", "depth"]
)
def test_mixed_channels_or_depth_refused(tmp_path: Path, rng: np.random.Generator, shape, dtype) -> None:
    _images(tmp_path / "a", rng, ["1.png"], (5, 5, 1), np.uint8)
    _images(tmp_path / "b", rng, ["2.png"], shape, dtype)
    with pytest.raises(InputError, match="mixed sizes") as info:
        open_dataset(tmp_path)
    assert str(tmp_path / "b" / "2.png") in str(info.value)


def test_missing_file_and_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(InputError, match="not a folder"):
        open_dataset(tmp_path / "f.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty folder") as info:
        open_dataset(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("hi")
    with pytest.raises(InputError, match="no images found"):
        open_dataset(tmp_path / "text")


def test_corrupt_image_refused_on_read_naming_it(tmp_path: Path, rng: np.random.Generator) -> None:
    _images(tmp_path, rng, ["a.png", "b.png"], (16, 16, 3), np.uint8)
    data = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])  # header intact, pixels cut off
    src = open_dataset(tmp_path)
    src.read(0)
    with pytest.raises(InputError, match="truncated") as info:
        src.read(1)
    assert str(tmp_path / "b.png") in str(info.value)
    (tmp_path / "b.png").write_bytes(b"garbage")  # header gone: refused when opened
    with pytest.raises(InputError, match="b.png"):
        open_dataset(tmp_path)
