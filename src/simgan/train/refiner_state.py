"""The state a refiner run carries from one global step to the next, and its checkpoint.

:class:`RefinerState` holds R, D, their optimizers and schedulers, the history buffer, the three batch
streams, the log accumulators and the global step. :func:`build_state` makes it, fresh or restored from a
checkpoint; :meth:`RefinerState.state_dict` is the checkpoint dict that
:func:`simgan.checkpoint.save_checkpoint` writes (kind ``refiner``) and :meth:`RefinerState.load_state_dict`
reads back:

| key | holds |
| --- | --- |
| ``step``, ``iteration`` | global steps done, and the adversarial iteration they reach |
| ``config`` | the run's :class:`~simgan.train.refiner_config.RefinerTrainConfig` as a dict |
| ``image``, ``data`` | the synthetic images' channels, height, width, dtype; both dataset paths |
| ``R``, ``D``, ``opt_R``, ``opt_D`` | state dicts of the networks and their optimizers |
| ``sched_R``, ``sched_D``, ``history`` | state dicts, or None when the run has no scheduler / buffer |
| ``averages`` | running sums of the values logged since the last stats line |
| ``streams`` | batches each stream has handed out (``synthetic_R``, ``synthetic_D``, ``real``) |
| ``monitor`` | the label monitor's state (simgan.train.label_monitor.MonitorState): last pass, best step |
| ``rng`` | the torch RNG state |
| ``world_size``, ``ranks`` | in a torchrun job: its number of ranks; each rank's ``history`` and ``rng`` |

On the CPU with a fixed seed a run restored from this dict continues exactly as the uninterrupted run.
In a job of N ranks (simgan.distributed) R and D train through DistributedDataParallel (``R_train``,
``D_train``); each rank keeps its own history buffer (the paper's rule, applied to the rank's own b/2
refined images: no images cross the network), and the checkpoint gathers the buffers of all ranks, so a
job resumed with the same N continues as it would have.
:func:`load_resume` checks that a resumed run asks for the same training as the one on disk, and
:func:`truncate_stats` drops the stats lines a resumed run will log again.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from simgan import atomic, distributed
from simgan.amp import memory_format as amp_memory_format
from simgan.amp import use_amp
from simgan.checkpoint import CHECKPOINT_NAME, load_checkpoint
from simgan.config import config_from_dict, config_to_dict
from simgan.data.source import DatasetInfo, Source
from simgan.device import seed_everything
from simgan.distributed import SINGLE, Ranks
from simgan.errors import InputError
from simgan.nn.discriminator import Discriminator, build_discriminator
from simgan.nn.refiner import Refiner, build_refiner
from simgan.train.batches import ImageStream
from simgan.train.history import HistoryBuffer
from simgan.train.label_monitor import MonitorState
from simgan.train.optim import build_optimizer, build_scheduler
from simgan.train.refiner_config import RESUMABLE_FIELDS, RefinerTrainConfig, adversarial_iteration

__all__ = ["Averages", "RefinerState", "build_state", "load_resume", "truncate_stats"]

Scheduler = torch.optim.lr_scheduler.LRScheduler


class Averages:
    """Running sums of logged values between two log lines (saved in checkpoints for exact resumes)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def pop(self) -> dict[str, float]:
        """The mean of each value since the last pop (keys sorted), and a fresh start."""
        out = {k: self.sums[k] / self.counts[k] for k in sorted(self.sums)}
        self.sums, self.counts = {}, {}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums, self.counts = dict(state["sums"]), dict(state["counts"])


