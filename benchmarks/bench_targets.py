"""The speed targets of issue 11, each as a ratio against baselines measured in the same run.

Training (eyes 35x55, b = 64, K_g = 2 R steps + K_d = 1 D step, one adversarial iteration):

- ``baseline (b)``: :class:`benchmarks.paper_baseline.BaselineIteration`, the paper's eye R and D as a
  straightforward port writes them (BatchNorm, zero padding, fp32);
- ``library fp32 (a)``: simgan's own step functions with ``amp`` off: its fp32, per-layer-padding path;
- ``library amp``: the same with ``amp`` on, as ``train-refiner`` resolves it on this device;
- ``train_refiner``: whole iterations of :func:`simgan.train.refiner.train_refiner` (what the CLI runs:
  data batches, history buffer, logging), timed between its ``on_step`` calls in the adversarial phase.

Refine, end to end (read PNGs -> R -> write PNGs): :func:`simgan.refinement.refine` of simulated eyes (35x55,
the paper's eye refiner) and digits (8x8, the digits preset), in images/s, against R's bare fp32 forward
pass on in-memory batches (the baseline's inference) and the issue's targets (500 and 5,000 img/s); then
the trained R through ``refine_images`` in its CPU micro-batches and as one batch of 256.

``SIMGAN_BENCH_SCALE`` multiplies the image counts and repeats; ``SIMGAN_BENCH_DIR`` (default: the
current folder) holds the temporary datasets.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

import simgan.nn.refiner as nn_refiner
from benchmarks.bench_refiner import Case, median_rates
from benchmarks.paper_baseline import BaselineIteration, BaselineRefiner
from simgan.amp import memory_format, use_amp
from simgan.cli.common import print_table
from simgan.nn.discriminator import build_discriminator
from simgan.nn.refiner import build_refiner, refine_images
from simgan.refinement import load_refiner, refine
from simgan.sim.registry import simulate
from simgan.train.history import HistoryBuffer
from simgan.train.optim import build_optimizer
from simgan.train.refiner import RefinerTrainConfig, discriminator_step, refiner_step, train_refiner

__all__ = ["main"]

SCALE = float(os.environ.get("SIMGAN_BENCH_SCALE", "1"))
B = 64
EYES = Case("eyes", 35, 55, 64, 512)


def _library_iteration(amp: bool):
    """One iteration through simgan's step functions (fp32 or the resolved amp path), as train_refiner
    runs them: R and D channels_last under amp, b/2 current + b/2 history for D."""
    torch.manual_seed(0)
    fmt = torch.channels_last if amp else torch.contiguous_format
    R = build_refiner("eyes", 1).to(memory_format=fmt)
    D = build_discriminator("eyes", 1).to(memory_format=fmt)
    opt_r, opt_d = (
        build_optimizer("adam", R.parameters(), 1e-4),
        build_optimizer("adam", D.parameters(), 1e-4),
    )
    x = (torch.rand(B, 1, 35, 55) * 2 - 1).contiguous(memory_format=fmt)  # (b, 1, H, W)
    y = (torch.rand(B, 1, 35, 55) * 2 - 1).contiguous(memory_format=fmt)
    history = HistoryBuffer(1024, seed=3)
    with torch.no_grad():
        refined = R(x).float()
    while not history.full:
        history.push(refined[: 1024 - len(history)])

    def run() -> None:
        for _ in range(2):
            refiner_step(R, D, opt_r, x, lambda_reg=0.5, amp=amp)
        discriminator_step(R, D, opt_d, x[: B // 2], y, history, amp=amp)

    return run


def _train_refiner_rate(work: Path, amp: bool, steps: int) -> float:
    """Images/s (b per iteration) of train_refiner's adversarial iterations: the median gap between
    consecutive ``on_step`` calls after pretraining (logging, checkpoints and grids kept out of the way)."""
    cfg = RefinerTrainConfig(
        preset="eyes",
        steps=steps,
        batch_size=B,
        pretrain_d_steps=2,
        log_every=10_000,
        ckpt_every=10_000,
        grid_every=10_000,
        monitor_every=0,
        amp=amp,
    )
    stamps: list[float] = []
    out = work / f"run_amp{int(amp)}"
    train_refiner(
        work / "eyes",
        work / "eyes_real",
        out,
        cfg,
        progress=False,
        log_to=(),
        on_step=lambda s, v: stamps.append(time.perf_counter()),
    )
    gaps = [b - a for a, b in zip(stamps[3:], stamps[4:], strict=False)]  # adversarial iterations only
    return B / statistics.median(gaps)


def training_rows(work: Path, repeats: int, steps: int) -> list[list[str]]:
    amp = use_amp(True, "cpu")
    baseline = BaselineIteration(35, 55, B)
    rates = median_rates(
        [baseline, _library_iteration(False), _library_iteration(amp)], B, repeats, torch.device("cpu")
    )
    cli = [_train_refiner_rate(work, False, steps), _train_refiner_rate(work, amp, steps)]
    base, fp32 = rates[0], rates[1]
    names = [
        ("baseline (b): BN + zero padding, fp32", rates[0]),
        ("library fp32, per-layer padding (a)", rates[1]),
        (f"library, amp {'on' if amp else 'off (no fast bf16 here)'}", rates[2]),
        ("train_refiner, amp off", cli[0]),
        (f"train_refiner, amp {'on' if amp else 'off'} (the CLI default)", cli[1]),
    ]
    return [[n, f"{r:.0f}", f"{r / base:.2f}x", f"{r / fp32:.2f}x"] for n, r in names]


def _refine_rate(run: Path, data: Path, out: Path, batch: int) -> float:
    start = time.perf_counter()
    info = refine(run, data, out, batch_size=batch, device="cpu", progress=False)
    assert info is not None
    return info.count / (time.perf_counter() - start)


def refine_rows(work: Path, n_eyes: int, n_digits: int) -> list[list[str]]:
    rows = []
    for name, preset, n, target, size in (
        ("eyes 35x55", "eyes", n_eyes, 500, None),
        ("digits 8x8", "digits", n_digits, 5000, None),
    ):
        data = work / f"refine_{preset}"
        sim = "eyes" if preset == "eyes" else "digits"
        simulate(sim, n, data, seed=1, size=size, progress=False)
        run = work / f"R_{preset}"
        cfg = RefinerTrainConfig(
            preset=preset,
            steps=1,
            batch_size=8,
            pretrain_d_steps=1,
            monitor_every=0,
            log_every=1,
            ckpt_every=1,
            grid_every=1000,
        )
        train_refiner(data, data, run, cfg, progress=False, log_to=())
        torch.manual_seed(0)
        bare = (BaselineRefiner() if preset == "eyes" else build_refiner("digits", 1)).eval()
        h, w = (35, 55) if preset == "eyes" else (8, 8)
        x = torch.rand(256, 1, h, w) * 2 - 1

        def forward(net: torch.nn.Module = bare, batch: torch.Tensor = x) -> None:
            with torch.inference_mode():
                net(batch)

        base = median_rates([forward], 256, 3, torch.device("cpu"))[0]
        # in a fresh process, as `simgan refine` runs: after the training rows this process's allocator
        # keeps large blocks, which hides what the micro-batches save a new process (see the function)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
            micro = fresh.submit(_micro_batch_rates, run, x).result()
        lib = _refine_rate(run, data, work / f"refined_{preset}", 256)
        rows.append(
            [
                f"simgan refine {name} (read, R, write)",
                f"{lib:.0f}",
                f"{lib / base:.2f}x",
                f"{target}",
                "yes" if lib >= target else "no",
            ]
        )
        rows.append(
            [
                f"  R forward only, fp32 ({'baseline (b)' if preset == 'eyes' else 'digits R'})",
                f"{base:.0f}",
                "1.00x",
                "",
                "",
            ]
        )
        for label, rate in micro:
            rows.append([f"  R forward only, amp, {label}", f"{rate:.0f}", f"{rate / base:.2f}x", "", ""])
    return rows


def _micro_batch_rates(run: Path, x: torch.Tensor) -> list[tuple[str, float]]:
    """The trained R through :func:`refine_images` (amp as resolved here) on 256 images: in its CPU
    micro-batches, and as one batch of 256 (the micro-batch budget lifted), in turns.

    Most of what the micro-batches save is the allocator's: glibc serves blocks above its mmap threshold
    (32 MiB at most) with fresh pages on every call, and one batch of 256 eyes has 63 MB feature maps.
    A process whose allocator already keeps large blocks (``MALLOC_MMAP_THRESHOLD_``, or much earlier
    work) runs the two at about the same speed."""
    R = load_refiner(run)[0].eval()
    amp = use_amp(True, "cpu")
    R = R.to(memory_format=memory_format(amp))
    budget = nn_refiner._CPU_CHUNK_BYTES

    def forward(chunk_bytes: int) -> Callable[[], None]:
        def run_once() -> None:
            nn_refiner._CPU_CHUNK_BYTES = chunk_bytes
            try:
                refine_images(R, x, amp=amp)
            finally:
                nn_refiner._CPU_CHUNK_BYTES = budget

        return run_once

    rates = median_rates([forward(budget), forward(1 << 40)], len(x), 3, torch.device("cpu"))
    n = nn_refiner._micro_batch(R, x, amp)
    return [(f"micro-batches of {n}", rates[0]), ("one batch of 256", rates[1])]


def main() -> None:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    amp = use_amp(True, "cpu")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, load average {load}, amp: {amp}"
    )
    # The work folder sits where runs go (SIMGAN_BENCH_DIR, default here), not in /tmp: on this machine
    # creating a file in /tmp costs about 10x as much as under the project's folder.
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=os.environ.get("SIMGAN_BENCH_DIR", ".")) as tmp:
        work = Path(tmp)
        simulate("eyes", 256, work / "eyes", seed=0, progress=False)
        simulate("eyes", 256, work / "eyes_real", seed=1, target="pseudo-real", progress=False)
        print(f"\n[cpu] training iteration, eyes 35x55, b={B}, K_g=2 + K_d=1")
        print_table(
            training_rows(work, max(1, round(3 * SCALE)), max(8, round(12 * SCALE))),
            ["variant", "img/s", "vs (b)", "vs (a)"],
        )
        print("\n[cpu] refine end to end")
        print_table(
            refine_rows(work, round(2048 * SCALE), round(16384 * SCALE)),
            ["variant", "img/s", "vs R fp32", "target", "met"],
        )


if __name__ == "__main__":
    main()
