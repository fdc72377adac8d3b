"""UnityEyes reader: layout detection, crop geometry, gaze conventions, landmarks, bad input, convert."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from native_fixtures import write_unityeyes

from simgan.data import open_dataset
from simgan.data.unityeyes import UnityEyesConfig, UnityEyesSource, look_vec_to_gaze, parse_vector
from simgan.errors import InputError

LOOKS = [(0.0, 0.0, -1.0), (0.15, 0.1, -0.98), (-0.12, -0.08, -0.99)]


@pytest.fixture
def unity(tmp_path: Path) -> tuple[Path, list[dict]]:
    folder = tmp_path / "imgs"
    return folder, write_unityeyes(folder, LOOKS + [(0.05, 0.0, -1.0)], numbers=[1, 2, 3, 10])


def test_open_counts_ids_shapes(unity: tuple[Path, list[dict]]) -> None:
    folder, _ = unity
    src = open_dataset(folder)  # detected
    assert isinstance(src, UnityEyesSource)
    assert (src.info.layout, len(src), src.info.task) == ("unityeyes", 4, "gaze")
    ids = [src.read(i).id for i in range(len(src))]
    assert ids == ["1", "2", "3", "10"]  # numeric order, not "1", "10", "2"
    sample = src.read(0)
    assert sample.image.shape == (35, 55, 1) and sample.image.dtype == np.uint8
    assert src.label(1) == src.read(1).label


def test_inspect_json(run_cli, unity: tuple[Path, list[dict]]) -> None:
    folder, _ = unity
    code, out, err = run_cli("inspect", folder, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert {k: summary[k] for k in ("layout", "count", "height", "width", "channels", "dtype")} == {
        "layout": "unityeyes",
        "count": 4,
        "height": 35,
        "width": 55,
        "channels": 1,
        "dtype": "uint8",
    }


def test_look_into_camera_is_zero_angles(unity: tuple[Path, list[dict]]) -> None:
    label = open_dataset(unity[0]).label(0)
    assert label["pitch"] == pytest.approx(0.0, abs=1e-9)
    assert label["yaw"] == pytest.approx(0.0, abs=1e-9)
    assert label["gaze"] == pytest.approx([0.0, 0.0, -1.0])


def test_known_look_vec_angles_by_hand(unity: tuple[Path, list[dict]]) -> None:
    src = open_dataset(unity[0])
    for i, (x, y, z) in enumerate(LOOKS[1:], start=1):
        label = src.label(i)
        n = math.sqrt(x * x + y * y + z * z)
        # Unity y is up: looking up (y > 0) is a positive pitch; x > 0 looks to the image's right: yaw < 0.
        # (Tolerance: look_vec is written with 4 decimals, as UnityEyes does.)
        assert label["pitch"] == pytest.approx(math.asin(y / n), abs=2e-4)
        assert label["yaw"] == pytest.approx(math.atan2(-x, -z), abs=2e-4)
        assert label["gaze"] == pytest.approx([x / n, -y / n, z / n], abs=2e-4)
        # The common recipe: negate x, pitch = asin(v_y), yaw = atan2(v_x, v_z) wrapped to face the camera.
        vx, vy, vz = -x / n, y / n, z / n
        raw = math.atan2(vx, vz)
        wrapped = math.pi - raw if raw > 0 else -(math.pi + raw)
        assert (label["pitch"], label["yaw"]) == pytest.approx((math.asin(vy), wrapped), abs=2e-4)


def test_iris_in_image_agrees_with_gaze_and_landmark(unity: tuple[Path, list[dict]]) -> None:
    src = open_dataset(unity[0])
    for i in range(3):
        sample = src.read(i)
        img = sample.image[:, :, 0].astype(np.float64)
        dark = img < 90  # the rendered iris is the only dark region
        rows, cols = np.nonzero(dark)
        u, v = sample.label["landmarks"]["iris_centre"]
        assert abs(cols.mean() - u) < 1.0 and abs(rows.mean() - v) < 1.0
        # Against the no-gaze sample: the iris moves right when yaw < 0 and up (smaller rows) when pitch > 0.
        u0, v0 = src.label(0)["landmarks"]["iris_centre"]
        if i:
            assert np.sign(u - u0) == -np.sign(sample.label["yaw"])
            assert np.sign(v0 - v) == np.sign(sample.label["pitch"])


def test_landmarks_follow_crop_and_resize(unity: tuple[Path, list[dict]]) -> None:
    folder, truth = unity
    src = UnityEyesSource(folder)
    for i, t in enumerate(truth):
        marks = np.asarray(src.label(i)["landmarks"]["interior_margin"])
        assert marks.shape == (16, 2)
        lo, hi = marks.min(0), marks.max(0)
        # The crop is centred on the margin's box: its centre lands on the stored image's centre pixel.
        assert (lo + hi) / 2 == pytest.approx([(55 - 1) / 2, (35 - 1) / 2], abs=1e-3)
        # 140 source columns -> 55, 84 rows -> 35.
        assert hi - lo == pytest.approx(t["margin_size"] * [55 / 140, 35 / 84], abs=1e-3)
        iris = np.asarray(src.label(i)["landmarks"]["iris_centre"])
        expected = (t["iris_centre"] - t["margin_centre"]) * [55 / 140, 35 / 84] + [27, 17]
        assert iris == pytest.approx(expected, abs=1e-3)
        assert len(src.label(i)["landmarks"]["iris"]) == 32
        assert len(src.label(i)["landmarks"]["caruncle"]) == 7


def test_config_changes_stored_size(unity: tuple[Path, list[dict]]) -> None:
    src = UnityEyesSource(unity[0], UnityEyesConfig(size=(36, 60)))
    assert (src.info.height, src.info.width) == (36, 60)
    assert src.read(2).image.shape == (36, 60, 1)
    with pytest.raises(ValueError, match="size"):
        UnityEyesConfig(size=(0, 60))


def test_parse_vector_and_convention_helpers() -> None:
    assert parse_vector("(1.5, -2, 3e-1, 0)", "x.json", "k").tolist() == [1.5, -2.0, 0.3, 0.0]
    for bad in ("1, 2, 3", "(1, two, 3)", "(nan, 0, 1)", 7, "(1)"):
        with pytest.raises(InputError, match=r"x\.json: k: malformed vector"):
            parse_vector(bad, "x.json", "k")
    assert look_vec_to_gaze(np.array([0.1, 0.2, -0.9, 0.0])).tolist() == [0.1, -0.2, -0.9]


def test_crop_near_border_pads_instead_of_failing(tmp_path: Path) -> None:
    folder = tmp_path / "edge"
    write_unityeyes(folder, [(0.0, 0.0, -1.0)], size=(120, 160), eye_offset_mm=(0.0, 0.0))
    sample = open_dataset(folder).read(0)
    assert sample.image.shape == (35, 55, 1)
    assert sample.image[0, 0, 0] > 60  # the repeated border (skin), not a black band


def test_jpg_without_json_exits_2(run_cli, unity: tuple[Path, list[dict]]) -> None:
    folder, _ = unity
    (folder / "3.json").unlink()
    for cmd in (("inspect", folder), ("convert", folder, "--out", folder.parent / "out")):
        code, _, err = run_cli(*cmd)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "3.jpg" in lines[0] and "3.json" in lines[0]


def test_malformed_vector_exits_2(run_cli, unity: tuple[Path, list[dict]]) -> None:
    folder, _ = unity
    doc = json.loads((folder / "2.json").read_text())
    doc["eye_details"]["look_vec"] = "(0.1, oops, -0.9, 0)"
    (folder / "2.json").write_text(json.dumps(doc))
    code, _, err = run_cli("inspect", folder, "--format", "unityeyes")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "2.json" in err and "look_vec" in err and "malformed vector" in err


def test_missing_landmarks_and_bad_json_exit_2(run_cli, unity: tuple[Path, list[dict]]) -> None:
    folder, _ = unity
    doc = json.loads((folder / "1.json").read_text())
    del doc["interior_margin_2d"]
    (folder / "1.json").write_text(json.dumps(doc))
    code, _, err = run_cli("inspect", folder)
    assert code == 2 and "1.json" in err and "interior_margin_2d" in err
    (folder / "1.json").write_text("{not json")
    code, _, err = run_cli("inspect", folder)
    assert code == 2 and "1.json" in err and "malformed JSON" in err


def test_convert_via_cli_keeps_ids_labels_pixels(run_cli, unity: tuple[Path, list[dict]]) -> None:
    folder, _ = unity
    out = folder.parent / "converted"
    code, _, err = run_cli("convert", folder, "--out", out)
    assert code == 0, err
    src, dst = open_dataset(folder), open_dataset(out)
    assert dst.info.layout == "simgan" and dst.info.task == "gaze" and len(dst) == len(src)
    for i in range(len(src)):
        a, b = src.read(i), dst.read(i)
        assert a.id == b.id and a.label == b.label
        np.testing.assert_array_equal(a.image, b.image)
    code, _, err = run_cli("convert", folder, "--out", out)  # rerun: resumes, nothing duplicated
    assert code == 0, err
    assert len(open_dataset(out)) == len(src)
