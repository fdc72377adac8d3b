"""Native MPIIGaze (real eyes): ``Data/Normalized/pNN/dayMM.mat`` read as the paper's 35x55 eye images.

Accepted folders: the MPIIGaze root (holding ``Data/Normalized``), ``Data/Normalized`` itself, or one
participant folder ``pNN``. Each ``.mat`` holds ``data.left`` and ``data.right`` (``gaze`` (N, 3) unit vectors
in the normalized camera, ``image`` (N, 36, 60) uint8, ``pose`` (N, 3) Rodrigues head rotation) and
``filenames`` (N,). Images are resized bilinearly 36x60 -> 35x55 (no crop).

Protocol (:class:`MPIIGazeConfig`, defaults = the paper's 214K images, both eyes):

- ``subset="evaluation"`` keeps only the standard evaluation subset, listed in
  ``Evaluation Subset/sample list for eye image/pNN.txt`` (lines like ``day08/0069.jpg left``).
- Right eyes are mirrored (``mirror_right=True``, the MPIIGaze protocol) so every sample looks like a left
  eye: the image is flipped horizontally, gaze x is negated (so yaw is negated, pitch kept) and the head
  rotation vector becomes (r_x, -r_y, -r_z) (the rotation conjugated by the flip).
- :func:`leave_one_person_out` yields the 15 folds of the cross-person protocol.

Labels (task ``gaze``): ``{"gaze", "pitch", "yaw", "person": "p00", "side": "left"|"right",
"mirrored": bool, "head_rotvec": [r_x, r_y, r_z]}``; gaze as stored in the file (MPIIGaze convention,
pitch = asin(-y), yaw = atan2(-x, -z)). Ids: ``p00/day01/0005/left``.

Equalisation: MPIIGaze's normalisation histogram-equalises every eye image (Zhang et al., CVPR 2015), and
the images in ``Data/Normalized`` come that way; this reader returns them as stored (after the resize).
144 real crops measured for issue 18 had a mean of 0.506 +/- 0.006 and a within-image std of 0.289, the
figures of a flat histogram. ``train-refiner``, ``refine`` and ``train-task`` equalise gaze data again by
default (:mod:`simgan.data.equalize`), which changes such images little and treats synthetic and real alike.

Reading is file-at-a-time: a small cache keeps the last decoded ``.mat`` files, so reading in order (as
``inspect``, ``convert`` and ``refine`` do) decodes each file once. For shuffled training over all of
MPIIGaze, ``simgan convert`` it into a simgan dataset first. A Python user passes options as::

    from simgan.data.mpiigaze import MPIIGazeConfig, MPIIGazeSource
    src = MPIIGazeSource("~/data/MPIIGaze", MPIIGazeConfig(subset="evaluation", size=(36, 60)))
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np

from simgan.data.eye_crop import gaze_label, resize_gray
from simgan.data.matfile import loadmat, whosmat
from simgan.data.source import DatasetInfo, Sample, Source, register_layout
from simgan.errors import InputError
from simgan.gaze import mirror_gaze

__all__ = [
    "SIDES",
    "MPIIGazeConfig",
    "MPIIGazeSource",
    "mirror_rotvec",
    "read_evaluation_list",
    "participants",
    "leave_one_person_out",
]

SIDES = ("left", "right")
EVALUATION_LIST_DIR = Path("Evaluation Subset") / "sample list for eye image"
_PERSON = re.compile(r"^p\d\d$")
_CACHE_FILES = 2  # decoded .mat files kept per process (one day is ~4 MB of pixels)


@dataclass(frozen=True)
class MPIIGazeConfig:
    """Which MPIIGaze samples to read and how (defaults = the SimGAN paper).

    Attributes:
        size: stored image (H, W); the files hold 36x60.
        subset: ``all`` samples, or the standard ``evaluation`` subset (1500 left + 1500 right per person).
        eyes: which eyes to read.
        mirror_right: flip right eyes to look like left eyes (image, gaze x, head rotation).
        evaluation_dir: folder of the ``pNN.txt`` lists; None finds
            ``<MPIIGaze>/Evaluation Subset/sample list for eye image`` above the data folder.
    """

    size: tuple[int, int] = (35, 55)
    subset: Literal["all", "evaluation"] = "all"
    eyes: tuple[str, ...] = SIDES
    mirror_right: bool = True
    evaluation_dir: str | None = None

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"MPIIGazeConfig.size must be two positive ints (H, W), got {self.size!r}")
        if self.subset not in ("all", "evaluation"):
            raise ValueError(f"MPIIGazeConfig.subset must be 'all' or 'evaluation', got {self.subset!r}")
        if not self.eyes or any(e not in SIDES for e in self.eyes):
            raise ValueError(f"MPIIGazeConfig.eyes must be a subset of {SIDES}, got {self.eyes!r}")


def mirror_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """Head rotation (Rodrigues vector) seen in the horizontally flipped image.

    With the flip M = diag(-1, 1, 1), the rotation becomes M R M, whose rotation vector is
    det(M) M r = (r_x, -r_y, -r_z).
    """
    r = np.array(rotvec, dtype=np.float64).reshape(3)
    return np.array([r[0], -r[1], -r[2]])


def _person_dirs(path: Path) -> list[Path]:
    """The participant folders below an accepted MPIIGaze path (empty when it is none)."""
    if (path / "Data" / "Normalized").is_dir():
        path = path / "Data" / "Normalized"
    if _PERSON.match(path.name) and any(path.glob("day*.mat")):
        return [path]
    with os.scandir(path) as it:
        dirs = [Path(e.path) for e in it if _PERSON.match(e.name) and e.is_dir()]
    return sorted(d for d in dirs if any(d.glob("*.mat")))


def _is_mpiigaze(path: Path) -> bool:
    if (path / "Data" / "Normalized").is_dir():
        return True
    if _PERSON.match(path.name):
        return any(path.glob("day*.mat"))
    with os.scandir(path) as it:  # name test first: no stat for the files of a big image folder
        return any(_PERSON.match(e.name) and e.is_dir() and any(Path(e.path).glob("day*.mat")) for e in it)


def _find_evaluation_dir(person_dir: Path) -> Path | None:
    for up in person_dir.parents:
        if (up / EVALUATION_LIST_DIR).is_dir():
            return up / EVALUATION_LIST_DIR
    return None


def _file_stems(path: Path) -> list[str]:
    """Sample names (``0005``) of one day file, from its ``filenames``; checks the file's structure."""
    names = whosmat(path)
    if "data" not in names or names["data"][1] != "struct":
        raise InputError.at(path, "no 'data' struct (expected data.left/data.right with gaze, image, pose)")
    if "filenames" not in names:
        raise InputError.at(path, "no 'filenames' variable (expected one file name per sample)")
    raw = np.atleast_1d(loadmat(path, variable_names=["filenames"], squeeze_me=True)["filenames"])
    stems = [PurePosixPath(str(f).replace("\\", "/")).stem for f in raw.ravel()]
    if len(set(stems)) != len(stems):
        raise InputError.at(path, "'filenames' repeats a name (sample ids would not be unique)")
    return stems


