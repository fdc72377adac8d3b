"""The checkpoint module both trainers share: round trip, run folders, and one-line refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from simgan.checkpoint import (
    CHECKPOINT_NAME,
    VERSION,
    checkpoint_format,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from simgan.errors import InputError


def test_round_trip_keeps_tensors_and_tags_the_kind(tmp_path: Path) -> None:
    state = {"step": 7, "R": {"w": torch.arange(6.0).reshape(2, 3)}, "config": {"lambda_reg": 0.2}}
    save_checkpoint(tmp_path / CHECKPOINT_NAME, state, "refiner")
    back = load_checkpoint(tmp_path, "refiner")  # a run folder gives its checkpoint.pt
    assert back["format"] == checkpoint_format("refiner") == "simgan-refiner-checkpoint"
    assert back["version"] == VERSION and back["step"] == 7 and back["config"] == {"lambda_reg": 0.2}
    assert torch.equal(back["R"]["w"], state["R"]["w"])
    # Plain data only: the file loads with weights_only, so no pickled code can run.
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["step"] == 7
    save_checkpoint(tmp_path / "best.pt", {"model": {}}, "task")
    assert load_checkpoint(tmp_path, "task", name="best.pt")["format"] == "simgan-task-checkpoint"
    assert checkpoint_path(tmp_path) == tmp_path / CHECKPOINT_NAME
    assert checkpoint_path(tmp_path / "best.pt") == tmp_path / "best.pt"


def test_an_overwrite_leaves_no_temporary_files(tmp_path: Path) -> None:
    for step in range(3):
        save_checkpoint(tmp_path / "c.pt", {"step": step}, "task")
    assert os.listdir(tmp_path) == ["c.pt"] and load_checkpoint(tmp_path / "c.pt", "task")["step"] == 2


@pytest.mark.parametrize(
    ("make", "kind", "needle"),
    [
        (lambda p: None, "refiner", "no checkpoint in this run folder"),
        (lambda p: (p / CHECKPOINT_NAME).write_bytes(b"not a zip"), "refiner", "corrupt or unreadable"),
        (lambda p: save_checkpoint(p / CHECKPOINT_NAME, {}, "task"), "refiner", "not a simgan refiner"),
        (lambda p: torch.save({"format": "simgan-task-checkpoint", "version": 99}, p / CHECKPOINT_NAME),
         "task", "unknown checkpoint version 99"),
    ],
)  # fmt: skip
def test_bad_checkpoints_are_one_line_errors_naming_the_file(tmp_path: Path, make, kind, needle) -> None:
    make(tmp_path)
    with pytest.raises(InputError, match=needle) as e:
        load_checkpoint(tmp_path, kind)  # type: ignore[arg-type]
    assert str(tmp_path) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt", "task")
