"""``simgan experiment gap``: train the task model on synthetic, refined and real data; test on real data.

One call runs the whole S+U loop for a task, per repeat r (seed + r):

1. data: the real domain split once into *unlabelled* (refiner only), *labelled* (the supervised upper
   bound) and *test* (evaluated, never trained or tuned on); synthetic data from the simulator, n and
   ``scale`` x n samples;
2. train the refiner R on synthetic (the 4x set when made; R reads no labels) vs real-unlabelled images
   (or use ``--refiner RUN``), and refine both synthetic sets;
3. train a fresh task model for each row (the ``methods``, default all):

   | row | trained on | with |
   | --- | --- | --- |
   | synthetic | the synthetic set | |
   | refined | R(synthetic) | |
   | refined_consistent | R_c(synthetic) | R_c: a second refiner with CyCADA's consistency loss through the
     synthetic row's frozen model, and self-regularization relaxed (``consistent_lambda_reg``) |
   | dann / refined_dann | synthetic / refined | DANN on the real-unlabelled images |
   | self_train / refined_self_train | synthetic / refined | a mean teacher's pseudo-labels on them |
   | synthetic_4x / refined_4x | ``scale`` x n synthetic / refined | |
   | refined_samples (opt-in) | ``scale`` refinements of each of the n synthetic images | a stochastic
     refiner (``noise_channels`` noise maps at R's input), in place of ``scale`` x new simulations |
   | real | the real labelled split | (the supervised upper bound) |

4. evaluate every model on the real test set; aggregate mean and sample std over repeats, and the share of
   the gap each row closes, ``gap_closed = (row - synthetic) / (real - synthetic)`` on the headline metric;
5. the label-free signals (simgan.eval.label_free), from the unlabelled split alone: each classifier's ATC
   accuracy estimate (``atc_accuracy``) and each row's ``disagreement`` between its repeats' models.

The adapters (DANN, self-training, the consistent refiner) see only the real *unlabelled* split.

Real domains: digits use scikit-learn's ``load_digits`` (real handwriting, split with a fixed seed;
upsampled bicubically when ``size`` is not 8x8, to check the 28x28 path on real strokes);
eyes and hands have no real data inside a package, so they use the simulators' *pseudo-real* target
(a documented degradation model, new seeds) unless the user passes their own folders.

Output folder::

    OUT/config.json  inputs.json  gap.json  realism.json  labels.json  embedding.png  report.html
    OUT/data/        real_unlabeled/ real_labeled/ real_test/ synthetic_r0/ refined_r0/ ...
    OUT/refiner/     the repeat-0 refiner run (stats.jsonl, grids/), refiner_r1/ ... for later repeats
    OUT/tasks/       one train-task run per (training set, repeat), with its unlabeled_predictions.npy

Every stage is resumable: rerunning the same command skips finished datasets, runs and models.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from simgan import atomic
from simgan.config import config_to_dict, save_config
from simgan.data.equalize import equalized
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.eval.diversity import sample_diversity
from simgan.eval.label_free import atc_accuracy, mean_disagreement, predict
from simgan.experiment.gap_sets import consistent_set, found_real, found_sets, prepare_real, training_sets
from simgan.experiment.parallel import Job, run_jobs
from simgan.nn.task_model import load_task_model
from simgan.progress import quiet
from simgan.train.refiner import RefinerTrainConfig
from simgan.train.task import TaskConfig, train_task

__all__ = ["TASK_OF", "GapConfig", "RealData", "run_gap", "is_gap_folder", "with_models"]

TASK_OF = {"digits": "classify", "eyes": "gaze", "hands": "handpose"}
ROWS = (
    "synthetic",
    "refined",
    "refined_consistent",
    "dann",
    "refined_dann",
    "self_train",
    "refined_self_train",
    "synthetic_4x",
    "refined_4x",
    "refined_samples",
    "real",
)
# Rows a run makes only when --methods names them: refined_samples trains one more refiner per repeat.
OPT_IN = ("refined_samples",)
# row -> (training set, train-task --adapt)
ROW_RECIPE = {
    "synthetic": ("synthetic", "none"),
    "refined": ("refined", "none"),
    "refined_consistent": ("refined_consistent", "none"),
    "dann": ("synthetic", "dann"),
    "refined_dann": ("refined", "dann"),
    "self_train": ("synthetic", "self-train"),
    "refined_self_train": ("refined", "self-train"),
    "synthetic_4x": ("synthetic_4x", "none"),
    "refined_4x": ("refined_4x", "none"),
    "refined_samples": ("refined_samples", "none"),
    "real": ("real", "none"),
}
# The headline metric of gap_closed per task model: (key, higher is better).
GAP_METRIC = {"classify": "accuracy", "gaze": "angular_error_deg", "handpose": "mean_error_px"}


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
        refiner: the refiner's hyperparameters (``train-refiner``); its ``amp`` also applies to ``refine``.
        task_model: the task model's training recipe (``train-task``).
        min_task_steps: every task model gets at least this many optimizer steps (more epochs for small
            sets), so the few-hundred-image real row is not under-trained next to the 4x rows; 0 keeps
            ``task_model.min_steps`` (train-task's own floor).
        methods: the rows to run (ROWS names); empty: all. ``synthetic`` is always run (every other row
            is compared with it), and so is ``real`` when there are real labels.
        consistent_lambda_reg: refined_consistent: the consistent refiner's self-regularization weight
            (the consistency loss holds the label, so it may be relaxed below ``refiner.lambda_reg``).
        lambda_consistency: refined_consistent: the weight of the consistency loss. Both defaults were
            chosen label-free on the embedded default (docs/simgan.md): the lowest two-sample accuracy
            against held-out real pixels among settings whose monitor agreement stayed >= 0.9.
        realism: also measure the two-sample test and FID (synthetic vs real, refined vs real), label
            preservation and a PCA view on repeat 0.
        noise_channels: refined_samples: K noise maps at the stochastic refiner's input; its ``scale``
            refinements of each synthetic image replace the 4x rows' new simulations.
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
    min_task_steps: int = 0
    realism: bool = True
    methods: tuple[str, ...] = ()
    consistent_lambda_reg: float = 0.2
    lambda_consistency: float = 0.1
    noise_channels: int = 2


@dataclass(frozen=True)
class RealData:
    """User-supplied real folders; any left None is made from the embedded/pseudo-real default."""

    unlabeled: str | Path | None = None
    labeled: str | Path | None = None
    test: str | Path | None = None
    synthetic: str | Path | None = None
    refiner_run: str | Path | None = None


def with_models(cfg: GapConfig, **fields: bool | None) -> GapConfig:
    """``cfg`` with each of ``fields`` (``amp``: mixed precision, :mod:`simgan.amp`; ``equalize``:
    :mod:`simgan.data.equalize`) set alike in the refiner (and so refine) and the task models; a field
    given as None keeps the config's own."""
    given = {k: v for k, v in fields.items() if v is not None}
    if not given:
        return cfg
    refiner = dataclasses.replace(cfg.refiner, **given)
    return dataclasses.replace(cfg, refiner=refiner, task_model=dataclasses.replace(cfg.task_model, **given))


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


