"""Native UnityEyes folders (synthetic eyes): ``N.jpg`` + ``N.json`` pairs, read as the paper's eye images.

Each sample is preprocessed as in SimGAN: grey, an 84x140 (rows x cols) window centred on the bounding box
of the 16 interior-margin (eyelid) points, resized to 35x55. :class:`UnityEyesConfig` changes the sizes::

    from simgan.data.unityeyes import UnityEyesConfig, UnityEyesSource
    src = UnityEyesSource("~/UnityEyes/imgs", UnityEyesConfig(size=(36, 60)))

``open_dataset(path, "unityeyes")`` (and ``--format unityeyes`` on the command line) uses the defaults.

Conventions chosen (checked on fixtures in ``tests/data/test_unityeyes.py``):

- The JSON's ``*_2d`` points are screen coordinates from the bottom-left corner (Unity), so the pixel-index
  coordinates used in labels are ``u = x - 0.5`` and ``v = H - y - 0.5`` (H = rendered image height).
- ``eye_details.look_vec`` is in Unity camera axes (x right, y up, z forward, left-handed). MPIIGaze's
  normalized camera is OpenCV's (x right, y down, z forward) and the rendered image is not mirrored, so the
  gaze vector is ``g = (x, -y, z)``; pitch = asin(-g_y), yaw = atan2(-g_x, -g_z). An eye looking into the
  camera, look_vec (0, 0, -1), gets pitch = yaw = 0; looking up gets pitch > 0; an iris moved towards the
  image's right (look_vec x > 0) gets yaw < 0, as a real MPIIGaze eye looking that way does. This equals
  the common reader recipe "negate x, pitch = asin(v_y), yaw = atan2(v_x, v_z), wrapped into the
  eye-facing range". (FORMATS.md's shorthand ``g = (-x, -y, z)`` would mirror yaw; it is not used.)

Labels (task ``gaze``): ``{"gaze", "pitch", "yaw", "landmarks": {"iris_centre": [u, v],
"interior_margin": 16x[u, v], "iris": 32x[u, v], "caruncle": 7x[u, v]}}``, landmarks in the stored image's
pixels (pixel-index coordinates, transformed through the same crop and resize as the pixels).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from simgan.data.eye_crop import crop_resize, crop_transform, gaze_label, read_gray
from simgan.data.source import DatasetInfo, Sample, Source, register_layout
from simgan.errors import InputError

__all__ = ["UnityEyesConfig", "UnityEyesSource", "parse_vector", "look_vec_to_gaze"]

_VECTOR = re.compile(r"^\s*\((.*)\)\s*$")
_LANDMARK_KEYS = {"interior_margin": "interior_margin_2d", "iris": "iris_2d", "caruncle": "caruncle_2d"}


@dataclass(frozen=True)
class UnityEyesConfig:
    """Preprocessing of a UnityEyes render (defaults = the SimGAN paper).

    Attributes:
        size: stored image (H, W).
        crop: window (rows, cols) cut from the render around the eye centre, in rendered pixels.
    """

    size: tuple[int, int] = (35, 55)
    crop: tuple[int, int] = (84, 140)

    def __post_init__(self) -> None:
        for name in ("size", "crop"):
            v = getattr(self, name)
            if len(v) != 2 or min(v) <= 0:
                raise ValueError(f"UnityEyesConfig.{name} must be two positive ints (H, W), got {v!r}")


def parse_vector(text: Any, where: str | Path, key: str) -> np.ndarray:
    """Parse a UnityEyes vector string ``"(x, y, z)"`` or ``"(x, y, z, w)"`` (never ``eval``).

    Raises:
        InputError: naming ``where`` and ``key`` when the value is not such a string of finite numbers.
    """
    m = _VECTOR.match(text) if isinstance(text, str) else None
    try:
        values = [float(t) for t in m.group(1).split(",")] if m else []
    except ValueError:
        values = []
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        raise InputError.at(where, f"{key}: malformed vector {text!r} (expected a string like '(x, y, z)')")
    return np.asarray(values, dtype=np.float64)


def look_vec_to_gaze(look_vec: np.ndarray) -> np.ndarray:
    """UnityEyes ``look_vec`` (Unity camera axes, y up) -> gaze vector in the MPIIGaze convention (y down).

    Shape:
        look_vec: (3,) or (4,) (the homogeneous w is ignored) -> (3,).
    """
    v = np.asarray(look_vec, dtype=np.float64)[:3]
    return np.array([v[0], -v[1], v[2]])


def _stem_number(path: Path) -> int | None:
    return int(path.stem) if path.stem.isdigit() else None


def _is_unityeyes(path: Path) -> bool:
    """Detect: some ``N.json`` has its ``N.jpg`` beside it (UnityEyes' own naming)."""
    with os.scandir(path) as it:
        for e in it:
            if e.name.endswith(".json") and e.name[:-5].isdigit() and (path / f"{e.name[:-5]}.jpg").is_file():
                return True
    return False


class UnityEyesSource(Source):
    """A UnityEyes output folder; ids are the numbers N of ``N.jpg`` ("1234"), in numeric order.

    Args:
        root: the folder holding ``N.jpg`` and ``N.json``.
        config: preprocessing; None uses :class:`UnityEyesConfig`'s defaults.

    Raises:
        InputError: no pairs, or a ``.jpg`` without its ``.json`` (or the reverse), naming the file.
    """

    def __init__(self, root: str | Path, config: UnityEyesConfig | None = None):
        self.root = Path(root).expanduser()
        self.config = config or UnityEyesConfig()
        jpgs: dict[int, Path] = {}
        jsons: dict[int, Path] = {}
        with os.scandir(self.root) as it:
            for e in it:
                p = Path(e.path)
                n = _stem_number(p)
                if n is None or not e.is_file():
                    continue
                if p.suffix.lower() == ".jpg":
                    jpgs[n] = p
                elif p.suffix.lower() == ".json":
                    jsons[n] = p
        lonely_jpgs, lonely_jsons = sorted(jpgs.keys() - jsons.keys()), sorted(jsons.keys() - jpgs.keys())
        if lonely_jpgs:
            f = jpgs[lonely_jpgs[0]]
            raise InputError.at(f, f"no {f.stem}.json beside it (UnityEyes writes N.json for every N.jpg)")
        if lonely_jsons:
            f = jsons[lonely_jsons[0]]
            raise InputError.at(f, f"no {f.stem}.jpg beside it (UnityEyes writes N.jpg for every N.json)")
        if not jpgs:
            raise InputError.at(self.root, "no UnityEyes N.jpg + N.json pairs found")
        self.numbers = sorted(jpgs)
        self._jpgs = [jpgs[n] for n in self.numbers]
        self._jsons = [jsons[n] for n in self.numbers]
        h, w = self.config.size
        self.info = DatasetInfo(
            layout="unityeyes",
            path=self.root,
            count=len(self.numbers),
            height=h,
            width=w,
            channels=1,
            dtype="uint8",
            task="gaze",
            extra={
                "label_schema": {
                    "gaze": "unit gaze vector, MPIIGaze normalized camera (x right, y down, z forward); "
                    "from UnityEyes look_vec (x, y, z) as (x, -y, z)",
                    "pitch": "radians, asin(-gaze_y), > 0 looks up",
                    "yaw": "radians, atan2(-gaze_x, -gaze_z), 0 looks into the camera",
                    "landmarks": "pixel-index (u, v) of the stored image: iris_centre, interior_margin (16), "
                    "iris (32), caruncle (7)",
                    "preprocess": dataclasses.asdict(self.config),
                },
            },
        )

    def _annotation(self, index: int) -> dict[str, np.ndarray]:
        """Parse ``N.json``: landmark arrays (K, 2) of screen (x, y) and the look vector (3,)."""
        path = self._jsons[index]
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError.at(path, f"malformed JSON at line {e.lineno}") from None
        except UnicodeDecodeError:
            raise InputError.at(path, "not UTF-8 text") from None
        except OSError as e:
            raise InputError.at(path, f"cannot read ({e.strerror})") from None
        if not isinstance(doc, dict):
            raise InputError.at(path, "expected a JSON object (a UnityEyes annotation)")
        out: dict[str, np.ndarray] = {}
        for name, key in _LANDMARK_KEYS.items():
            items = doc.get(key)
            if items is None and name == "caruncle":
                continue  # optional for our labels; the crop needs only the margin and the iris
            if not isinstance(items, list) or len(items) < 2:
                raise InputError.at(path, f"{key}: expected a list of '(x, y, z)' points, got {items!r:.60}")
            pts = [parse_vector(t, path, f"{key}[{i}]") for i, t in enumerate(items)]
            out[name] = np.stack([p[:2] for p in pts])  # (K, 2) screen x, y (depth unused)
        details = doc.get("eye_details")
        if not isinstance(details, dict) or "look_vec" not in details:
            raise InputError.at(path, "eye_details.look_vec: missing")
        look = parse_vector(details["look_vec"], path, "eye_details.look_vec")
        if len(look) < 3 or not np.any(look[:3]):
            raise InputError.at(path, f"eye_details.look_vec: expected a nonzero (x, y, z, 0), got {look}")
        out["look_vec"] = look[:3]
        return out

    def _image_height(self, index: int) -> int:
        path = self._jpgs[index]
        try:
            with Image.open(path) as im:
                return im.size[1]
        except FileNotFoundError:
            raise InputError.at(path, "image file not found") from None
        except (OSError, ValueError) as e:
            raise InputError.at(path, f"not a readable image ({e.__class__.__name__})") from None

    def _label(self, index: int, height: int) -> tuple[dict[str, Any], tuple[float, float]]:
        """The label of sample ``index`` rendered ``height`` rows high, and the crop centre (u, v)."""
        ann = self._annotation(index)
        pix = {  # bottom-left screen (x, y) -> pixel-index (u, v) from the top-left
            name: np.stack([ann[name][:, 0] - 0.5, height - ann[name][:, 1] - 0.5], axis=1)
            for name in _LANDMARK_KEYS
            if name in ann
        }
        lo, hi = pix["interior_margin"].min(axis=0), pix["interior_margin"].max(axis=0)
        centre = ((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0)  # of the eyelid bounding box
        t = crop_transform(centre, self.config.crop, self.config.size)  # needs no pixels
        label = gaze_label(look_vec_to_gaze(ann["look_vec"]))
        marks = {"iris_centre": _round(t.apply(pix["iris"].mean(axis=0)))[0]}
        marks.update({name: _round(t.apply(points)) for name, points in pix.items()})
        label["landmarks"] = marks
        return label, centre

    def sample_id(self, index: int) -> str:
        return str(self.numbers[index])

    def label(self, index: int) -> dict[str, Any]:
        return self._label(index, self._image_height(index))[0]

    def read(self, index: int) -> Sample:
        gray = read_gray(self._jpgs[index])  # (H_src, W_src)
        label, centre = self._label(index, gray.shape[0])
        image, _ = crop_resize(gray, centre, self.config.crop, self.config.size)
        return Sample(self.sample_id(index), image[:, :, None], label)


def _round(points: np.ndarray) -> list[list[float]]:
    return [[round(float(u), 4), round(float(v), 4)] for u, v in np.asarray(points).reshape(-1, 2)]


register_layout("unityeyes", detect=_is_unityeyes, priority=7)(UnityEyesSource)
