"""NYU hand reader: depth decoding, the cube crop and normalisation, joint labels, bad input, convert."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from native_fixtures import NYU_FX, NYU_FY, write_nyu
from PIL import Image

from simgan.data import open_dataset, to_float
from simgan.data.nyu import NYUConfig, NYUSource, decode_depth
from simgan.data.simgan_dir import mask_classes, read_mask
from simgan.errors import InputError
from simgan.handpose import EVAL_JOINTS

N = 3


@pytest.fixture
def nyu(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict]:
    folder = tmp_path / "dataset" / "test"
    return folder, write_nyu(folder, N, rng)


def _stored(value_mm: float, centre_mm: float) -> int:
    """The stored uint16 of a depth, computed by hand from the documented normalisation."""
    z = min(max((value_mm - centre_mm) / 150.0, -1.0), 1.0)
    return int(round((z + 1.0) / 2.0 * 65535))


def test_open_counts_ids(nyu: tuple[Path, dict]) -> None:
    folder, _ = nyu
    src = open_dataset(folder)  # detected
    assert isinstance(src, NYUSource)
    assert (src.info.layout, len(src), src.info.task, src.info.dtype) == ("nyu", N, "handpose", "uint16")
    assert [src.read(i).id for i in range(N)] == [f"test/depth_1_{i:07d}" for i in range(1, N + 1)]
    all_views = NYUSource(folder, NYUConfig(kinects=(1, 2, 3)))
    ids = [all_views.sample_id(i) for i in range(len(all_views))]
    assert len(ids) == 3 * N == len(set(ids)) and ids[N] == "test/depth_2_0000001"


def test_inspect_json(run_cli, nyu: tuple[Path, dict]) -> None:
    code, out, err = run_cli("inspect", nyu[0], "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["layout"], s["count"], s["height"], s["width"], s["channels"], s["dtype"]) == (
        "nyu",
        N,
        224,
        224,
        1,
        "uint16",
    )


def test_decode_depth_ignores_red(nyu: tuple[Path, dict]) -> None:
    folder, truth = nyu
    depth = decode_depth(folder / "depth_2_0000003.png")
    assert depth.dtype == np.uint16
    np.testing.assert_array_equal(depth, truth["depth"][1, 2])
    assert depth.max() > 255  # the high byte (G) matters


def test_crop_values_hand_background_near(nyu: tuple[Path, dict]) -> None:
    folder, truth = nyu
    src = NYUSource(folder)
    for i in range(N):
        uc, vc, dc = truth["uvd"][0, i, 32]
        img = src.read(i).image[:, :, 0]  # (224, 224)
        assert img.shape == (224, 224) and img.dtype == np.uint16
        hand = _stored(round(dc - 40), dc)  # the hand disk is 40 mm in front of the palm joint
        assert abs(int(img[112, 112]) - hand) <= 1
        assert img[0, 0] == 65535 and img[-1, -1] == 65535  # wall at 1400 mm is beyond the far plane
        # The near object (200 mm in front) is clamped to the near plane, -1 -> 0.
        half_u = NYU_FX * 150 / dc
        col = int((uc - 60 + 0.5 - (uc + 0.5 - half_u)) * 224 / (2 * half_u))
        half_v = NYU_FY * 150 / dc
        row = int((vc - 60 + 0.5 - (vc + 0.5 - half_v)) * 224 / (2 * half_v))
        assert img[row, col] == 0
        values = set(np.unique(img).tolist())
        assert values <= {0, hand - 1, hand, hand + 1, 65535}  # missing (0) readings became background


def test_joint_labels(nyu: tuple[Path, dict]) -> None:
    folder, truth = nyu
    src = NYUSource(folder, NYUConfig(size=(128, 128)))
    for i in range(N):
        label = src.label(i)
        uv, xyz = np.asarray(label["uv"]), np.asarray(label["xyz"])
        assert uv.shape == (14, 2) and xyz.shape == (14, 3)
        np.testing.assert_allclose(xyz, truth["xyz"][0, i, list(EVAL_JOINTS)], rtol=1e-6)
        uc, vc, dc = truth["uvd"][0, i, 32]
        assert uv[13] == pytest.approx([63.5, 63.5], abs=1e-3)  # joint 32, the crop centre
        # Any joint: its pixel offset from the centre scaled by 128 / (fx * 300 / d).
        expected_u = 63.5 + (truth["uvd"][0, i, list(EVAL_JOINTS), 0] - uc) * 128 / (NYU_FX * 300 / dc)
        expected_v = 63.5 + (truth["uvd"][0, i, list(EVAL_JOINTS), 1] - vc) * 128 / (NYU_FY * 300 / dc)
        np.testing.assert_allclose(uv[:, 0], expected_u, atol=1e-3)
        np.testing.assert_allclose(uv[:, 1], expected_v, atol=1e-3)
        assert label["centre_uvd"] == pytest.approx([uc, vc, dc])
        assert label["kinect"] == 1
    assert src.read(0).image.shape == (128, 128, 1)


def test_stored_depth_matches_to_float(nyu: tuple[Path, dict]) -> None:
    folder, truth = nyu
    img = NYUSource(folder, NYUConfig(size=(64, 64))).read(0).image
    x = to_float(img)  # (1, 64, 64) in [-1, 1]
    dc = truth["uvd"][0, 0, 32, 2]
    assert x[0, 32, 32] == pytest.approx((round(dc - 40) - dc) / 150.0, abs=1e-4)
    assert x.max() == pytest.approx(1.0)


def test_folder_with_both_splits(nyu: tuple[Path, dict], rng: np.random.Generator) -> None:
    folder, _ = nyu
    write_nyu(folder.parent / "train", 2, rng, kinects=1)
    with pytest.raises(InputError, match="holds the NYU splits train and test: pass one of them"):
        open_dataset(folder.parent)
    src = NYUSource(folder.parent, NYUConfig(split="train"))
    assert len(src) == 2 and src.sample_id(1) == "train/depth_1_0000002"
    with pytest.raises(InputError, match="Kinect 2"):
        NYUSource(folder.parent, NYUConfig(split="train", kinects=(2,)))


def test_grey_png_exits_2(run_cli, nyu: tuple[Path, dict]) -> None:
    folder, truth = nyu
    grey = (truth["depth"][0, 1] // 8).astype(np.uint8)
    Image.fromarray(grey).save(folder / "depth_1_0000002.png")
    for cmd in (("inspect", folder), ("convert", folder, "--out", folder.parent / "out")):
        code, _, err = run_cli(*cmd)
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert "depth_1_0000002.png" in err and "'L'" in err and "RGB" in err


def test_joint_count_disagreeing_with_pngs_exits_2(run_cli, nyu: tuple[Path, dict]) -> None:
    folder, truth = nyu
    uvd = truth["uvd"][:, : N - 1]
    scipy.io.savemat(folder / "joint_data.mat", {"joint_uvd": uvd, "joint_xyz": uvd})
    code, _, err = run_cli("inspect", folder, "--format", "nyu")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "joint_data.mat" in err and f"{N - 1} frames" in err and f"{N} depth_1_*.png" in err


def test_malformed_joint_data_exits_2(run_cli, nyu: tuple[Path, dict]) -> None:
    folder, _ = nyu
    scipy.io.savemat(folder / "joint_data.mat", {"joint_uvd": np.zeros((3, N, 36, 3))})
    code, _, err = run_cli("inspect", folder)
    assert code == 2 and "joint_data.mat" in err and "no 'joint_xyz'" in err
    scipy.io.savemat(folder / "joint_data.mat", {"joint_uvd": np.zeros((3, N, 14, 3)), "joint_xyz": 0})
    code, _, err = run_cli("inspect", folder)
    assert code == 2 and "joint_data.mat" in err and "(kinects, N, 36, 3)" in err
    (folder / "joint_data.mat").write_bytes(b"garbage")
    code, _, err = run_cli("inspect", folder)
    assert code == 2 and "joint_data.mat" in err and "not a readable MATLAB" in err


def test_convert_via_cli(run_cli, nyu: tuple[Path, dict]) -> None:
    folder, _ = nyu
    out = folder.parent / "converted"
    code, _, err = run_cli("convert", folder, "--out", out)
    assert code == 0, err
    src, dst = open_dataset(folder), open_dataset(out)
    assert (dst.info.layout, dst.info.task, dst.info.dtype, len(dst)) == ("simgan", "handpose", "uint16", N)
    for i in range(N):
        a, b = src.read(i), dst.read(i)
        assert a.id == b.id and a.label == b.label
        np.testing.assert_array_equal(a.image, b.image)


def test_nyu_has_no_part_masks(nyu: tuple[Path, dict]) -> None:
    src = open_dataset(nyu[0])
    assert mask_classes(src) is None and "mask_classes" not in src.info.extra
    assert read_mask(src, 0) is None