def gap_closed(results: dict[str, dict[str, Any]], task_model: str) -> None:
    """Add ``gap_closed`` to every row of ``results`` (in place): (row - synthetic) / (real - synthetic) on
    the task's headline metric, from the means over repeats. Nothing is added without both end rows or
    when they are equal."""
    key = GAP_METRIC[task_model]
    if "synthetic" not in results or "real" not in results:
        return
    lo, hi = results["synthetic"].get(key), results["real"].get(key)
    if lo is None or hi is None or hi == lo:
        return
    for m in results.values():
        if key in m:
            m["gap_closed"] = (float(m[key]) - lo) / (hi - lo)


def selected_rows(methods: tuple[str, ...] | list[str]) -> list[str]:
    """The rows a ``methods`` list asks for, in table order (empty: all but the opt-in rows); synthetic and
    real always.

    Raises:
        InputError: an unknown row name.
    """
    unknown = [m for m in methods if m not in ROWS]
    if unknown:
        raise InputError(f"--methods: unknown row {unknown[0]!r}; choose from {', '.join(ROWS)}")
    wanted = set(methods) | {"synthetic", "real"} if methods else set(ROWS) - set(OPT_IN)
    return [r for r in ROWS if r in wanted]


def _train_task_once(
    cfg: GapConfig,
    train: Source,
    test: Source,
    out: Path,
    seed: int,
    progress: bool,
    adapt: str = "none",
    *,
    unlabeled: Source,
) -> dict[str, Any]:
    """Row model ``out`` (trained now, or found finished), its test metrics and its label-free signals on the
    unlabelled real split; adapters read that split's pixels, never its labels."""
    done = out / "metrics.json"
    if done.is_file():
        metrics = json.loads(done.read_text())
    else:
        if out.exists():
            shutil.rmtree(out)  # an interrupted task run: retrain from scratch (seconds to minutes)
        tm = cfg.task_model
        floor = cfg.min_task_steps or tm.min_steps
        task_cfg = dataclasses.replace(tm, task=TASK_OF[cfg.task], seed=seed, min_steps=floor, adapt=adapt)
        metrics = train_task(
            task_cfg, [train], test, out, target=unlabeled if adapt != "none" else None, progress=progress
        )
    return metrics | _label_free(out, metrics, unlabeled)


