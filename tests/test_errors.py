"""InputError: the one-line ``PATH: problem`` message survives pickling and DataLoader workers; OS errors
and long values read as short single lines."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from simgan.errors import InputError, clip, describe_os_error, first_difference


class _BadDataset(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        raise InputError.at("/data/set/img_0003.png", "truncated or corrupt image (image file is truncated)")


def test_at_names_path_and_problem() -> None:
    e = InputError.at("/some/dir/file.png", "not a readable image")
    assert str(e) == "/some/dir/file.png: not a readable image"
    assert isinstance(e, Exception)


def test_survives_pickle() -> None:
    e = pickle.loads(pickle.dumps(InputError.at("x.png", "bad")))
    assert isinstance(e, InputError) and str(e) == "x.png: bad"


def test_survives_dataloader_worker_as_one_line() -> None:
    # torch re-raises a worker's exception with the worker's whole traceback as its message;
    # the CLI must still print the original single line.
    loader = DataLoader(_BadDataset(), batch_size=2, num_workers=1)
    with pytest.raises(InputError) as info:
        next(iter(loader))
    msg = str(info.value)
    assert msg == "/data/set/img_0003.png: truncated or corrupt image (image file is truncated)"
    assert "\n" not in msg


def test_message_that_only_looks_wrapped_is_kept() -> None:
    msg = "Caught InputError somewhere, but no traceback follows"
    assert str(InputError(msg)) == msg


def test_os_errors_read_as_path_and_reason(tmp_path: Path) -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out/x.png")
    assert describe_os_error(full) == "/data/out/x.png: no space left on device"
    renamed = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "/a", None, "/b")
    assert describe_os_error(renamed) == "/a -> /b: invalid cross-device link"
    (tmp_path / "f").write_text("x")
    exists = FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(tmp_path / "f"))
    assert describe_os_error(exists).endswith("f: is a file, not a folder")
    assert describe_os_error(OSError("odd")) == "oserror (odd)"


def test_clip_cuts_at_a_word_and_first_difference_names_the_key() -> None:
    text = "corrupt zip: the central directory record is missing " * 5
    short = clip(text, 60)
    assert len(short) <= 60 and short.endswith(" ...") and text.startswith(short[:-4])
    assert clip("two\nlines", 60) == "two lines"
    old = {"refined_by": {"run": "/r1", "step": 8}, "input": {"path": "/in"}}
    new = {"refined_by": {"run": "/r2", "step": 8}, "input": {"path": "/in"}}
    assert first_difference(old, new) == ("refined_by.run", "/r1", "/r2")
    assert first_difference(old, old) is None
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == ("a[1]", 2, 3)
    assert first_difference({"a": 1}, {"a": 1, "b": 2}) == ("b", None, 2)
