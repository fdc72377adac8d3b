"""Score a visual Turing test as the SimGAN paper's Table 1 does: accuracy, a 95% interval, the binomial
p-value against chance, and the confusion table.

Each answer is a Bernoulli trial, correct when it names the set the image came from. With k correct of n:

- accuracy k / n; chance is 0.5 (the study shows as many real images as refined ones);
- the 95% **Clopper-Pearson** (exact) interval: it inverts the same binomial test that gives the
  p-value, so the two always agree (0.5 lies outside the interval exactly when p < 0.05), and it never
  covers less than 95%, where Wilson's can at the small n of one participant;
- the **two-sided** exact binomial p-value of H0: accuracy = 0.5 (a participant significantly *below*
  chance also tells the sets apart, with the labels swapped), and beside it the one-sided p-value
  (H1: accuracy > 0.5), the one the paper quotes: 517 of 1000 correct gives p = 0.148 one-sided and
  0.297 two-sided;
- the confusion table, rows the truth (real, refined), columns the answer (real, refined).

The paper's Table 1 (10 subjects, 50 real + 50 refined images each) is a known value for the tests:
rows real (224, 276) and refined (207, 293).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scipy.stats import binomtest

from simgan.errors import InputError
from simgan.experiment.table import format_table
from simgan.turing.records import ANSWERS, TRUTHS, Answer, Trial, read_answers, read_trials

__all__ = ["CHANCE", "score", "score_confusion", "score_folder", "format_score"]

CHANCE = 0.5


def score_confusion(confusion: dict[str, dict[str, int]], trials: int | None = None) -> dict[str, Any]:
    """Score from a confusion table ``{truth: {answer: count}}`` (truth and answer in real, refined).

    Args:
        confusion: counts; every truth and answer key present.
        trials: the study's trials, answered or not (default: the answers counted).

    Returns:
        ``answered``, ``trials``, ``complete``, ``correct``, ``accuracy``, ``ci95`` [low, high],
        ``ci_method`` ("clopper-pearson"), ``chance`` (0.5), ``p_value`` (two-sided),
        ``p_value_one_sided`` (accuracy > chance) and ``confusion``.

    Raises:
        ValueError: no answers (nothing to score).
    """
    n = sum(confusion[t][a] for t in TRUTHS for a in TRUTHS)
    if n < 1:
        raise ValueError("no answers to score")
    correct = sum(confusion[t][t] for t in TRUTHS)
    test = binomtest(correct, n, CHANCE)
    ci = test.proportion_ci(0.95, method="exact")
    total = n if trials is None else trials
    return {
        "answered": n,
        "trials": total,
        "complete": n >= total,
        "correct": correct,
        "accuracy": correct / n,
        "ci95": [float(ci.low), float(ci.high)],
        "ci_method": "clopper-pearson",
        "chance": CHANCE,
        "p_value": float(test.pvalue),
        "p_value_one_sided": float(binomtest(correct, n, CHANCE, alternative="greater").pvalue),
        "confusion": {t: {a: confusion[t][a] for a in TRUTHS} for t in TRUTHS},
    }


def score(trials: list[Trial], answers: list[Answer]) -> dict[str, Any]:
    """Score ``answers`` to ``trials`` (see :func:`score_confusion`); ValueError when there are none."""
    truth = {t.token: t.truth for t in trials}
    confusion = {t: dict.fromkeys(TRUTHS, 0) for t in TRUTHS}
    for a in answers:
        confusion[truth[a.token]][a.answer] += 1
    return score_confusion(confusion, len(trials))


def score_folder(folder: str | Path) -> dict[str, Any]:
    """Score the study in ``folder`` (finished or not) from its ``trials.json`` and ``answers.jsonl``.

    Raises:
        InputError: not a study folder, a corrupt answer line, or no answers yet.
    """
    _, trials = read_trials(folder)
    answers = read_answers(folder, trials)
    if not answers:
        raise InputError.at(
            Path(folder) / ANSWERS, f"no answers yet (0 of {len(trials)} trials): nothing to score"
        )
    return score(trials, answers)


def format_score(result: dict[str, Any]) -> str:
    """The score as text: the confusion table, then accuracy, interval and p-values (no trailing newline)."""
    c = result["confusion"]
    rows = [[f"truth {t}", c[t]["real"], c[t]["refined"], sum(c[t].values())] for t in TRUTHS]
    table = format_table(rows, ["", "answered real", "answered refined", "total"])
    lo, hi = result["ci95"]
    state = "complete" if result["complete"] else "not finished"
    return "\n".join(
        [
            f"visual Turing test: {result['answered']} of {result['trials']} trials answered ({state})",
            "",
            table,
            "",
            f"accuracy  {result['accuracy']:.3f}  ({result['correct']} of {result['answered']} correct; "
            f"chance {result['chance']})",
            f"95% interval  {lo:.3f} - {hi:.3f}  (Clopper-Pearson, exact)",
            f"p-value  {result['p_value']:.3g} two-sided  ({result['p_value_one_sided']:.3g} one-sided, "
            "accuracy > chance; exact binomial test)",
        ]
    )
