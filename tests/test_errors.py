"""InputError: the one-line ``PATH: problem`` message survives pickling and DataLoader workers."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from simgan.errors import InputError


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
