"""Text tables: the fixed-width table and the gap report text, as returned strings."""

from __future__ import annotations

from pathlib import Path

from simgan.experiment.table import format_gap, format_table, gap_table


def test_format_table_pads_columns_and_rules_the_header() -> None:
    text = format_table([["a", 1.5], ["long name", "x"]], ["name", "value"])
    assert text.splitlines() == ["name       value", "---------  -----", "a          1.5", "long name  x"]


def _result() -> dict:
    return {
        "task": "eyes",
        "task_model": "gaze",
        "repeats": 2,
        "results": {
            "synthetic": {
                "n_train": 100,
                "angular_error_deg": 9.5,
                "angular_error_deg_std": 0.25,
                "within_deg": {"7": 0.4},
                "within_deg_std": {"7": 0.05},
            },
            "real": {"n_train": 50, "angular_error_deg": 6.0},
        },
        "realism": {"refined": {"c2st_accuracy": 0.625, "fid": 1.5}},
        "labels": {"oracle_accuracy_synthetic": 0.9, "oracle_accuracy_refined": 0.875},
    }


def test_gap_table_formats_errors_and_percentages() -> None:
    header, rows = gap_table(_result())
    assert header == ["training data", "n train", "mean error (deg)", "% within 7 deg"]
    assert rows == [
        ["synthetic", "100", "9.50 +/- 0.25", "40.0 +/- 5.0"],
        ["real", "50", "6.00 +/- 0.00", "-"],
    ]


def test_format_gap_holds_table_realism_labels_and_files(tmp_path: Path) -> None:
    lines = format_gap(_result(), tmp_path).splitlines()
    assert lines[:3] == ["", "reality gap: eyes (gaze), real test set, mean +/- std over 2 repeat(s)", ""]
    assert lines[3].startswith("training data") and lines[5].startswith("synthetic")
    assert "realism real vs refined: two-sample acc 0.625 (0.5 = indistinguishable), FID 1.500" in lines
    assert "label preservation (oracle trained on real labels): synthetic 0.900, refined 0.875" in lines
    assert lines[-1] == f"wrote {tmp_path / 'gap.json'} and {tmp_path / 'report.html'}"


def test_gap_closed_never_prints_minus_zero() -> None:
    result = {
        "task_model": "classify",
        "results": {
            "synthetic": {"accuracy": 0.8, "gap_closed": -0.0},
            "dann": {"accuracy": 0.8, "gap_closed": -0.004},
        },
    }
    _, rows = gap_table(result)
    assert [r[-1] for r in rows] == ["0%", "0%"]
