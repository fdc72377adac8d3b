"""Layouts 1 and 2 of DESIGN.md: a plain folder of images (unlabelled) and class subfolders.

Policy on sizes: every image in one dataset must have the same size, channels and bit depth. A folder
that mixes them is refused when opened, naming the first file that differs (no silent resize).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simgan.data.images import is_image_file, read_header, read_image
from simgan.data.source import DatasetInfo, Sample, Source, register_layout
from simgan.errors import InputError

__all__ = ["FolderSource", "ClassFolderSource"]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _common_header(files: list[Path]) -> tuple[int, int, int, str]:
    """The shared (H, W, C, dtype) of ``files``; InputError on the first file that differs."""
    first = read_header(files[0])
    for f in files[1:]:
        h = read_header(f)
        if h != first:
            raise InputError.at(
                f,
                f"image is {h[0]}x{h[1]}x{h[2]} {h[3]} but {files[0].name} is "
                f"{first[0]}x{first[1]}x{first[2]} {first[3]} (mixed sizes in one dataset: resize first)",
            )
    return first


class _FileListSource(Source):
    def __init__(self, files: list[Path], root: Path, labels: list[Any] | None, info: DatasetInfo):
        self.files, self.root, self.labels, self.info = files, root, labels, info

    def read(self, index: int) -> Sample:
        f = self.files[index]
        image = self.check_shape(read_image(f), f)
        return Sample(self.sample_id(index), image, self.label(index))

    def label(self, index: int) -> Any:
        return None if self.labels is None else self.labels[index]

    def sample_id(self, index: int) -> str:
        return self.files[index].relative_to(self.root).as_posix()


class FolderSource(_FileListSource):
    """Layout 1: ``DIR/*.png|jpg|...``, unlabelled; ids are file names."""

    def __init__(self, root: Path):
        files = _images_in(root)
        if not files:
            raise InputError.at(root, "empty folder: no images found")
        h, w, c, dtype = _common_header(files)
        info = DatasetInfo("folder", root, len(files), h, w, c, dtype)
        super().__init__(files, root, None, info)


class ClassFolderSource(_FileListSource):
    """Layout 2: ``DIR/<class>/*.png``; class names sorted, label = class index; ids ``class/file``."""

    def __init__(self, root: Path):
        classes = [d for d in _class_dirs(root) if _images_in(d)]
        if not classes:
            raise InputError.at(root, "no class subfolders with images found")
        files, labels = [], []
        for k, d in enumerate(classes):
            imgs = _images_in(d)
            files += imgs
            labels += [k] * len(imgs)
        h, w, c, dtype = _common_header(files)
        names = tuple(d.name for d in classes)
        info = DatasetInfo("classes", root, len(files), h, w, c, dtype, task="classify", classes=names)
        super().__init__(files, root, labels, info)


def _is_folder(path: Path) -> bool:
    return any(is_image_file(p) for p in path.iterdir())


def _is_classes(path: Path) -> bool:
    return not _is_folder(path) and any(any(is_image_file(p) for p in d.iterdir()) for d in _class_dirs(path))


register_layout("folder", detect=_is_folder, priority=90)(FolderSource)
register_layout("classes", detect=_is_classes, priority=91)(ClassFolderSource)
