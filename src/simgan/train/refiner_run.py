"""The refiner run's folder and its side tasks: data checks, stats lines, grids, and the label monitor's
warnings, ``--strict`` stop and ``best.pt``.

Kept apart from the loop (simgan.train.refiner) so that the loop reads as Algorithm 1.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from simgan.checkpoint import save_checkpoint
from simgan.data.source import Source
from simgan.distributed import ranks_from_env
from simgan.errors import InputError
from simgan.nn.discriminator import DISCRIMINATOR_PRESETS, output_size, receptive_field
from simgan.nn.refiner import refine_images
from simgan.progress import quiet
from simgan.train.label_monitor import LabelMonitor, LabelPreservationError
from simgan.train.refiner_config import BEST_NAME, adversarial_iteration
from simgan.train.refiner_state import RefinerState

__all__ = [
    "BEST_NAME",
    "NonFiniteLossError",
    "GridWriter",
    "check_data",
    "check_finite",
    "log_line",
    "postfix",
    "write_grid",
    "monitor_step",
    "notice",
    "save_state",
    "log_hparams",
]

# Called as on_grid(path, synthetic, refined, real, rows), like simgan.viz.grids.save_refiner_grid.
GridWriter = Callable[[Path, torch.Tensor, torch.Tensor, torch.Tensor, int], None]


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the run stopped and the checkpoint on disk is the last good one."""


def notice(text: str) -> None:
    """One line on stderr that does not break the progress bar (rank 0's only, in a torchrun job; none
    under ``--quiet``)."""
    if not ranks_from_env().main or quiet():
        return
    tqdm.write(f"simgan train-refiner: {text}", file=sys.stderr)


def check_data(synthetic: Source, real: Source, preset: str, global_adversarial: bool) -> None:
    """Refuse sets that differ in channels, sizes the global D cannot take, or images too small for D."""
    s, r = synthetic.info, real.info
    if s.channels != r.channels:
        raise InputError.at(
            r.path,
            f"real images have {r.channels} channel(s) but the synthetic images ({s.path}) have {s.channels}",
        )
    if global_adversarial and (s.height, s.width) != (r.height, r.width):
        raise InputError.at(
            r.path,
            f"the global discriminator needs one image size: real {r.height}x{r.width}, "
            f"synthetic {s.height}x{s.width}",
        )
    spec = DISCRIMINATOR_PRESETS[preset]
    for info in (s, r):
        h, w = output_size(spec, info.height, info.width)
        if h < 1 or w < 1:
            need = receptive_field(spec)
            raise InputError.at(
                info.path,
                f"images of {info.height}x{info.width} are too small for the {preset!r} discriminator "
                f"(expected at least {need}x{need}; choose another --preset)",
            )


def _last_good(ckpt: Path) -> str:
    return f"{ckpt}" if ckpt.is_file() else "none written yet"


def check_finite(values: dict[str, torch.Tensor], step: int, phase: str, ckpt: Path) -> dict[str, float]:
    """The values as floats; a NaN or inf stops the run (:class:`NonFiniteLossError`)."""
    floats = {k: float(v) for k, v in values.items()}
    bad = [k for k, v in floats.items() if not math.isfinite(v)]
    if bad:
        values_text = ", ".join(f"{k} = {floats[k]}" for k in bad)
        raise NonFiniteLossError(
            f"step {step} ({phase}): non-finite {values_text}; training stopped. "
            f"Last good checkpoint: {_last_good(ckpt)}. "
            "Lower the learning rates (a new --out) and train again."
        )
    return floats


