"""The bad-input catalogue: each row is a command line that must fail with exit code 2 and one line on
stderr naming the problem, never a traceback, and must leave every file already written as it was.

Add a row in a minute: write the argv with placeholders (``{a}`` a labelled 8x8 set, ``{u}`` unlabelled
images, ``{out}`` a fresh output path, ``{missing}`` a path that does not exist, ``{root}`` the folder of
the fixtures, or any other key of :func:`sets`) and a piece of text the error line must contain.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simgan.atomic import FolderLock
from simgan.refinement import refine
from simgan.sim.registry import simulate
from simgan.train.refiner import train_refiner
from simgan.train.refiner_config import RefinerTrainConfig
from simgan.train.task import TaskConfig, train_task

RunCli = Callable[..., tuple[int, str, str]]
TINY_REFINER = RefinerTrainConfig(
    preset="digits", steps=2, batch_size=8, history_size=8, pretrain_r_steps=1, pretrain_d_steps=1
)


def _copy_with(
    src: Path, dst: Path, *, meta: dict | None = None, labels: dict[int, object] | None = None
) -> Path:
    """A copy of dataset ``src`` with ``dataset.json`` keys or the labels of some lines replaced."""
    shutil.copytree(src, dst)
    if meta:
        info = json.loads((dst / "dataset.json").read_text())
        (dst / "dataset.json").write_text(json.dumps({**info, **meta}))
    if labels:
        lines = (dst / "labels.jsonl").read_text().splitlines()
        for k, label in labels.items():
            lines[k] = json.dumps({**json.loads(lines[k]), "label": label})
        (dst / "labels.jsonl").write_text("\n".join(lines) + "\n")
    return dst


@pytest.fixture(scope="module")
def sets(
    tmp_path_factory: pytest.TempPathFactory,
    write_images: Callable[..., Path],
    write_toy: Callable[..., Path],
) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("catalogue")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (16, 8, 8, 1), dtype=np.uint8)
    ten = [str(k) for k in range(10)]
    out = {
        "a": write_images(root / "a", images, [k % 10 for k in range(16)], classes=ten),
        "u": write_images(root / "u", images[::-1].copy()),
        "u2": write_images(root / "u2", images[:, ::-1].copy()),
        "root": root,
    }
    (root / "file").write_text("a regular file\n")
    out["file"] = root / "file"
    out["classes5"] = _copy_with(out["a"], root / "classes5", meta={"classes": 5})
    out["label42"] = _copy_with(out["a"], root / "label42", labels={3: 42})
    out["label-3"] = _copy_with(out["a"], root / "label-3", labels={5: -3})
    gaze, hands = write_toy(root / "gaze", "gaze", 8, 0), write_toy(root / "hands", "handpose", 8, 0)
    nan, inf = float("nan"), float("inf")
    out["gaze"], out["hands"] = gaze, hands
    out["gaze_nan"] = _copy_with(gaze, root / "gaze_nan", labels={2: {"gaze": [0.0, nan, -1.0]}})
    out["gaze_inf"] = _copy_with(gaze, root / "gaze_inf", labels={0: {"gaze": [inf, 0.0, -1.0]}})
    uv = json.loads((hands / "labels.jsonl").read_text().splitlines()[0])["label"]["uv"]
    out["hands_nan"] = _copy_with(hands, root / "hands_nan", labels={1: {"uv": [[nan, 0.0], *uv[1:]]}})
    (root / "huge").mkdir()
    Image.new("1", (15000, 15000)).save(root / "huge" / "big.png")  # 225 Mpixel, a few MB in memory
    out["huge"] = root / "huge"
    for name, real in (("run", out["u"]), ("run2", out["u2"])):
        train_refiner(out["a"], real, root / name, TINY_REFINER, device="cpu", progress=False)
        out[name] = root / name
    out["refined"] = root / "refined"
    refine(out["run"], out["a"], out["refined"], device="cpu", progress=False)
    out["sharded"] = root / "sharded"  # shard 0 of 2 has finished, shard 1 has not run
    refine(out["run"], out["a"], out["sharded"], device="cpu", progress=False, shard=(0, 2))
    out["taskrun"] = root / "taskrun"  # a finished train-task run
    train_task(TaskConfig(epochs=1, min_steps=0, width=4, plot=False), [out["a"]], None, out["taskrun"])
    out["sim"] = root / "sim"  # digits simulated with seed 0
    simulate("digits", 8, out["sim"], seed=0, progress=False)
    (root / "badrun").mkdir()
    (root / "badrun" / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really a zip file " * 8)
    out["badrun"] = root / "badrun"
    (root / "locked").mkdir()
    out["locked"] = root / "locked"
    with FolderLock(root / "locked"):  # another writer holds this folder for the whole module
        yield out


TT = ["train-task", "classify", "--train", "{a}", "--test", "{a}", "--out", "{out}"]
TR = ["train-refiner", "--synthetic", "{a}", "--real", "{u}", "--out", "{out}"]
GT = ["train-task", "gaze", "--out", "{out}"]
HT = ["train-task", "handpose", "--out", "{out}"]
RF = ["refine", "--input", "{a}", "--out", "{out}", "--refiner"]
SH = ["refine", "--input", "{a}", "--out", "{sharded}", "--refiner"]  # shard 0/2 of it has finished
TU = ["turing", "--a", "{u}", "--b", "{u2}", "--out", "{out}"]
SG = ["train-task", "segment", "--out", "{out}"]

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
    # reruns that would replace or relabel what is there
    (["train-task", "classify", "--train", "{a}", "--test", "{a}", "--out", "{taskrun}"], "--overwrite"),
    (["simulate", "digits", "--n", "8", "--seed", "1", "--out", "{sim}"], "provenance.seed: 0 there, 1 now"),
    (["simulate", "digits", "--n", "9", "--out", "{sim}"], "(provenance.n: 8 there, 9 now)"),
    ([*TT, "--log-to", "tensorboard,nope"], "--log-to nope: unknown logger"),
    ([*TR, "--log-to", "mlflow"], "--log-to mlflow: unknown logger"),
    # export and inspect --stats
    (["export", "{u}", "--to", "classes", "--out", "{out}"], "needs class labels"),
    (["export", "{a}", "--embedded", "--out", "{out}"], "one of them"),
    (["export", "--out", "{out}"], "one of them"),
    (["export", "{u}", "--to", "folder", "--out", "{a}"], "holds no simgan export"),
    (["export", "{u}", "--to", "tiles", "--out", "{out}"], "invalid choice"),
    (["inspect", "{a}", "--stats", "--stats-n", "0"], "--stats-n 0"),
    # train-task: step floor and adaptation
    ([*TT, "--min-steps", "-1"], "min_steps"),
    ([*TT, "--augment", "auto,rotate"], "'auto' stands alone"),
    ([*TT, "--augment", "flip"], "not allowed for task 'classify'"),
    ([*TT, "--amp", "yes"], "unrecognized arguments"),
    ([*TT, "--no-pseudo-align", "off"], "unrecognized arguments"),
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
    # refine --shard I/N: the value, and shards that do not belong together
    ([*RF, "{run}", "--shard", "3/2"], "--shard: shard 3/2: expected I/N with N >= 1 and 0 <= I < N"),
    ([*RF, "{run}", "--shard", "a/b"], "argument --shard: expected I/N like 0/2 (shard I of N), got 'a/b'"),
    ([*RF, "{run}", "--shard", "0/0"], "argument --shard: shard 0/0: expected I/N with N >= 1"),
    ([*RF, "{run}", "--shard=-1/2"], "argument --shard: shard -1/2: expected I/N"),
    ([*RF, "{run}", "--shard", "1/2/3"], "--shard: expected I/N like 0/2 (shard I of N), got '1/2/3'"),
    (
        [*SH, "{run}", "--shard", "1/3"],
        "sharded: holds shards of 2 (labels.shard-0-of-2.jsonl), this is shard 1/3: rerun with --shard I/2",
    ),
    ([*SH, "{run2}", "--shard", "1/2"], "sharded: already holds a different dataset (provenance.refined_by."),
    ([*SH, "{run}"], "sharded: holds an unfinished sharded write (labels.shard-0-of-2.jsonl)"),
    (["simulate", "digits", "--n", "4", "--size", "8x8", "--out", "{sharded}"], "sharded: already holds a"),
    # --equalize (issue 18): a switch, and an output made without it is not rewritten with it
    (["simulate", "digits", "--n", "8", "--equalize", "--out", "{sim}"], "provenance.equalize"),
    (["simulate", "digits", "--n", "8", "--equalize=yes", "--out", "{out}"], "ignored explicit argument"),
    ([*RF[:4], "{refined}", "--refiner", "{run}", "--equalize"], "refined: already holds a different"),
    ([*TT, "--equalize", "on"], "unrecognized arguments"),
    ([*TR, "--no-equalize=1"], "ignored explicit argument"),
    ([*TR[:6], "{run}", "--resume", "--equalize"], "cannot change equalize when resuming (the run has False"),
    (["experiment", "gap", "--out", "{out}", "--equalize", "--no-equalize", "x"], "unrecognized arguments"),
    # train-task segment (issue 13.4): hand part masks
    ([*SG, "--train", "{hands}", "--test", "{hands}"], "--train dataset has no per-pixel masks"),
    ([*SG, "--train", "{hands}", "--test", "{hands}", "--tta"], "tta is not available for task segment"),
    (
        [*SG, "--train", "{hands}", "--test", "{hands}", "--adapt", "dann", "--target", "{hands}"],
        "adapt (dann, self-train) is not available for task segment",
    ),
    ([*SG, "--train", "{hands}", "--test", "{hands}", "--seg-depth", "9"], "seg_depth must be in 1..6"),
    # stochastic refinement (issue 13.3)
    ([*RF, "{run}", "--samples", "2"], "needs a stochastic refiner (train-refiner --noise-channels K)"),
    ([*RF, "{run}", "--samples", "0"], "--samples must be >= 1, got 0"),
    ([*RF, "{run}", "--samples", "two"], "invalid int value"),
    ([*TR, "--noise-channels", "-1"], "noise_channels: must be >= 0"),
    (["experiment", "gap", "--out", "{out}", "--noise-channels", "0"], "noise_channels must be >= 1"),
    # turing (issue 13.1)
    ([*TU[:2], "{missing}", *TU[3:]], "missing: no such file or folder"),
    ([*TU[:4], "{gaze}", *TU[5:]], "holds 8x8x1 uint8 images but --b"),
    ([*TU[:4], "{huge}", *TU[5:]], "big.png: image too large to decode safely"),
    ([*TU[:4], "{u}", *TU[5:]], "--a and --b are the same folder"),
    ([*TU, "--n", "17"], "holds 16 images, fewer than --n 17 (choose --n 16 or less)"),
    ([*TU, "--n", "0"], "--n 0: must be at least 1"),
    ([*TU, "--n", "2", "--port", "70000"], "--port 70000: must lie in 0..65535"),
    ([*TU[:6], "{locked}", "--n", "2"], "another simgan process"),
    (TU[:5], "missing --out"),
    (["turing", "--score", "{root}"], "trials.json: not found: not a study folder"),
    (["turing", "--score", "{missing}"], "missing: no such folder"),
    (["turing", "--score", "{u}", "--a", "{u}"], "--score RUN stands alone: leave out --a"),
    (["turing", "--score", "{u}", "--json", "--port", "1"], "leave out --port"),
    # experiment gap: rows
    (["experiment", "gap", "--out", "{out}", "--methods", "dan"], "unknown row 'dan'"),
    (["experiment", "gap", "--out", "{out}", "--no-amp", "--nope"], "unrecognized arguments: --nope"),
    (["demo", "--out", "{out}", "--amp=1"], "ignored explicit argument"),
    (["demo", "--out", "{out}", "--jobs", "0"], "--jobs: expected a number >= 1 or auto, got '0'"),
    (["experiment", "gap", "--out", "{out}", "--jobs", "two"], "expected a number >= 1 or auto, got 'two'"),
    (["experiment", "gap", "--out", "{out}", "--consistent-lambda-reg", "-1"], "consistent_lambda_reg"),
    # output paths the OS refuses (issue 15.1): one line naming the path and the reason
    (["simulate", "digits", "--n", "4", "--out", "{file}/sub"], "file/sub: not a directory"),
    (["convert", "{a}", "--out", "{file}/sub"], "not a directory"),
    ([*RF[:4], "{file}/sub", "--refiner", "{run}"], "not a directory"),
    (["train-refiner", "--synthetic", "{a}", "--real", "{u}", "--out", "{file}/sub"], "not a directory"),
    (["train-task", "classify", "--train", "{a}", "--test", "{a}", "--out", "{file}/sub"], "not a directory"),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--out", "{file}/sub"], "not a directory"),
    (["report", "{run}", "--out", "{file}/report.html"], "file: is a file, not a folder"),
    (["report", "{run}", "--out", "{file}/sub/report.html"], "file/sub: not a directory"),
    # labels checked against the dataset's schema when it is opened (15.2, 15.3)
    ([*TT[:3], "{classes5}", *TT[4:]], "'classes' must be a list of class names"),
    ([*TT[:3], "{label42}", *TT[4:]], "line 4: class index 42 is out of range (0..9)"),
    ([*TT[:5], "{label-3}", *TT[6:]], "line 6: class index -3 is out of range"),
    (["evaluate", "labels", "--synthetic", "{label42}", "--refined", "{a}"], "class index 42"),
    ([*GT, "--train", "{gaze_nan}", "--test", "{gaze}"], "line 3: gaze label 'gaze' holds NaN or inf"),
    ([*GT, "--train", "{gaze}", "--test", "{gaze_inf}"], "gaze_inf/labels.jsonl: line 1: gaze"),
    ([*HT, "--train", "{hands_nan}", "--test", "{hands}"], "handpose label 'uv' holds NaN or inf"),
    # sizes (15.4)
    (["simulate", "eyes", "--n", "2", "--size", "99999x99999", "--out", "{out}"], "at most 512 px a side"),
    (["simulate", "hands", "--n", "2", "--size", "4096x4096", "--out", "{out}"], "at most 512 px a side"),
    (["inspect", "{huge}"], "big.png: image too large to decode safely"),
    ([*TR[:4], "{huge}", *TR[5:]], "image too large"),
    # one writer per output folder (15.5)
    (["simulate", "digits", "--n", "4", "--out", "{locked}"], "another simgan process is writing here"),
    (["convert", "{a}", "--out", "{locked}"], "another simgan process"),
    ([*RF[:4], "{locked}", "--refiner", "{run}"], "another simgan process"),
    ([*TR[:6], "{locked}"], "another simgan process"),
    ([*TT[:7], "{locked}"], "another simgan process"),
    (["experiment", "gap", "--out", "{locked}"], "another simgan process"),
    # resume with other data (15.6)
    ([*TR[:4], "{u2}", "--out", "{run}", "--resume"], "cannot change --real when resuming"),
    # non-finite numbers (15.7)
    ([*TR, "--lambda-reg", "inf"], "expected a finite number, got inf"),
    ([*TR, "--lr-r", "nan"], "finite number"),
    ([*TT, "--lr=-inf"], "finite number"),
    (["evaluate", "realism", "--a", "{a}", "--b", "{u}", "--fit-threshold", "nan"], "finite number"),
    (["experiment", "gap", "--out", "{out}", "--lambda-consistency", "inf"], "finite number"),
    (["experiment", "matrix", "--task", "classify", "--data", "x={a}", "--test-fraction", "nan"], "(0, 1)"),
    # messages (15.8): one short line
    ([*RF[:4], "{refined}", "--refiner", "{run2}"], "(provenance.refined_by."),
    ([*RF, "{badrun}"], "corrupt or unreadable checkpoint"),
]  # fmt: skip


def _snapshot(root: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("argv", "expected"), ROWS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_input_is_one_line_and_exit_2(
    run_cli: RunCli, sets: dict[str, Path], tmp_path: Path, argv: list[str], expected: str
) -> None:
    fill = {**sets, "missing": sets["root"] / "missing", "out": tmp_path / "out"}
    before = _snapshot(sets["root"])
    code, out, err = run_cli(*[a.format(**fill) for a in argv])
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err
    assert len(lines[0]) < 400 and not lines[0].endswith(("...", " ..")), lines[0]
    assert "Traceback" not in err
    assert _snapshot(sets["root"]) == before  # nothing already written changed


# A torchrun environment that describes no usable job, or a one-process command started under torchrun.
ENV_ROWS: list[tuple[dict[str, str], list[str], str]] = [
    ({"WORLD_SIZE": "two"}, TT, "WORLD_SIZE='two': expected an integer"),
    ({"WORLD_SIZE": "2", "RANK": "5"}, TT, "RANK=5, WORLD_SIZE=2"),
    (
        {"WORLD_SIZE": "2", "RANK": "0"},
        ["simulate", "digits", "--n", "4", "--out", "{out}"],
        "without torchrun",
    ),
    ({"WORLD_SIZE": "2", "RANK": "1"}, ["experiment", "gap", "--out", "{out}"], "without torchrun"),
]


@pytest.mark.parametrize(("env", "argv", "expected"), ENV_ROWS)
def test_a_bad_job_environment_is_one_line_and_exit_2(
    run_cli: RunCli,
    sets: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    argv: list[str],
    expected: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    test_bad_input_is_one_line_and_exit_2(run_cli, sets, tmp_path, argv, expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("code", "reason"), [(errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only file system")]
)
def test_a_full_or_read_only_disk_is_one_line_and_the_rerun_resumes(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    import simgan.data.simgan_dir as simgan_dir

    write_png, written = simgan_dir.write_png, []

    def fails_after_300(path: Path, image: np.ndarray, durable: bool = False, atomic: bool = True) -> None:
        if len(written) == 300:
            raise OSError(code, os.strerror(code), str(path))
        write_png(path, image, durable, atomic)
        written.append(path)

    monkeypatch.setattr(simgan_dir, "write_png", fails_after_300)
    out = tmp_path / "ds"
    rc, _, err = run_cli("simulate", "digits", "--n", "600", "--out", out)
    last = err.strip().splitlines()[-1]  # after the closed progress bar, on a line of its own
    assert rc == 2 and last.startswith("simgan simulate: error: ") and "Traceback" not in err, err
    assert last.endswith(f"images/00000300.png: {reason}"), last
    assert len((out / "labels.jsonl").read_text().splitlines()) == 300  # what was written is kept
    monkeypatch.undo()
    rc, _, err = run_cli("simulate", "digits", "--n", "600", "--out", out)
    assert rc == 0, err
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["complete"] and meta["count"] == 600 and not (out / FolderLock.NAME).exists()


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    """Two processes: the holder keeps the lock until it exits; the kernel frees it even after kill -9."""
    import subprocess
    import sys

    out = tmp_path / "ds"
    out.mkdir()
    CLI = "import sys; from simgan.cli import main; sys.exit(main())"
    hold = "import sys, time; from simgan.atomic import FolderLock; FolderLock(sys.argv[1]).acquire(); "
    hold += "print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = subprocess.run(
            [sys.executable, "-c", CLI, "simulate", "digits", "--n", "4", "--out", str(out)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert second.returncode == 2 and f"(pid {holder.pid})" in second.stderr, second.stderr
        assert sorted(p.name for p in out.iterdir()) == [FolderLock.NAME]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    with FolderLock(out):  # the dead holder's lock is gone
        pass