def _side_arrays(path: Path, data: Any, side: str, n: int) -> dict[str, np.ndarray]:
    """``data.<side>`` as arrays gaze (n, 3), image (n, H, W) uint8, pose (n, 3); re-wraps a squeezed n=1."""
    eye = getattr(data, side, None)
    if eye is None:
        raise InputError.at(path, f"data has no '{side}' field (expected data.left and data.right)")
    out: dict[str, np.ndarray] = {}
    for field in ("gaze", "image", "pose"):
        value = getattr(eye, field, None)
        if value is None:
            raise InputError.at(path, f"data.{side} has no '{field}' field (expected gaze, image, pose)")
        out[field] = np.asarray(value)
    image = out["image"]
    if image.ndim == 2:  # squeeze_me turned a single (1, H, W) sample into (H, W)
        image = image[None]
    try:
        gaze = out["gaze"].astype(np.float64).reshape(-1, 3)
        pose = out["pose"].astype(np.float64).reshape(-1, 3)
    except ValueError:
        raise InputError.at(path, f"data.{side}.gaze and .pose must be (N, 3) arrays") from None
    if image.ndim != 3:
        raise InputError.at(path, f"data.{side}.image must be (N, H, W) grey images, got {image.shape}")
    counts = {"image": image.shape[0], "gaze": gaze.shape[0], "pose": pose.shape[0]}
    for field, k in counts.items():
        if k != n:
            raise InputError.at(path, f"data.{side}.{field} has {k} samples but 'filenames' has {n}")
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.number) or image.min() < 0 or image.max() > 255:
            raise InputError.at(path, f"data.{side}.image must be 8-bit grey (0..255), got {image.dtype}")
        image = np.rint(image).astype(np.uint8)
    return {"image": image, "gaze": gaze, "pose": pose}


