"""Refiner throughput: inference and one training iteration, each variant as a ratio against fp32.

For the paper's eye refiner (preset ``eyes``: 35x55 grey, k=3, 4 ResNet blocks of 64 maps) and the
``digits`` preset (8x8), on the CPU and, when there is one, on CUDA:

- inference images/s of R (eval mode, ``inference_mode``): fp32 (the baseline), channels_last, bf16
  autocast + channels_last, :func:`simgan.refinement.refine_batch` (what ``simgan refine`` runs on that
  device), bf16 + channels_last for an R with zero instead of replicate padding (what the library's
  padding choice costs), the same for R built from plain ``nn.Conv2d(padding_mode="replicate")`` convs,
  whose pads autocast runs in fp32 (the library's R before :class:`simgan.nn.refiner.PaddedConv2d`), and
  ``refine --compile``'s R (Inductor, the library's precision and micro-batches) when asked for;
- one training iteration of Algorithm 1 with the library's own :func:`~simgan.train.refiner.refiner_step`
  (K_g = 2, full L_R of eq. 4) and :func:`~simgan.train.refiner.discriminator_step` (K_d = 1, b/2 current
  + b/2 history), batch b = 64, Adam: images/s = b / seconds per iteration, fp32 (the baseline) against
  the library's own ``amp=True`` path (bf16 + channels_last), what ``train-refiner`` runs wherever
  :func:`simgan.amp.use_amp` finds native bf16 (CUDA; CPUs with AMX or AVX512-BF16), and that path with
  the plain-``nn.Conv2d`` R (fp32 pads under autocast).

Every variant is warmed up, then timed ``repeats`` times, the variants taking turns; the median counts.
Machines are shared, so compare the ratios (measured in the same run), not the absolute rates.
``SIMGAN_BENCH_SCALE`` (default 1) multiplies the repeat counts; ``SIMGAN_BENCH_COMPILE=1`` adds
``torch.compile``, which is off by default because its first compile took 43 s for the small digits
refiner on the 2-core CPU (5 s once inductor's cache is warm).
Standalone, one device and more options: ``python -m benchmarks.bench_refiner --device cuda --compile``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from simgan.amp import memory_format, use_amp
from simgan.cli.common import print_table
from simgan.device import select_device
from simgan.errors import InputError
from simgan.nn.discriminator import build_discriminator
from simgan.nn.refiner import PaddedConv2d, Refiner, build_refiner
from simgan.refinement import refine_batch
from simgan.train.history import HistoryBuffer
from simgan.train.optim import build_optimizer
from simgan.train.refiner import discriminator_step, refiner_step

__all__ = ["Case", "CASES", "plain_conv_refiner", "median_rates", "inference_rates", "training_rates", "main"]

SCALE = float(os.environ.get("SIMGAN_BENCH_SCALE", "1"))
COMPILE = os.environ.get("SIMGAN_BENCH_COMPILE", "") not in ("", "0")
TRAIN_BATCH = 64  # b, the paper's mini-batch
HISTORY = 1024  # B, train_refiner's default history size
K_G, K_D = 2, 1  # paper: two R updates per D update


@dataclass(frozen=True)
class Case:
    """A refiner preset at its image size, with the inference batch sizes per device type."""

    preset: str
    height: int
    width: int
    batch_cpu: int  # CPU: batches of 64-128 eyes ran faster per image than 512 (DESIGN.md)
    batch_cuda: int


CASES = (Case("eyes", 35, 55, 64, 512), Case("digits", 8, 8, 256, 4096))


def _sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def median_rates(
    runs: list[Callable[[], Any]], images: int, repeats: int, device: torch.device, warmup: int = 1
) -> list[float]:
    """Images per second of each ``run()`` (each handles ``images`` images): the median of ``repeats``
    timings after ``warmup`` untimed calls (first allocations, oneDNN/cuDNN kernel choice, compilation).

    The variants take turns within every round, so a change in the machine's load mid-run hits them all
    alike and their ratios stay comparable.
    """
    sync = _sync(device)
    for run in runs:
        for _ in range(warmup):
            run()
            sync()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(max(1, repeats)):
        for run, record in zip(runs, times, strict=True):
            start = time.perf_counter()
            run()
            sync()  # CUDA is asynchronous: stop the clock when the work is done, not when it is queued
            record.append(time.perf_counter() - start)
    return [images / statistics.median(t) for t in times]


def plain_conv_refiner(R: Refiner) -> Refiner:
    """A copy of ``R`` with every :class:`~simgan.nn.refiner.PaddedConv2d` swapped for a plain ``nn.Conv2d``
    with the same ``padding_mode``: the same weights and outputs, but under autocast its replicate pads run
    in fp32 (autocast's policy for ``replication_pad2d``), as the library's R did before."""
    plain = copy.deepcopy(R)
    for name, m in list(plain.named_modules()):
        if isinstance(m, PaddedConv2d):
            parent, _, leaf = name.rpartition(".")
            conv = nn.Conv2d(
                m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, padding_mode=m.padding_mode
            )
            conv.load_state_dict(m.state_dict())
            setattr(plain.get_submodule(parent), leaf, conv.to(m.weight.device))
    return plain


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    return torch.autocast(device.type, dtype=torch.bfloat16)


def inference_rates(
    case: Case, device: torch.device, repeats: int, compile_model: bool = False
) -> list[tuple[str, int, float, str]]:
    """(variant, batch, images/s, note) for R's forward pass on ``device``; the first row is fp32.

    Shape:
        R runs on (batch, 1, H, W) float32 images in [-1, 1].
    """
    batch = case.batch_cuda if device.type == "cuda" else case.batch_cpu
    torch.manual_seed(0)
    base = build_refiner(case.preset, 1).to(device).eval()
    x = torch.rand(batch, 1, case.height, case.width, device=device) * 2 - 1  # (b, 1, H, W)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    r_cl = copy.deepcopy(base).to(memory_format=torch.channels_last)
    r_zeros = (
        build_refiner(case.preset, 1, padding="zeros").to(device, memory_format=torch.channels_last).eval()
    )
    r_plain = plain_conv_refiner(base).to(memory_format=torch.channels_last)
    r_lib = copy.deepcopy(base).to(memory_format=memory_format(use_amp(True, device)))  # as refine() does

    def fp32() -> None:
        with torch.inference_mode():
            base(x)

    def channels_last() -> None:
        with torch.inference_mode():
            r_cl(x_cl)

    def bf16_channels_last() -> None:
        with torch.inference_mode(), _autocast(device):
            r_cl(x_cl).float()

    def bf16_zeros() -> None:
        with torch.inference_mode(), _autocast(device):
            r_zeros(x_cl).float()

    def bf16_plain() -> None:
        with torch.inference_mode(), _autocast(device):
            r_plain(x_cl).float()

    def library() -> None:
        refine_batch(r_lib, x)  # decides itself: bf16 + channels_last where the device does bf16 natively

    lib_note = "bf16 + channels_last" if use_amp(True, device) else "fp32 (no native bf16 here)"
    variants: list[tuple[str, Callable[[], None], str]] = [
        ("fp32", fp32, "baseline"),
        ("channels_last", channels_last, ""),
        ("bf16 autocast + channels_last", bf16_channels_last, ""),
        ("refine_batch (library)", library, lib_note),
        # R pads by replicating edges (see simgan.nn.refiner): a separate pad op before every conv. This
        # row prices that choice against the convs' own zero padding.
        ("bf16 + channels_last, zeros padding", bf16_zeros, "ablation: not the library's R"),
        # The same R from plain nn.Conv2d(padding_mode="replicate"): autocast pads in fp32, two casts a conv.
        ("bf16 + channels_last, fp32 pads", bf16_plain, "previous R: plain nn.Conv2d"),
    ]
    if compile_model:  # as `refine --compile` builds it
        compiled = torch.compile(copy.deepcopy(r_lib), dynamic=True)
        start = time.perf_counter()
        refine_batch(compiled, x)  # the compile itself, timed on its own
        _sync(device)()
        seconds = time.perf_counter() - start

        def compiled_library() -> None:
            refine_batch(compiled, x)

        variants.append(("refine --compile (library)", compiled_library, f"first call {seconds:.1f} s"))
    rates = median_rates([run for _, run, _ in variants], batch, repeats, device)
    return [(name, batch, rate, note) for (name, _, note), rate in zip(variants, rates, strict=True)]


def _iteration(case: Case, device: torch.device, fast: bool, plain: bool = False) -> Callable[[], None]:
    """One adversarial iteration (K_g R steps, then K_d D steps) through the library's step functions.

    ``fast``: channels_last weights and batches and bf16 autocast, by the library's own ``amp``.
    ``plain``: R from plain ``nn.Conv2d`` convs (:func:`plain_conv_refiner`), the previous R.
    """
    torch.manual_seed(0)
    fmt = torch.channels_last if fast else torch.contiguous_format
    R = build_refiner(case.preset, 1)
    R = (plain_conv_refiner(R) if plain else R).to(device, memory_format=fmt)
    D = build_discriminator(case.preset, 1).to(device, memory_format=fmt)
    opt_r = build_optimizer("adam", R.parameters(), 1e-4)
    opt_d = build_optimizer("adam", D.parameters(), 1e-4)
    shape = (TRAIN_BATCH, 1, case.height, case.width)
    synthetic = (torch.rand(shape, device=device) * 2 - 1).contiguous(memory_format=fmt)  # (b, 1, H, W)
    real = (torch.rand(shape, device=device) * 2 - 1).contiguous(memory_format=fmt)  # (b, 1, H, W)
    half = synthetic[: TRAIN_BATCH // 2]  # (b/2, 1, H, W): D's current refined half
    history = HistoryBuffer(HISTORY, seed=3)
    with torch.no_grad():
        refined = R(synthetic).float()  # (b, 1, H, W)
    while not history.full:  # section 2.3: D samples from a full buffer of B refined images
        history.push(refined[: HISTORY - len(history)])  # copies of one batch: the timing is the same
    # amp=True also makes discriminator_step keep the history batch channels_last, as train_refiner does.
    amp = fast

    def run() -> None:
        for _ in range(K_G):
            refiner_step(R, D, opt_r, synthetic, lambda_reg=0.5, amp=amp)
        for _ in range(K_D):
            discriminator_step(R, D, opt_d, half, real, history, amp=amp)

    return run


def training_rates(case: Case, device: torch.device, repeats: int) -> list[tuple[str, int, float, str]]:
    """(variant, batch, images/s, note) for one training iteration; images/s = b / seconds per iteration."""
    variants = [
        ("fp32", _iteration(case, device, fast=False), "baseline"),
        ("bf16 amp + channels_last", _iteration(case, device, fast=True), "library amp=True"),
        (
            "bf16 amp, fp32 pads",
            _iteration(case, device, fast=True, plain=True),
            "previous R: plain nn.Conv2d",
        ),
    ]
    rates = median_rates([run for _, run, _ in variants], TRAIN_BATCH, repeats, device)
    return [(name, TRAIN_BATCH, rate, note) for (name, _, note), rate in zip(variants, rates, strict=True)]


def _print_rows(title: str, rows: list[tuple[str, int, float, str]]) -> None:
    print(title)
    baseline = rows[0][2]
    print_table(
        [[name, batch, f"{rate:.0f}", f"{rate / baseline:.2f}x", note] for name, batch, rate, note in rows],
        ["variant", "batch", "img/s", "vs fp32", "note"],
    )


def main(
    device: str | None = None,
    inference_repeats: int = 5,
    train_repeats: int = 3,
    compile_model: bool | None = None,
) -> None:
    """Print the tables. ``device`` None: the CPU, then CUDA when available; else only that device.

    Repeat counts are multiplied by ``SIMGAN_BENCH_SCALE``; ``compile_model`` None reads
    ``SIMGAN_BENCH_COMPILE``.
    """
    devices = [torch.device("cpu")] if device is None else [select_device(device)]
    if device is None and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    compile_model = COMPILE if compile_model is None else compile_model
    n_inf = max(1, round(inference_repeats * SCALE))
    n_train = max(1, round(train_repeats * SCALE))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, load average {load}; "
        f"median of {n_inf} (inference) / {n_train} (training) timings after one warm-up"
    )
    cores = os.cpu_count() or 1
    if load != "n/a" and os.getloadavg()[0] > cores and torch.get_num_threads() > 1:
        print(
            f"warning: load average above the {cores} cores: other processes preempt torch's threads, "
            "so multi-threaded timings swing widely; OMP_NUM_THREADS=1 gives steadier ratios"
        )
    if not compile_model:
        print(
            "torch.compile skipped: its first compile took 43 s for the digits refiner on a 2-core CPU; "
            "set SIMGAN_BENCH_COMPILE=1 (or --compile) to include it"
        )
    for dev in devices:
        where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
        for case in CASES:
            size = f"{case.preset} {case.height}x{case.width}"
            _print_rows(
                f"\n[{dev.type}: {where}] inference, refiner {size}",
                inference_rates(case, dev, n_inf, compile_model),
            )
            _print_rows(
                f"\n[{dev.type}: {where}] training iteration (K_g={K_G} R + K_d={K_D} D steps, "
                f"b={TRAIN_BATCH}), refiner {size}",
                training_rates(case, dev, n_train),
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_refiner", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:N (default: the CPU, then CUDA if any)"
    )
    parser.add_argument(
        "--inference-repeats", type=int, default=5, help="timed batches per inference variant"
    )
    parser.add_argument("--train-repeats", type=int, default=3, help="timed iterations per training variant")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow first compile)")
    args = parser.parse_args()
    try:
        main(args.device, args.inference_repeats, args.train_repeats, args.compile or None)
    except InputError as e:  # e.g. --device cuda on a machine without CUDA: one line, exit 2
        parser.exit(2, f"error: {e}\n")
