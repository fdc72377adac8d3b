"""Batched, label-aware data augmentation with kornia, deterministic under a ``torch.Generator``.

Every op takes a batch ``x`` (B, C, H, W) float in [-1, 1] and its task targets ``y`` and returns both,
transformed together, so a label never disagrees with its pixels. Random parameters are drawn on the CPU
from the caller's ``torch.Generator`` (kornia's own augmentation classes use the global RNG), then the
pixels are warped with kornia's functional ops on whatever device ``x`` lives on.

Which op may touch which task (``ALLOWED``), and how the label follows the pixels:

| op | classify (class index) | gaze (unit vector, MPIIGaze camera axes) | handpose (uv pixels, (J, 2)) |
| --- | --- | --- | --- |
| flip | **refused**: a mirrored digit is another glyph | x -> -x (yaw -> -yaw, pitch kept) | u -> W - 1 - u |
| crop | unchanged | unchanged (a shift of a few pixels) | uv shifted with the pixels |
| rotate | unchanged | (x, y) rotated with the image, z kept | uv rotated about the image centre |
| jitter | unchanged | unchanged | unchanged |

segment (a mask of class ids, (H, W)): every op is allowed, and the mask is warped with its image by the
same map. flip mirrors it; crop and rotate resample it by **nearest neighbour** (an id is a name, not a
number: a blend of 3 and 5 is not 4), with the image's border replication, so a pixel and its id always
come from the same source pixel; jitter leaves it alone.

Decisions, with the reasons:

- *crop* is pad-and-crop written as an integer translation by up to ``pad`` pixels (default 1/8 of the
  shorter side), replicating the border, so the image keeps its size. For gaze the label is kept: a
  small shift of a normalised eye crop barely changes the eye's direction in camera space.
- *rotate* for gaze rotates only the in-plane component. An image rotation about the centre of a
  normalised eye image is a camera roll about its optical axis (the normalisation puts the eye on that
  axis), and a roll by theta rotates the gaze vector's (x, y) by theta about z; x points right and y down
  in both the camera and the image, so the vector turns exactly as the pixels do. It is therefore
  label-exact, not an approximation; but normalised data has (nearly) no head roll, so keep the angle
  small (the default is +/-20 degrees, the paper's hand setting).
- *jitter* is brightness and contrast (kornia.enhance) on the image mapped to [0, 1]. On depth it scales
  and offsets the normalised depth, which a depth network should be invariant to within small limits.

Coordinates: pixel centres sit at integer indices (u = column, v = row); kornia's ``warp_affine`` with
``align_corners=True`` uses the same convention, and a point p of the input lands at M [p; 1] in the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import kornia
import torch

from simgan.errors import InputError
from simgan.gaze import mirror_gaze

__all__ = [
    "AUGMENTATIONS",
    "ALLOWED",
    "AUTO",
    "parse_augmentations",
    "flip",
    "translate",
    "rotate",
    "jitter",
    "random_flip",
    "random_crop",
    "random_rotate",
    "random_jitter",
    "Augmenter",
]

AUGMENTATIONS = ("flip", "crop", "rotate", "jitter")
ALLOWED: dict[str, frozenset[str]] = {
    "classify": frozenset({"crop", "rotate", "jitter"}),
    "gaze": frozenset(AUGMENTATIONS),
    "handpose": frozenset(AUGMENTATIONS),
    "segment": frozenset(AUGMENTATIONS),
}
_WHY_NOT = {("classify", "flip"): "a mirrored digit is not the same digit (2 and 5, 3 and E)"}
# What ``--augment auto`` (train-task's default) means per task. classify: a pad-and-crop shift, chosen
# label-free on the embedded default (docs/train_task.md: it lowered the disagreement between repeats on the
# unlabelled real digits and raised ATC's accuracy estimate; rotate and jitter did not). gaze and handpose:
# nothing yet, as before, until a label-free check says otherwise. segment: nothing (docs/train_task.md).
AUTO: dict[str, tuple[str, ...]] = {"classify": ("crop",), "gaze": (), "handpose": (), "segment": ()}


def parse_augmentations(spec: str | Iterable[str] | None, task: str) -> tuple[str, ...]:
    """Check a ``--augment`` value (``"flip,crop"`` or a list) against the task; return the op names.

    ``None``, ``""`` and ``"none"`` mean no augmentation; ``"auto"`` means the task's default (:data:`AUTO`).
    Order is normalised to flip, crop, rotate, jitter (geometry before intensity) and duplicates are dropped.

    Raises:
        InputError: an unknown op, or one that would corrupt this task's labels.
    """
    if spec is None:
        return ()
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in names if n and n != "none"]
    if "auto" in names:
        if len(names) > 1:
            raise InputError("--augment: 'auto' stands alone (it means the task's default)")
        names = list(AUTO.get(task, ()))
    for n in names:
        if n not in AUGMENTATIONS:
            raise InputError(
                f"--augment: unknown augmentation {n!r} (choose from {', '.join(AUGMENTATIONS)})"
            )
        if n not in ALLOWED[task]:
            why = _WHY_NOT.get((task, n), "it would corrupt the labels")
            raise InputError(f"--augment: {n!r} is not allowed for task {task!r}: {why}")
    return tuple(a for a in AUGMENTATIONS if a in names)


def _check(x: torch.Tensor, y: torch.Tensor, task: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected images (B, C, H, W), got {tuple(x.shape)}")
    b = x.shape[0]
    expected = {"classify": (b,), "gaze": (b, 3), "handpose": (b, -1, 2), "segment": (b, *x.shape[2:])}[task]
    ok = y.ndim == len(expected) and all(e in (-1, s) for e, s in zip(expected, y.shape, strict=True))
    if not ok:
        raise ValueError(f"{task} targets must have shape {expected} (-1: any), got {tuple(y.shape)}")


def _affine_targets(y: torch.Tensor, task: str, m: torch.Tensor) -> torch.Tensor:
    """Move targets with the forward affine maps ``m`` (B, 2, 3) that moved the pixels."""
    if task == "handpose":
        return y @ m[:, :, :2].transpose(1, 2) + m[:, None, :, 2]  # (B, J, 2)
    if task == "gaze":
        xy = (m[:, :, :2] @ y[:, :2, None]).squeeze(-1)  # linear part only (a direction): (B, 2)
        return torch.cat([xy, y[:, 2:]], dim=1)  # (B, 3)
    return y


def _warp(x: torch.Tensor, m: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    return kornia.geometry.transform.warp_affine(
        x, m, dsize=(x.shape[2], x.shape[3]), mode=mode, padding_mode="border", align_corners=True
    )


def _warp_mask(y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Warp class-id masks (B, H, W) by the maps ``m`` that moved their images: nearest neighbour."""
    moved = _warp(y[:, None].to(torch.float32), m.to(torch.float32), mode="nearest")  # (B, 1, H, W)
    return moved[:, 0].round().to(y.dtype)