def read_evaluation_list(path: Path) -> list[tuple[str, str, str]]:
    """Parse one ``pNN.txt`` evaluation list into (day, stem, side) triples, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError.at(path, "evaluation list not found (needed for subset='evaluation')") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError.at(path, f"cannot read ({e})") from None
    out = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        rel = PurePosixPath(parts[0].replace("\\", "/")) if parts else None
        if len(parts) != 2 or parts[1] not in SIDES or rel is None or len(rel.parts) != 2:
            raise InputError.at(path, f"line {lineno}: expected 'dayMM/NNNN.jpg left|right', got {line!r}")
        out.append((rel.parts[0], rel.stem, parts[1]))
    return out


class MPIIGazeSource(Source):
    """MPIIGaze ``Data/Normalized`` as a gaze dataset of eye images (see the module docstring).

    Args:
        root: the MPIIGaze folder, its ``Data/Normalized``, or one ``pNN`` folder.
        config: which samples and how; None uses :class:`MPIIGazeConfig`'s defaults.

    Raises:
        InputError: no participant folders, a ``.mat`` without the expected variables, an evaluation
            list naming a sample that does not exist; each naming the file.
    """

    def __init__(self, root: str | Path, config: MPIIGazeConfig | None = None):
        self.root = Path(root).expanduser()
        self.config = cfg = config or MPIIGazeConfig()
        person_dirs = _person_dirs(self.root)
        if not person_dirs:
            raise InputError.at(self.root, "no MPIIGaze participant folders (pNN/dayMM.mat) found")
        self.files: list[Path] = []
        self._stems: list[list[str]] = []
        self.person_names = [d.name for d in person_dirs]
        file_person: list[int] = []
        for p, d in enumerate(person_dirs):
            for f in sorted(d.glob("*.mat")):
                self.files.append(f)
                self._stems.append(_file_stems(f))
                file_person.append(p)
        side_code = {s: k for k, s in enumerate(SIDES)}
        entries: list[tuple[int, int, int]] = []  # (file, sample, side)
        if cfg.subset == "all":
            for f, stems in enumerate(self._stems):
                entries += [(f, k, side_code[s]) for k in range(len(stems)) for s in SIDES if s in cfg.eyes]
        else:
            eval_dir = (
                Path(cfg.evaluation_dir) if cfg.evaluation_dir else _find_evaluation_dir(person_dirs[0])
            )
            if eval_dir is None:
                raise InputError.at(
                    self.root,
                    f"subset='evaluation' needs '{EVALUATION_LIST_DIR}' above the data folder "
                    "(or MPIIGazeConfig(evaluation_dir=...))",
                )
            entries = self._evaluation_entries(eval_dir, person_dirs, side_code)
        if not entries:
            raise InputError.at(self.root, "no MPIIGaze samples selected")
        table = np.asarray(entries, dtype=np.int64)  # (count, 3)
        self._file, self._sample, self._side = table[:, 0], table[:, 1], table[:, 2]
        self._person = np.asarray(file_person, dtype=np.int64)[self._file]
        self._cache: OrderedDict[int, dict[str, dict[str, np.ndarray]]] = OrderedDict()
        h, w = cfg.size
        self.info = DatasetInfo(
            layout="mpiigaze",
            path=self.root,
            count=len(entries),
            height=h,
            width=w,
            channels=1,
            dtype="uint8",
            task="gaze",
            extra={
                "label_schema": {
                    "gaze": "unit gaze vector, MPIIGaze normalized camera (x right, y down, z forward)",
                    "pitch": "radians, asin(-gaze_y), > 0 looks up",
                    "yaw": "radians, atan2(-gaze_x, -gaze_z), 0 looks into the camera",
                    "person": "participant pNN",
                    "side": "left | right (the eye in the file)",
                    "mirrored": "right eye flipped horizontally (gaze x and yaw negated)",
                    "head_rotvec": "Rodrigues head rotation in the normalized camera (mirrored with the eye)",
                    "preprocess": dataclasses.asdict(cfg),
                },
            },
        )

    def _evaluation_entries(
        self, eval_dir: Path, person_dirs: list[Path], side_code: dict[str, int]
    ) -> list[tuple[int, int, int]]:
        index = {(f.parent.name, f.stem): k for k, f in enumerate(self.files)}
        lookup = [{s: k for k, s in enumerate(stems)} for stems in self._stems]
        entries: list[tuple[int, int, int]] = []
        seen: set[tuple[int, int, int]] = set()
        for d in person_dirs:
            listing = eval_dir / f"{d.name}.txt"
            for lineno, (day, stem, side) in enumerate(read_evaluation_list(listing), start=1):
                f = index.get((d.name, day))
                k = lookup[f].get(stem) if f is not None else None
                if f is None or k is None:
                    raise InputError.at(listing, f"entry {lineno}: {day}/{stem} is not in {d.name}/{day}.mat")
                entry = (f, k, side_code[side])
                if entry in seen:
                    raise InputError.at(listing, f"entry {lineno}: {day}/{stem} {side} is listed twice")
                seen.add(entry)
                if side in self.config.eyes:
                    entries.append(entry)
        return entries

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": OrderedDict()}  # workers decode their own files

    def _load(self, f: int) -> dict[str, dict[str, np.ndarray]]:
        if f in self._cache:
            self._cache.move_to_end(f)
            return self._cache[f]
        path = self.files[f]
        mat = loadmat(path, struct_as_record=False, squeeze_me=True)
        if "data" not in mat:
            raise InputError.at(
                path, "no 'data' struct (expected data.left/data.right with gaze, image, pose)"
            )
        n = len(self._stems[f])
        arrays = {s: _side_arrays(path, mat["data"], s, n) for s in SIDES}
        self._cache[f] = arrays
        while len(self._cache) > _CACHE_FILES:
            self._cache.popitem(last=False)
        return arrays

    def person(self, index: int) -> str:
        """Participant ``pNN`` of sample ``index`` (no file is decoded)."""
        return self.person_names[int(self._person[index])]

    @property
    def persons(self) -> list[str]:
        """Participant of every sample, in index order."""
        return [self.person_names[p] for p in self._person]

    def sample_id(self, index: int) -> str:
        f = int(self._file[index])
        path, stem = self.files[f], self._stems[f][self._sample[index]]
        return f"{path.parent.name}/{path.stem}/{stem}/{SIDES[self._side[index]]}"

    def _gaze_and_label(self, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        f, k, side = int(self._file[index]), int(self._sample[index]), SIDES[self._side[index]]
        arrays = self._load(f)[side]
        gaze, rotvec = arrays["gaze"][k], arrays["pose"][k]
        mirrored = side == "right" and self.config.mirror_right
        image = arrays["image"][k]
        if mirrored:
            image, gaze, rotvec = image[:, ::-1], mirror_gaze(gaze), mirror_rotvec(rotvec)
        try:
            label = gaze_label(gaze)
        except ValueError as e:
            raise InputError.at(self.files[f], f"data.{side}.gaze[{k}]: {e}") from None
        label.update(
            person=self.person(index),
            side=side,
            mirrored=mirrored,
            head_rotvec=[float(r) for r in rotvec],
        )
        return image, label

    def label(self, index: int) -> dict[str, Any]:
        return self._gaze_and_label(index)[1]

    def read(self, index: int) -> Sample:
        image, label = self._gaze_and_label(index)
        image = resize_gray(image, self.config.size)  # (35, 55) by default
        return Sample(self.sample_id(index), image[:, :, None], label)


def participants(source: Source) -> list[str]:
    """The participant of every sample of an MPIIGaze source, or of a dataset converted from one.

    Uses :attr:`MPIIGazeSource.persons` when available, else each label's ``person`` key (what
    ``simgan convert`` keeps).

    Raises:
        InputError: a sample has no participant.
    """
    if isinstance(source, MPIIGazeSource):
        return source.persons
    out = []
    for i in range(len(source)):
        label = source.label(i)
        if not isinstance(label, dict) or not isinstance(label.get("person"), str):
            raise InputError.at(source.info.path, f"sample {i} has no 'person' in its label (not MPIIGaze)")
        out.append(label["person"])
    return out


def leave_one_person_out(source: Source) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """The leave-one-person-out folds: for each participant (sorted), (person, train_indices, test_indices).

    Raises:
        InputError: fewer than two participants.
    """
    persons = np.asarray(participants(source))
    names = sorted(set(persons.tolist()))
    if len(names) < 2:
        raise InputError.at(
            source.info.path, f"leave-one-person-out needs two or more participants, found {len(names)}"
        )
    for name in names:
        test = persons == name
        yield name, np.flatnonzero(~test), np.flatnonzero(test)


register_layout("mpiigaze", detect=_is_mpiigaze, priority=6)(MPIIGazeSource)
