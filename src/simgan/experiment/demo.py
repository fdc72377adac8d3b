"""``simgan demo``: the reality-gap experiment on the embedded default, with settings sized for a 2-core CPU.

The refiner settings were chosen with label-free signals only (the discriminator's accuracy, the two-sample
realism score against real-unlabelled images, and label preservation judged by a classifier trained on the
real *labelled* split); the real *test* split is touched only by the final evaluation.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from simgan.config import config_to_dict
from simgan.errors import InputError
from simgan.experiment.gap import GapConfig, is_gap_folder, run_gap, selected_rows, with_models
from simgan.experiment.table import format_gap
from simgan.train.refiner import RefinerTrainConfig
from simgan.train.task import TaskConfig

__all__ = ["demo_config", "run_demo"]


def demo_config(
    quick: bool = False,
    repeats: int | None = None,
    seed: int = 0,
    methods: list[str] | None = None,
    amp: bool = True,
) -> GapConfig:
    """The demo's experiment config (``quick``: a smoke test that finishes in well under 2 minutes;
    ``methods``: the rows, default all; ``amp``: mixed precision where the device does bf16 natively)."""
    refiner = RefinerTrainConfig(
        preset="digits",
        steps=2000,
        batch_size=64,
        lambda_reg=0.2,
        pretrain_d_steps=200,
        log_every=25,
        ckpt_every=500,
        grid_every=500,
    )
    task = TaskConfig(task="classify", epochs=15, batch_size=128, lr=1e-3)
    cfg = GapConfig(
        task="digits", n_synthetic=2000, scale=4, repeats=3, seed=seed, refiner=refiner, task_model=task
    )
    if quick:
        cfg = dataclasses.replace(
            cfg,
            n_synthetic=512,
            scale=0,
            repeats=1,
            refiner=dataclasses.replace(
                refiner,
                steps=60,
                pretrain_d_steps=20,
                ckpt_every=60,
                grid_every=30,
                log_every=10,
            ),
            task_model=dataclasses.replace(task, epochs=3, min_steps=100),
        )
    if repeats is not None:
        cfg = dataclasses.replace(cfg, repeats=repeats)
    cfg = with_models(cfg, amp=amp)
    if methods:
        selected_rows(methods)  # an unknown row fails here, before anything is written
        cfg = dataclasses.replace(cfg, methods=tuple(methods))
    return cfg


def run_demo(
    out: str | Path,
    *,
    quick: bool = False,
    repeats: int | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
    methods: list[str] | None = None,
    amp: bool = True,
    workers: int = 1,
) -> dict[str, Any]:
    """Run the demo into ``out``, print the table and write ``out/report.html``; returns the gap result.
    ``workers``: processes training at once (:func:`simgan.experiment.gap.run_gap`)."""
    out = Path(out)
    cfg = demo_config(quick, repeats, seed, methods, amp)
    overwrite = False
    if is_gap_folder(out):
        old = json.loads((out / "config.json").read_text())
        old.pop("_non_default", None)
        if old != config_to_dict(cfg):
            if old.get("task") != "digits":
                raise InputError.at(out, "holds another experiment: choose another --out")
            print(f"[demo] {out} holds a demo run with other settings: starting over")
            overwrite = True  # cleared by run_gap, under the folder's lock
    result = run_gap(cfg, out, device=device, progress=progress, overwrite=overwrite, workers=workers)
    print(format_gap(result, out))
    return result
