"""The reality-gap experiment end to end on tiny settings: every task, the JSON schema, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simgan.errors import InputError
from simgan.experiment.gap import OPT_IN, ROWS, _aggregate, gap_closed, selected_rows
from simgan.experiment.table import HEADLINE, gap_table

TINY = [
    "--n-synthetic", "256", "--repeats", "2", "--refiner-steps", "4", "--epochs", "1", "--no-realism",
]  # fmt: skip


def _tiny_config(tmp_path: Path, task: str, scale: int = 2) -> Path:
    """A YAML config shrinking the refiner and the task model so a run takes seconds."""
    path = tmp_path / f"{task}.yaml"
    path.write_text(
        f"task: {task}\n"
        f"scale: {scale}\n"
        "n_real: 96\n"
        "refiner: {preset: digits, pretrain_r_steps: 2, pretrain_d_steps: 2, batch_size: 16, "
        "history_size: 64, "
        "log_every: 2, ckpt_every: 4, grid_every: 4}\n"
        # fp32, no augmentation: one epoch of these tiny models must still tell the rows apart
        "task_model: {batch_size: 64, width: 4, hg_stacks: 1, hg_depth: 2, augment: [none], amp: false}\n"
        "min_task_steps: 1\n"
    )
    return path


@pytest.mark.slow
def test_digits_gap_writes_every_row_with_mean_and_std(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "gap"
    code, stdout, err = run_cli(
        "experiment", "gap", "--config", _tiny_config(tmp_path, "digits"), "--out", out, *TINY
    )
    assert code == 0, err
    result = json.loads((out / "gap.json").read_text())
    assert result["task"] == "digits" and result["repeats"] == 2
    assert set(result["results"]) == set(ROWS) - set(OPT_IN)  # every method but the opt-in ones by default
    closed = {row: m["gap_closed"] for row, m in result["results"].items()}
    assert closed["synthetic"] == 0.0 and closed["real"] == pytest.approx(1.0)
    for row, m in result["results"].items():
        assert 0.0 <= m["accuracy"] <= 1.0 and m["accuracy_std"] >= 0.0, row
        assert m["n_repeats"] == 2
        assert len(result["per_repeat"][row]) == 2
    # Refined sets keep the synthetic ids and labels; the 4x set is twice as large (scale: 2).
    syn = (out / "data" / "synthetic_r0" / "labels.jsonl").read_text().splitlines()
    ref = (out / "data" / "refined_r0" / "labels.jsonl").read_text().splitlines()
    assert [json.loads(a)["label"] for a in syn] == [json.loads(b)["label"] for b in ref]
    assert result["results"]["synthetic_4x"]["n_train"] + result["results"]["synthetic_4x"]["n_val"] == 512
    # The refiner never sees the test split: the three real splits are disjoint.
    ids = {
        name: {json.loads(line)["id"] for line in (out / "data" / f"real_{name}" / "labels.jsonl").open()}
        for name in ("unlabeled", "labeled", "test")
    }
    assert not ids["unlabeled"] & ids["test"] and not ids["labeled"] & ids["test"]
    assert sum(len(v) for v in ids.values()) == 1797
    assert "training data" in stdout and "refined_4x" in stdout
    assert list((out / "refiner" / "grids").glob("step_*.png"))  # the CLI hands train_refiner a grid writer
    # The consistent refiner read the synthetic row's frozen model; the adapters saw the unlabelled split.
    rc = json.loads((out / "refiner_consistent" / "config.json").read_text())
    assert rc["consistency"] == str(out / "tasks" / "synthetic_r0") and rc["lambda_consistency"] == 0.1
    for row, adapt in (("dann", "dann"), ("refined_self_train", "self-train"), ("refined", "none")):
        m = json.loads((out / "tasks" / f"{row}_r0" / "metrics.json").read_text())
        assert m["adapt"] == adapt and m["n_target"] == (0 if adapt == "none" else len(ids["unlabeled"]))
    # Label-free signals on the unlabelled split: ATC's estimate per repeat, disagreement between repeats.
    for row, m in result["results"].items():
        assert 0.0 <= m["atc_accuracy"] <= 1.0 and 0.0 <= m["disagreement"] <= 1.0, row
        preds = [np.load(out / "tasks" / f"{row}_r{r}" / "unlabeled_predictions.npy") for r in (0, 1)]
        assert preds[0].shape == (len(ids["unlabeled"]), 10)
        assert m["disagreement"] == pytest.approx(float(np.mean(preds[0].argmax(1) != preds[1].argmax(1))))
    assert "ATC est. (no labels)" in stdout and "disagreement (no labels)" in stdout


@pytest.mark.slow
def test_rerun_resumes_and_a_changed_config_is_refused(tmp_path: Path, run_cli) -> None:
    cfg = _tiny_config(tmp_path, "digits", scale=0)
    out = tmp_path / "gap"
    args = ["experiment", "gap", "--config", cfg, "--out", out, *TINY, "--repeats", "1"]
    assert run_cli(*args)[0] == 0
    metrics = out / "tasks" / "synthetic_r0" / "metrics.json"
    stamp = metrics.stat().st_mtime_ns
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert metrics.stat().st_mtime_ns == stamp  # finished task runs are reused, not retrained
    code, _, err = run_cli(*args[:-2], "--repeats", "1", "--n-synthetic", "300")
    assert code == 2 and "different config" in err and str(out) in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "size"),
    [("eyes", "24x40"), ("hands", "32x32")],
)
def test_pseudo_real_tasks_run(tmp_path: Path, run_cli, task: str, size: str) -> None:
    out = tmp_path / task
    code, _, err = run_cli(
        "experiment", "gap", "--config", _tiny_config(tmp_path, task, scale=0), "--out", out,
        "--size", size, *TINY, "--repeats", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads((out / "gap.json").read_text())
    task_model = {"eyes": "gaze", "hands": "handpose"}[task]
    assert result["task_model"] == task_model
    for row in ("synthetic", "refined", "real"):
        m = result["results"][row]
        for path, _, _ in HEADLINE[task_model]:
            head, _, d = path.partition(".")
            assert head in m and (not d or d in m[head]), (row, path)
    dataset = json.loads((out / "data" / "real_test" / "dataset.json").read_text())
    assert dataset["provenance"]["target"] == "pseudo-real"


def test_aggregate_and_table_use_mean_and_sample_std() -> None:
    runs = [{"accuracy": 0.5, "n_train": 10}, {"accuracy": 0.7, "n_train": 10}]
    agg = _aggregate(runs)
    assert agg["accuracy"] == pytest.approx(0.6) and agg["accuracy_std"] == pytest.approx(0.02**0.5)
    table = {"task": "digits", "task_model": "classify", "repeats": 2, "results": {"x": agg}}
    header, rows = gap_table(table)
    assert header[-1] == "accuracy" and rows == [["x", "10", "60.0 +/- 14.1"]]
    assert _aggregate(runs[:1])["accuracy_std"] == 0.0  # one repeat: no spread to report


def test_gap_closed_is_the_share_of_the_gap() -> None:
    results = {"synthetic": {"accuracy": 0.7}, "dann": {"accuracy": 0.85}, "real": {"accuracy": 0.9}}
    gap_closed(results, "classify")
    assert [results[k]["gap_closed"] for k in results] == pytest.approx([0.0, 0.75, 1.0])
    errors = {
        "synthetic": {"angular_error_deg": 10.0},
        "x": {"angular_error_deg": 8.0},
        "real": {"angular_error_deg": 6.0},
    }
    gap_closed(errors, "gaze")  # lower is better: the same formula reads 50%
    assert errors["x"]["gap_closed"] == pytest.approx(0.5)
    no_real = {"synthetic": {"accuracy": 0.7}}
    gap_closed(no_real, "classify")
    assert "gap_closed" not in no_real["synthetic"]
    header, rows = gap_table({"task": "digits", "task_model": "classify", "repeats": 1, "results": results})
    assert header[-1] == "gap closed" and rows[1][-1] == "75%"


def test_methods_pick_rows_in_table_order() -> None:
    assert selected_rows([]) == [r for r in ROWS if r not in OPT_IN] and "refined_samples" in OPT_IN
    assert selected_rows(["self_train", "dann"]) == ["synthetic", "dann", "self_train", "real"]
    with pytest.raises(InputError, match="unknown row 'dan'"):
        selected_rows(["dan"])


@pytest.mark.slow
def test_methods_runs_only_those_rows(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "gap"
    code, _, err = run_cli(
        "experiment", "gap", "--config", _tiny_config(tmp_path, "digits"), "--out", out, *TINY,
        "--repeats", "1", "--methods", "refined_consistent",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads((out / "gap.json").read_text())
    assert list(result["results"]) == ["synthetic", "refined_consistent", "real"]
    assert not (out / "data" / "synthetic_4x_r0").exists() and not (out / "refiner").exists()


@pytest.mark.slow
def test_jobs_on_worker_processes_give_the_numbers_of_one_process(tmp_path: Path, run_cli) -> None:
    results = {}
    for jobs in ("1", "2"):  # tests run one thread per process, as each of the 2 workers does
        out = tmp_path / f"gap{jobs}"
        code, stdout, err = run_cli(
            "experiment", "gap", "--config", _tiny_config(tmp_path, "digits"), "--out", out,
            "--n-synthetic", "256", "--repeats", "2", "--refiner-steps", "4", "--epochs", "1",
            "--methods", "refined,refined_consistent", "--jobs", jobs,
        )  # fmt: skip
        assert code == 0, err
        results[jobs] = json.loads((out / "gap.json").read_text())
    assert "[jobs] done refined_consistent r1" in stdout and "[gap] 2 worker processes" in stdout
    one, two = results["1"], results["2"]
    assert list(two["results"]) == ["synthetic", "refined", "refined_consistent", "real"]
    for row, runs in one["per_repeat"].items():
        assert [m["accuracy"] for m in runs] == [m["accuracy"] for m in two["per_repeat"][row]], row
        assert [m["atc_accuracy"] for m in runs] == [m["atc_accuracy"] for m in two["per_repeat"][row]], row
    assert two["results"]["refined"]["disagreement"] == one["results"]["refined"]["disagreement"]
    # the realism job's results: the same two-sample accuracy and label preservation
    for name in ("synthetic", "refined"):
        assert two["realism"][name]["c2st_accuracy"] == one["realism"][name]["c2st_accuracy"]
    assert two["labels"]["agreement"] == one["labels"]["agreement"]


@pytest.mark.slow
def test_refined_samples_row_uses_a_stochastic_refiner(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "gap"
    code, _, err = run_cli(
        "experiment", "gap", "--config", _tiny_config(tmp_path, "digits", scale=3), "--out", out, *TINY,
        "--repeats", "1", "--methods", "refined_samples", "--noise-channels", "3",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads((out / "gap.json").read_text())
    assert list(result["results"]) == ["synthetic", "refined_samples", "real"]
    row = result["results"]["refined_samples"]
    assert row["n_train"] + row["n_val"] == 3 * 256  # scale refinements of the same 256 images
    assert row["diversity_l1"] >= 0.0
    config = json.loads((out / "refiner_noise" / "config.json").read_text())
    assert config["noise_channels"] == 3
    ids = {json.loads(line)["id"] for line in (out / "data" / "refined_samples_r0" / "labels.jsonl").open()}
    syn = [json.loads(line)["id"] for line in (out / "data" / "synthetic_r0" / "labels.jsonl").open()]
    assert ids == {f"{i}_{s}" for i in syn for s in range(3)}


def test_refuses_to_mix_or_delete_what_is_not_its_own(tmp_path: Path, run_cli) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    code, _, err = run_cli("experiment", "gap", "--out", foreign, "--overwrite")
    assert code == 2 and "not an experiment folder" in err
    assert (foreign / "config.json").is_file()  # nothing deleted
    code, _, err = run_cli("demo", "--quick", "--out", foreign)
    assert code == 2 and (foreign / "config.json").is_file()
    real = tmp_path / "real"
    real.mkdir()
    code, _, err = run_cli(
        "experiment", "gap", "--out", tmp_path / "o", "--real-unlabeled", real, "--real-test", real
    )
    assert code == 2 and "must not also be a training set" in err


def test_bad_inputs_exit_2(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("experiment", "gap", "--out", tmp_path / "o", "--real-labeled", tmp_path / "nope")
    assert code == 2 and "--real-unlabeled" in err
    code, _, err = run_cli(
        "experiment", "gap", "--out", tmp_path / "o2", "--real-unlabeled", tmp_path / "missing",
        "--real-test", tmp_path / "missing",
    )  # fmt: skip
    assert code == 2 and "missing" in err


@pytest.mark.slow
def test_demo_quick_prints_the_table_and_writes_the_report(tmp_path: Path, run_cli) -> None:
    code, stdout, err = run_cli("demo", "--quick", "--out", tmp_path / "demo")
    assert code == 0, err
    result = json.loads((tmp_path / "demo" / "gap.json").read_text())
    assert {"synthetic", "refined", "real"} <= set(result["results"])
    assert result["realism"]["refined"]["c2st_accuracy"] > 0.0
    html = (tmp_path / "demo" / "report.html").read_text()
    assert "<h2>The reality gap</h2>" in html and "synthetic" in html
    assert "training data" in stdout and "report.html" in stdout
