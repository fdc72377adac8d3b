"""The bad-input catalogue of the wave-2 flags: each row is a command line that must fail with exit code 2
and one line on stderr naming the problem, never a traceback. New flags add their rows here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

RunCli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory, write_images: Callable[..., Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("catalogue")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (16, 8, 8, 1), dtype=np.uint8)
    return {
        "a": write_images(root / "a", images, [k % 10 for k in range(16)]),
        "u": write_images(root / "u", images[::-1].copy()),
        "root": root,
    }


TT = ["train-task", "classify", "--train", "{a}", "--test", "{a}", "--out", "{out}"]
TR = ["train-refiner", "--synthetic", "{a}", "--real", "{u}", "--out", "{out}"]
RF = ["refine", "--input", "{a}", "--out", "{out}", "--refiner"]

# (argv with {a}/{u}/{missing}/{out}/{root} placeholders, text the one error line must contain)
ROWS: list[tuple[list[str], str]] = [
    (
        ["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--steps", "-1"],
        "min_steps and steps must be >= 0",
    ),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--min-steps", "-5"], "must be >= 0"),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--fit-threshold", "2"], "fit_threshold"),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--steps", "x"], "invalid int value"),
    (["evaluate", "labels", "--synthetic", "{a}", "--refined", "{a}", "--oracle-min-steps", "-9"], "-9"),
    # train-task: step floor and adaptation
    ([*TT, "--min-steps", "-1"], "min_steps"),
    ([*TT, "--adapt", "dann"], "--target"),
    ([*TT, "--target", "{u}"], "--adapt"),
    ([*TT, "--adapt", "self-train", "--target", "{missing}"], "missing"),
    ([*TT, "--adapt", "fix"], "invalid choice"),
    ([*TT, "--adapt", "self-train", "--target", "{u}", "--pseudo-threshold", "1.5"], "pseudo_threshold"),
    ([*TT, "--adapt", "self-train", "--target", "{u}", "--ema-decay", "1"], "ema_decay"),
    ([*TT, "--adapt", "dann", "--target", "{u}", "--adapt-weight", "-1"], "adapt_weight"),
    # train-refiner: label monitor, consistency
    ([*TR, "--consistency", "{missing}"], "missing"),
    ([*TR, "--consistency", "{u}"], "--consistency"),
    ([*TR, "--min-agreement", "2"], "min_agreement"),
    ([*TR, "--monitor-every", "-1"], "monitor_every"),
    ([*TR, "--lambda-consistency", "-1"], "lambda_consistency"),
    # refine: which checkpoint
    ([*RF, "{missing}", "--checkpoint", "best"], "missing"),
    ([*RF, "{root}", "--checkpoint", "best"], "best.pt"),
    ([*RF, "{root}", "--checkpoint", "top"], "invalid choice"),
    # experiment gap: rows
    (["experiment", "gap", "--out", "{out}", "--methods", "dan"], "unknown row 'dan'"),
    (["experiment", "gap", "--out", "{out}", "--consistent-lambda-reg", "-1"], "consistent_lambda_reg"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "expected"), ROWS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_input_is_one_line_and_exit_2(
    run_cli: RunCli, sets: dict[str, Path], tmp_path: Path, argv: list[str], expected: str
) -> None:
    fill = {
        "a": sets["a"],
        "u": sets["u"],
        "missing": sets["root"] / "missing",
        "out": tmp_path / "out",
        "root": sets["root"],
    }
    code, out, err = run_cli(*[a.format(**fill) for a in argv])
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err
