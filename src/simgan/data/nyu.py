"""Native NYU hand pose folders (real depth): ``depth_K_IIIIIII.png`` + ``joint_data.mat`` as hand crops.

Point it at one split folder (``.../dataset/test`` or ``.../dataset/train``); a folder holding both needs
``NYUConfig(split=...)``. Each depth PNG stores millimetres as ``(G << 8) | B`` of an 8-bit RGB image (R
unused, 0 = no reading). ``joint_data.mat`` holds ``joint_uvd`` and ``joint_xyz`` of shape (kinects, N, 36, 3)
(u, v in 640x480 pixels, d and xyz in mm) and ``joint_names``.

Preprocessing (:class:`NYUConfig`, defaults = the SimGAN paper's 224x224 input, Kinect 1, the frontal view),
done by :func:`simgan.handpose.crop_hand`, the same crop the hands simulator uses:

1. Centre on joint 32 (the palm) at (u_c, v_c, d_c); take the 300 mm cube around it: a window of
   ``fx * 300 / d_c`` by ``fy * 300 / d_c`` pixels, resampled to ``size`` by nearest neighbour (depth must
   not be blended across the hand's silhouette; that edge is exactly what SimGAN learns to imitate).
2. Depth is clamped to d_c +/- 150 mm; missing readings (0), anything beyond the far plane and anything
   outside the frame become the far plane (background).
3. Normalise ``(depth - d_c) / 150`` to [-1, 1] (near = -1, background = +1) and store it as uint16,
   0..65535 linearly = [-1, 1], like the hands simulator, so ``to_float`` recovers it.

Labels (task ``handpose``): ``{"uv": 14x[u, v], "xyz": 14x[x, y, z], "centre_uvd": [u, v, d],
"crop_box": [u0, v0, u1, v1], "kinect": K}``: the 14 evaluation joints, uv in the stored image's pixels
(pixel-index coordinates: pixel ``image[r, c]`` is centred on u = c, v = r), xyz in mm as in the file,
and the crop (continuous 640x480 pixel box) so predictions map back. Ids: ``test/depth_1_0000001``.
NYU has no part masks, so none are made up: ``mask_classes`` and ``read_mask``
(:mod:`simgan.data.simgan_reader`) give None, and ``train-task segment`` refuses the set.
A Python user passes options as::

    from simgan.data.nyu import NYUConfig, NYUSource
    src = NYUSource("~/data/nyu_hand_dataset_v2/dataset/test", NYUConfig(size=(128, 128), kinects=(1, 2, 3)))
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from simgan.data.matfile import loadmat
from simgan.data.source import DatasetInfo, Sample, Source, register_layout
from simgan.errors import InputError
from simgan.handpose import CENTRE_JOINT, EVAL_JOINTS, crop_box, crop_hand, frame_to_crop_uv, uvd_to_xyz

__all__ = ["NYUConfig", "NYUSource", "decode_depth"]

_DEPTH_NAME = re.compile(r"^depth_(\d)_(\d{7})\.png$")


@dataclass(frozen=True)
class NYUConfig:
    """NYU hand crop settings (defaults = the SimGAN paper).

    Attributes:
        size: stored image (H, W); 224x224 in SimGAN, 128x128 is common elsewhere.
        cube_mm: side of the cube around the hand centre (mm); depth is clamped to +/- half of it.
        kinects: which cameras (1 = frontal, 2 and 3 = side views; all three = the paper's "3x").
        split: ``train`` or ``test`` when the folder given holds both; None reads the folder itself.
    """

    size: tuple[int, int] = (224, 224)
    cube_mm: float = 300.0
    kinects: tuple[int, ...] = (1,)
    split: str | None = None

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"NYUConfig.size must be two positive ints (H, W), got {self.size!r}")
        if not self.cube_mm > 0:
            raise ValueError(f"NYUConfig.cube_mm must be positive, got {self.cube_mm!r}")
        if not self.kinects or len(set(self.kinects)) != len(self.kinects) or min(self.kinects) < 1:
            raise ValueError(f"NYUConfig.kinects must be distinct cameras 1, 2, 3, got {self.kinects!r}")


def decode_depth(path: str | Path) -> np.ndarray:
    """Depth in mm, ``(G << 8) | B`` of an 8-bit RGB PNG.

    Raises:
        InputError: missing, corrupt, or not an 8-bit RGB image (e.g. a grey or 16-bit PNG).

    Shape:
        output: (H, W) uint16.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("RGB", "RGBA"):
                raise InputError.at(
                    path, f"image mode {im.mode!r}, expected 8-bit RGB with depth in mm as (G << 8) | B"
                )
            rgb = np.asarray(im.convert("RGB"))  # (H, W, 3) uint8
    except FileNotFoundError:
        raise InputError.at(path, "depth image not found") from None
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise InputError.at(path, f"truncated or corrupt image ({e})") from None
    return (rgb[:, :, 1].astype(np.uint16) << 8) | rgb[:, :, 2]


def _load_joints(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``joint_uvd`` and ``joint_xyz`` (kinects, N, 36, 3) from ``joint_data.mat``, checked."""
    mat = loadmat(path, variable_names=["joint_uvd", "joint_xyz"])
    out = []
    for key in ("joint_uvd", "joint_xyz"):
        if key not in mat:
            raise InputError.at(path, f"no '{key}' variable (expected joint_uvd and joint_xyz)")
        a = np.asarray(mat[key])
        if a.ndim != 4 or a.shape[2] != 36 or a.shape[3] != 3 or not np.issubdtype(a.dtype, np.number):
            raise InputError.at(path, f"'{key}' has shape {a.shape}, expected (kinects, N, 36, 3)")
        out.append(a.astype(np.float64))
    if out[0].shape != out[1].shape:
        raise InputError.at(path, f"joint_uvd {out[0].shape} and joint_xyz {out[1].shape} differ in shape")
    return out[0], out[1]


def _split_folder(root: Path, split: str | None) -> Path:
    if split is not None:
        folder = root / split
        if not (folder / "joint_data.mat").is_file():
            raise InputError.at(folder / "joint_data.mat", f"missing (no NYU '{split}' split here)")
        return folder
    if (root / "joint_data.mat").is_file():
        return root
    splits = [s for s in ("train", "test") if (root / s / "joint_data.mat").is_file()]
    if splits:
        raise InputError.at(
            root, f"holds the NYU splits {' and '.join(splits)}: pass one of them (e.g. {root / splits[-1]})"
        )
    raise InputError.at(root / "joint_data.mat", "missing (an NYU hand folder has joint_data.mat)")


def _is_nyu(path: Path) -> bool:
    return any((path / sub / "joint_data.mat").is_file() for sub in ("", "train", "test"))


class NYUSource(Source):
    """An NYU hand pose split folder as a handpose dataset of normalised depth crops (module docstring).

    Args:
        root: the split folder (``.../dataset/test``), or the dataset folder with ``config.split`` set.
        config: crop settings; None uses :class:`NYUConfig`'s defaults.

    Raises:
        InputError: a missing or malformed ``joint_data.mat``, a camera it lacks, or a frame count that
            disagrees with the depth PNGs; each naming the file.
    """

    def __init__(self, root: str | Path, config: NYUConfig | None = None):
        self.root = Path(root).expanduser()
        self.config = cfg = config or NYUConfig()
        self.folder = _split_folder(self.root, cfg.split)
        mat = self.folder / "joint_data.mat"
        uvd, xyz = _load_joints(mat)  # (K, N, 36, 3)
        n_kinects, n = uvd.shape[:2]
        for k in cfg.kinects:
            if k > n_kinects:
                raise InputError.at(mat, f"has {n_kinects} camera(s); Kinect {k} was asked for")
        pngs: dict[int, int] = {}
        with os.scandir(self.folder) as it:
            for e in it:
                m = _DEPTH_NAME.match(e.name)
                if m:
                    pngs[int(m.group(1))] = pngs.get(int(m.group(1)), 0) + 1
        for k in cfg.kinects:
            if pngs.get(k, 0) != n:
                raise InputError.at(
                    mat,
                    f"joint_uvd has {n} frames but the folder holds {pngs.get(k, 0)} depth_{k}_*.png files",
                )
        cams = np.asarray(cfg.kinects) - 1  # Kinect 1 is index 0
        self._uvd = uvd[cams][:, :, EVAL_JOINTS]  # (C, N, 14, 3)
        self._xyz = xyz[cams][:, :, EVAL_JOINTS]  # (C, N, 14, 3)
        self._centres = uvd[cams][:, :, CENTRE_JOINT]  # (C, N, 3)
        self._n = n
        h, w = cfg.size
        self.info = DatasetInfo(
            layout="nyu",
            path=self.root,
            count=len(cfg.kinects) * n,
            height=h,
            width=w,
            channels=1,
            dtype="uint16",
            task="handpose",
            extra={
                "label_schema": {
                    "uv": "14 evaluation joints, pixel-index (u, v) in the stored image",
                    "xyz": "14 evaluation joints in mm, camera space as in joint_data.mat",
                    "centre_uvd": "crop centre (joint 32): u, v in 640x480 pixels, d in mm",
                    "crop_box": "crop window (u0, v0, u1, v1), continuous 640x480 pixels",
                    "kinect": "camera 1..3",
                    "depth": "stored uint16 0..65535 = (depth - d) / (cube_mm / 2) in [-1, 1], background +1",
                    "preprocess": dataclasses.asdict(cfg),
                },
            },
        )

    def _where(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return divmod(index, self._n)  # (camera slot, frame)

    def sample_id(self, index: int) -> str:
        c, i = self._where(index)
        return f"{self.folder.name}/depth_{self.config.kinects[c]}_{i + 1:07d}"

    def _centre(self, c: int, i: int) -> np.ndarray:
        centre = self._centres[c, i]
        if not (np.all(np.isfinite(centre)) and centre[2] > 0):
            raise InputError.at(
                self.folder / "joint_data.mat",
                f"frame {self.sample_id(c * self._n + i)}: centre joint {CENTRE_JOINT} has depth {centre[2]}",
            )
        return centre

    def label(self, index: int) -> dict[str, Any]:
        c, i = self._where(index)
        centre = self._centre(c, i)
        box = crop_box(centre, self.config.cube_mm)  # (4,)
        uv = frame_to_crop_uv(self._uvd[c, i, :, :2], box, self.config.size)  # (14, 2), from the file's uvd
        return {
            "uv": np.round(uv, 4).tolist(),
            "xyz": self._xyz[c, i].tolist(),
            "centre_uvd": centre.tolist(),
            "crop_box": box.tolist(),
            "kinect": int(self.config.kinects[c]),
        }

    def read(self, index: int) -> Sample:
        c, i = self._where(index)
        path = self.folder / f"depth_{self.config.kinects[c]}_{i + 1:07d}.png"
        depth = decode_depth(path)  # (480, 640) mm
        # The hands simulator's crop, so real and synthetic crops share one geometry. uvd -> xyz -> uvd
        # round-trips exactly, so the crop is centred on the file's own joint 32.
        crop = crop_hand(
            depth,
            uvd_to_xyz(self._uvd[c, i]),
            uvd_to_xyz(self._centre(c, i)),
            size=self.config.size,
            cube_mm=self.config.cube_mm,
        )
        return Sample(self.sample_id(index), crop.image, self.label(index))


register_layout("nyu", detect=_is_nyu, priority=5)(NYUSource)
