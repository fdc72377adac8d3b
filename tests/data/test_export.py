"""``simgan export``: class folders and plain folders other tools read, resumable, refusing a mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simgan.data import open_dataset, read_image
from simgan.data.embedded import load_sklearn_digits
from simgan.data.export import MANIFEST, embedded_digits, export, export_samples
from simgan.errors import InputError


@pytest.fixture
def labelled(tmp_path: Path, write_images) -> Path:
    images = np.random.default_rng(0).integers(0, 256, (6, 5, 7, 1), dtype=np.uint8)
    return write_images(tmp_path / "set", images, [0, 1, 2, 0, 1, 2], classes=["cat", "dog", "emu"])


def test_class_folders_hold_each_image_under_its_class(labelled: Path, tmp_path: Path) -> None:
    src = open_dataset(labelled)
    manifest = export(src, tmp_path / "out", "classes", progress=False)
    assert manifest["complete"] and manifest["count"] == 6
    for i in range(len(src)):
        sample = src.read(i)
        name = ["cat", "dog", "emu"][sample.label]
        assert np.array_equal(read_image(tmp_path / "out" / name / f"{sample.id}.png"), sample.image)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"cat", "dog", "emu", MANIFEST}  # lock freed
    assert open_dataset(tmp_path / "out").info.layout == "classes"  # simgan reads its own export back


def test_a_plain_folder_and_unlabelled_data(tmp_path: Path, write_images) -> None:
    images = np.zeros((3, 4, 4, 1), np.uint8)
    src = open_dataset(write_images(tmp_path / "u", images))
    with pytest.raises(InputError, match="needs class labels"):
        export(src, tmp_path / "c", "classes", progress=False)
    export(src, tmp_path / "f", "folder", progress=False)
    assert len(list((tmp_path / "f").glob("*.png"))) == 3


def test_a_rerun_resumes_and_another_source_is_refused(labelled: Path, tmp_path: Path, write_images) -> None:
    out = tmp_path / "out"
    export(open_dataset(labelled), out, "folder", progress=False)
    files = sorted(out.glob("*.png"))
    files[0].unlink()  # as if killed before this one
    kept = files[1].stat().st_mtime_ns
    export(open_dataset(labelled), out, "folder", progress=False)
    assert files[0].is_file() and files[1].stat().st_mtime_ns == kept  # written once, not rewritten
    other = write_images(tmp_path / "other", np.zeros((2, 5, 7, 1), np.uint8))
    with pytest.raises(InputError, match="another from"):
        export(open_dataset(other), out, "folder", progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds no simgan export"):
        export(open_dataset(labelled), tmp_path / "junk", "folder", progress=False)


def test_ids_that_are_not_file_names_are_made_safe(tmp_path: Path) -> None:
    items = [("a/b c", np.zeros((2, 2, 1), np.uint8), None)]
    export_samples(items, 1, tmp_path / "o", to="folder", classes=None, origin="test", progress=False)
    assert [p.name for p in (tmp_path / "o").glob("*.png")] == ["a_b_c.png"]


def test_the_embedded_real_digits_as_class_folders(tmp_path: Path) -> None:
    embedded_digits(tmp_path / "real", progress=False)
    images, labels = load_sklearn_digits()
    counts = {d.name: len(list(d.glob("*.png"))) for d in (tmp_path / "real").iterdir() if d.is_dir()}
    assert counts == {str(k): int((labels == k).sum()) for k in range(10)}
    assert np.array_equal(read_image(tmp_path / "real" / str(labels[5]) / "sk0005.png"), images[5])


def test_export_on_the_command_line(run_cli, labelled: Path, tmp_path: Path) -> None:
    code, out, _ = run_cli("export", labelled, "--out", tmp_path / "o")
    assert code == 0 and "exported 6 images" in out
    code, _, err = run_cli("export", labelled, "--embedded", "--out", tmp_path / "o2")
    assert code == 2 and err.count("\n") == 1 and "one of them" in err
