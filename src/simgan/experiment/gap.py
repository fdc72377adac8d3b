"""``simgan experiment gap``: train the task model on synthetic, refined and real data; test on real data.

One call runs the whole S+U loop for a task, per repeat r (seed + r):

1. data: the real domain split once into *unlabelled* (refiner only), *labelled* (the supervised upper
   bound) and *test* (evaluated, never trained or tuned on); synthetic data from the simulator, n and
   ``scale`` x n samples;
2. train the refiner R on synthetic (the 4x set when made; R reads no labels) vs real-unlabelled images
   (or use ``--refiner RUN``), and refine both synthetic sets;
3. train a fresh task model on each training set (synthetic, refined, synthetic_4x, refined_4x, real);
4. evaluate every model on the real test set; aggregate mean and sample std over repeats.

Real domains: digits use scikit-learn's ``load_digits`` (real handwriting, split with a fixed seed);
eyes and hands have no real data inside a package, so they use the simulators' *pseudo-real* target
(a documented degradation model, new seeds) unless the user passes their own folders.

Output folder::

    OUT/config.json  inputs.json  gap.json  realism.json  labels.json  embedding.png  report.html
    OUT/data/        real_unlabeled/ real_labeled/ real_test/ synthetic_r0/ refined_r0/ ...
    OUT/refiner/     the repeat-0 refiner run (stats.jsonl, grids/), refiner_r1/ ... for later repeats
    OUT/tasks/       one train-task run per (training set, repeat)

Every stage is resumable: rerunning the same command skips finished datasets, runs and models.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from simgan import atomic
from simgan.config import config_to_dict, save_config
from simgan.data import open_dataset
from simgan.data.embedded import split_indices, write_sklearn_digits
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.refine import refine
from simgan.sim.registry import simulate
from simgan.train.refiner import RefinerTrainConfig, train_refiner
from simgan.train.task import TaskConfig, train_task
from simgan.viz.grids import save_refiner_grid

__all__ = ["TASK_OF", "GapConfig", "RealData", "run_gap", "is_gap_folder"]

TASK_OF = {"digits": "classify", "eyes": "gaze", "hands": "handpose"}
ROWS = ("synthetic", "refined", "synthetic_4x", "refined_4x", "real")
REAL_SPLIT = {"unlabeled": 0.5, "labeled": 0.2, "test": 0.3}


@dataclass(frozen=True)
class GapConfig:
    """Everything an ``experiment gap`` run depends on (saved as ``OUT/config.json``).

    Attributes:
        task: digits, eyes or hands (the simulator; the task model follows: classify, gaze, handpose).
        n_synthetic: synthetic training images per repeat (the "1x" set).
        scale: size factor of the data-scaling rows (synthetic_4x, refined_4x); 0 or 1 turns them off.
        n_real: images per real split when the real domain is generated (eyes/hands pseudo-real).
        size: image (H, W); empty for the simulator's default.
        repeats: independent repeats (new synthetic data, refiner and task models each); mean and std.
        seed: base seed; repeat r uses seed + r.
        refiner: the refiner's hyperparameters (``train-refiner``).
        task_model: the task model's training recipe (``train-task``).
        min_task_steps: every task model gets at least this many optimizer steps (more epochs for small
            sets), so the few-hundred-image real row is not under-trained next to the 4x rows.
        realism: also measure the two-sample test and FID (synthetic vs real, refined vs real), label
            preservation and a PCA view on repeat 0.
    """

    task: Literal["digits", "eyes", "hands"] = "digits"
    n_synthetic: int = 2000
    scale: int = 4
    n_real: int = 2000
    size: tuple[int, ...] = ()
    repeats: int = 3
    seed: int = 0
    refiner: RefinerTrainConfig = field(default_factory=RefinerTrainConfig)
    task_model: TaskConfig = field(default_factory=TaskConfig)
    min_task_steps: int = 300
    realism: bool = True


@dataclass(frozen=True)
class RealData:
    """User-supplied real folders; any left None is made from the embedded/pseudo-real default."""

    unlabeled: str | Path | None = None
    labeled: str | Path | None = None
    test: str | Path | None = None
    synthetic: str | Path | None = None
    refiner_run: str | Path | None = None


def _std(vals: np.ndarray, axis: int = 0) -> np.ndarray:
    """Sample standard deviation over repeats (ddof 1); 0 for a single repeat."""
    return vals.std(axis=axis, ddof=1) if vals.shape[axis] > 1 else np.zeros_like(vals.mean(axis=axis))


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over repeats of the scalar metrics and of the within-d curves."""
    out: dict[str, Any] = {"n_repeats": len(runs)}
    scalars = {
        k for r in runs for k, v in r.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    for k in sorted(scalars):
        vals = np.array([r[k] for r in runs if k in r], dtype=float)
        out[k], out[f"{k}_std"] = float(vals.mean()), float(_std(vals))
    for curve in ("within_deg", "within_px", "frames_within_px"):
        if all(curve in r for r in runs) and runs:
            keys = runs[0][curve].keys()
            vals = np.array([[r[curve][d] for d in keys] for r in runs], dtype=float)
            out[curve] = dict(zip(keys, vals.mean(0).tolist(), strict=True))
            out[f"{curve}_std"] = dict(zip(keys, _std(vals).tolist(), strict=True))
    return out


def _prepare_real(cfg: GapConfig, user: RealData, data: Path, progress: bool) -> dict[str, Source | None]:
    """The real (or pseudo-real) unlabelled / labelled / test sets, made once for all repeats."""
    given = {"unlabeled": user.unlabeled, "labeled": user.labeled, "test": user.test}
    if any(v is not None for v in given.values()):
        missing = [k for k in ("unlabeled", "test") if given[k] is None]
        if missing:
            raise InputError(f"--real-{missing[0]} is required when real folders are given")
        resolved = {k: Path(v).resolve() for k, v in given.items() if v is not None}
        if resolved["test"] in (resolved["unlabeled"], resolved.get("labeled")):
            raise InputError.at(given["test"], "the test set must not also be a training set")
        return {k: None if v is None else open_dataset(v) for k, v in given.items()}
    out: dict[str, Source | None] = {}
    if cfg.task == "digits":
        split = split_indices(1797, REAL_SPLIT, seed=0)  # one fixed split: the refiner never sees test
        for name, idx in split.items():
            folder = data / f"real_{name}"
            write_sklearn_digits(folder, idx, labelled=name != "unlabeled")
            out[name] = open_dataset(folder)
        return out
    # eyes / hands: the pseudo-real target domain, from seeds no synthetic set uses.
    size = tuple(cfg.size) if cfg.size else None
    for k, name in enumerate(("unlabeled", "labeled", "test")):
        folder = data / f"real_{name}"
        seed = 1_000_003 + 7919 * cfg.seed + k
        simulate(cfg.task, cfg.n_real, folder, seed=seed, size=size, target="pseudo-real", progress=progress)
        out[name] = open_dataset(folder)
    return out


def _train_task_once(
    cfg: GapConfig, train: Source, test: Source, out: Path, seed: int, progress: bool
) -> dict[str, Any]:
    done = out / "metrics.json"
    if done.is_file():
        return json.loads(done.read_text())
    if out.exists():
        shutil.rmtree(out)  # an interrupted task run: retrain from scratch (seconds to minutes)
    tm = cfg.task_model
    steps_per_epoch = math.ceil(len(train) * (1.0 - tm.val_fraction) / tm.batch_size)
    epochs = max(tm.epochs, math.ceil(cfg.min_task_steps / max(1, steps_per_epoch)))
    task_cfg = dataclasses.replace(tm, task=TASK_OF[cfg.task], seed=seed, epochs=epochs)
    return train_task(task_cfg, [train], test, out, progress=progress)


def _inputs(real: RealData) -> dict[str, str | None]:
    """The user's folders, resolved: part of what a run's results depend on."""
    return {k: None if v is None else str(Path(v).resolve()) for k, v in dataclasses.asdict(real).items()}


def is_gap_folder(out: Path) -> bool:
    """True when ``out`` holds an ``experiment gap`` run (its ``inputs.json`` and ``config.json``)."""
    return (out / "inputs.json").is_file() and (out / "config.json").is_file()


def _check_or_save_config(cfg: GapConfig, real: RealData, out: Path) -> None:
    """Refuse to mix results: a folder holding a run with another config or other data folders is an error."""
    if is_gap_folder(out):
        saved = json.loads((out / "config.json").read_text())
        saved.pop("_non_default", None)
        same_inputs = json.loads((out / "inputs.json").read_text()) == _inputs(real)
        if saved != config_to_dict(cfg) or not same_inputs:
            what = "config" if same_inputs else "data folders"
            raise InputError.at(
                out, f"holds an experiment with different {what}: choose another --out or pass --overwrite"
            )
    elif out.exists() and any(out.iterdir()):
        raise InputError.at(out, "exists and is not an experiment folder: choose another --out")
    else:
        save_config(cfg, out / "config.json")
        atomic.write_json(out / "inputs.json", _inputs(real))


def run_gap(
    cfg: GapConfig,
    out: str | Path,
    *,
    real: RealData | None = None,
    device: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Run the reality-gap experiment (module docstring) and write ``OUT/gap.json``.

    Returns:
        ``{"task", "task_model", "repeats", "results": {row: aggregated metrics}, "per_repeat": {...},
        "realism": ..., "labels": ...}``; rows as in DESIGN.md (synthetic, refined, synthetic_4x,
        refined_4x, real), each holding the task metrics (mean over repeats) plus ``<key>_std``.
    """
    if cfg.task not in TASK_OF:
        raise InputError(f"--task {cfg.task}: choose from {', '.join(TASK_OF)}")
    if cfg.repeats < 1 or cfg.n_synthetic < 1:
        raise InputError("--repeats and --n-synthetic must be >= 1")
    real = real or RealData()
    out = Path(out)
    if overwrite and out.exists():
        if not is_gap_folder(out):
            raise InputError.at(out, "is not an experiment folder (--overwrite deletes only those)")
        shutil.rmtree(out)
    _check_or_save_config(cfg, real, out)
    data = out / "data"
    size = tuple(cfg.size) if cfg.size else None

    log(f"[gap] real data ({'user folders' if real.unlabeled else 'embedded default'})")
    splits = _prepare_real(cfg, real, data, progress)
    test = splits["test"]
    assert test is not None and splits["unlabeled"] is not None
    if test.info.task != TASK_OF[cfg.task]:
        raise InputError.at(
            test.info.path, f"the test set's task is {test.info.task}, not {TASK_OF[cfg.task]}"
        )

    per_repeat: dict[str, list[dict[str, Any]]] = {row: [] for row in ROWS}
    first_sets: dict[str, Path] = {}
    for r in range(cfg.repeats):
        seed = cfg.seed + r
        sets: dict[str, Source] = {}
        # 1. synthetic data (labels for free)
        if real.synthetic is not None:
            sets["synthetic"] = open_dataset(real.synthetic)
        else:
            log(f"[gap] repeat {r + 1}/{cfg.repeats}: simulate {cfg.n_synthetic} {cfg.task}")
            folder = data / f"synthetic_r{r}"
            simulate(cfg.task, cfg.n_synthetic, folder, seed=seed, size=size, progress=progress)
            sets["synthetic"] = open_dataset(folder)
            if cfg.scale > 1:
                folder = data / f"synthetic_4x_r{r}"
                n = cfg.scale * cfg.n_synthetic
                simulate(cfg.task, n, folder, seed=10_007 + seed, size=size, progress=progress)
                sets["synthetic_4x"] = open_dataset(folder)
        # 2. the refiner: R vs local D on real-unlabelled images, then refine every synthetic set
        if real.refiner_run is not None:
            run = Path(real.refiner_run)
        else:
            run = out / ("refiner" if r == 0 else f"refiner_r{r}")
            log(f"[gap] repeat {r + 1}/{cfg.repeats}: train the refiner ({cfg.refiner.steps} steps) -> {run}")
            rcfg = dataclasses.replace(cfg.refiner, seed=seed)
            train_refiner(
                sets["synthetic"],
                splits["unlabeled"],
                run,
                rcfg,
                resume=True,
                device=device,
                progress=progress,
                on_grid=save_refiner_grid,
            )
        for name in [k for k in ("synthetic", "synthetic_4x") if k in sets]:
            target = name.replace("synthetic", "refined")
            folder = data / f"{target}_r{r}"
            refine(run, sets[name], folder, device=device, progress=progress)
            sets[target] = open_dataset(folder)
        if splits["labeled"] is not None:
            sets["real"] = splits["labeled"]
        if r == 0:
            first_sets = {k: s.info.path for k, s in sets.items()}
        # 3-4. a fresh task model per training set, tested on the real test set
        for name in ROWS:
            if name not in sets:
                continue
            log(f"[gap] repeat {r + 1}/{cfg.repeats}: train {TASK_OF[cfg.task]} on {name}")
            m = _train_task_once(cfg, sets[name], test, out / "tasks" / f"{name}_r{r}", seed, progress)
            per_repeat[name].append(m)

    results = {row: _aggregate(runs) for row, runs in per_repeat.items() if runs}
    result: dict[str, Any] = {
        "task": cfg.task,
        "task_model": TASK_OF[cfg.task],
        "repeats": cfg.repeats,
        "results": results,
        "per_repeat": per_repeat,
    }
    if cfg.realism:
        result.update(_measure_realism(cfg, out, first_sets, splits, device, log))
    atomic.write_json(out / "gap.json", result)
    from simgan.viz.report import build_report  # matplotlib: imported only when a report is written

    build_report(out, out / "report.html", title=f"simgan experiment gap: {cfg.task}")
    return result


def _measure_realism(
    cfg: GapConfig,
    out: Path,
    sets: dict[str, Path],
    splits: dict[str, Source | None],
    device: str | None,
    log: Any,
) -> dict[str, Any]:
    """Repeat 0's realism (two-sample test, FID) and label preservation, plus a PCA view of the domains.

    Realism compares against real images the refiner never saw: the labelled split (labels unused) when
    there is one, else the unlabelled split. The test split is never used.
    """
    from simgan.eval.realism import evaluate_realism
    from simgan.experiment.labels import evaluate_labels
    from simgan.viz.embedding import visualize

    dev = device or "cpu"
    real_ref = splits["labeled"] or splits["unlabeled"]
    assert real_ref is not None
    realism = {}
    for name in ("synthetic", "refined"):
        if name in sets:
            log(f"[gap] realism: real vs {name}")
            realism[name] = evaluate_realism(real_ref, sets[name], device=dev, progress=False)
    atomic.write_json(out / "realism.json", realism)
    labels: dict[str, Any] = {}
    if "synthetic" in sets and "refined" in sets:
        log("[gap] label preservation: synthetic vs refined")
        oracle = (
            splits["labeled"].info.path if splits["labeled"] is not None and cfg.task == "digits" else None
        )
        labels = evaluate_labels(
            sets["synthetic"], sets["refined"], oracle=oracle, device=dev, progress=False
        )
        atomic.write_json(out / "labels.json", labels)
    names = [k for k in ("synthetic", "refined") if k in sets] + ["real"]
    paths = [sets[k] for k in names[:-1]] + [real_ref.info.path]
    visualize(paths, out / "embedding.png", names=names, method="pca", seed=cfg.seed)
    return {"realism": realism, "labels": labels}
