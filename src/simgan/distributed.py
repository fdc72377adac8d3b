"""Several processes, one training run: torchrun's environment, the process group, and what ranks share.

simgan starts no processes itself. torchrun (or any launcher that sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``) does, and :func:`setup` joins the process group
it describes: gloo for CPU tensors, nccl for CUDA ones. Without that environment (no ``WORLD_SIZE``,
or 1) everything runs in one process, and every function here returns at once.

The contract the trainers keep:
- **Data.** Rank r of N takes its part of every global batch of a seeded stream, so that the global
  batch is ``b * N`` for a per-rank ``--batch-size b``, and the ranks' samples never overlap
  (:meth:`Ranks.part`).
- **Weights.** Networks that train are wrapped in DistributedDataParallel (:func:`wrap`); every rank
  holds the same weights after every step.
- **Output.** Rank 0 alone writes the run folder and holds its lock (:func:`main_writer`). The others
  compute the same decisions (best epoch, label monitor) from the same numbers, without writing.
- **Failure.** When one rank dies, torchrun stops the others with SIGTERM; :func:`setup` turns that
  into :class:`PeerStopped`, which the command line reports in one line. Checkpoints are written
  atomically, so the last one on disk stays whole.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from simgan import atomic
from simgan.errors import InputError

__all__ = [
    "Ranks",
    "PeerStopped",
    "stop_quietly",
    "lost_peer",
    "ranks_from_env",
    "setup",
    "rank_device",
    "wrap",
    "mean_values",
    "gather",
    "broadcast",
    "barrier",
    "shutdown",
    "main_writer",
]

F = TypeVar("F", bound=Callable[..., Any])

# How long a rank waits at a collective for the others (loading a large dataset happens before the first).
TIMEOUT = timedelta(minutes=30)


STOPPED = (
    "the checkpoints on disk are the last complete ones: rerun the job with --resume once the cause is fixed"
)


class PeerStopped(RuntimeError):
    """torchrun stopped this rank (SIGTERM), usually because another rank of the job failed."""


def lost_peer(error: BaseException) -> bool:
    """Whether ``error`` is a collective that failed because another rank went away (gloo or nccl)."""
    if isinstance(error, PeerStopped | dist.DistError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(w in text for w in ("gloo", "nccl", "closed by peer"))


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: ``rank`` of ``world`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process."""
        return self.world > 1

    def part(self, indices: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch: contiguous, sizes differing by at most one.

        Shape:
            indices: (n,); returns (n // world or n // world + 1,).
        """
        return np.array_split(indices, self.world)[self.rank]


SINGLE = Ranks()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise InputError(
            f"environment variable {name}={raw!r}: expected an integer (torchrun sets it)"
        ) from None


def ranks_from_env() -> Ranks:
    """The job torchrun describes in the environment (one process when it describes none).

    Raises:
        InputError: values that cannot describe a job (a rank outside the world, a world below 1).
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise InputError(f"environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local} describe no job")
    return Ranks(rank, world, local)


def _stop(signum: int, frame: Any) -> None:
    raise PeerStopped("stopped by the launcher (another process of the job failed or was interrupted)")


def setup() -> Ranks:
    """Join the process group torchrun describes (once per process) and return this process's ranks.

    The backend is gloo for CPU tensors and nccl for CUDA tensors when CUDA is available. SIGTERM (how
    torchrun stops the survivors of a failed job) raises :class:`PeerStopped` from then on.
    """
    ranks = ranks_from_env()
    if not ranks.active or dist.is_initialized():
        return ranks
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, rank=ranks.rank, world_size=ranks.world, timeout=TIMEOUT)
    signal.signal(signal.SIGTERM, _stop)
    return ranks


def stop_quietly() -> None:
    """From now on SIGTERM ends the process at once (after a failure has been reported)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """One GPU per rank: ``cuda`` (no index) becomes ``cuda:LOCAL_RANK`` in a job; others are unchanged."""
    if ranks.active and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", ranks.local_rank % max(1, torch.cuda.device_count()))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def wrap(module: nn.Module, ranks: Ranks) -> nn.Module:
    """``module`` in DistributedDataParallel when the job has several ranks; ``module`` itself otherwise.

    Gradients of the wrapper's backward are averaged over the ranks before the optimizer steps. Every
    parameter of a wrapped network takes part in every backward (simgan's networks have no unused
    branches), so ``find_unused_parameters`` stays off. Freezing a wrapped network is done on the module
    itself, never through the wrapper: a frozen network's forward goes around DDP.
    """
    if not ranks.active:
        return module
    device = next(module.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def mean_values(values: dict[str, torch.Tensor], ranks: Ranks) -> dict[str, torch.Tensor]:
    """Each scalar averaged over the ranks (the same keys on every rank), so that every rank logs and
    checks the same numbers."""
    if not ranks.active or not values:
        return values
    keys = sorted(values)
    stacked = torch.stack([values[k].detach().float().reshape(()) for k in keys])
    dist.all_reduce(stacked)
    stacked /= ranks.world
    return dict(zip(keys, stacked.unbind(), strict=True))


def gather(obj: Any, ranks: Ranks) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process). A collective: all ranks call it."""
    if not ranks.active:
        return [obj]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, ranks: Ranks) -> Any:
    """Rank 0's ``obj`` on every rank. A collective."""
    if not ranks.active:
        return obj
    box = [obj if ranks.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ranks: Ranks) -> None:
    """Wait until every rank gets here."""
    if ranks.active:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main_writer(folder_arg: str) -> Callable[[F], F]:
    """:func:`simgan.atomic.one_writer` for a job: join the process group first, then rank 0 alone
    takes the output folder's lock; the other ranks run without it (they do not write).

    Every rank then waits for rank 0 to have locked the folder, so that no rank reads the folder
    before it is known to be this job's.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        locked = atomic.one_writer(folder_arg)(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ranks = setup()
            if not ranks.active:
                return locked(*args, **kwargs)
            folder = signature.bind(*args, **kwargs).arguments.get(folder_arg)
            if ranks.main and folder is not None:
                with atomic.locked_folder(folder):
                    barrier(ranks)
                    return fn(*args, **kwargs)
            barrier(ranks)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def check_world(checkpoint: dict[str, Any], ranks: Ranks, where: Any) -> None:
    """Refuse to resume a run with another number of ranks (the global batch, the shards and the
    per-rank history buffers would all change)."""
    saved = int(checkpoint.get("world_size", 1))  # 1: one process, or a checkpoint older than jobs
    if saved != ranks.world:
        how = "one process" if saved == 1 else f"torchrun --nproc-per-node/--nnodes giving {saved} ranks"
        raise InputError.at(
            where,
            f"the run was trained by {saved} process(es), this job has {ranks.world}: resume it with {how}",
        )
