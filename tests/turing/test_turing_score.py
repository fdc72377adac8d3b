"""simgan.turing.score: accuracy, Clopper-Pearson interval, binomial p-values, the confusion table."""

from __future__ import annotations

from pathlib import Path

import pytest

from simgan.errors import InputError
from simgan.turing.records import Answer, Trial, write_trials
from simgan.turing.score import format_score, score, score_confusion, score_folder

# The SimGAN paper's Table 1: 10 subjects, 50 real + 50 refined images each.
TABLE_1 = {"real": {"real": 224, "refined": 276}, "refined": {"real": 207, "refined": 293}}


def test_the_papers_table_1() -> None:
    r = score_confusion(TABLE_1)
    assert (r["answered"], r["correct"], r["complete"]) == (1000, 517, True)
    assert r["accuracy"] == pytest.approx(0.517)
    assert r["ci95"] == pytest.approx([0.48552, 0.54838], abs=1e-5)  # Clopper-Pearson
    assert r["ci_method"] == "clopper-pearson"
    assert r["p_value"] == pytest.approx(0.29669, abs=1e-5)  # two-sided
    assert r["p_value_one_sided"] == pytest.approx(0.14834, abs=1e-5)  # the paper's p = 0.148
    assert r["confusion"] == TABLE_1


def test_below_chance_is_as_significant_as_above_two_sided() -> None:
    above = score_confusion({"real": {"real": 40, "refined": 10}, "refined": {"real": 10, "refined": 40}})
    below = score_confusion({"real": {"real": 10, "refined": 40}, "refined": {"real": 40, "refined": 10}})
    assert above["accuracy"] == 0.8 and below["accuracy"] == 0.2
    assert above["p_value"] == pytest.approx(below["p_value"]) and above["p_value"] < 1e-8
    assert below["p_value_one_sided"] > 0.999
    lo, hi = above["ci95"]
    assert lo > 0.5 and lo < 0.8 < hi  # p < 0.05 exactly when 0.5 lies outside the exact interval


def test_score_counts_answers_against_the_trials_truth() -> None:
    trials = [Trial(f"t{k}", "real" if k % 2 else "refined", k, str(k)) for k in range(6)]
    answers = [Answer(0, "t0", "refined"), Answer(1, "t1", "refined"), Answer(3, "t3", "real")]
    r = score(trials, answers)
    assert r["confusion"] == {"real": {"real": 1, "refined": 1}, "refined": {"real": 0, "refined": 1}}
    assert (r["answered"], r["trials"], r["correct"], r["complete"]) == (3, 6, 2, False)
    with pytest.raises(ValueError, match="no answers"):
        score(trials, [])


def test_a_study_without_answers_is_refused(tmp_path: Path) -> None:
    write_trials(tmp_path, {}, [Trial("t0", "real", 0, "a")])
    with pytest.raises(InputError, match=r"answers.jsonl: no answers yet \(0 of 1 trials\)"):
        score_folder(tmp_path)


def test_the_text_holds_the_table_and_the_numbers() -> None:
    text = format_score(score_confusion(TABLE_1))
    lines = text.splitlines()
    assert lines[0] == "visual Turing test: 1000 of 1000 trials answered (complete)"
    assert [ln.split()[2:] for ln in lines if ln.startswith("truth")] == [
        ["224", "276", "500"],
        ["207", "293", "500"],
    ]
    assert "accuracy  0.517  (517 of 1000 correct; chance 0.5)" in text
    assert "95% interval  0.486 - 0.548  (Clopper-Pearson, exact)" in text
    assert "p-value  0.297 two-sided  (0.148 one-sided" in text
