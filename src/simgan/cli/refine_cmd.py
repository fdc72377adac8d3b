"""Refine a dataset with a trained refiner: same ids and labels, refined pixels, written as a simgan dataset.

Streams in batches, uses the GPU when there is one (bf16 autocast + channels_last), records the refiner
(run, checkpoint, step, config) in the output's provenance, and resumes when rerun after an interruption.
A run folder gives its best.pt (the step that best balanced realism and label preservation) when it has
one, else its checkpoint.pt; --checkpoint last|best chooses.

Several processes: --shard I/N refines the I-th of N contiguous blocks of the input into the same --out;
start N of them (by hand, or `torchrun --nproc-per-node N -m simgan refine ...`, whose RANK/WORLD_SIZE
give the shard). Each resumes like a single run, and the last to finish merges the complete dataset.
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_amp, add_device, add_equalize, add_seed, shard_arg
from simgan.data import open_dataset
from simgan.eval.diversity import sample_diversity
from simgan.refinement import CHECKPOINTS, refine, resolve_shard

NAME = "refine"
ORDER = 31
HELP = "refine synthetic images with a trained refiner"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--refiner", required=True, metavar="RUN", help="train-refiner run folder or checkpoint file"
    )
    p.add_argument("--input", required=True, metavar="DIR", help="dataset to refine (any layout)")
    p.add_argument("--out", required=True, metavar="DIR", help="output simgan dataset folder")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers decoding the input")
    p.add_argument(
        "--checkpoint",
        default="auto",
        choices=CHECKPOINTS,
        help="a run folder's checkpoint: auto (best.pt when present, else checkpoint.pt), best, last",
    )
    p.add_argument(
        "--shard",
        type=shard_arg,
        metavar="I/N",
        help="refine block I (from 0) of N of the input, one of N processes writing --out together; "
        "the last to finish merges them into one complete dataset (default under torchrun: "
        "RANK/WORLD_SIZE; else the whole input)",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=1,
        metavar="S",
        help="write S refinements of every image (ids ID_0 .. ID_S-1, same label) and print how much they "
        "differ; needs a stochastic refiner (train-refiner --noise-channels K)",
    )
    add_seed(p)
    add_amp(p)
    add_equalize(p, "as the refiner's run did")
    p.add_argument(
        "--compile",
        action="store_true",
        help="run R through torch.compile (slow first batch; on a 2-core CPU slower than eager: for GPUs)",
    )
    add_device(p)


def run(args: argparse.Namespace) -> int:
    shard = resolve_shard(args.shard)
    info = refine(
        args.refiner,
        args.input,
        args.out,
        batch_size=args.batch_size,
        device=args.device,
        num_workers=args.workers,
        checkpoint=args.checkpoint,
        shard=args.shard,
        amp=args.amp,
        compile=args.compile,
        equalize=args.equalize,
        samples=args.samples,
        seed=args.seed,
    )
    if info is None:  # a shard that others have yet to join
        assert shard is not None
        print(f"refined shard {shard} into {args.out}; the last of the {shard.count} shards to finish merges")
        return 0
    merged = f" (shard {shard}: the {shard.count} shards are merged)" if shard else ""
    print(f"refined {info.count} images ({info.height}x{info.width}x{info.channels}) into {args.out}{merged}")
    if args.samples > 1:
        d = sample_diversity(open_dataset(args.out))
        print(
            f"{args.samples} refinements of each image differ by {d['diversity_l1']:.4f} on average "
            f"(mean pairwise L1 in [0, 1] intensity, over {d['images']} images)"
        )
    return 0
