"""Refine a dataset with a trained SimGAN refiner: same ids, same labels, new pixels.

:func:`refine` streams the input in batches (constant memory), runs R on the best device (bf16 autocast and
channels_last on CUDA) and writes a simgan dataset directory with :class:`~simgan.data.DatasetWriter`. The
output's ``dataset.json`` keeps the input's task, classes and label schema, and its provenance records the
refiner (run folder, checkpoint, which one was chosen, step, config) and the input. A run folder gives
its ``best.pt`` by default (the checkpoint that best balances realism and label preservation, see
simgan.train.label_monitor) and its ``checkpoint.pt`` (the last step) when there is no best.pt or when
asked for ``last``. An interrupted call resumes: ids already
written are skipped, so the result has every id exactly once. Per-pixel masks (``mask_classes``, e.g. the
hands' part masks) pass through like labels: the same ids, the same bytes.

``shard=(I, N)`` refines only the I-th of N contiguous blocks of the input, so N processes (started by
hand, or by torchrun, whose ``RANK``/``WORLD_SIZE`` give the shard when none is asked for) write one
dataset together; the last of them to finish merges it (:mod:`simgan.data.shards`).
"""

from __future__ import annotations

import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from simgan import distributed
from simgan.amp import memory_format, use_amp
from simgan.checkpoint import CHECKPOINT_NAME, load_checkpoint
from simgan.config import config_from_dict
from simgan.data.equalize import equalized
from simgan.data.images import to_float
from simgan.data.shards import Shard
from simgan.data.simgan_dir import DatasetWriter, mask_classes, read_mask
from simgan.data.source import DatasetInfo, Source, open_dataset
from simgan.device import select_device
from simgan.errors import InputError
from simgan.eval.diversity import sample_id
from simgan.nn.refiner import Refiner, build_refiner, refine_images
from simgan.progress import off
from simgan.train.refiner_config import BEST_NAME, RefinerTrainConfig

__all__ = [
    "BEST_NAME",
    "CHECKPOINTS",
    "refiner_checkpoint",
    "load_refiner",
    "resolve_shard",
    "refine",
    "refine_batch",
]

CHECKPOINTS = ("auto", "best", "last")
Which = Literal["auto", "best", "last"]


def refiner_checkpoint(run_or_file: str | Path, which: Which = "auto") -> tuple[Path, str]:
    """The checkpoint file a refiner argument names, and which one it is (``best``, ``last``, ``file``).

    ``auto``: a run folder's ``best.pt`` when it has one, else its ``checkpoint.pt``; ``best`` insists on
    ``best.pt``; ``last`` takes ``checkpoint.pt``. A file is itself whatever ``which`` says.

    Raises:
        InputError: ``best`` asked of a run without ``best.pt``, or an unknown ``which``.
    """
    if which not in CHECKPOINTS:
        raise InputError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {which!r}")
    p = Path(run_or_file)
    if not p.is_dir():
        return p, "file"
    if which == "last" or (which == "auto" and not (p / BEST_NAME).is_file()):
        return p / CHECKPOINT_NAME, "last"
    if not (p / BEST_NAME).is_file():
        raise InputError.at(
            p / BEST_NAME,
            "no best checkpoint in this run (its label monitor was off or no step kept the labels); "
            "pass --checkpoint last",
        )
    return p / BEST_NAME, "best"