def _move_targets(y: torch.Tensor, task: str, m: torch.Tensor) -> torch.Tensor:
    """The targets of images warped by ``m``: masks resampled, points and vectors mapped."""
    return _warp_mask(y, m) if task == "segment" else _affine_targets(y, task, m)


def flip(
    x: torch.Tensor, y: torch.Tensor, task: str, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror left-right the samples where ``mask`` is True, with their labels (table above).

    Shape:
        x: (B, C, H, W); y: task targets; mask: (B,) bool. Returns (x, y) of the same shapes.
    """
    _check(x, y, task)
    if task not in ALLOWED or "flip" not in ALLOWED[task]:
        raise ValueError(f"flip is not label-preserving for task {task!r}")
    mask = mask.to(x.device)
    x = torch.where(mask[:, None, None, None], kornia.geometry.transform.hflip(x), x)
    if task == "gaze":
        y = torch.where(mask[:, None], mirror_gaze(y), y)  # x -> -x: yaw -> -yaw, pitch kept
    elif task == "handpose":
        mirrored = torch.stack([(x.shape[3] - 1) - y[..., 0], y[..., 1]], dim=-1)  # u -> W - 1 - u
        y = torch.where(mask[:, None, None], mirrored, y)
    elif task == "segment":
        y = torch.where(mask[:, None, None], y.flip(-1), y)  # the mask mirrors with its image
    return x, y


def translate(
    x: torch.Tensor, y: torch.Tensor, task: str, shift: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift each image by integer pixels (border replicated): the pad-and-crop augmentation.

    Shape:
        x: (B, C, H, W); shift: (B, 2) as (du, dv) in pixels; a point (u, v) moves to (u + du, v + dv).
    """
    _check(x, y, task)
    b = x.shape[0]
    m = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    m[:, :, 2] = shift.to(x.device, x.dtype)
    x = _warp(x, m)
    return x, (y if task == "gaze" else _move_targets(y, task, m))


def rotate(
    x: torch.Tensor, y: torch.Tensor, task: str, degrees: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate each image about its centre, counter-clockwise as displayed, with its labels.

    Shape:
        x: (B, C, H, W); degrees: (B,). Returns (x, y) of the same shapes.
    """
    _check(x, y, task)
    b, _, h, w = x.shape
    center = x.new_tensor([(w - 1) / 2.0, (h - 1) / 2.0]).expand(b, 2)
    m = kornia.geometry.transform.get_rotation_matrix2d(
        center, degrees.to(x.device, x.dtype), torch.ones(b, 2, dtype=x.dtype, device=x.device)
    )  # (B, 2, 3), OpenCV convention: a point p lands at M [p; 1]
    return _warp(x, m), _move_targets(y, task, m)


def jitter(
    x: torch.Tensor, y: torch.Tensor, task: str, brightness: torch.Tensor, contrast: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale (contrast) then offset (brightness) intensities in [0, 1] space; labels unchanged.

    Shape:
        x: (B, C, H, W) in [-1, 1]; brightness, contrast: (B,). Returns x in [-1, 1] and y.
    """
    _check(x, y, task)
    x01 = (x + 1.0) / 2.0
    x01 = kornia.enhance.adjust_contrast(x01, contrast.to(x.device, x.dtype))
    x01 = kornia.enhance.adjust_brightness(x01, brightness.to(x.device, x.dtype))
    return x01 * 2.0 - 1.0, y


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator)


def random_flip(
    x: torch.Tensor, y: torch.Tensor, task: str, generator: torch.Generator, p: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each sample with probability ``p`` (see :func:`flip`)."""
    return flip(x, y, task, torch.rand(x.shape[0], generator=generator) < p)


def random_crop(
    x: torch.Tensor, y: torch.Tensor, task: str, generator: torch.Generator, pad: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad by ``pad`` pixels (default: 1/8 of the shorter side, at least 1) and crop back at random."""
    if pad is None:
        pad = max(1, round(min(x.shape[2], x.shape[3]) / 8))
    shift = torch.randint(-pad, pad + 1, (x.shape[0], 2), generator=generator)
    return translate(x, y, task, shift)


def random_rotate(
    x: torch.Tensor, y: torch.Tensor, task: str, generator: torch.Generator, max_degrees: float = 20.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate each sample by an angle uniform in [-max_degrees, max_degrees] (paper: +/-20 for hands)."""
    return rotate(x, y, task, _uniform(x.shape[0], -max_degrees, max_degrees, generator))


def random_jitter(
    x: torch.Tensor,
    y: torch.Tensor,
    task: str,
    generator: torch.Generator,
    brightness: float = 0.1,
    contrast: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Contrast factor uniform in [1 - contrast, 1 + contrast], brightness offset in +/-brightness."""
    b = x.shape[0]
    c = _uniform(b, 1.0 - contrast, 1.0 + contrast, generator)
    o = _uniform(b, -brightness, brightness, generator)
    return jitter(x, y, task, o, c)


class Augmenter:
    """The augmentations a run asked for, applied in the order flip, crop, rotate, jitter.

    Args:
        task: classify, gaze, handpose or segment (decides which ops are legal and how labels move).
        ops: op names or a ``--augment`` string; illegal ones raise InputError.
        pad: crop padding in pixels (None: 1/8 of the shorter side).
        max_degrees: rotation range.
        brightness, contrast: jitter ranges.

    Shape:
        ``aug(x, y, generator)``: x (B, C, H, W) in [-1, 1], y task targets; returns both transformed.
    """

    def __init__(
        self,
        task: str,
        ops: str | Sequence[str] | None,
        *,
        pad: int | None = None,
        max_degrees: float = 20.0,
        brightness: float = 0.1,
        contrast: float = 0.2,
    ):
        if task not in ALLOWED:
            raise ValueError(f"unknown task {task!r}")
        self.task = task
        self.ops = parse_augmentations(ops, task)
        self.pad, self.max_degrees = pad, max_degrees
        self.brightness, self.contrast = brightness, contrast

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for op in self.ops:
            if op == "flip":
                x, y = random_flip(x, y, self.task, generator)
            elif op == "crop":
                x, y = random_crop(x, y, self.task, generator, self.pad)
            elif op == "rotate":
                x, y = random_rotate(x, y, self.task, generator, self.max_degrees)
            else:
                x, y = random_jitter(x, y, self.task, generator, self.brightness, self.contrast)
        return x, y

    def __repr__(self) -> str:
        return f"Augmenter(task={self.task!r}, ops={self.ops!r})"
