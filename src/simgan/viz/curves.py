"""Training curves of a ``train-task`` run: ``RUN/curves.json`` (the numbers) and ``RUN/curves.png``.

Both are drawn from the run's epoch records (the lines of ``history.jsonl``) and, when the run was tested,
its test metrics: the within-d curves (gaze, handpose) or the confusion matrix (classify).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simgan import atomic
from simgan.eval.metrics import selection_metric

__all__ = ["plot_curves"]


def plot_curves(
    path: str | Path, history: Sequence[dict[str, Any]], task: str, test: dict[str, Any] | None
) -> None:
    """Write ``curves.png``: losses and the validation score per epoch, and the test panel.

    The test panel holds the within-d curves (gaze: samples; handpose: joints and frames) or, for classify,
    the confusion matrix; it is empty without ``test``. A dashed line marks where fine-tuning starts.
    Uses a bare Figure (Agg canvas), never pyplot's global state; the file is written atomically.
    """
    from matplotlib.figure import Figure  # about half a second: only when a plot is asked for

    fig = Figure(figsize=(12, 3.6))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.9, wspace=0.3)
    ax_loss, ax_val, ax_test = fig.subplots(1, 3)
    x = list(range(1, len(history) + 1))
    ax_loss.plot(x, [h["train/loss"] for h in history], label="train")
    val_loss = [h.get("val/loss") for h in history]
    if any(v is not None for v in val_loss):
        ax_loss.plot(x, [np.nan if v is None else v for v in val_loss], label="val")
    key = selection_metric(task).name
    ax_val.plot(x, [h.get(f"val/{key}", np.nan) for h in history], marker=".")
    for k, h in enumerate(history):
        if h["phase"] == "finetune":
            for ax in (ax_loss, ax_val):
                ax.axvline(k + 0.5, color="grey", linestyle="--", linewidth=0.8)
            break
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss", yscale="log")
    ax_loss.legend()
    ax_val.set(xlabel="epoch", ylabel=key, title=f"validation {key}")
    if test is None:
        ax_test.set_axis_off()
    elif task == "classify":
        ax_test.imshow(np.asarray(test["confusion"]), cmap="Blues")
        ax_test.set(xlabel="predicted", ylabel="true", title=f"test confusion (acc {test['accuracy']:.3f})")
    else:
        unit = "deg" if task == "gaze" else "px"
        curves = (
            {"within_deg": "samples"}
            if task == "gaze"
            else {"within_px": "joints", "frames_within_px": "frames"}
        )
        for k, label in curves.items():
            ax_test.plot([int(d) for d in test[k]], list(test[k].values()), label=label)
        ax_test.set(xlabel=f"error threshold d ({unit})", ylabel="fraction <= d", title="test", ylim=(0, 1))
        ax_test.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    atomic.write_bytes(Path(path), buf.getvalue())
