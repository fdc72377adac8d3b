"""simgan.turing.records: trials.json and answers.jsonl round-trip; torn and bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simgan.errors import InputError
from simgan.turing.records import (
    ANSWERS,
    TRIALS,
    Answer,
    Trial,
    append_answer,
    clean_ms,
    drop_torn_line,
    read_answers,
    read_trials,
    write_trials,
)

TRIALS_3 = [Trial("t0", "real", 4, "a.png"), Trial("t1", "refined", 0, "r0"), Trial("t2", "real", 1, "b.png")]


def test_trials_round_trip(tmp_path: Path) -> None:
    write_trials(tmp_path, {"settings": {"n": 3}}, TRIALS_3)
    meta, trials = read_trials(tmp_path)
    assert trials == TRIALS_3 and meta["settings"] == {"n": 3} and meta["format"] == "simgan-turing"


def test_a_folder_without_a_study_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="trials.json: not found: not a study folder"):
        read_trials(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        read_trials(tmp_path / "missing")
    (tmp_path / TRIALS).write_text('{"format": "simgan-turing", "trials": [{"token": "x", "truth": "fake"}]}')
    with pytest.raises(InputError, match="corrupt or edited trials.json"):
        read_trials(tmp_path)


def test_answers_append_and_read_back_in_order(tmp_path: Path) -> None:
    append_answer(tmp_path, Answer(1, "t1", "refined", 800, "T1"))
    append_answer(tmp_path, Answer(0, "t0", "real", None, "T2"))
    assert len((tmp_path / ANSWERS).read_text().splitlines()) == 2
    got = read_answers(tmp_path, TRIALS_3)
    assert got == [Answer(1, "t1", "refined", 800, "T1"), Answer(0, "t0", "real", None, "T2")]
    assert read_answers(tmp_path / "elsewhere", TRIALS_3) == []


def test_the_first_answer_to_a_trial_counts_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    lines = [{"token": "t0", "answer": "real"}, {"token": "t0", "answer": "refined"}]
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"token": "t1", "ans'
    (tmp_path / ANSWERS).write_text(text)
    got = read_answers(tmp_path, TRIALS_3)
    assert [(a.token, a.answer, a.trial) for a in got] == [("t0", "real", 0)]
    assert drop_torn_line(tmp_path) is True
    assert (tmp_path / ANSWERS).read_text() == "".join(json.dumps(x) + "\n" for x in lines)
    assert drop_torn_line(tmp_path) is False


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("not json", "line 2: not an answer"),
        ('{"token": "nope", "answer": "real"}', "line 2: token 'nope' is not a trial of this study"),
        ('{"token": "t1", "answer": "fake"}', "line 2: answer 'fake' is neither real nor refined"),
    ],
)
def test_a_bad_complete_line_is_an_error_naming_file_and_line(
    tmp_path: Path, line: str, expected: str
) -> None:
    (tmp_path / ANSWERS).write_text('{"token": "t0", "answer": "real"}\n' + line + "\n")
    with pytest.raises(InputError, match=expected) as e:
        read_answers(tmp_path, TRIALS_3)
    assert str(e.value).startswith(str(tmp_path / ANSWERS))


@pytest.mark.parametrize(
    ("value", "expected"), [(812.4, 812), (0, 0), (-1, None), (float("nan"), None), (True, None), ("9", None)]
)
def test_response_times_are_whole_non_negative_milliseconds(value: object, expected: int | None) -> None:
    assert clean_ms(value) == expected