def _label_free(run: Path, metrics: dict[str, Any], unlabeled: Source) -> dict[str, Any]:
    """A row model's label-free signals on the unlabelled real split (simgan.eval.label_free): its
    predictions there (``RUN/unlabeled_predictions.npy``, kept for the disagreement between repeats) and,
    for a classifier, its ATC accuracy estimate."""
    cached = run / "unlabeled_predictions.npy"
    if cached.is_file():
        preds = torch.from_numpy(np.load(cached))
    else:
        model, config = load_task_model(run)
        preds = predict(model, metrics["task"], equalized(unlabeled, bool(config.get("equalize"))))
        atomic.atomic_write(cached, lambda f: np.save(f, preds.numpy()))
    out: dict[str, Any] = {"unlabeled_predictions": preds}
    if "atc_threshold" in metrics:
        out["atc_accuracy"] = atc_accuracy(preds, metrics["atc_threshold"])
    return out


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
    elif out.exists() and any(p.name != atomic.FolderLock.NAME for p in out.iterdir()):
        raise InputError.at(out, "exists and is not an experiment folder: choose another --out")
    else:
        save_config(cfg, out / "config.json")
        atomic.write_json(out / "inputs.json", _inputs(real))


@atomic.one_writer("out")
def run_gap(
    cfg: GapConfig,
    out: str | Path,
    *,
    real: RealData | None = None,
    device: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    log: Any = print,
    workers: int = 1,
) -> dict[str, Any]:
    """Run the reality-gap experiment (module docstring) and write ``OUT/gap.json``.

    With ``workers`` > 1 the repeats' sets, refiners and row models train as jobs on that many processes
    (:mod:`simgan.experiment.parallel`, each with its share of the CPU threads); the table is then
    collected from their outputs. Every job depends only on its seeds, so the numbers are those of one
    process with as many threads as each worker had.

    Returns:
        ``{"task", "task_model", "repeats", "results": {row: aggregated metrics}, "per_repeat": {...},
        "realism": ..., "labels": ...}``; rows as in DESIGN.md (synthetic, refined, synthetic_4x,
        refined_4x, real), each holding the task metrics (mean over repeats) plus ``<key>_std``.
    """
    if cfg.task not in TASK_OF:
        raise InputError(f"--task {cfg.task}: choose from {', '.join(TASK_OF)}")
    if cfg.repeats < 1 or cfg.n_synthetic < 1:
        raise InputError("--repeats and --n-synthetic must be >= 1")
    if cfg.consistent_lambda_reg < 0 or cfg.lambda_consistency < 0:
        raise InputError("consistent_lambda_reg and lambda_consistency must be >= 0")
    if cfg.noise_channels < 1:
        raise InputError(
            f"noise_channels must be >= 1 (the refined_samples row's K), got {cfg.noise_channels}"
        )
    rows = selected_rows(cfg.methods)
    real = real or RealData()
    out = Path(out)
    if overwrite and out.exists():
        if not is_gap_folder(out):
            raise InputError.at(out, "is not an experiment folder (--overwrite deletes only those)")
        for item in out.iterdir():  # everything but the lock this run holds
            if item.is_dir():
                shutil.rmtree(item)
            elif item.name != atomic.FolderLock.NAME:
                item.unlink()
    _check_or_save_config(cfg, real, out)
    data = out / "data"

    default = "embedded default" if cfg.task == "digits" else "pseudo-real target"
    log(f"[gap] real data ({'user folders' if real.unlabeled else default})")
    splits = prepare_real(cfg, real, data, progress)
    test = splits["test"]
    assert test is not None and splits["unlabeled"] is not None
    if test.info.task != TASK_OF[cfg.task]:
        raise InputError.at(
            test.info.path, f"the test set's task is {test.info.task}, not {TASK_OF[cfg.task]}"
        )

    per_repeat: dict[str, list[dict[str, Any]]] = {row: [] for row in rows}
    needs = {ROW_RECIPE[row][0] for row in rows}
    first_sets: dict[str, Path] = {}
    if workers > 1:
        log(f"[gap] {workers} worker processes")
        run_jobs(_jobs(cfg, real, out, rows, device, talk=progress), workers, log)
        log = _silent  # what follows finds every job's output
    for r in range(cfg.repeats):
        if workers > 1:  # the jobs made them: open them, no writer resumed a second time
            sets = found_sets(real, data, r)
        else:
            sets = training_sets(cfg, real, out, splits, needs, r, device, progress, log)
        if splits["labeled"] is not None:
            sets["real"] = splits["labeled"]
        if r == 0:
            first_sets = {k: s.info.path for k, s in sets.items()}
        # 3-4. a fresh task model per row, tested on the real test set
        for name in rows:
            m = _train_row(cfg, out, sets, splits, name, r, device, progress, log)
            if m is not None:
                per_repeat[name].append(m)

    preds = {row: [m.pop("unlabeled_predictions") for m in runs] for row, runs in per_repeat.items()}
    results = {row: _aggregate(runs) for row, runs in per_repeat.items() if runs}
    for row, p in preds.items():
        d = mean_disagreement(TASK_OF[cfg.task], p)
        if d is not None and row in results:
            results[row]["disagreement"] = d
    gap_closed(results, TASK_OF[cfg.task])
    result: dict[str, Any] = {
        "task": cfg.task,
        "task_model": TASK_OF[cfg.task],
        "repeats": cfg.repeats,
        "results": results,
        "per_repeat": per_repeat,
    }
    if cfg.realism and workers > 1:  # the realism job wrote them
        result.update({k: _read_json(out / f"{k}.json") for k in ("realism", "labels")})
    elif cfg.realism:
        result.update(_measure_realism(cfg, out, first_sets, splits, device, log))
    atomic.write_json(out / "gap.json", result)
    from simgan.viz.report import build_report  # matplotlib: imported only when a report is written

    build_report(out, out / "report.html", title=f"simgan experiment gap: {cfg.task}")
    return result


