"""The records of a visual Turing test on disk: the trials drawn, and the answers given.

Two files in the study folder RUN:

- ``trials.json``, written once and atomically before the first image is served: the settings (the two
  sets' paths, ``n``, ``seed``), the image size, and the trials in the order shown, each
  ``{"token", "truth", "index", "id"}`` (``truth`` is ``real`` for ``--a`` and ``refined`` for ``--b``;
  ``index`` and ``id`` say which image of that set). A restarted server reads it and shows the same study.
- ``answers.jsonl``, one line per answer, appended, flushed and fsynced as it is given:
  ``{"trial", "token", "answer", "ms", "time"}`` (``ms``: from the image appearing to the answer, as the
  page measured it). A closed browser or a killed server loses no answer given.

Only the server writes them (it holds the folder's :class:`~simgan.atomic.FolderLock`); the readers here
also serve ``simgan turing --score`` while a study runs, so a last line cut short by a crash mid-write is
skipped, not an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from simgan.atomic import write_json
from simgan.errors import InputError

__all__ = [
    "TRUTHS",
    "FORMAT",
    "TRIALS",
    "ANSWERS",
    "Trial",
    "Answer",
    "write_trials",
    "read_trials",
    "read_answers",
    "append_answer",
    "clean_ms",
    "drop_torn_line",
]

TRUTHS = ("real", "refined")  # what --a and --b hold; also the two answers a participant can give
FORMAT = "simgan-turing"
TRIALS = "trials.json"
ANSWERS = "answers.jsonl"


@dataclass(frozen=True)
class Trial:
    """One image shown: its random ``token`` (its only name on the page), which set it came from
    (``truth``: ``real`` or ``refined``), and its ``index`` and ``id`` in that set."""

    token: str
    truth: str
    index: int
    id: str


@dataclass(frozen=True)
class Answer:
    """One answer: the ``trial`` (position in the study) and its ``token``, ``real`` or ``refined``,
    the milliseconds the participant took (None when the page did not say) and the UTC time."""

    trial: int
    token: str
    answer: str
    ms: int | None = None
    time: str = ""


def clean_ms(value: Any) -> int | None:
    """A response time in whole milliseconds, or None for anything that is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(round(value)) if 0 <= value < 1e12 else None  # NaN fails both comparisons


def write_trials(folder: Path, meta: dict[str, Any], trials: list[Trial]) -> None:
    """Write ``folder/trials.json`` atomically: ``meta`` (settings, image size) and the trials in order."""
    write_json(
        folder / TRIALS, {"format": FORMAT, "version": 1, **meta, "trials": [asdict(t) for t in trials]}
    )


def read_trials(folder: str | Path) -> tuple[dict[str, Any], list[Trial]]:
    """The meta data and trials of the study in ``folder``.

    Raises:
        InputError: no ``trials.json`` there, or one that is not a study's.
    """
    path = Path(folder) / TRIALS
    if not Path(folder).is_dir():
        raise InputError.at(folder, "no such folder (a study folder is the --out of simgan turing)")
    if not path.is_file():
        raise InputError.at(
            path, "not found: not a study folder (start one with simgan turing --a --b --out)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError("format")
        trials = [
            Trial(str(t["token"]), str(t["truth"]), int(t["index"]), str(t["id"])) for t in data["trials"]
        ]
        if not trials or any(t.truth not in TRUTHS for t in trials):
            raise ValueError("truth")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError.at(path, "not a simgan turing study (corrupt or edited trials.json)") from None
    meta = {k: v for k, v in data.items() if k != "trials"}
    return meta, trials


def read_answers(folder: str | Path, trials: list[Trial]) -> list[Answer]:
    """The answers given so far, in the order given; the first answer to a trial counts.

    A last line without its newline (a write cut short) is skipped.

    Raises:
        InputError: a complete line that is not an answer to one of ``trials`` (names file and line).
    """
    path = Path(folder) / ANSWERS
    if not path.is_file():
        return []
    position = {t.token: k for k, t in enumerate(trials)}
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1]  # the part after the last newline is empty or torn
    answers: list[Answer] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            token, answer = str(obj["token"]), str(obj["answer"])
            ms = obj.get("ms")
        except (ValueError, KeyError, TypeError):
            raise InputError.at(
                path, f"line {number}: not an answer (expected JSON with token and answer)"
            ) from None
        if token not in position:
            raise InputError.at(path, f"line {number}: token {token[:24]!r} is not a trial of this study")
        if answer not in TRUTHS:
            raise InputError.at(path, f"line {number}: answer {answer[:24]!r} is neither real nor refined")
        if token in seen:
            continue
        seen.add(token)
        answers.append(Answer(position[token], token, answer, clean_ms(ms), str(obj.get("time", ""))))
    return answers


def append_answer(folder: Path, answer: Answer) -> None:
    """Append one answer line to ``folder/answers.jsonl``, then flush and fsync it (and the folder, when
    the file is new), so that the answer survives the server being killed right after."""
    path = folder / ANSWERS
    fresh = not path.exists()
    line = json.dumps(asdict(answer)) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    if fresh and hasattr(os, "O_DIRECTORY"):  # the new name itself must reach the disk too
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def drop_torn_line(folder: Path) -> bool:
    """Cut a last line left without its newline (a crash mid-write) off ``answers.jsonl``, so the next
    answer starts a line of its own; True when something was cut. Only the writer calls this."""
    path = folder / ANSWERS
    if not path.is_file():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return True