def log_line(
    state: RefinerState, phase: str, stats: Path, tb: Any, t0: float, extra: dict[str, float] | None = None
) -> dict[str, Any]:
    """Append one stats line (the averages since the last one, and ``extra``) to ``stats`` and TensorBoard.

    With ``tb`` None (a torchrun rank other than 0) the line is made and returned, not written.
    """
    done = state.step
    line = {
        "step": done,
        "phase": phase,
        "iteration": adversarial_iteration(state.config, done),
        **state.averages.pop(),
        **(extra or {}),
    }
    line["lr/R"] = state.opt_R.param_groups[0]["lr"]
    line["lr/D"] = state.opt_D.param_groups[0]["lr"]
    line["time/session_s"] = round(time.perf_counter() - t0, 3)
    if tb is None:
        return line
    with open(stats, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    for k, v in line.items():
        if "/" in k:
            tb.add_scalar(k, v, done)
    return line


def postfix(line: dict[str, Any]) -> dict[str, str]:
    """The progress bar's summary of a stats line: total losses, D's accuracies, the label measure."""
    keys = ("loss/R/t", "loss/D/t", "acc/", "labels/")
    return {
        k.removeprefix("loss/").removeprefix("labels/"): f"{v:.3f}"
        for k, v in line.items()
        if k.startswith(keys)
    }


def write_grid(
    state: RefinerState,
    on_grid: GridWriter | None,
    path: Path,
    synthetic: torch.Tensor,
    real: torch.Tensor,
    tb: Any = None,
) -> None:
    """Refine the fixed grid images with the current R and hand them to ``on_grid`` (when given) and to
    TensorBoard (``tb``, when given: ``images/synthetic``, ``images/refined``, ``images/difference``
    (|R(x) - x| / 2) and ``images/real``, in [0, 1], at the current step).

    Shape:
        synthetic: (n, C, H, W) and real: (n, C, H', W') on the CPU.
    """
    state.R.eval()
    refined = refine_images(state.R, synthetic.to(state.device), amp=state.amp).cpu()  # (n, C, H, W)
    state.R.train()
    if on_grid is not None:
        on_grid(path, synthetic, refined, real, state.config.grid_rows)
    if tb is not None:
        shown = {"synthetic": synthetic, "refined": refined, "real": real}
        for name, images in shown.items():
            tb.add_images(f"images/{name}", ((images + 1) / 2).clamp(0, 1)[:, :3], state.step)
        tb.add_images("images/difference", ((refined - synthetic).abs() / 2)[:, :3], state.step)


def log_hparams(tb: Any, config: dict[str, Any], stats: dict[str, Any]) -> None:
    """The run's hyperparameters and its last logged numbers, for TensorBoard's HPARAMS tab."""
    hparams = {
        k: v if isinstance(v, int | float | str | bool) else str(v)
        for k, v in config.items()
        if not k.startswith("_") and v is not None
    }
    metrics = {f"final/{k}": float(v) for k, v in stats.items() if "/" in k and isinstance(v, int | float)}
    if metrics:
        tb.add_hparams(hparams, metrics, run_name="hparams")


def monitor_step(
    state: RefinerState, monitor: LabelMonitor, line: dict[str, Any], run: Path, ckpt: Path
) -> None:
    """Judge the label measure in ``line`` (logged at ``state.step``): warn once per crossing below the
    threshold (or stop under ``strict``), and write ``RUN/best.pt`` when this step is the new best
    (:meth:`LabelMonitor.judge` states the rule).

    Raises:
        LabelPreservationError: ``strict`` and the measure fails (no checkpoint of this step is written).
    """
    step, value = state.step, float(line[monitor.key])
    d_acc = line.get("acc/D/refined") if line["phase"] == "adversarial" else None
    was_passing = state.monitor.passing
    crossed, best = monitor.judge(state.monitor, step, value, d_acc)
    if not monitor.passes(value) and (crossed or state.config.strict):
        what = f"step {step} (iteration {line['iteration']}): {monitor.describe(value)}"
        if state.config.strict:
            raise LabelPreservationError(
                f"{what}: the refined images no longer keep their labels; stopped (--strict). "
                f"Last good checkpoint: {_last_good(ckpt)}"
            )
        keep = (
            f"best.pt keeps step {state.monitor.best_step}"
            if state.monitor.best_step >= 0
            else "no best.pt yet"
        )
        notice(f"warning: {what}: the refined images no longer keep their labels ({keep})")
    elif not was_passing and monitor.passes(value):
        notice(f"step {step}: {monitor.describe(value)} again")
    if best:
        save_state(state, run / BEST_NAME)


def save_state(state: RefinerState, path: Path) -> None:
    """Write the state's checkpoint to ``path`` (rank 0 only; in a job every rank calls this, because
    making the checkpoint gathers each rank's own part)."""
    checkpoint = state.state_dict()
    if state.ranks.main:
        save_checkpoint(path, checkpoint, "refiner")
