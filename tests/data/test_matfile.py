"""MATLAB .mat reading: a savemat round trip, whosmat without loading, and one-line InputErrors naming
the file for missing, corrupt and v7.3 (HDF5) files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from simgan.data.matfile import loadmat, whosmat
from simgan.errors import InputError


@pytest.fixture
def mat(tmp_path: Path) -> Path:
    path = tmp_path / "day01.mat"
    scipy.io.savemat(
        path,
        {
            "images": np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
            "gaze": np.array([[0.1, -0.2, -0.97]]),
            "name": "p01",
        },
    )
    return path


def test_loadmat_round_trips_savemat(mat: Path) -> None:
    data = loadmat(mat)
    np.testing.assert_array_equal(data["images"], np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    assert data["images"].dtype == np.uint8
    np.testing.assert_array_equal(data["gaze"], [[0.1, -0.2, -0.97]])
    assert data["name"][0] == "p01"


def test_loadmat_passes_keyword_arguments_to_scipy(mat: Path) -> None:
    data = loadmat(mat, squeeze_me=True, variable_names=["gaze"])
    assert set(data) & {"images", "gaze", "name"} == {"gaze"}
    assert data["gaze"].shape == (3,)


def test_whosmat_lists_shapes_and_classes(mat: Path) -> None:
    assert whosmat(mat) == {
        "images": ((2, 3, 4), "uint8"),
        "gaze": ((1, 3), "double"),
        "name": ((1,), "char"),
    }


@pytest.mark.parametrize("read", [loadmat, whosmat])
def test_missing_file_or_folder_names_it(tmp_path: Path, read) -> None:
    with pytest.raises(InputError) as info:
        read(tmp_path / "nope.mat")
    assert str(info.value) == f"{tmp_path / 'nope.mat'}: file not found"
    with pytest.raises(InputError) as info:
        read(str(tmp_path / "nope"))  # a str: scipy would look for nope.mat instead
    assert str(info.value) == f"{tmp_path / 'nope'}: file not found"
    with pytest.raises(InputError) as info:
        read(tmp_path)
    assert str(info.value) == f"{tmp_path}: not a file"


@pytest.mark.parametrize("read", [loadmat, whosmat])
@pytest.mark.parametrize("content", [b"", b"this is not a MATLAB file at all" * 8], ids=["empty", "garbage"])
def test_corrupt_file_raises_input_error_naming_it(tmp_path: Path, read, content: bytes) -> None:
    path = tmp_path / "broken.mat"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: not a readable MATLAB .mat file (") and "\n" not in msg


def test_truncated_file_raises_input_error_naming_it(mat: Path) -> None:
    data = mat.read_bytes()
    mat.write_bytes(data[: len(data) - 20])
    with pytest.raises(InputError, match=r"day01.mat: not a readable MATLAB .mat file"):
        loadmat(mat)


def test_v73_hdf5_file_says_how_to_resave(tmp_path: Path) -> None:
    # A v7.3 file is HDF5 behind a MATLAB header whose version field (bytes 124-125) is 0x0200.
    header = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    )
    path = tmp_path / "v73.mat"
    path.write_bytes(header.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM" + b"\0" * 384)
    for read in (loadmat, whosmat):
        with pytest.raises(InputError) as info:
            read(path)
        assert str(info.value) == f"{path}: MATLAB v7.3 (HDF5) file: save it with -v7 (scipy reads v4-v7)"
