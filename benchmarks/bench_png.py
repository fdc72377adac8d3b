"""PNG codec: simgan's NumPy + zlib encoder and decoder against Pillow, per image, on simulator outputs.

For four kinds of image simgan writes (8x8 grey digits, 35x55 grey eye crops, 64x64 RGB made of 2x2
SVHN-style digits, 64x64 16-bit grey hand depth maps), ``n`` rendered images are encoded and decoded
from memory, each variant in turn within every round (so a change of machine load hits all alike),
median of ``repeats`` rounds after one untimed round:

- encode, Pillow: what ``write_png`` did before (``Image.fromarray``/``frombytes``, ``save`` to a
  buffer at ``compress_level=1``); new: :func:`~simgan.data.png.encode_png` at level 1.
- decode, Pillow: what ``read_image`` did before (``Image.open``, ``load``, ``np.asarray``) on Pillow's
  bytes; new: :func:`~simgan.data.png.decode_png` on ours.
- bytes: mean PNG size of Pillow's files and of ours.
- fallback: :func:`~simgan.data.png.decode_png` on Pillow's bytes, which use the Paeth filter and so
  come back ``None``: the time ``read_image`` now spends before handing an older file to Pillow.

Standalone: ``python -m benchmarks.bench_png --n 64 --repeats 7``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from simgan.cli.common import print_table
from simgan.data.png import decode_png, encode_png
from simgan.sim import SIMULATORS

__all__ = ["sample_images", "pillow_encode", "pillow_decode", "main"]


def sample_images(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` simulator renders of each benchmarked kind, by name.

    Shape:
        values are (n, H, W, C), uint8 or uint16.
    """
    rng = np.random.default_rng(seed)
    digits, _ = SIMULATORS["digits"].render(rng, n, (8, 8))
    eyes, _ = SIMULATORS["eyes"].render(rng, n, (35, 55))
    svhn, _ = SIMULATORS["digits"].render(rng, 4 * n, (32, 32))  # (4n, 32, 32, 3)
    rgb = svhn.reshape(n, 2, 2, 32, 32, 3).transpose(0, 1, 3, 2, 4, 5).reshape(n, 64, 64, 3)
    hands, _ = SIMULATORS["hands"].render(rng, n, (64, 64))
    return {
        "8x8 grey (digits)": digits,
        "35x55 grey (eyes)": eyes,
        "64x64 RGB (2x2 svhn)": rgb,
        "64x64 uint16 (hands)": hands,
    }


def pillow_encode(image: np.ndarray) -> bytes:
    """PNG bytes as ``write_png`` made them with Pillow before :mod:`simgan.data.png`."""
    h, w = image.shape[:2]
    if image.dtype == np.uint16:
        pil = Image.frombytes("I;16", (w, h), np.ascontiguousarray(image[:, :, 0], dtype="<u2").tobytes())
    else:
        pil = Image.fromarray(np.ascontiguousarray(image[:, :, 0] if image.shape[2] == 1 else image))
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    """Pixels as ``read_image`` decoded them with Pillow before :mod:`simgan.data.png`."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if im.mode.startswith("I;16"):
            return np.asarray(im, dtype=np.uint16)
        return np.asarray(im.convert("L" if im.mode == "L" else "RGB"), dtype=np.uint8)


def _median_seconds(runs: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Median seconds of each run over ``repeats`` rounds, runs taking turns, after one untimed round."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(max(1, repeats)):
        for run, record in zip(runs, times, strict=True):
            start = time.perf_counter()
            run()
            record.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def _measure(images: np.ndarray, repeats: int) -> list[str]:
    """One table row (without its name): times per image, speedups and sizes for ``images``."""
    n = len(images)
    ours = [encode_png(im) for im in images]
    theirs = [pillow_encode(im) for im in images]
    for im, a, b in zip(images, ours, theirs, strict=True):  # the same pixels every way round
        if not (np.array_equal(decode_png(a), im) and np.array_equal(pillow_decode(b).reshape(im.shape), im)):
            raise RuntimeError("a PNG round trip changed the pixels")
    runs: list[Callable[[], Any]] = [
        lambda: [pillow_encode(im) for im in images],
        lambda: [encode_png(im) for im in images],
        lambda: [pillow_decode(b) for b in theirs],
        lambda: [decode_png(a) for a in ours],
        lambda: [decode_png(b) for b in theirs],
    ]
    pe, oe, pd, od, fb = (1e6 * s / n for s in _median_seconds(runs, repeats))
    pb, ob = np.mean([len(b) for b in theirs]), np.mean([len(a) for a in ours])
    return [
        f"{pe:.1f}",
        f"{oe:.1f}",
        f"{pe / oe:.1f}x",
        f"{pd:.1f}",
        f"{od:.1f}",
        f"{pd / od:.1f}x",
        f"{pb:.0f}",
        f"{ob:.0f} ({ob / pb - 1:+.1%})",
        f"{fb:.1f}",
    ]


def main(n: int = 64, repeats: int = 7) -> None:
    """Print us/image for encode and decode, Pillow against ours, and the PNG sizes."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"{n} simulator images per kind, load average {load}; median of {repeats} rounds after one warm-up")
    rows = [[name, *_measure(images, repeats)] for name, images in sample_images(n).items()]
    print_table(
        rows,
        [
            "image",
            "enc Pillow us",
            "enc ours us",
            "speedup",
            "dec Pillow us",
            "dec ours us",
            "speedup",
            "Pillow bytes",
            "our bytes",
            "fallback us",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_png", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, default=64, help="images per kind")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per variant")
    args = parser.parse_args()
    main(args.n, args.repeats)
