"""The data of ``experiment gap``: the real splits, each repeat's synthetic and refined sets, its refiners.

Every function here makes its datasets and runs once and finds them again on a rerun (each writer resumes
or finds its folder complete). :func:`found_real` and :func:`found_sets` only *open* what a finished stage
wrote: the parallel runner's row jobs read the sets this way, so no two processes ever open one folder's
writer at the same time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simgan.data import open_dataset
from simgan.data.embedded import split_indices, write_sklearn_digits
from simgan.data.source import Source
from simgan.errors import InputError
from simgan.refinement import refine
from simgan.sim.registry import simulate
from simgan.train.refiner import RefinerTrainConfig, train_refiner
from simgan.viz.grids import save_refiner_grid

if TYPE_CHECKING:
    from simgan.experiment.gap import GapConfig, RealData

__all__ = ["REAL_SPLIT", "prepare_real", "found_real", "training_sets", "found_sets", "consistent_set"]

REAL_SPLIT = {"unlabeled": 0.5, "labeled": 0.2, "test": 0.3}
# The training sets a repeat may make, in the order training_sets makes them (refined_consistent aside).
MADE_SETS = ("synthetic", "synthetic_4x", "refined", "refined_4x", "refined_samples")


def prepare_real(cfg: GapConfig, user: RealData, data: Path, progress: bool) -> dict[str, Source | None]:
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
            size = (int(cfg.size[0]), int(cfg.size[1])) if cfg.size and tuple(cfg.size) != (8, 8) else None
            write_sklearn_digits(folder, idx, labelled=name != "unlabeled", size=size)
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


def training_sets(
    cfg: GapConfig,
    real: RealData,
    out: Path,
    splits: dict[str, Source | None],
    needs: set[str],
    r: int,
    device: str | None,
    progress: bool,
    log: Any,
) -> dict[str, Source]:
    """Repeat r's synthetic sets (1x, and ``scale`` x when a row needs it), its refiner, and the refined
    sets the rows need; made once and found again on a rerun."""
    seed, data = cfg.seed + r, out / "data"
    size = tuple(cfg.size) if cfg.size else None
    sets: dict[str, Source] = {}
    # 1. synthetic data (labels for free)
    if real.synthetic is not None:
        sets["synthetic"] = open_dataset(real.synthetic)
    else:
        log(f"[gap] repeat {r + 1}/{cfg.repeats}: simulate {cfg.n_synthetic} {cfg.task}")
        folder = data / f"synthetic_r{r}"
        simulate(cfg.task, cfg.n_synthetic, folder, seed=seed, size=size, progress=progress)
        sets["synthetic"] = open_dataset(folder)
        if cfg.scale > 1 and needs & {"synthetic_4x", "refined_4x"}:
            folder = data / f"synthetic_4x_r{r}"
            n = cfg.scale * cfg.n_synthetic
            simulate(cfg.task, n, folder, seed=10_007 + seed, size=size, progress=progress)
            sets["synthetic_4x"] = open_dataset(folder)
    # 2. the refiner: R vs local D on real-unlabelled images, then refine every synthetic set
    needs_r = needs & {"refined", "refined_4x"}
    if real.refiner_run is not None:
        run = Path(real.refiner_run)
    elif not needs_r:
        run = None
    else:
        run = out / ("refiner" if r == 0 else f"refiner_r{r}")
        log(f"[gap] repeat {r + 1}/{cfg.repeats}: train the refiner ({cfg.refiner.steps} steps) -> {run}")
        train_gap_refiner(
            dataclasses.replace(cfg.refiner, seed=seed), sets["synthetic"], splits, run, device, progress
        )
    for name in [k for k in ("synthetic", "synthetic_4x") if k in sets]:
        target = name.replace("synthetic", "refined")
        if run is None or target not in needs:
            continue
        folder = data / f"{target}_r{r}"
        refine(run, sets[name], folder, device=device, progress=progress, amp=cfg.refiner.amp)
        sets[target] = open_dataset(folder)
    # 3. stochastic refinement: scale refinements of each synthetic image, from a refiner with noise maps
    if "refined_samples" in needs and cfg.scale > 1:
        run = out / ("refiner_noise" if r == 0 else f"refiner_noise_r{r}")
        log(f"[gap] repeat {r + 1}/{cfg.repeats}: train the stochastic refiner (K = {cfg.noise_channels})")
        rcfg = dataclasses.replace(cfg.refiner, seed=seed, noise_channels=cfg.noise_channels)
        train_gap_refiner(rcfg, sets["synthetic"], splits, run, device, progress)
        folder = data / f"refined_samples_r{r}"
        refine(
            run,
            sets["synthetic"],
            folder,
            device=device,
            progress=progress,
            amp=cfg.refiner.amp,
            samples=cfg.scale,
            seed=seed,
        )
        sets["refined_samples"] = open_dataset(folder)
    return sets


def train_gap_refiner(
    rcfg: RefinerTrainConfig,
    synthetic: Source,
    splits: dict[str, Source | None],
    run: Path,
    device: str | None,
    progress: bool,
) -> None:
    """Train (or resume, or find finished) one refiner of the experiment against the unlabelled split."""
    assert splits["unlabeled"] is not None
    train_refiner(
        synthetic,
        splits["unlabeled"],
        run,
        rcfg,
        resume=True,
        device=device,
        progress=progress,
        on_grid=save_refiner_grid,
    )


def consistent_set(
    cfg: GapConfig,
    out: Path,
    synthetic: Source,
    splits: dict[str, Source | None],
    r: int,
    device: str | None,
    progress: bool,
    log: Any,
) -> Source:
    """The refined_consistent training set of repeat r: a refiner trained with the consistency loss through
    the synthetic row's frozen task model (``OUT/tasks/synthetic_rR``, trained first), then R_c(synthetic).
    """
    folder = out / "data" / f"refined_consistent_r{r}"
    run = out / ("refiner_consistent" if r == 0 else f"refiner_consistent_r{r}")
    task_run = out / "tasks" / f"synthetic_r{r}"
    log(f"[gap] repeat {r + 1}/{cfg.repeats}: train the consistent refiner (frozen {task_run}) -> {run}")
    rcfg = dataclasses.replace(
        cfg.refiner,
        seed=cfg.seed + r,
        lambda_reg=cfg.consistent_lambda_reg,
        consistency=str(task_run),
        lambda_consistency=cfg.lambda_consistency,
    )
    train_gap_refiner(rcfg, synthetic, splits, run, device, progress)
    refine(run, synthetic, folder, device=device, progress=progress, amp=cfg.refiner.amp)
    return open_dataset(folder)


def found_real(user: RealData, data: Path) -> dict[str, Source | None]:
    """The real splits :func:`prepare_real` made (or the user's folders), opened for reading only."""
    given = {"unlabeled": user.unlabeled, "labeled": user.labeled, "test": user.test}
    if any(v is not None for v in given.values()):
        return {k: None if v is None else open_dataset(v) for k, v in given.items()}
    return {name: open_dataset(data / f"real_{name}") for name in ("unlabeled", "labeled", "test")}


def found_sets(real: RealData, data: Path, r: int) -> dict[str, Source]:
    """Repeat r's training sets that :func:`training_sets` made, opened for reading only."""
    sets: dict[str, Source] = {}
    for name in MADE_SETS:
        folder = Path(real.synthetic) if name == "synthetic" and real.synthetic else data / f"{name}_r{r}"
        if (folder / "dataset.json").is_file():
            sets[name] = open_dataset(folder)
    return sets