@dataclass
class RefinerState:
    """Everything Algorithm 1 updates, on ``device``; ``step`` counts the global steps done.

    ``amp`` is the config's ``amp`` resolved for the device (:func:`simgan.amp.use_amp`: CUDA, or a CPU with
    AMX / AVX512-BF16); batches and networks are channels_last then.
    """

    config: RefinerTrainConfig
    device: torch.device
    amp: bool
    R: Refiner
    D: Discriminator
    R_train: torch.nn.Module  # R, or R in DistributedDataParallel: the forward of an R update
    D_train: torch.nn.Module  # likewise D, for a D update
    opt_R: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    sched_R: Scheduler | None
    sched_D: Scheduler | None
    history: HistoryBuffer | None
    streams: dict[str, ImageStream]
    image: dict[str, Any]
    data: dict[str, str]
    averages: Averages = dataclasses.field(default_factory=Averages)
    monitor: MonitorState = dataclasses.field(default_factory=MonitorState)
    # The consistency term, consistency(x, R(x)) -> scalar (simgan.train.refiner_consistency); not saved:
    # it is rebuilt from the config's frozen task model.
    consistency: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    step: int = 0
    ranks: Ranks = SINGLE

    @property
    def memory_format(self) -> torch.memory_format:
        return amp_memory_format(self.amp)

    def batch(self, name: str) -> torch.Tensor:
        """The next batch of stream ``name`` on the device.

        Shape:
            returns (n, C, H, W) float32 in [-1, 1]; n is the stream's batch size.
        """
        batch = next(self.streams[name])
        return batch.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def _own(self) -> dict[str, Any]:
        """What differs between the ranks of a job: the history buffer and the RNG."""
        return {
            "history": self.history.state_dict() if self.history is not None else None,
            "rng": {"torch": torch.get_rng_state()},
        }

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint dict (see the module docstring): plain state dicts, tensors, numbers, strings.

        In a job this is a collective (each rank's own part is gathered): every rank calls it.
        """
        own = distributed.gather(self._own(), self.ranks)
        state = {
            "step": self.step,
            "iteration": adversarial_iteration(self.config, self.step),
            "config": config_to_dict(self.config),
            "image": dict(self.image),
            "data": dict(self.data),
            "R": self.R.state_dict(),
            "D": self.D.state_dict(),
            "opt_R": self.opt_R.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "sched_R": self.sched_R.state_dict() if self.sched_R is not None else None,
            "sched_D": self.sched_D.state_dict() if self.sched_D is not None else None,
            "history": self.history.state_dict() if self.history is not None else None,
            "averages": self.averages.state_dict(),
            "streams": {k: s.position for k, s in self.streams.items()},
            "monitor": self.monitor.state_dict(),
            **own[0],
        }
        if self.ranks.active:
            state.update(world_size=self.ranks.world, ranks=own)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint dict of a run with the same config (sets the global torch RNG state).

        A job's checkpoint restores each rank's own buffer and RNG; the number of ranks must match.
        """
        if self.ranks.active:
            state = {**state, **state["ranks"][self.ranks.rank]}
        self.R.load_state_dict(state["R"])
        self.D.load_state_dict(state["D"])
        self.opt_R.load_state_dict(state["opt_R"])
        self.opt_D.load_state_dict(state["opt_D"])
        if self.sched_R is not None:
            self.sched_R.load_state_dict(state["sched_R"])
        if self.sched_D is not None:
            self.sched_D.load_state_dict(state["sched_D"])
        if self.history is not None:
            self.history.load_state_dict(state["history"])
        self.averages.load_state_dict(state["averages"])
        for name, position in state["streams"].items():
            self.streams[name].position = int(position)  # a stream reads its position at the next batch
        if "monitor" in state:  # checkpoints written before the monitor existed have none
            self.monitor.load_state_dict(state["monitor"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step = int(state["step"])


def build_state(
    cfg: RefinerTrainConfig,
    synthetic: Source,
    real: Source,
    device: torch.device,
    checkpoint: dict[str, Any] | None = None,
    ranks: Ranks = SINGLE,
) -> RefinerState:
    """R, D, optimizers, schedulers, buffer and streams for ``cfg`` (a resolved preset), restored from
    ``checkpoint`` when given.

    Seeds: ``cfg.seed`` initialises the weights; the streams of synthetic batches for R updates and for D
    updates and of real batches use ``seed + 0``, ``+ 1``, ``+ 2``, the buffer ``seed + 3`` (plus
    ``1000 * rank`` in a job, so that the ranks' buffers replace different slots).
    In a job every rank draws its part of each global batch: ``cfg.batch_size`` is per rank.
    """
    amp = use_amp(cfg.amp, device)  # bf16 + channels_last where the device does bf16 natively
    memory_format = amp_memory_format(amp)
    info = synthetic.info
    seed_everything(cfg.seed)  # weight initialisation; everything later uses its own generator
    R = build_refiner(cfg.preset, info.channels, cfg.refiner_padding, cfg.noise_channels)
    R = R.to(device, memory_format=memory_format)
    D = build_discriminator(
        cfg.preset, info.channels, (info.height, info.width) if cfg.global_adversarial else None
    ).to(device, memory_format=memory_format)

    def optimizer(name: str, module: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
        return build_optimizer(
            name, module.parameters(), lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum
        )

    def scheduler(name: str, opt: torch.optim.Optimizer) -> Scheduler | None:
        return build_scheduler(name, opt, step_size=cfg.scheduler_step_size, gamma=cfg.scheduler_gamma)

    opt_R, opt_D = optimizer(cfg.optimizer_r, R, cfg.lr_r), optimizer(cfg.optimizer_d, D, cfg.lr_d)
    # With a buffer D's refined side is b/2 current + b/2 history images, without it b current ones.
    half = cfg.batch_size // 2 if cfg.history else cfg.batch_size
    stream_kw = {"num_workers": cfg.num_workers, "ranks": ranks}
    history_seed = cfg.seed + 3 + 1000 * ranks.rank
    state = RefinerState(
        config=cfg,
        device=device,
        amp=amp,
        R=R,
        D=D,
        opt_R=opt_R,
        opt_D=opt_D,
        sched_R=scheduler(cfg.scheduler_r, opt_R),
        sched_D=scheduler(cfg.scheduler_d, opt_D),
        history=HistoryBuffer(cfg.history_size, seed=history_seed) if cfg.history else None,
        streams={
            "synthetic_R": ImageStream(synthetic, cfg.batch_size, cfg.seed + 0, **stream_kw),
            "synthetic_D": ImageStream(synthetic, half, cfg.seed + 1, **stream_kw),
            "real": ImageStream(real, cfg.batch_size, cfg.seed + 2, **stream_kw),
        },
        image={"channels": info.channels, "height": info.height, "width": info.width, "dtype": info.dtype},
        data={"synthetic": str(info.path), "real": str(real.info.path)},
        R_train=distributed.wrap(R, ranks),
        D_train=distributed.wrap(D, ranks),
        ranks=ranks,
    )
    if checkpoint is not None:
        state.load_state_dict(checkpoint)
    return state


def load_resume(
    run: Path,
    cfg: RefinerTrainConfig,
    synthetic: DatasetInfo,
    real: DatasetInfo,
    *,
    resume: bool,
    ranks: Ranks = SINGLE,
) -> tuple[RefinerTrainConfig, dict[str, Any] | None]:
    """The config to train with and the checkpoint to continue (None for a fresh run).

    With ``resume`` and a ``RUN/checkpoint.pt``, the saved config wins except for
    :data:`~simgan.train.refiner_config.RESUMABLE_FIELDS` (taken from ``cfg``) and an ``auto`` preset.
    The data folders must be the ones the run trained on (the streams' positions index into them), and
    a torchrun job must have as many ranks as the one that wrote the checkpoint.

    Raises:
        InputError: a resumed run that asks for another config, other data folders or other image
            sizes, a corrupt checkpoint, or a run folder that already holds a run while ``resume`` is False.
    """
    ckpt_path = run / CHECKPOINT_NAME
    if not resume:
        if ckpt_path.is_file() or (run / "stats.jsonl").is_file():
            raise InputError.at(
                run, "already holds a refiner run: pass --resume to continue it, or choose another --out"
            )
        return cfg, None
    if not ckpt_path.is_file():
        return cfg, None
    checkpoint = load_checkpoint(ckpt_path, "refiner")
    distributed.check_world(checkpoint, ranks, ckpt_path)
    saved = config_from_dict(RefinerTrainConfig, checkpoint["config"], str(ckpt_path))
    if "equalize" not in checkpoint["config"]:  # runs from before equalisation existed did not equalise
        saved = dataclasses.replace(saved, equalize=False)
    for f in dataclasses.fields(RefinerTrainConfig):
        auto = {"preset": cfg.preset == "auto", "equalize": cfg.equalize is None}.get(f.name, False)
        if f.name in RESUMABLE_FIELDS or auto:
            continue
        if getattr(saved, f.name) != getattr(cfg, f.name):
            raise InputError.at(
                run,
                f"cannot change {f.name} when resuming (the run has {getattr(saved, f.name)!r}, "
                f"asked {getattr(cfg, f.name)!r}); train into a new --out instead",
            )
    image = checkpoint["image"]
    if (image["channels"], image["height"], image["width"]) != (
        synthetic.channels,
        synthetic.height,
        synthetic.width,
    ):
        raise InputError.at(
            synthetic.path,
            f"synthetic images are {synthetic.height}x{synthetic.width}x{synthetic.channels} but the run "
            f"being resumed trained on {image['height']}x{image['width']}x{image['channels']}",
        )
    for role, info in (("synthetic", synthetic), ("real", real)):
        trained_on = checkpoint.get("data", {}).get(role)
        if trained_on is not None and Path(trained_on).resolve() != Path(info.path).resolve():
            raise InputError.at(
                run,
                f"cannot change --{role} when resuming (the run trained on {trained_on}, asked "
                f"{info.path}); train into a new --out instead",
            )
    return dataclasses.replace(saved, **{k: getattr(cfg, k) for k in RESUMABLE_FIELDS}), checkpoint


def truncate_stats(path: Path, last_step: int) -> None:
    """Keep the stats lines up to ``last_step`` (a resumed run logs the later ones again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a kill mid-write
        if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= last_step:
            kept.append(line)
    atomic.write_text(path, "".join(f"{line}\n" for line in kept))
