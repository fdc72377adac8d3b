"""Layout 3, the simgan dataset directory: the streaming writer (atomic, resumable) and the strict reader."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, SimganSource, open_dataset
from simgan.data.images import write_png
from simgan.data.simgan_dir import mask_classes, read_mask
from simgan.errors import InputError

CLASSES = ["a", "b", "c"]
HEADER = {"height": 4, "width": 5, "channels": 1, "task": "classify", "classes": CLASSES}

# The child process below writes the same samples: keep the two image formulas identical.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    from simgan.data import DatasetWriter

    out, n, tear_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


    class TearAndDie:
        # The sample's commit line is half written when SIGKILL arrives: a torn last line.
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        def __getattr__(self, name):
            return getattr(self.f, name)


    header = dict(height=4, width=5, channels=1, task="classify", classes=["a", "b", "c"])
    with DatasetWriter(out, **header) as w:
        for i in range(n):
            sid = f"s{i:03d}"
            if sid in w:
                continue
            if i == tear_at:
                w._labels = TearAndDie(w._labels)
            w.add(sid, np.random.default_rng(i).integers(0, 256, (4, 5, 1), dtype=np.uint8), i % 3)
            print(i, flush=True)
            time.sleep(0.002)
    """
)


def _image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (4, 5, 1), dtype=np.uint8)


def _write(out: Path, n: int, fail_at: int | None = None) -> None:
    """The caller's resumable loop from the DatasetWriter docstring."""
    with DatasetWriter(out, **HEADER, provenance={"test": True}) as w:
        for i in range(n):
            sid = f"s{i:03d}"
            if sid in w:
                continue
            if i == fail_at:
                raise RuntimeError("interrupted")
            w.add(sid, _image(i), i % 3)


def _check_complete(out: Path, n: int) -> None:
    """Exactly the n requested ids, none lost or duplicated, each with its own pixels and label."""
    src = open_dataset(out)
    assert isinstance(src, SimganSource) and len(src) == n
    assert sorted(src.ids) == [f"s{i:03d}" for i in range(n)]
    for k in range(n):
        s = src.read(k)
        i = int(s.id[1:])
        np.testing.assert_array_equal(s.image, _image(i))
        assert s.label == i % 3 == src.label(k)
    assert len(list((out / "images").glob("*.png"))) == n
    assert not list(out.rglob("*.tmp"))
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["complete"] is True and meta["count"] == n
    src.close()


def _lines(out: Path) -> list[bytes]:
    return (out / "labels.jsonl").read_bytes().splitlines(keepends=True)


