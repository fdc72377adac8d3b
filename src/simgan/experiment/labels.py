"""``simgan evaluate labels``: label preservation, with the digit oracle loaded or trained as needed.

The measurements live in :mod:`simgan.eval.label_preservation`; the one step that trains a model lives
here, above both ``train`` and ``eval``: for digits the oracle classifier is loaded from a ``train-task``
run (``oracle=RUN`` or a ``.pt`` file), else trained with :func:`simgan.train.task.train_task` on real
labelled data (``oracle=DIR``) or, without one, on the synthetic set itself.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simgan import atomic
from simgan.data import Source, open_dataset
from simgan.eval.label_preservation import (
    LabelsConfig,
    check_oracle_data,
    load_oracle,
    measure_labels,
    oracle_checkpoint,
)
from simgan.nn.task_model import load_task_model
from simgan.train.task import TaskConfig, train_task

# LabelsConfig is the config of this command's entry point, so it is importable from here as well.
__all__ = ["LabelsConfig", "build_oracle", "evaluate_labels"]


def build_oracle(
    oracle: str | Path | None,
    synthetic: Source,
    cfg: LabelsConfig,
    work_dir: Path,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """The digit oracle: loaded from a ``train-task`` run, or trained with ``train_task``.

    Args:
        oracle: a ``train-task`` run folder (with ``best.pt``) or checkpoint file to load; a labelled
            dataset (real digits, ideally) to train on; or None to train on ``synthetic``.
        synthetic: the synthetic set whose size, channels and classes the oracle must match.
        cfg: epochs, batch size, learning rate and seed of a trained oracle.
        work_dir: the run folder of a trained oracle.
        device: where to train and run it.
        progress: show progress bars.

    Returns:
        The eval-mode model and a description (``oracle``, and ``oracle_val_accuracy`` when trained).

    Raises:
        InputError: a checkpoint or dataset that does not match the synthetic digits.
    """
    checkpoint = oracle_checkpoint(oracle)
    if checkpoint is not None:
        return load_oracle(checkpoint, synthetic, device)
    src = synthetic if oracle is None else open_dataset(oracle)
    check_oracle_data(src, synthetic)
    task_cfg = TaskConfig(
        task="classify",
        epochs=cfg.oracle_epochs,
        min_steps=cfg.oracle_min_steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        device=str(device),
        augment=(),  # the judge stays the plain classifier its numbers were measured with
    )
    metrics = train_task(task_cfg, [src], None, work_dir, progress=progress, overwrite=True)
    epochs = metrics["epochs"]
    model, _ = load_task_model(work_dir / "best.pt", device)
    oi = src.info
    about = {
        "oracle": f"DigitCNN trained by train-task on {oi.path} "
        f"({oi.count} images, {epochs} epochs, {metrics['steps']} steps)"
    }
    val_acc = metrics.get("best", {}).get("val/accuracy")
    if val_acc is not None:
        about["oracle_val_accuracy"] = float(val_acc)  # on a held-out split of its own training set
    return model, about


@atomic.one_writer("out")
def evaluate_labels(
    synthetic: str | Path | Source,
    refined: str | Path | Source,
    cfg: LabelsConfig | None = None,
    *,
    oracle: str | Path | None = None,
    out: str | Path | None = None,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Label preservation of a refined dataset (:mod:`simgan.eval.label_preservation`); writes
    ``OUT/metrics.json``.

    Args:
        synthetic: the labelled synthetic dataset.
        refined: its refined version (same ids).
        cfg: see :class:`~simgan.eval.label_preservation.LabelsConfig` (default settings when None).
        oracle: classify only: a labelled real dataset to train the oracle on, or a ``train-task`` run
            to load (default: train on the synthetic set).
        out: optional output folder for ``metrics.json`` (and ``oracle/``, a trained oracle's run).
        device: for the oracle.
        progress: show progress bars.

    Raises:
        InputError: unreadable folders, an unlabelled synthetic set, no shared ids, different image sizes,
            an oracle that does not match the synthetic digits.
    """
    cfg = cfg or LabelsConfig()

    def make_oracle(syn: Source, dev: torch.device) -> tuple[nn.Module, dict[str, Any]]:
        # Without an output folder the trained oracle's run is scratch: the model is kept in memory.
        with tempfile.TemporaryDirectory(prefix="simgan-oracle-") as tmp:
            work = Path(out) / "oracle" if out is not None else Path(tmp)
            return build_oracle(oracle, syn, cfg, work, device=dev, progress=progress)

    return measure_labels(synthetic, refined, cfg, oracle=make_oracle, out=out, device=device)