def _train_row(
    cfg: GapConfig,
    out: Path,
    sets: dict[str, Source],
    splits: dict[str, Source | None],
    name: str,
    r: int,
    device: str | None,
    progress: bool,
    log: Any,
) -> dict[str, Any] | None:
    """Row ``name`` of repeat r: its model trained (or found), tested, with its label-free signals; None
    for a row whose training set this run has not (refined rows with a user's refiner missing, say)."""
    if name == "refined_consistent":
        sets[name] = consistent_set(cfg, out, sets["synthetic"], splits, r, device, progress, log)
    source, adapt = ROW_RECIPE[name]
    if source not in sets:
        return None
    log(f"[gap] repeat {r + 1}/{cfg.repeats}: train {TASK_OF[cfg.task]} on {name}")
    assert splits["test"] is not None and splits["unlabeled"] is not None
    m = _train_task_once(
        cfg,
        sets[source],
        splits["test"],
        out / "tasks" / f"{name}_r{r}",
        cfg.seed + r,
        progress,
        adapt=adapt,
        unlabeled=splits["unlabeled"],
    )
    if name == "refined_samples":  # how much the refinements of one image differ
        m["diversity_l1"] = sample_diversity(sets[name])["diversity_l1"]
    return m


# Rows that take longest start first, so the last jobs to run are short ones (synthetic first: the
# consistent refiner waits for its model).
_JOB_ORDER = ("synthetic", "refined_consistent", "self_train", "refined_self_train", "dann", "refined_dann")


