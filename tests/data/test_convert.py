"""convert: any layout -> simgan directory, identical pixels, ids and labels; resumable; reruns are no-ops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, Sample, Source, convert, open_dataset, write_png
from simgan.errors import InputError


def _folder(root: Path, shape: tuple, dtype: type, n: int = 5) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(n)
    for k in range(n):
        write_png(root / f"im{k:02d}.png", rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype))
    return root


def _classes(root: Path) -> Path:
    rng = np.random.default_rng(1)
    for name, n in {"one": 2, "two": 3}.items():
        (root / name).mkdir(parents=True)
        for k in range(n):
            write_png(root / name / f"{k}.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    return root


def _gaze(root: Path) -> Path:
    header = {"height": 3, "width": 4, "channels": 1, "dtype": "uint16", "task": "gaze"}
    schema, provenance = {"gaze": "unit vector"}, {"simulator": "eyes", "seed": 3}
    with DatasetWriter(root, **header, label_schema=schema, provenance=provenance) as w:
        for i in range(4):
            img = np.random.default_rng(i).integers(0, 65536, (3, 4, 1), dtype=np.uint16)
            w.add(f"e{i}", img, {"gaze": [0.0, 0.1 * i, -1.0], "pitch": 0.1 * i, "yaw": 0.0})
    return root


def _same(a: Source, b: Source) -> None:
    assert len(a) == len(b)
    ia, ib = a.info, b.info
    assert (ia.height, ia.width, ia.channels, ia.dtype, ia.task, ia.classes) == (
        ib.height,
        ib.width,
        ib.channels,
        ib.dtype,
        ib.task,
        ib.classes,
    )
    for k in range(len(a)):
        sa, sb = a.read(k), b.read(k)
        assert sa.id == sb.id and sa.label == sb.label
        assert sa.image.dtype == sb.image.dtype
        np.testing.assert_array_equal(sa.image, sb.image)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: _folder(p, (5, 6, 1), np.uint8),
        lambda p: _folder(p, (5, 6, 3), np.uint8),
        lambda p: _folder(p, (5, 6, 1), np.uint16),
        _classes,
        _gaze,
    ],
    ids=["grey8", "rgb8", "grey16", "classes", "simgan-gaze16"],
)
def test_round_trip_identical(tmp_path: Path, make) -> None:
    src = open_dataset(make(tmp_path / "src"))
    info = convert(src, tmp_path / "out", progress=False)
    out = open_dataset(tmp_path / "out")
    assert info.layout == "simgan" and info.count == len(src)
    _same(src, out)
    prov = out.info.extra["provenance"]
    assert prov["converted_from"] == str((tmp_path / "src").resolve()) and prov["layout"] == src.info.layout
    if src.info.layout == "simgan":  # the original record is kept, and so is the label schema
        assert prov["source_provenance"] == {"simulator": "eyes", "seed": 3}
        assert out.info.extra["label_schema"] == {"gaze": "unit vector"}
    # and back again: a simgan directory converts to an identical one
    convert(out, tmp_path / "again", progress=False)
    _same(out, open_dataset(tmp_path / "again"))


def test_rerun_is_a_no_op(tmp_path: Path) -> None:
    src = open_dataset(_classes(tmp_path / "src"))
    out = tmp_path / "out"
    convert(src, out, progress=False)
    files = sorted(out.rglob("*"))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files if p.parent.name == "images"}
    labels, meta = (out / "labels.jsonl").read_bytes(), (out / "dataset.json").read_bytes()
    convert(open_dataset(tmp_path / "src"), out, progress=False)
    assert sorted(out.rglob("*")) == files
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
    assert (out / "labels.jsonl").read_bytes() == labels and (out / "dataset.json").read_bytes() == meta


class _FailingSource(Source):
    """Fails after ``fail_after`` decodes, like a crash mid-conversion."""

    def __init__(self, inner: Source, fail_after: int):
        self.inner, self.info, self.left = inner, inner.info, fail_after

    def read(self, index: int) -> Sample:
        if self.left == 0:
            raise RuntimeError("crash")
        self.left -= 1
        return self.inner.read(index)

    def sample_id(self, index: int) -> str:
        return self.inner.sample_id(index)


def test_interrupted_conversion_resumes(tmp_path: Path) -> None:
    src = open_dataset(_folder(tmp_path / "src", (4, 4, 1), np.uint8, n=9))
    with pytest.raises(RuntimeError, match="crash"):
        convert(_FailingSource(src, 4), tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="incomplete"):
        open_dataset(tmp_path / "out")
    resumed = _FailingSource(src, 5)  # the resumed run decodes only the 5 samples still missing
    convert(resumed, tmp_path / "out", progress=False)
    out = open_dataset(tmp_path / "out")
    assert sorted(out.ids) == sorted(src.sample_id(k) for k in range(9)) and len(set(out.ids)) == 9
    _same(src, out)


def test_output_holding_a_different_dataset_is_refused(tmp_path: Path) -> None:
    a = open_dataset(_folder(tmp_path / "a", (4, 4, 1), np.uint8))
    b = open_dataset(_folder(tmp_path / "b", (4, 4, 1), np.uint8))  # same size, same ids, other pixels
    c = open_dataset(_folder(tmp_path / "c", (4, 5, 1), np.uint8))
    convert(a, tmp_path / "out", progress=False)
    before = (tmp_path / "out" / "labels.jsonl").read_bytes()
    for other in (b, c):
        with pytest.raises(InputError, match="already holds a different dataset") as info:
            convert(other, tmp_path / "out", progress=False)
        assert str(tmp_path / "out") in str(info.value)
    assert (tmp_path / "out" / "labels.jsonl").read_bytes() == before
    _same(a, open_dataset(tmp_path / "out"))


def test_bad_image_mid_conversion_names_it(tmp_path: Path) -> None:
    root = _folder(tmp_path / "src", (16, 16, 3), np.uint8)
    data = (root / "im03.png").read_bytes()
    (root / "im03.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as info:
        convert(open_dataset(root), tmp_path / "out", progress=False)
    assert str(root / "im03.png") in str(info.value)


class _Counting(Source):
    """A layout without a cheap ``sample_id``: convert must still decode each sample only once."""

    def __init__(self, inner: Source):
        self.inner, self.info, self.reads = inner, inner.info, 0

    def read(self, index: int) -> Sample:
        self.reads += 1
        return self.inner.read(index)


def test_each_sample_decoded_once(tmp_path: Path) -> None:
    src = _Counting(open_dataset(_folder(tmp_path / "src", (4, 4, 1), np.uint8, n=6)))
    convert(src, tmp_path / "out", progress=False)
    assert src.reads == 6
    _same(src.inner, open_dataset(tmp_path / "out"))