def load_refiner(run_or_file: str | Path, which: Which = "auto") -> tuple[Refiner, dict[str, Any]]:
    """The trained R of a run folder or checkpoint file, on the CPU in eval mode.

    Args:
        run_or_file: a ``train-refiner`` run folder or one of its checkpoint files.
        which: for a run folder, ``auto`` (``best.pt`` when present, else ``checkpoint.pt``), ``best``
            or ``last`` (:func:`refiner_checkpoint`).

    Returns:
        ``(R, provenance)`` where provenance holds ``run``, ``checkpoint``, ``selected`` (best, last or
        file), ``step``, ``iteration`` and ``config`` (a dict).

    Raises:
        InputError: missing or corrupt checkpoint, or one whose weights do not fit its config.
    """
    path, selected = refiner_checkpoint(run_or_file, which)
    ckpt = load_checkpoint(run_or_file, "refiner", name=path.name)  # its errors name a run folder as one
    try:
        cfg = config_from_dict(RefinerTrainConfig, ckpt["config"], str(path))
        R = build_refiner(cfg.preset, int(ckpt["image"]["channels"]), cfg.refiner_padding, cfg.noise_channels)
        R.load_state_dict(ckpt["R"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        raise InputError.at(path, f"checkpoint does not hold a usable refiner ({first[:120]})") from None
    provenance = {
        "run": str(path.parent),
        "checkpoint": str(path),
        "selected": selected,
        "step": int(ckpt["step"]),
        "iteration": int(ckpt.get("iteration", 0)),
        "config": ckpt["config"],
    }
    return R.eval(), provenance


# R(x) for one batch in float32 (bf16 autocast + channels_last on CUDA): the name ``simgan refine`` and the
# benchmarks use for the one implementation in simgan.nn.refiner.
refine_batch = refine_images


class _Pending(Dataset):
    """Samples still to refine: (id, image (C, H, W) float, label, mask (H, W) uint8 or None)."""

    def __init__(self, source: Source, indices: list[int]):
        self.source, self.indices = source, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor, Any, np.ndarray | None]:
        s = self.source.read(self.indices[i])
        return s.id, torch.from_numpy(to_float(s.image)), s.label, read_mask(self.source, self.indices[i])


def _collate(
    items: list[tuple[str, torch.Tensor, Any, np.ndarray | None]],
) -> tuple[list[str], torch.Tensor, list[Any], list[np.ndarray | None]]:
    ids, images, labels, masks = zip(*items, strict=True)
    # labels stay JSON values (dicts for gaze, hands); masks pass through untouched (R moves no pixel)
    return list(ids), torch.stack(images), list(labels), list(masks)


def _to_pixels(y: torch.Tensor, dtype: str) -> np.ndarray:
    """Batched :func:`simgan.data.from_float`: (B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8/uint16."""
    s = 65535.0 if dtype == "uint16" else 255.0
    arr = np.clip((y.cpu().numpy() + 1.0) * (s / 2.0), 0.0, s)
    return np.rint(arr).astype(dtype).transpose(0, 2, 3, 1)


def _write_batch(
    writer: DatasetWriter,
    ids: list[str],
    pixels: np.ndarray,
    labels: list[Any],
    masks: list[np.ndarray | None],
) -> None:
    for sid, image, label, mask in zip(ids, pixels, labels, masks, strict=True):
        if sid not in writer:
            writer.add(sid, image, label, mask=mask)


def _pipeline(
    loader: DataLoader,
    writer: DatasetWriter,
    outputs: Any,
    bar: Any,
) -> None:
    """Refine the loader's batches with ``outputs(ids, images)`` and write them.

    A writer thread encodes and writes batch k while this thread decodes and refines batch k + 1 (PNG
    compression and file writes release the GIL); one batch in flight keeps the order and the memory
    bounded, and ``.result()`` re-raises a write error (a full disk) here.
    """
    with bar, ThreadPoolExecutor(1, thread_name_prefix="simgan-refine-writer") as pool:
        pending: Future[None] | None = None
        for sids, images, labels, masks in loader:
            done = outputs(sids, images)
            if pending is not None:
                pending.result()
            pending = pool.submit(_write_samples, writer, done, labels, masks)
            bar.update(len(sids))
        if pending is not None:
            pending.result()


def _write_samples(
    writer: DatasetWriter,
    outputs: list[tuple[list[str], np.ndarray]],
    labels: list[Any],
    masks: list[np.ndarray | None],
) -> None:
    for ids, pixels in outputs:
        _write_batch(writer, ids, pixels, labels, masks)


def _output_ids(samples: int) -> Any:
    """id -> the ids its refinements are written under: itself, or ``ID_0`` .. ``ID_{S-1}``."""
    if samples == 1:
        return lambda sid: [sid]
    return lambda sid: [sample_id(sid, s) for s in range(samples)]


def _noise(ids: list[str], s: int, seed: int, channels: int, size: torch.Size) -> torch.Tensor:
    """A stochastic R's noise z for refinement ``s`` of each image: a function of (seed, id, s) alone.

    Shape:
        returns (len(ids), channels, H, W) float32 on the CPU.
    """
    maps = []
    for sid in ids:
        g = torch.Generator().manual_seed(zlib.crc32(f"{seed}/{sid}/{s}".encode()))
        maps.append(torch.randn(channels, *size, generator=g))
    return torch.stack(maps)


def resolve_shard(shard: tuple[int, int] | None = None) -> Shard | None:
    """The part of the input this process refines: ``shard`` (I, N), else torchrun's ``RANK``/``WORLD_SIZE``
    when the environment describes several processes, else None (all of it, as does shard 0 of 1).

    Raises:
        InputError: a shard outside 0 <= I < N, or an environment that describes no job.
    """
    if shard is None:
        ranks = distributed.ranks_from_env()
        shard = (ranks.rank, ranks.world) if ranks.active else (0, 1)
    part = Shard(*shard)
    return part if part.count > 1 else None


def _checked_inputs(
    refiner: str | Path | nn.Module,
    input: str | Path | Source,
    out: str | Path,
    checkpoint: Which,
    equalize: bool | None,
    samples: int,
) -> tuple[nn.Module, dict[str, Any], Source, bool]:
    """R and its provenance, the input (equalised as asked, or as R's run did) and the equalize choice,
    after the checks that need no device: channels, --samples against R, --out against the input."""
    if isinstance(refiner, nn.Module):
        R, provenance = refiner, {"module": type(refiner).__name__}
    else:
        R, provenance = load_refiner(refiner, checkpoint)
    src = input if isinstance(input, Source) else open_dataset(input)
    if equalize is None:
        equalize = bool(provenance.get("config", {}).get("equalize", False))
    src = equalized(src, equalize)
    info = src.info
    if samples > 1 and not getattr(R, "noise_channels", 0):
        where = provenance.get("run", "the refiner")
        raise InputError.at(
            where, f"--samples {samples} needs a stochastic refiner (train-refiner --noise-channels K)"
        )
    channels = getattr(R, "channels", info.channels)
    if channels != info.channels:
        raise InputError.at(
            info.path, f"images have {info.channels} channel(s) but the refiner expects {channels}"
        )
    if Path(out).resolve() == Path(info.path).resolve():
        raise InputError.at(out, "is the input folder; write the refined dataset to another --out")
    return R, provenance, src, equalize


def _refined_writer(out: Path, src: Source, provenance: dict[str, Any], part: Shard | None) -> DatasetWriter:
    """The refined dataset's writer: the input's size, task, classes, label schema and masks; resuming
    only with the same ``provenance`` (refiner, input, precision)."""
    info = src.info
    return DatasetWriter(
        out,
        height=info.height,
        width=info.width,
        channels=info.channels,
        dtype=info.dtype,
        task=info.task,
        classes=info.classes,
        label_schema=info.extra.get("label_schema"),
        mask_classes=mask_classes(src),  # the input's per-pixel masks, kept like its labels
        require_same_provenance=True,  # resuming is only safe with the same refiner and input
        provenance=provenance,
        shard=(part.index, part.count) if part else None,
    )


def refine(
    refiner: str | Path | nn.Module,
    input: str | Path | Source,
    out: str | Path,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    progress: bool = True,
    checkpoint: Which = "auto",
    shard: tuple[int, int] | None = None,
    amp: bool = True,
    compile: bool = False,
    equalize: bool | None = None,
    samples: int = 1,
    seed: int = 0,
) -> DatasetInfo | None:
    """Refine every image of ``input`` with R and write a simgan dataset to ``out``.

    Args:
        refiner: a run folder of ``train-refiner``, a checkpoint file, or a refiner module.
        input: the dataset to refine (any readable layout, or an opened Source).
        out: output folder (a simgan dataset; an interrupted one is resumed).
        batch_size: images per forward pass.
        device: ``None``/``"auto"`` (CUDA when there is one), ``"cpu"``, ``"cuda"``...
        num_workers: DataLoader workers decoding the input.
        progress: show a progress bar.
        checkpoint: which checkpoint of a run folder (:func:`refiner_checkpoint`): ``auto`` (best.pt when
            present), ``best`` or ``last``.
        shard: ``(I, N)``: refine only block I (0-based) of N contiguous blocks of the input, one of N
            processes writing ``out`` together (:func:`resolve_shard`; default: torchrun's ranks, if any).
        amp: bf16 autocast + channels_last where the device does bf16 natively (:mod:`simgan.amp`); the
            choice made is recorded in the output's provenance (``amp``).
        compile: run R through ``torch.compile`` (the first batch pays the compilation; on a 2-core CPU
            the compiled R measured slower than the eager one, see docs/benchmarks.md).
        equalize: histogram-equalise the input before R (:mod:`simgan.data.equalize`); None: as the
            refiner's run did (its config's ``equalize``; off for a module or a run from before the
            option). The output's provenance records the choice (``equalize``).
        samples: S refinements of every image, ids ``ID_0`` .. ``ID_{S-1}`` with the image's label and
            mask (:mod:`simgan.eval.diversity` measures how much they differ); needs a stochastic R
            (``train-refiner --noise-channels K``).
        seed: seeds a stochastic R's noise; each image's noise depends only on (seed, id, s), so a
            resumed or sharded run writes the same bytes.

    Returns:
        The written dataset's info (same count, ids, labels and size as the input); None for a shard
        that finished before the others (the last shard to finish completes the dataset).

    Raises:
        InputError: bad refiner, unreadable input, channels that differ from the refiner's, ``out`` being
            the input folder or holding a different dataset, a bad shard, or shards of another N or
            another refiner or input writing ``out``.
    """
    if batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {batch_size}")
    if samples < 1:
        raise InputError(f"--samples must be >= 1, got {samples}")
    part = resolve_shard(shard)
    R, provenance, src, equalize = _checked_inputs(refiner, input, out, checkpoint, equalize, samples)
    info, noise_channels = src.info, int(getattr(R, "noise_channels", 0))
    dev = select_device(device if not isinstance(device, torch.device) else str(device))
    dev = distributed.rank_device(dev, distributed.ranks_from_env())  # under torchrun: cuda:LOCAL_RANK
    amp = use_amp(amp, dev)
    R = R.to(dev, memory_format=memory_format(amp)).eval()
    if compile:
        # dynamic: the last batch is smaller. On a 2-core CPU the compiled R ran 0.7x the eager one in
        # its micro-batches, frozen weights or not (docs/benchmarks.md); GPUs are where it may pay.
        R = torch.compile(R, dynamic=True)
    record = {
        "refined_by": provenance,
        "input": {"path": str(info.path), "layout": info.layout, "provenance": info.extra.get("provenance")},
        "amp": amp,
        "equalize": equalize,
        **({"samples": samples, "seed": seed} if noise_channels else {}),
    }
    with _refined_writer(Path(out), src, record, part) as writer:
        # Resume: skip ids already written. A simgan source knows its ids without decoding any pixels.
        ids = getattr(src, "ids", None)
        mine = part.indices(len(src)).tolist() if part else range(len(src))
        out_ids = _output_ids(samples)
        todo = [i for i in mine if ids is None or any(o not in writer for o in out_ids(ids[i]))]
        loader = DataLoader(
            _Pending(src, todo), batch_size=batch_size, num_workers=num_workers, collate_fn=_collate
        )
        desc = f"refine {part}" if part else "refine"

        def outputs(sids: list[str], images: torch.Tensor) -> list[tuple[list[str], np.ndarray]]:
            """Each refinement s of the batch: its output ids and (B, H, W, C) pixels."""
            x, out = images.to(dev), []
            for s in range(samples):
                z = _noise(sids, s, seed, noise_channels, x.shape[2:]) if noise_channels else None
                y = refine_images(R, x, amp=amp, noise=None if z is None else z.to(dev))
                out.append(([out_ids(sid)[s] for sid in sids], _to_pixels(y, info.dtype)))
            return out

        _pipeline(
            loader, writer, outputs, tqdm(total=len(todo), desc=desc, unit="img", disable=off(progress))
        )
    return open_dataset(out).info if writer.complete else None
