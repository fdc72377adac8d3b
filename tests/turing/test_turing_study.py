"""simgan.turing.study: drawing trials, tokens that leak nothing, resume, recording, and bad input."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from turing_fixtures import REAL_N, which_image, write_folder

from simgan.errors import InputError
from simgan.turing import StaleAnswer, Study
from simgan.turing.records import ANSWERS, TRIALS, read_answers


def test_a_study_shows_n_distinct_images_of_each_set_shuffled(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    study = Study.open(*pair, tmp_path / "run", n=5, seed=0)
    assert len(study.trials) == 10 and Counter(t.truth for t in study.trials) == {"real": 5, "refined": 5}
    for truth in ("real", "refined"):
        assert len({t.index for t in study.trials if t.truth == truth}) == 5
    truths = [t.truth for t in study.trials]
    assert truths != sorted(truths) and truths != sorted(truths, reverse=True)  # interleaved, not blocks
    for t in study.trials:  # ids name the images, for trials.json only
        assert t.id == (f"img{t.index:02d}.png" if t.truth == "real" else f"sample{t.index:03d}")


def test_tokens_are_random_and_say_nothing(pair: tuple[Path, Path], tmp_path: Path) -> None:
    one = Study.open(*pair, tmp_path / "one", n=5, seed=3)
    two = Study.open(*pair, tmp_path / "two", n=5, seed=3)
    other = Study.open(*pair, tmp_path / "three", n=5, seed=4)
    plan = [(t.truth, t.index) for t in one.trials]
    assert plan == [(t.truth, t.index) for t in two.trials]  # the seed decides images and order
    assert plan != [(t.truth, t.index) for t in other.trials]
    tokens = [t.token for t in one.trials + two.trials]
    assert len(set(tokens)) == 20  # ... but never the tokens
    for t in one.trials:
        assert len(t.token) >= 16 and t.token.replace("-", "").replace("_", "").isalnum()
        assert t.id not in t.token and "real" not in t.token.lower() and "refined" not in t.token.lower()


def test_nothing_is_written_before_save_and_a_reopened_study_is_the_same(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    study = Study.open(*pair, run, n=3, seed=0)
    assert not any(run.iterdir())
    study.save()
    again = Study.open(*pair, run, n=3, seed=0)
    assert again.trials == study.trials and again.saved and again.answers == []
    meta = json.loads((run / TRIALS).read_text())
    assert meta["settings"]["n"] == 3 and meta["image"] == {
        "height": 8,
        "width": 8,
        "channels": 1,
        "dtype": "uint8",
    }


def test_answers_are_on_disk_as_given_and_a_reopened_study_resumes(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    study = Study.open(*pair, run, n=3, seed=0)
    study.save()
    first, second = study.trials[:2]
    assert study.current() == first
    with pytest.raises(StaleAnswer):
        study.record(second.token, "real")  # not the current trial
    with pytest.raises(ValueError, match="answer must be one of real, refined"):
        study.record(first.token, "fake")
    given = study.record(first.token, "refined", ms=640.2)
    assert (given.trial, given.answer, given.ms) == (0, "refined", 640)
    assert read_answers(run, study.trials) == [given]  # on disk before record returned
    with pytest.raises(StaleAnswer):
        study.record(first.token, "real")  # answered already: the first answer stands
    resumed = Study.open(*pair, run, n=3, seed=0)
    assert resumed.current() == second and resumed.answered == 1
    state = resumed.state()
    assert state == {
        "total": 6,
        "answered": 1,
        "token": second.token,
        "height": 8,
        "width": 8,
        "results": None,
    }


def test_the_last_answer_completes_the_study_and_writes_metrics(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    run = tmp_path / "run"
    study = Study.open(*pair, run, n=2, seed=0)
    study.save()
    for t in study.trials:  # right on real images, always "refined" otherwise: 2 + 2 of 4 correct
        study.record(t.token, "real" if t.truth == "real" else "refined")
    assert study.complete and study.current() is None
    state = study.state()
    assert state["token"] is None and state["results"]["accuracy"] == 1.0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["confusion"] == {"real": {"real": 2, "refined": 0}, "refined": {"real": 0, "refined": 2}}


def test_each_token_serves_its_own_image(pair: tuple[Path, Path], tmp_path: Path) -> None:
    study = Study.open(*pair, tmp_path / "run", n=4, seed=2)
    for t in study.trials:
        assert which_image(study.image_png(t.token)) == (t.truth, t.index)
    with pytest.raises(KeyError):
        study.image_png("not-a-token")


def test_a_16_bit_study_is_shown_in_8_bits(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    depth = np.random.default_rng(0).integers(500, 1500, (4, 6, 6, 1)).astype(np.uint16)
    a = write_images(tmp_path / "a", depth)
    b = write_images(tmp_path / "b", depth[::-1].copy())
    study = Study.open(a, b, tmp_path / "run", n=2)

    with Image.open(io.BytesIO(study.image_png(study.trials[0].token))) as im:
        pixels = np.asarray(im)
    assert im.mode == "L" and pixels.min() == 0 and pixels.max() == 255


def test_resuming_with_other_settings_is_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    Study.open(*pair, run, n=3, seed=0).save()
    with pytest.raises(InputError, match=r"holds a study of other settings \(settings.n: 3 there, 4 now\)"):
        Study.open(*pair, run, n=4, seed=0)
    with pytest.raises(InputError, match="settings.seed: 0 there, 1 now"):
        Study.open(*pair, run, n=3, seed=1)
    with pytest.raises(InputError, match="settings.real: "):
        Study.open(pair[1], pair[0], run, n=3, seed=0)


def test_resuming_after_the_images_changed_is_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    study = Study.open(*pair, run, n=REAL_N - 1, seed=0)
    study.save()
    shown = sorted(t.id for t in study.trials if t.truth == "real")
    (pair[0] / shown[0]).unlink()
    with pytest.raises(InputError, match="is gone or has moved") as e:
        Study.open(*pair, run, n=REAL_N - 1, seed=0)
    assert str(e.value).startswith(f"--a {pair[0]}")


def _bad_sets(root: Path, pair: tuple[Path, Path]) -> dict[str, Path]:
    (root / "empty").mkdir()
    return {
        "empty": root / "empty",
        "big": write_folder(root / "big", [1, 2, 3], size=(9, 8)),
        "rgb": write_folder(root / "rgb", [1, 2, 3], mode="RGB"),
        "deep": write_folder(root / "deep", [1, 2, 3], mode="I;16"),
    }


@pytest.mark.parametrize(
    ("a", "b", "n", "expected"),
    [
        ("missing", "refined", 3, "--a {missing}: no such file or folder"),
        ("real", "empty", 3, "--b {empty}: empty folder: no images found"),
        ("real", "big", 3, "--a {real} holds 8x8x1 uint8 images but --b {big} holds 9x8x1 uint8"),
        ("rgb", "real", 3, "--a {rgb} holds 8x8x3 uint8 images but --b {real} holds 8x8x1 uint8"),
        ("real", "deep", 3, "holds 8x8x1 uint16 (both sets must have the same size, channels and bit depth)"),
        ("real", "refined", 8, "--b {refined}: holds 7 images, fewer than --n 8 (choose --n 7 or less)"),
        ("real", "refined", 0, "--n 0: must be at least 1"),
        ("real", "real", 3, "--a and --b are the same folder"),
    ],
)
def test_bad_input_is_one_clear_line(
    pair: tuple[Path, Path], tmp_path: Path, a: str, b: str, n: int, expected: str
) -> None:
    paths = {
        "real": pair[0],
        "refined": pair[1],
        "missing": tmp_path / "missing",
        **_bad_sets(tmp_path, pair),
    }
    with pytest.raises(InputError) as e:
        Study.open(paths[a], paths[b], tmp_path / "run", n=n)
    message = str(e.value)
    assert expected.format(**paths) in message and "\n" not in message
    assert not (tmp_path / "run").exists()


def test_a_study_folder_copied_elsewhere_still_scores(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """Scoring needs only the study folder, not the image sets."""
    from simgan.turing import score_folder

    study = Study.open(*pair, tmp_path / "run", n=1, seed=0)
    study.save()
    study.record(study.trials[0].token, "real")
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    shutil.rmtree(pair[0])
    assert score_folder(tmp_path / "copy")["answered"] == 1
    assert (tmp_path / "copy" / ANSWERS).is_file()
