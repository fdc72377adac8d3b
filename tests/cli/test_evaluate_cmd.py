"""``simgan evaluate realism`` and ``simgan evaluate labels`` end to end on tiny digit sets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import images_dataset
from simgan.data.embedded import DIGIT_CLASSES, load_sklearn_digits

RunCli = Callable[..., tuple[int, str, str]]


def _write(path: Path, images: np.ndarray, labels: np.ndarray | None = None, size: int = 8) -> Path:
    classes = None if labels is None else DIGIT_CLASSES
    return images_dataset(path, images, None if labels is None else labels.tolist(), classes=classes)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evalcli")
    images, labels = load_sklearn_digits()
    return {
        "a": _write(root / "a", images[:200], labels[:200]),
        "b": _write(root / "b", images[200:400]),
        "a_noisy": _write(
            root / "an", np.clip(images[:200].astype(int) + 20, 0, 255).astype(np.uint8), labels[:200]
        ),
        "real": _write(root / "real", images[400:800], labels[400:800]),
        "big": _write(root / "big", np.zeros((6, 16, 16, 1), np.uint8), size=16),
    }


def test_realism_json_holds_the_documented_keys(
    run_cli: RunCli, sets: dict[str, Path], tmp_path: Path
) -> None:
    code, out, _ = run_cli(
        "evaluate",
        "realism",
        "--a",
        sets["a"],
        "--b",
        sets["b"],
        "--json",
        "--epochs",
        "3",
        "--out",
        tmp_path,
    )
    assert code == 0
    r = json.loads(out)
    for key in ("c2st_accuracy", "c2st_ci", "n_test", "fid", "kid", "features"):
        assert key in r
    assert r["n_test"] == 200 and r["c2st_ci"][0] <= r["c2st_accuracy"] <= r["c2st_ci"][1]
    assert json.loads((tmp_path / "metrics.json").read_text()) == r


def test_realism_table_names_the_feature_network(run_cli: RunCli, sets: dict[str, Path]) -> None:
    code, out, _ = run_cli("evaluate", "realism", "--a", sets["a"], "--b", sets["a_noisy"], "--epochs", "2")
    assert code == 0
    assert "c2st_accuracy" in out and "fid" in out and "random-init CNN" in out and "not comparable" in out


def test_realism_refuses_different_sizes(run_cli: RunCli, sets: dict[str, Path]) -> None:
    code, out, err = run_cli("evaluate", "realism", "--a", sets["a"], "--b", sets["big"])
    assert code == 2 and out == ""
    assert str(sets["big"]) in err and "16x16x1" in err and "8x8x1" in err
    code, _, err = run_cli("evaluate", "realism", "--a", sets["a"], "--b", sets["a"].parent / "missing")
    assert code == 2 and "missing" in err


def test_labels_json_with_a_real_oracle(run_cli: RunCli, sets: dict[str, Path], tmp_path: Path) -> None:
    code, out, _ = run_cli(
        "evaluate",
        "labels",
        "--synthetic",
        sets["a"],
        "--refined",
        sets["a_noisy"],
        "--oracle",
        sets["real"],
        "--oracle-epochs",
        "4",
        "--oracle-min-steps",
        "12",
        "--json",
        "--out",
        tmp_path,
    )
    assert code == 0
    r = json.loads(out)
    assert r["n_matched"] == 200 and 0.0 <= r["agreement"] <= 1.0
    assert {"oracle_accuracy_synthetic", "oracle_accuracy_refined"} <= set(r)
    assert r["config"]["oracle_min_steps"] == 12 and " steps)" in r["oracle"]
    assert (tmp_path / "metrics.json").is_file()


def test_labels_refuses_an_unlabelled_synthetic_set(run_cli: RunCli, sets: dict[str, Path]) -> None:
    code, _, err = run_cli("evaluate", "labels", "--synthetic", sets["b"], "--refined", sets["a"])
    assert code == 2 and str(sets["b"]) in err and "unlabelled" in err


def test_evaluate_needs_a_subcommand(run_cli: RunCli) -> None:
    code, _, err = run_cli("evaluate")
    assert code == 2 and "realism" in err
