"""MPIIGaze reader: .mat struct layout (incl. a squeezed single sample), mirroring, evaluation subset,
leave-one-person-out folds, bad input, convert."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from native_fixtures import write_mpiigaze
from scipy.spatial.transform import Rotation

from simgan.data import open_dataset
from simgan.data.mpiigaze import (
    MPIIGazeConfig,
    MPIIGazeSource,
    leave_one_person_out,
    mirror_rotvec,
    participants,
)
from simgan.errors import InputError

DAYS = {"p00": {"day01": 3, "day02": 1}, "p01": {"day01": 2}}
RAW = MPIIGazeConfig(size=(36, 60))  # no resize: pixels compare exactly with the file's


@pytest.fixture
def mpii(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict]:
    root = tmp_path / "MPIIGaze"
    return root, write_mpiigaze(root, DAYS, rng)


def _expected_ids() -> list[str]:
    return [
        f"{p}/{d}/{k + 1:04d}/{side}"
        for p, days in DAYS.items()
        for d, n in days.items()
        for k in range(n)
        for side in ("left", "right")
    ]


@pytest.mark.parametrize("where", ["", "Data/Normalized"])
def test_open_counts_ids(mpii: tuple[Path, dict], where: str) -> None:
    src = open_dataset(mpii[0] / where)  # detected from the root and from Data/Normalized
    assert isinstance(src, MPIIGazeSource)
    assert (src.info.layout, len(src), src.info.task) == ("mpiigaze", 12, "gaze")
    assert [src.sample_id(i) for i in range(len(src))] == _expected_ids()
    assert [src.read(i).id for i in range(len(src))] == _expected_ids()
    assert src.persons == [i.split("/")[0] for i in _expected_ids()]


def test_single_person_folder(mpii: tuple[Path, dict]) -> None:
    src = open_dataset(mpii[0] / "Data" / "Normalized" / "p01")
    assert len(src) == 4 and src.sample_id(0) == "p01/day01/0001/left"


def test_inspect_json(run_cli, mpii: tuple[Path, dict]) -> None:
    code, out, err = run_cli("inspect", mpii[0] / "Data" / "Normalized", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["layout"], s["count"], s["height"], s["width"], s["channels"], s["dtype"]) == (
        "mpiigaze",
        12,
        35,
        55,
        1,
        "uint8",
    )


def test_left_eye_pixels_and_angles(mpii: tuple[Path, dict]) -> None:
    root, truth = mpii
    src = MPIIGazeSource(root, RAW)
    t = truth[("p00", "day01")]["left"]
    for k in range(3):
        sample = src.read(2 * k)  # left eyes sit at even indices
        np.testing.assert_array_equal(sample.image[:, :, 0], t["image"][k])
        x, y, z = t["gaze"][k] / np.linalg.norm(t["gaze"][k])
        assert sample.label["gaze"] == pytest.approx([x, y, z])
        assert sample.label["pitch"] == pytest.approx(math.asin(-y))
        assert sample.label["yaw"] == pytest.approx(math.atan2(-x, -z))
        assert sample.label["head_rotvec"] == pytest.approx(t["pose"][k].tolist())
        assert (sample.label["person"], sample.label["side"], sample.label["mirrored"]) == (
            "p00",
            "left",
            False,
        )


def test_single_sample_file_is_rewrapped(mpii: tuple[Path, dict]) -> None:
    root, truth = mpii
    assert scipy.io.loadmat(  # the file really squeezes to one image, as real single-sample days do
        root / "Data/Normalized/p00/day02.mat", struct_as_record=False, squeeze_me=True
    )["data"].left.image.shape == (36, 60)
    src = MPIIGazeSource(root, RAW)
    i = _expected_ids().index("p00/day02/0001/left")
    sample = src.read(i)
    np.testing.assert_array_equal(sample.image[:, :, 0], truth[("p00", "day02")]["left"]["image"][0])
    assert sample.label["gaze"] == pytest.approx(truth[("p00", "day02")]["left"]["gaze"][0])


def test_right_eye_is_mirrored(mpii: tuple[Path, dict]) -> None:
    root, truth = mpii
    t = truth[("p01", "day01")]["right"]
    i = _expected_ids().index("p01/day01/0002/right")
    mirrored = MPIIGazeSource(root, RAW).read(i)
    plain = MPIIGazeSource(root, MPIIGazeConfig(size=(36, 60), mirror_right=False)).read(i)
    np.testing.assert_array_equal(mirrored.image[:, :, 0], t["image"][1][:, ::-1])
    np.testing.assert_array_equal(plain.image[:, :, 0], t["image"][1])
    x, y, z = t["gaze"][1]
    assert mirrored.label["gaze"] == pytest.approx([-x, y, z])
    assert mirrored.label["yaw"] == pytest.approx(-plain.label["yaw"])
    assert mirrored.label["pitch"] == pytest.approx(plain.label["pitch"])
    assert mirrored.label["mirrored"] and not plain.label["mirrored"]
    # Head rotation: the mirrored rotation vector is the rotation conjugated by the flip M = diag(-1, 1, 1).
    m = np.diag([-1.0, 1.0, 1.0])
    r = Rotation.from_rotvec(t["pose"][1]).as_matrix()
    np.testing.assert_allclose(Rotation.from_rotvec(mirrored.label["head_rotvec"]).as_matrix(), m @ r @ m)
    np.testing.assert_allclose(mirror_rotvec(mirror_rotvec(t["pose"][1])), t["pose"][1])


def test_default_resize_to_35x55(mpii: tuple[Path, dict]) -> None:
    root, truth = mpii
    sample = open_dataset(root).read(0)
    assert sample.image.shape == (35, 55, 1) and sample.image.dtype == np.uint8
    # The fixture's left-to-right brightness ramp survives the resize (and flips for mirrored right eyes).
    cols = sample.image[:, :, 0].mean(axis=0)
    assert cols[-5:].mean() > cols[:5].mean() + 100
    right = open_dataset(root).read(1).image[:, :, 0].mean(axis=0)
    assert right[:5].mean() > right[-5:].mean() + 100


def test_eyes_option(mpii: tuple[Path, dict]) -> None:
    src = MPIIGazeSource(mpii[0], MPIIGazeConfig(eyes=("left",)))
    assert len(src) == 6 and all(src.sample_id(i).endswith("/left") for i in range(6))
    with pytest.raises(ValueError, match="eyes"):
        MPIIGazeConfig(eyes=("middle",))


def test_evaluation_subset(mpii: tuple[Path, dict]) -> None:
    root, truth = mpii
    src = MPIIGazeSource(root / "Data" / "Normalized", MPIIGazeConfig(subset="evaluation"))
    expected = []
    for person, days in DAYS.items():
        for day in days:
            for line in truth[(person, day)]["eval"]:
                rel, side = line.split()
                expected.append(f"{person}/{rel[:-4]}/{side}")
    assert [src.sample_id(i) for i in range(len(src))] == expected  # in list order
    i = expected.index("p00/day01/0003/right")
    np.testing.assert_array_equal(
        MPIIGazeSource(root, MPIIGazeConfig(subset="evaluation", size=(36, 60))).read(i).image[:, :, 0],
        truth[("p00", "day01")]["right"]["image"][2][:, ::-1],
    )


def test_evaluation_list_naming_a_missing_sample(mpii: tuple[Path, dict]) -> None:
    root, _ = mpii
    listing = root / "Evaluation Subset" / "sample list for eye image" / "p01.txt"
    listing.write_text("day01/0001.jpg left\nday05/0009.jpg right\n")
    with pytest.raises(InputError, match=r"p01\.txt: entry 2: day05/0009 is not in p01/day05\.mat"):
        MPIIGazeSource(root, MPIIGazeConfig(subset="evaluation"))
    listing.write_text("day01/0001.jpg up\n")
    with pytest.raises(InputError, match=r"p01\.txt: line 1"):
        MPIIGazeSource(root, MPIIGazeConfig(subset="evaluation"))


def test_leave_one_person_out(run_cli, mpii: tuple[Path, dict]) -> None:
    root, _ = mpii
    src = open_dataset(root)
    folds = list(leave_one_person_out(src))
    assert [f[0] for f in folds] == ["p00", "p01"]
    persons = np.asarray(src.persons)
    for person, train, test in folds:
        assert set(train) | set(test) == set(range(len(src))) and not set(train) & set(test)
        assert (persons[test] == person).all() and (persons[train] != person).all()
    out = root.parent / "converted"
    assert run_cli("convert", root, "--out", out)[0] == 0
    converted = open_dataset(out)  # the label keeps the participant, so folds survive conversion
    assert participants(converted) == src.persons
    assert [(p, tr.tolist(), te.tolist()) for p, tr, te in leave_one_person_out(converted)] == [
        (p, tr.tolist(), te.tolist()) for p, tr, te in folds
    ]
    with pytest.raises(InputError, match="two or more participants"):
        list(leave_one_person_out(open_dataset(root / "Data" / "Normalized" / "p01")))


def test_mat_without_expected_fields_exits_2(run_cli, mpii: tuple[Path, dict]) -> None:
    root, _ = mpii
    bad = root / "Data" / "Normalized" / "p01" / "day03.mat"
    scipy.io.savemat(bad, {"something": np.zeros(3)})
    for cmd in (("inspect", root), ("convert", root, "--out", root.parent / "out")):
        code, _, err = run_cli(*cmd)
        assert code == 2
        assert len(err.strip().splitlines()) == 1 and "day03.mat" in err and "'data'" in err


def test_mat_missing_image_field_exits_2(run_cli, mpii: tuple[Path, dict]) -> None:
    root, _ = mpii
    bad = root / "Data" / "Normalized" / "p01" / "day01.mat"
    side = {"gaze": np.zeros((2, 3)) - [0, 0, 1], "pose": np.zeros((2, 3))}
    names = np.empty((2, 1), dtype=object)
    names[:, 0] = ["0001.jpg", "0002.jpg"]
    scipy.io.savemat(bad, {"data": {"left": side, "right": side}, "filenames": names})
    code, _, err = run_cli("inspect", root, "--format", "mpiigaze")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "day01.mat" in err and "'image'" in err


def test_mat_not_a_mat_exits_2(run_cli, mpii: tuple[Path, dict]) -> None:
    root, _ = mpii
    (root / "Data" / "Normalized" / "p00" / "day09.mat").write_bytes(b"this is no MATLAB file")
    code, _, err = run_cli("inspect", root)
    assert code == 2 and "day09.mat" in err


def test_convert_via_cli(run_cli, mpii: tuple[Path, dict]) -> None:
    root, _ = mpii
    out = root.parent / "converted"
    code, _, err = run_cli("convert", root / "Data" / "Normalized", "--out", out, "--format", "mpiigaze")
    assert code == 0, err
    src, dst = open_dataset(root), open_dataset(out)
    assert (dst.info.layout, dst.info.task, len(dst), dst.info.height, dst.info.width) == (
        "simgan",
        "gaze",
        12,
        35,
        55,
    )
    for i in range(len(src)):
        a, b = src.read(i), dst.read(i)
        assert a.id == b.id and a.label == b.label
        np.testing.assert_array_equal(a.image, b.image)