def _jobs(
    cfg: GapConfig, real: RealData, out: Path, rows: list[str], device: str | None, talk: bool
) -> list[Job]:
    """The run as jobs: each repeat's sets, then every (row, repeat) model, then the realism checks;
    ``talk``: the workers print their stage lines (off for ``--json``; ``--quiet`` reaches them too)."""
    jobs = [Job(f"sets r{r}", _sets_job, (cfg, real, out, r, device, talk)) for r in range(cfg.repeats)]
    ordered = [n for n in _JOB_ORDER if n in rows] + [n for n in rows if n not in _JOB_ORDER]
    for r in range(cfg.repeats):
        for name in ordered:
            after = (f"sets r{r}",) + ((f"synthetic r{r}",) if name == "refined_consistent" else ())
            jobs.append(Job(f"{name} r{r}", _row_job, (cfg, real, out, r, name, device, talk), after))
    if cfg.realism:
        realism = Job("realism", _realism_job, (cfg, real, out, device, talk), ("sets r0",))
        jobs.insert(cfg.repeats, realism)
    return jobs


def _say(message: str) -> None:
    print(message, flush=True)


def _worker_log(talk: bool) -> Any:
    return _say if talk and not quiet() else _silent


def _silent(message: str) -> None:
    pass


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _sets_job(cfg: GapConfig, real: RealData, out: Path, r: int, device: str | None, talk: bool) -> None:
    """Worker: repeat r's synthetic sets, refiner(s) and refined sets."""
    splits = found_real(real, out / "data")
    needs = {ROW_RECIPE[row][0] for row in selected_rows(cfg.methods)}
    training_sets(cfg, real, out, splits, needs, r, device, False, _worker_log(talk))


def _row_job(
    cfg: GapConfig, real: RealData, out: Path, r: int, name: str, device: str | None, talk: bool
) -> None:
    """Worker: row ``name`` of repeat r, on the sets its repeat's sets job made."""
    splits = found_real(real, out / "data")
    sets = found_sets(real, out / "data", r)
    if splits["labeled"] is not None:
        sets["real"] = splits["labeled"]
    _train_row(cfg, out, sets, splits, name, r, device, False, _worker_log(talk))


def _realism_job(cfg: GapConfig, real: RealData, out: Path, device: str | None, talk: bool) -> None:
    """Worker: repeat 0's realism and label preservation (realism.json, labels.json, embedding.png)."""
    splits = found_real(real, out / "data")
    sets = {k: s.info.path for k, s in found_sets(real, out / "data", 0).items()}
    _measure_realism(cfg, out, sets, splits, device, _worker_log(talk))


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
    from simgan.eval.label_preservation import LabelsConfig
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
        floor = cfg.min_task_steps or cfg.task_model.min_steps  # the oracle trains like the rows' models
        labels = evaluate_labels(
            sets["synthetic"],
            sets["refined"],
            LabelsConfig(oracle_min_steps=floor),
            oracle=oracle,
            device=dev,
            progress=False,
        )
        atomic.write_json(out / "labels.json", labels)
    names = [k for k in ("synthetic", "refined") if k in sets] + ["real"]
    paths = [sets[k] for k in names[:-1]] + [real_ref.info.path]
    visualize(paths, out / "embedding.png", names=names, method="pca", seed=cfg.seed)
    return {"realism": realism, "labels": labels}