def _run_child(tmp_path: Path, out: Path, n: int, tear_at: int) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), str(out), str(n), str(tear_at)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_write_then_read(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _write(out, 7)
    _check_complete(out, 7)
    src = open_dataset(out)
    i = src.info
    assert (i.layout, i.count, i.height, i.width, i.channels, i.dtype) == ("simgan", 7, 4, 5, 1, "uint8")
    assert i.task == "classify" and i.classes == tuple(CLASSES)
    assert i.extra == {"label_schema": {}, "provenance": {"test": True}}
    assert [src.sample_id(k) for k in range(3)] == ["s000", "s001", "s002"]


def test_writer_streams_each_sample_to_disk(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with DatasetWriter(out, **HEADER) as w:
        for i in range(5):
            w.add(f"s{i}", _image(i), i % 3)
            # Committed right away: the image file and its label line are on disk, nothing is held back.
            assert len(_lines(out)) == i + 1
            rec = json.loads(_lines(out)[-1])
            assert rec == {"id": f"s{i}", "file": rec["file"], "label": i % 3}
            assert (out / rec["file"]).is_file()
        assert len(w) == 5 and "s4" in w and "s5" not in w


def test_writer_memory_does_not_grow_with_the_dataset(tmp_path: Path) -> None:
    shape = (64, 64, 3)
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    n = 60
    tracemalloc.start()
    try:
        with DatasetWriter(tmp_path / "ds", height=64, width=64, channels=3) as w:
            for i in range(n):
                w.add(f"{i}", image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * image.nbytes / 4  # a few images' worth at most, not the dataset (737 kB)


def test_resume_after_exception_mid_loop(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        _write(out, 12, fail_at=5)
    assert len(_lines(out)) == 5
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["complete"] is False and meta["count"] is None
    with pytest.raises(InputError, match="incomplete dataset") as info:
        open_dataset(out)
    assert str(out) in str(info.value)
    _write(out, 12)
    _check_complete(out, 12)


def test_resume_after_sigkill_mid_run(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    n, k = 150, 10
    proc = _run_child(tmp_path, out, n, tear_at=-1)
    assert proc.stdout is not None
    for _ in range(k):  # let k samples commit, then kill without warning
        assert proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    committed = len(_lines(out))
    assert k <= committed < n
    with pytest.raises(InputError, match="incomplete"):
        open_dataset(out)
    _write(out, n)
    _check_complete(out, n)


def test_resume_after_sigkill_tearing_the_last_line(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    n, k = 12, 7
    proc = _run_child(tmp_path, out, n, tear_at=k)
    out_text, _ = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert out_text.split() == [str(i) for i in range(k)]
    lines = _lines(out)
    assert len(lines) == k + 1 and not lines[-1].endswith(b"\n")  # k commits and half of one
    assert (out / "images" / f"{k:08d}.png").is_file()  # its image landed before the torn commit
    _write(out, n)
    assert all(line.endswith(b"\n") for line in _lines(out)) and len(_lines(out)) == n
    # Offsets after the truncation: every label read by seeking lands on its own line.
    _check_complete(out, n)


def test_torn_line_is_an_error_for_readers_of_a_complete_dataset(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _write(out, 3)
    with open(out / "labels.jsonl", "ab") as f:
        f.write(b'{"id":"s003","fi')
    with pytest.raises(InputError, match="line 4: malformed JSON"):
        open_dataset(out)


def test_rerun_of_a_complete_dataset_is_a_no_op(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _write(out, 6)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "images").iterdir()}
    labels, meta = (out / "labels.jsonl").read_bytes(), (out / "dataset.json").read_bytes()
    _write(out, 6)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "images").iterdir()} == before
    assert (out / "labels.jsonl").read_bytes() == labels
    assert (out / "dataset.json").read_bytes() == meta


def test_stale_temp_files_are_cleaned_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        _write(out, 4, fail_at=2)
    (out / "images" / ".00000002.png.abc.tmp").write_bytes(b"half a png")
    (out / ".dataset.json.xyz.tmp").write_bytes(b"{")
    _write(out, 4)
    _check_complete(out, 4)


def test_different_dataset_in_the_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _write(out, 2)
    for change in ({"height": 8}, {"channels": 3}, {"task": None, "classes": None}, {"classes": ["x", "y"]}):
        with pytest.raises(InputError, match="already holds a different dataset") as info:
            DatasetWriter(out, **{**HEADER, **change})
        assert str(out) in str(info.value)
    with pytest.raises(InputError, match="dtype"):
        DatasetWriter(out, **HEADER, dtype="uint16")
    with pytest.raises(InputError, match="provenance"):
        DatasetWriter(out, **HEADER, provenance={"test": False}, require_same_provenance=True)
    with DatasetWriter(out, **HEADER, provenance={"test": True}, require_same_provenance=True) as w:
        assert len(w) == 2
    _check_complete(out, 2)


def test_non_dataset_folder_is_refused_and_left_untouched(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.png").write_bytes(b"x")
    with pytest.raises(InputError, match="not empty and is not a simgan dataset"):
        DatasetWriter(tmp_path / "photos", **HEADER)
    assert [p.name for p in (tmp_path / "photos").iterdir()] == ["holiday.png"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        DatasetWriter(tmp_path / "file", **HEADER)


def test_add_checks_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown task"):
        DatasetWriter(tmp_path / "x", height=2, width=2, channels=1, task="detect")
    with pytest.raises(ValueError, match="dtype"):
        DatasetWriter(tmp_path / "y", height=2, width=2, channels=1, dtype="float32")
    with DatasetWriter(tmp_path / "ds", **HEADER) as w:
        w.add("a", _image(0)[..., 0], 0)  # (H, W) is fine
        with pytest.raises(ValueError, match="duplicate id"):
            w.add("a", _image(0), 0)
        with pytest.raises(ValueError, match="expected image"):
            w.add("b", np.zeros((4, 5, 3), np.uint8), 0)
        with pytest.raises(ValueError, match="expected image"):
            w.add("b", np.zeros((4, 5, 1), np.uint16), 0)
        w.add(7, _image(1), 1)  # type: ignore[arg-type]
        assert 7 in w and "7" in w  # ids are strings on disk, so a resumed run finds it either way
    assert open_dataset(tmp_path / "ds").ids == ["a", "7"]


def test_structured_and_numpy_labels_round_trip(tmp_path: Path) -> None:
    gaze = {"gaze": [0.1, -0.2, -0.97], "pitch": 0.2, "yaw": -0.1, "landmarks": [[1, 2], [3, 4]]}
    uv = np.arange(28, dtype=np.float32).reshape(14, 2)
    with DatasetWriter(
        tmp_path / "g", height=4, width=5, channels=1, task="gaze", label_schema={"k": 1}
    ) as w:
        w.add("0", _image(0), gaze)
        w.add("1", _image(1), {"gaze": np.array([0.0, 0.0, -1.0]), "pitch": np.float64(0.0), "yaw": 0.0})
    src = open_dataset(tmp_path / "g")
    assert src.label(0) == gaze
    assert src.label(1) == {"gaze": [0.0, 0.0, -1.0], "pitch": 0.0, "yaw": 0.0}
    assert src.info.extra["label_schema"] == {"k": 1}
    with DatasetWriter(tmp_path / "h", height=4, width=5, channels=1, task="handpose") as w:
        w.add("0", _image(0), {"uv": uv, "xyz": np.zeros((14, 3))})
        w.add("1", _image(1), None)
    src = open_dataset(tmp_path / "h")
    assert np.asarray(src.label(0)["uv"]).tolist() == uv.tolist() and src.label(1) is None


def test_reader_survives_pickling_with_an_open_handle(tmp_path: Path) -> None:
    _write(tmp_path / "ds", 4)
    src = open_dataset(tmp_path / "ds")
    assert src.label(3) == 0  # opens the labels handle
    clone = pickle.loads(pickle.dumps(src))
    assert [clone.label(k) for k in range(4)] == [0, 1, 2, 0]
    src.close()
    assert src.label(1) == 1  # reopens after close
    src.close()
    clone.close()


# ----------------------------------------------------------------------------------- reader errors


def _dataset(tmp_path: Path, n: int = 3) -> Path:
    out = tmp_path / "ds"
    _write(out, n)
    return out


def _edit_labels(out: Path, lines: list[str]) -> None:
    (out / "labels.jsonl").write_text("".join(line + "\n" for line in lines))


def _edit_meta(out: Path, **changes: object) -> None:
    meta = json.loads((out / "dataset.json").read_text())
    meta.update(changes)
    (out / "dataset.json").write_text(json.dumps(meta))


def _refused(path: Path, *fragments: str) -> None:
    with pytest.raises(InputError) as info:
        src = open_dataset(path)
        for k in range(len(src)):
            src.read(k)
    msg = str(info.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, msg


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    lines = (out / "labels.jsonl").read_text().splitlines()
    _edit_labels(out, [lines[0], lines[1][:-3], lines[2]])
    _refused(out, str(out / "labels.jsonl"), "line 2: malformed JSON")
    _edit_labels(out, [lines[0], "[1, 2]", lines[2]])
    _refused(out, "line 2: expected an object with id, file and label")


def test_duplicate_ids(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    lines = (out / "labels.jsonl").read_text().splitlines()
    dup = json.dumps({**json.loads(lines[2]), "id": "s000"})
    _edit_labels(out, [lines[0], lines[1], dup])
    _refused(out, str(out / "labels.jsonl"), "line 3: duplicate id 's000' (first on line 1)")


def test_missing_ids_count_mismatch(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    lines = (out / "labels.jsonl").read_text().splitlines()
    _edit_labels(out, lines[:2])
    _refused(out, str(out / "labels.jsonl"), "2 samples, but dataset.json says count 3")


@pytest.mark.parametrize(
    "file",
    [
        "../outside.png",
        "images/../../outside.png",
        "/etc/hostname",
        "link.png",
        "far/outside.png",
        "images/00000000.png/../../link.png",  # through a file, then out by a link
        "nope/../link.png",  # through a missing folder
    ],
)
def test_file_outside_the_dataset_is_refused(tmp_path: Path, file: str) -> None:
    out = _dataset(tmp_path)
    (tmp_path / "outside.png").write_bytes((out / "images" / "00000000.png").read_bytes())
    (out / "link.png").symlink_to(tmp_path / "outside.png")
    (out / "far").symlink_to(tmp_path, target_is_directory=True)  # a folder link that leaves the dataset
    lines = (out / "labels.jsonl").read_text().splitlines()
    _edit_labels(out, [lines[0], json.dumps({**json.loads(lines[1]), "file": file}), lines[2]])
    _refused(out, str(out / "labels.jsonl"), "line 2", "outside the dataset folder")


def test_links_that_stay_inside_the_dataset_are_read(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    (out / "near").symlink_to(out / "images", target_is_directory=True)
    (out / "same.png").symlink_to(out / "images" / "00000000.png")
    lines = (out / "labels.jsonl").read_text().splitlines()
    first, second = json.loads(lines[0]), json.loads(lines[1])
    second["file"] = "near/" + second["file"].split("/")[-1]
    _edit_labels(out, [json.dumps({**first, "file": "same.png"}), json.dumps(second), lines[2]])
    src = open_dataset(out)
    assert src.files[:2] == ["same.png", second["file"]]
    assert src.read(0).image.shape == src.read(1).image.shape


def test_meta_errors(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    meta_path = str(out / "dataset.json")
    _edit_meta(out, version=2)
    _refused(out, meta_path, "unknown format version 2")
    _edit_meta(out, version=1, format="other")
    _refused(out, meta_path, "not a simgan dataset")
    for key, value, problem in [
        ("height", 0, "'height' must be a positive integer"),
        ("channels", "3", "'channels' must be a positive integer"),
        ("dtype", "float32", "'dtype' must be uint8 or uint16"),
        ("task", "detect", "unknown task 'detect'"),
    ]:
        _edit_meta(out, format="simgan-dataset", height=4, channels=1, dtype="uint8", task="classify")
        _edit_meta(out, **{key: value})
        _refused(out, meta_path, problem)
    (out / "dataset.json").write_text('{"format": ')
    _refused(out, meta_path, "malformed JSON")


def test_incomplete_and_missing_labels(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    _edit_meta(out, complete=False, count=None)
    _refused(out, str(out), "incomplete dataset")
    _edit_meta(out, complete=True, count=3)
    (out / "labels.jsonl").unlink()
    _refused(out, str(out / "labels.jsonl"), "missing")


def test_image_of_another_size_or_missing_is_refused_naming_it(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    bad = out / "images" / "00000001.png"
    from simgan.data import write_png

    write_png(bad, np.zeros((4, 6, 1), np.uint8))
    _refused(out, str(bad), "image is 4x6x1 uint8", "mixed sizes")
    bad.unlink()
    _refused(out, str(bad), "not found")


def test_detected_before_other_layouts(tmp_path: Path) -> None:
    out = _dataset(tmp_path)
    assert open_dataset(out).info.layout == "simgan"
    assert open_dataset(out, "simgan").info.layout == "simgan"
    # its images/ folder alone is a plain folder layout
    assert open_dataset(out / "images").info.layout == "folder"


def test_a_rerun_repairs_lines_two_unlocked_writers_repeated(tmp_path: Path) -> None:
    """What two concurrent writers without a lock left (each sample committed twice, count claiming
    half the lines) is refused by readers, and a rerun of the writer keeps one copy of each."""
    out = tmp_path / "ds"
    _write(out, 6)
    lines = _lines(out)
    (out / "labels.jsonl").write_bytes(b"".join(lines[:4] + lines[2:] + lines[5:]))  # s002-s005 twice
    _refused(out, "line 5: duplicate id 's002' (first on line 3)")
    _write(out, 8)
    assert _lines(out)[:6] == lines
    _check_complete(out, 8)


def test_repeated_ids_with_other_content_are_not_repaired(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _write(out, 3)
    lines = _lines(out)
    other = json.dumps({**json.loads(lines[1]), "label": 2}).encode() + b"\n"
    (out / "labels.jsonl").write_bytes(b"".join([*lines, other]))
    with pytest.raises(InputError, match="line 4: duplicate id 's001'"):
        _write(out, 3)


def test_close_marks_complete_only_what_this_writer_wrote(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(InputError, match="holds 3 samples, but this run wrote 2: another process wrote"):
        with DatasetWriter(out, **HEADER) as w:
            w.add("s000", _image(0), 0)
            w.add("s001", _image(1), 1)
            with open(out / "labels.jsonl", "ab") as intruder:  # a writer that ignored the lock
                intruder.write(b'{"id":"x","file":"images/00000000.png","label":0}\n')
    assert json.loads((out / "dataset.json").read_text())["complete"] is False


def test_one_writer_per_folder(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with DatasetWriter(out, **HEADER) as w:
        w.add("s000", _image(0), 0)
        with pytest.raises(
            InputError, match=f"another simgan process is writing here \\(pid {os.getpid()}\\)"
        ):
            DatasetWriter(out, **HEADER)
    assert not (out / ".simgan.lock").exists()  # released and removed at close
    with DatasetWriter(out, **HEADER) as w:  # the next writer resumes
        assert len(w) == 1


# --- Masks --------------------------------------------------------------------------------------------

PARTS3 = ["background", "left", "right"]


def _masked(path: Path, n: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` samples with masks of ids 0..2; returns their images and masks."""
    images = [rng.integers(0, 256, (4, 5, 1), dtype=np.uint8) for _ in range(n)]
    masks = [rng.integers(0, 3, (4, 5), dtype=np.uint8) for _ in range(n)]
    with DatasetWriter(path, **HEADER, mask_classes=PARTS3) as w:
        for i in range(n):
            w.add(f"s{i}", images[i], i % 3, mask=masks[i])
    return images, masks


def test_masks_round_trip_beside_their_images(tmp_path: Path, rng: np.random.Generator) -> None:
    images, masks = _masked(tmp_path / "d", 4, rng)
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert meta["mask_classes"] == PARTS3
    lines = [json.loads(x) for x in (tmp_path / "d" / "labels.jsonl").read_text().splitlines()]
    assert [x["mask"] for x in lines] == [f"masks/{i:08d}.png" for i in range(4)]
    assert [x["label"] for x in lines] == [0, 1, 2, 0]  # the label is untouched
    src = open_dataset(tmp_path / "d")
    assert mask_classes(src) == tuple(PARTS3)
    for i in range(4):
        np.testing.assert_array_equal(read_mask(src, i), masks[i])
        np.testing.assert_array_equal(src.read(i).image, images[i])


def test_datasets_without_masks_keep_their_format(tmp_path: Path, rng: np.random.Generator) -> None:
    with DatasetWriter(tmp_path / "d", **HEADER) as w:
        w.add("a", rng.integers(0, 256, (4, 5, 1), dtype=np.uint8), 1)
        with pytest.raises(ValueError, match="no mask_classes"):
            w.add("b", rng.integers(0, 256, (4, 5, 1), dtype=np.uint8), 1, mask=np.zeros((4, 5), np.uint8))
    assert "mask_classes" not in json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert (
        "mask" not in (tmp_path / "d" / "labels.jsonl").read_text()
        and not (tmp_path / "d" / "masks").exists()
    )
    src = open_dataset(tmp_path / "d")
    assert mask_classes(src) is None and read_mask(src, 0) is None


def test_writer_checks_masks(tmp_path: Path) -> None:
    image = np.zeros((4, 5, 1), np.uint8)
    with DatasetWriter(tmp_path / "d", **HEADER, mask_classes=PARTS3) as w:
        with pytest.raises(ValueError, match="needs a mask"):
            w.add("a", image, 0)
        with pytest.raises(ValueError, match=r"expected mask \(4, 5\) uint8"):
            w.add("a", image, 0, mask=np.zeros((5, 4), np.uint8))
        with pytest.raises(ValueError, match="mask id 3"):
            w.add("a", image, 0, mask=np.full((4, 5), 3, np.uint8))
        w.add("a", image, 0, mask=np.zeros((4, 5, 1), np.uint8))  # (H, W, 1) is fine too
    assert len(open_dataset(tmp_path / "d")) == 1
    with pytest.raises(InputError, match="mask_classes"):  # reopened without masks: another dataset
        DatasetWriter(tmp_path / "d", **HEADER)


def test_resumed_writer_rewrites_an_uncommitted_mask(tmp_path: Path, rng: np.random.Generator) -> None:
    images, masks = _masked(tmp_path / "d", 2, rng)
    w = DatasetWriter(tmp_path / "d", **HEADER, mask_classes=PARTS3)
    w.add("s2", images[0], 2, mask=masks[0])
    w.close(complete=False)  # interrupted: sample s2 committed, dataset incomplete
    (tmp_path / "d" / "masks" / "00000003.png").write_bytes(b"torn")  # a torn mask of an uncommitted sample
    with DatasetWriter(tmp_path / "d", **HEADER, mask_classes=PARTS3) as w:
        assert "s2" in w and len(w) == 3
        w.add("s3", images[1], 0, mask=masks[1])
    src = open_dataset(tmp_path / "d")
    np.testing.assert_array_equal(read_mask(src, 3), masks[1])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rec: rec.pop("mask"), "no mask, but dataset.json lists mask_classes"),
        (lambda rec: rec.update(mask="../../etc/passwd"), "lies outside the dataset folder"),
    ],
)
def test_reader_refuses_bad_mask_lines(tmp_path: Path, rng: np.random.Generator, edit, message: str) -> None:
    _masked(tmp_path / "d", 2, rng)
    path = tmp_path / "d" / "labels.jsonl"
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    edit(recs[1])
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(InputError, match=message):
        open_dataset(tmp_path / "d")


def test_reader_refuses_a_mask_of_another_size_or_id(tmp_path: Path, rng: np.random.Generator) -> None:
    _masked(tmp_path / "d", 2, rng)
    src = open_dataset(tmp_path / "d")
    write_png(tmp_path / "d" / "masks" / "00000000.png", np.zeros((5, 5, 1), np.uint8))
    with pytest.raises(InputError, match="00000000.png: mask is 5x5x1 uint8, expected 4x5x1"):
        read_mask(src, 0)
    write_png(tmp_path / "d" / "masks" / "00000001.png", np.full((4, 5, 1), 9, np.uint8))
    with pytest.raises(InputError, match="class id 9, but mask_classes has 3 names"):
        read_mask(src, 1)
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text())
    meta["mask_classes"] = "parts"
    (tmp_path / "d" / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="'mask_classes' must list 2 to 256 class names"):
        open_dataset(tmp_path / "d")
