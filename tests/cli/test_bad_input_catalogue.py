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


# (argv with {a}/{u}/{missing}/{out} placeholders, text the one error line must contain)
ROWS: list[tuple[list[str], str]] = [
    (
        ["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--steps", "-1"],
        "min_steps and steps must be >= 0",
    ),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--min-steps", "-5"], "must be >= 0"),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--fit-threshold", "2"], "fit_threshold"),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--steps", "x"], "invalid int value"),
]


@pytest.mark.parametrize(("argv", "expected"), ROWS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_input_is_one_line_and_exit_2(
    run_cli: RunCli, sets: dict[str, Path], tmp_path: Path, argv: list[str], expected: str
) -> None:
    fill = {"a": sets["a"], "u": sets["u"], "missing": sets["root"] / "missing", "out": tmp_path / "out"}
    code, out, err = run_cli(*[a.format(**fill) for a in argv])
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err
