"""Sharded writes of one simgan dataset: the blocks, the shard files, the merge and its repair."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simgan.data import DatasetWriter, open_dataset
from simgan.data.shards import Shard
from simgan.errors import InputError

HEADER = {"height": 4, "width": 5, "channels": 1, "task": "classify", "classes": ["a", "b", "c"]}
N = 10


def _image(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (4, 5, 1), dtype=np.uint8)


def _write_shard(out: Path, shard: tuple[int, int], fail_at: int | None = None) -> DatasetWriter:
    """Shard I of N's part of the samples s000..s009, resumably; returns the closed writer."""
    with DatasetWriter(out, **HEADER, provenance={"test": 1}, shard=shard) as w:
        for i in Shard(*shard).indices(N).tolist():
            if f"s{i:03d}" in w:
                continue
            if i == fail_at:
                raise RuntimeError("interrupted")
            w.add(f"s{i:03d}", _image(i), i % 3)
    return w


def _check_complete(out: Path) -> None:
    src = open_dataset(out)
    assert src.ids == [f"s{i:03d}" for i in range(N)]  # every id once, in input order
    for k in range(N):
        np.testing.assert_array_equal(src.read(k).image, _image(k))
        assert src.label(k) == k % 3
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json", "images", "labels.jsonl"]
    assert json.loads((out / "dataset.json").read_text())["count"] == N


def test_blocks_are_contiguous_disjoint_and_cover_the_input() -> None:
    blocks = [Shard(i, 3).indices(N).tolist() for i in range(3)]
    assert blocks == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [len(Shard(i, 12).indices(N)) for i in range(12)] == [1] * 10 + [0, 0]  # more shards than samples
    assert Shard(0, 1).indices(3).tolist() == [0, 1, 2]
    for bad in [(1, 1), (0, 0), (-1, 2), (0.5, 2)]:
        with pytest.raises(InputError, match="expected I/N with N >= 1 and 0 <= I < N"):
            Shard(*bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_the_last_shard_to_close_merges_in_input_order(tmp_path: Path, order: tuple[int, ...]) -> None:
    out = tmp_path / "ds"
    for k, i in enumerate(order):
        w = _write_shard(out, (i, 3))
        assert w.complete is (k == 2)
        if k < 2:
            assert json.loads((out / "dataset.json").read_text())["complete"] is False
            assert (out / f"labels.shard-{i}-of-3.done").is_file()
    _check_complete(out)
    assert open_dataset(out).files[0] == "images/shard-0-of-3-00000000.png"


def test_an_interrupted_shard_resumes_and_a_rerun_after_the_merge_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        _write_shard(out, (1, 2), fail_at=7)
    lines = (out / "labels.shard-1-of-2.jsonl").read_bytes()
    (out / "labels.shard-1-of-2.jsonl").write_bytes(lines + lines[:20])  # and a torn last line
    _write_shard(out, (0, 2))
    assert _write_shard(out, (1, 2)).complete
    _check_complete(out)
    w = _write_shard(out, (1, 2))
    assert w.complete and len(w) == N  # it knows the complete dataset's ids: nothing to write
    with pytest.raises(ValueError, match="ds: the dataset is complete; it takes no new samples"):
        w.add("new", _image(0), 0)
    _check_complete(out)


def test_a_merge_stopped_part_way_is_redone_by_any_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ds"
    _write_shard(out, (0, 2))

    def stop(self: DatasetWriter, complete: bool, count: int | None = None) -> None:
        raise KeyboardInterrupt  # after labels.jsonl was merged, before dataset.json says complete

    with monkeypatch.context() as m:
        m.setattr(DatasetWriter, "_write_meta", stop)
        with pytest.raises(KeyboardInterrupt):
            _write_shard(out, (1, 2))
    assert (out / "labels.jsonl").is_file() and (out / "labels.shard-1-of-2.done").is_file()
    assert _write_shard(out, (0, 2)).complete  # shard 0's rerun: both have finished, so it merges
    _check_complete(out)


def test_mixed_writers_are_refused_naming_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        with DatasetWriter(out, **HEADER, provenance={"test": 1}) as w:  # a whole-folder write, stopped
            w.add("s000", _image(0), 0)
            raise RuntimeError
    with pytest.raises(InputError, match=r"ds: holds an unfinished write of one process \(labels.jsonl\)"):
        _write_shard(out, (0, 2))
    other = tmp_path / "other"
    _write_shard(other, (1, 2))
    with pytest.raises(InputError, match=r"other: holds shards of 2 \(labels.shard-1-of-2.jsonl\), this is"):
        _write_shard(other, (0, 3))
    with pytest.raises(InputError, match=r"other: already holds a different dataset \(provenance.test: 1"):
        DatasetWriter(other, **HEADER, provenance={"test": 2}, require_same_provenance=True, shard=(0, 2))
    with pytest.raises(InputError, match=r"other: holds an unfinished sharded write \(labels.shard-1-of-2"):
        DatasetWriter(other, **HEADER, provenance={"test": 1})
    left = sorted(p.name for p in other.iterdir())  # the refused writers changed nothing, left no lock
    assert left == ["dataset.json", "images", "labels.shard-1-of-2.done", "labels.shard-1-of-2.jsonl"]
