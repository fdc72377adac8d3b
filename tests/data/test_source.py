"""The dataset contract: Source defaults, the shape check, layout registration, detection by priority and
open_dataset's errors (folder-layout cases live in test_folder.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset, register_layout, source, write_png
from simgan.data.source import TASKS, DatasetInfo, Layout, Sample, Source
from simgan.errors import InputError


class ListSource(Source):
    """Samples held in memory; counts decodes, so the defaults can be seen to read."""

    def __init__(self, path: Path, images: list[np.ndarray], labels: list[object] | None = None):
        h, w, c = images[0].shape
        self.info = DatasetInfo("list", path, len(images), h, w, c, str(images[0].dtype), task="classify")
        self.images, self.labels, self.reads = images, labels or [None] * len(images), 0

    def read(self, index: int) -> Sample:
        self.reads += 1
        return Sample(f"s{index}", self.check_shape(self.images[index], f"s{index}.png"), self.labels[index])


def _images(n: int, shape: tuple[int, int, int] = (2, 3, 1)) -> list[np.ndarray]:
    return [np.full(shape, k, np.uint8) for k in range(n)]


def test_tasks() -> None:
    assert TASKS == ("classify", "gaze", "handpose")


def test_defaults_len_iter_label_and_id_go_through_read(tmp_path: Path) -> None:
    src = ListSource(tmp_path, _images(3), [2, 0, 1])
    assert len(src) == 3
    samples = list(src)
    assert [s.id for s in samples] == ["s0", "s1", "s2"] and [int(s.image[0, 0, 0]) for s in samples] == [
        0,
        1,
        2,
    ]
    assert src.reads == 3  # one decode per sample while iterating
    assert [src.label(k) for k in range(3)] == [2, 0, 1] and src.sample_id(2) == "s2"
    assert src.reads == 7


def test_info_defaults_are_unlabelled() -> None:
    info = DatasetInfo("folder", Path("x"), 1, 2, 3, 1, "uint8")
    assert info.task is None and info.classes is None and info.extra == {}
    assert DatasetInfo("folder", Path("y"), 1, 2, 3, 1, "uint8").extra is not info.extra  # not shared


@pytest.mark.parametrize(
    ("image", "described"),
    [
        (np.zeros((2, 4, 1), np.uint8), "2x4x1 uint8"),
        (np.zeros((2, 3, 3), np.uint8), "2x3x3 uint8"),
        (np.zeros((2, 3, 1), np.uint16), "2x3x1 uint16"),
    ],
    ids=["size", "channels", "depth"],
)
def test_check_shape_names_the_file_and_both_shapes(
    tmp_path: Path, image: np.ndarray, described: str
) -> None:
    src = ListSource(tmp_path, [*_images(1), image])
    with pytest.raises(InputError) as info:
        src.read(1)
    msg = str(info.value)
    assert msg.startswith("s1.png: ") and "\n" not in msg
    assert f"image is {described}, but this dataset is 2x3x1 uint8" in msg and "mixed sizes" in msg
    ok = np.zeros((2, 3, 1), np.uint8)
    assert src.check_shape(ok, "a.png") is ok


@pytest.fixture
def layouts(monkeypatch: pytest.MonkeyPatch) -> dict[str, Layout]:
    """A copy of the layout registry for one test (registration is global)."""
    monkeypatch.setattr(source, "LAYOUTS", dict(source.LAYOUTS))
    return source.LAYOUTS


def test_register_layout_adds_a_format_open_dataset_uses(tmp_path: Path, layouts: dict[str, Layout]) -> None:
    opened: list[Path] = []

    @register_layout("marker", detect=lambda p: (p / "MARKER").exists(), priority=1)
    def open_marker(path: Path) -> Source:
        opened.append(path)
        return ListSource(path, _images(2))

    assert layouts["marker"].open is open_marker and layouts["marker"].priority == 1
    (tmp_path / "MARKER").touch()
    write_png(tmp_path / "a.png", np.zeros((2, 2, 1), np.uint8))  # also a plain image folder
    assert open_dataset(tmp_path).info.layout == "list"  # priority 1 is tried before the folder layouts
    assert open_dataset(tmp_path, "folder").info.layout == "folder"  # an explicit format wins
    other = tmp_path / "other"
    other.mkdir()
    assert open_dataset(other, "marker").info.layout == "list"  # explicit: no detection needed
    assert opened == [tmp_path, other]


def test_detection_follows_priority_not_registration_order(
    tmp_path: Path, layouts: dict[str, Layout]
) -> None:
    tried: list[str] = []
    for name, priority in (("late", 2), ("early", 0)):

        def detect(p: Path, name: str = name) -> bool:
            tried.append(name)
            return name == "late"

        register_layout(name, detect=detect, priority=priority)(lambda p: ListSource(p, _images(1)))
    open_dataset(tmp_path)
    assert tried == ["early", "late"]


def test_open_dataset_errors_are_one_line_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    cases = {
        tmp_path / "missing": "no such file or folder",
        tmp_path / "notes.txt": "not a folder (a dataset is a folder of images or a simgan dataset)",
        tmp_path: "no images found and not a recognised dataset layout",
    }
    for path, problem in cases.items():
        with pytest.raises(InputError) as info:
            open_dataset(path)
        assert str(info.value) == f"{path}: {problem}"
    with pytest.raises(InputError, match=r"unknown --format 'nope' \(choose from .*simgan"):
        open_dataset(tmp_path, "nope")
