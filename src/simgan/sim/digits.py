"""Font-rendered digits 0-9 with domain randomization, shaped like three real digit domains.

The glyphs come from a glyph atlas (:mod:`simgan.sim.font_atlas`): matplotlib's TrueType fonts (plus
any from ``fonts=DIR``) and built-in single-stroke pen fonts, each glyph stored as a distance field to its
skeleton (retraced by a round pen, like handwriting) and a signed distance field to its outline (print).
A batch is drawn by per-sample affine look-ups into the atlas (:mod:`simgan.sim.randomize`), so rendering
is a handful of array operations for the whole batch.

The output size picks the real domain it imitates:

* ``8x8`` (default): scikit-learn's ``load_digits``. As the UCI pen digits were made, a binary 32x32
  bitmap is normalised to fill the box (height 32, centred), and ink pixels are counted per 4x4 block
  (0..16), stored as uint8 ``round(count * 255 / 16)``.
* ``28x28``: MNIST-like grey, white on black; the digit fits a 20x20 box (aspect kept) and its centre of
  mass is moved to the image centre, as MNIST was made.
* ``32x32``: SVHN-like RGB crops: a printed digit centred on a coloured, textured background, often with
  neighbouring digits cut by the frame.

Randomised per sample (recorded by :meth:`DigitsSimulator.render_with_params`): font, rotation, slant
(shear), aspect, stroke (pen radius and pen/outline mix), width normalisation, position, wobble, blur,
binarisation threshold or contrast/intensity, noise, clutter and distractor strokes. ``randomize=False``
keeps only the font and the digit random: clean, upright, centred renders.

The ``pseudo-real`` target adds a documented degradation on top (for experiments without real data): a
thicker pen (x1.15-1.4) whose radius varies along the stroke by a smooth pen-pressure field
(+-20-45 %), ragged stroke edges (low-frequency noise added to the distance field) and extra blur.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simgan.data.embedded import DIGIT_CLASSES
from simgan.errors import InputError
from simgan.sim import randomize as rz

# The atlas names are re-exported: they were defined here before the atlas had its own module.
from simgan.sim.font_atlas import (
    CANVAS,
    GLYPH_H,
    GlyphAtlas,
    build_atlas,
    find_fonts,
    has_digit_glyphs,
    matplotlib_fonts,
    thin,
)
from simgan.sim.registry import Simulator, register_simulator

__all__ = [
    "SIZES",
    "GlyphAtlas",
    "DigitsSimulator",
    "matplotlib_fonts",
    "find_fonts",
    "has_digit_glyphs",
    "build_atlas",
    "thin",
    "block_count",
]

# Output size -> the real domain it imitates.
SIZES: dict[tuple[int, int], str] = {(8, 8): "sklearn", (28, 28): "mnist", (32, 32): "svhn"}

# Randomization ranges per style, in output pixels of the render grid (32x32 for sklearn):
# (lo, hi, nominal) uniform, (lo, hi, nominal, p) applied with probability p, (p,) a coin flip.
# The nominal value is what ``randomize=False`` uses. pen_gain, pressure, ragged and extra_blur are the
# pseudo-real degradation and apply only with that target.
_COMMON: dict[str, tuple[float, ...]] = {
    "rotation": (-12.0, 12.0, 0.0),  # degrees
    "shear": (-15.0, 15.0, 0.0),  # slant, degrees (positive leans forward)
    "aspect": (0.8, 1.25, 1.0),  # horizontal stretch, log-uniform
    "outline_mix": (0.0, 1.0, 0.0, 0.5),  # 0 = round pen along the skeleton, 1 = the font outline
    "pen_gain": (1.15, 1.4, 1.25),
    "pressure": (0.2, 0.45, 0.3),  # relative pen-radius variation along the stroke
}
_RANGES: dict[str, dict[str, tuple[float, ...]]] = {
    "sklearn": {
        **_COMMON,
        "pen_radius": (1.6, 3.0, 2.3),
        "outline_offset": (0.2, 1.6, 0.6),
        "ragged": (0.3, 0.8, 0.5),
        "extra_blur": (0.3, 0.8, 0.5),
        "width_jitter": (0.85, 1.25, 1.0),
        "shift_x": (-1.5, 1.5, 0.0),
        "wobble": (0.0, 1.2, 0.0),
        "distractor": (0.1,),
        "blur": (0.0, 1.0, 0.0),
        "threshold": (0.35, 0.65, 0.5),
        "speckle": (0.0, 0.01, 0.0),
    },
    "mnist": {
        **_COMMON,
        "pen_radius": (0.8, 1.6, 1.2),
        "outline_offset": (0.1, 1.0, 0.35),
        "ragged": (0.2, 0.5, 0.3),
        "extra_blur": (0.2, 0.5, 0.3),
        "wobble": (0.0, 0.8, 0.0),
        "distractor": (0.15,),
        "intensity": (0.75, 1.0, 1.0),
        "background": (0.0, 0.06, 0.0),
        "clutter": (0.0, 0.25, 0.0, 0.2),
        "blur": (0.0, 0.7, 0.3),
        "noise": (0.0, 0.04, 0.0),
    },
    "svhn": {
        **_COMMON,
        "rotation": (-8.0, 8.0, 0.0),
        "shear": (-10.0, 10.0, 0.0),
        "pen_radius": (0.8, 2.0, 1.4),
        "outline_offset": (-0.3, 1.0, 0.35),
        "ragged": (0.2, 0.5, 0.3),
        "extra_blur": (0.2, 0.5, 0.3),
        "height": (16.0, 26.0, 22.0),  # ink height, px
        "left_neighbour": (0.6,),
        "right_neighbour": (0.6,),
        "gap": (0.5, 4.0, 2.0),
        "shift_x": (-2.0, 2.0, 0.0),
        "shift_y": (-2.0, 2.0, 0.0),
        "wobble": (0.0, 0.4, 0.0),
        "texture": (0.0, 0.25, 0.0),
        "gradient": (0.0, 0.3, 0.0),
        "clutter": (0.0, 0.6, 0.0),
        "blur": (0.0, 1.2, 0.0),
        "contrast": (0.6, 1.2, 1.0),
        "brightness": (-0.1, 0.1, 0.0),
        "noise": (0.0, 0.05, 0.0),
    },
}
_LOG_UNIFORM = {"aspect"}
# Probability of a pen font (handwritten forms) per style; SVHN house numbers are print.
_PEN_FONT = {"sklearn": 0.7, "mnist": 0.7, "svhn": 0.0}
# sklearn size normalisation: the ink width is pulled into this range (px of 32), stretching at most x1.5.
_SKLEARN_WIDTH = (12.0, 22.0)
_SKLEARN_STRETCH = 1.5


# ---------------------------------------------------------------------------------------- features
def block_count(binary: np.ndarray, block: int = 4) -> np.ndarray:
    """Ink pixels per ``block`` x ``block`` block, the UCI/scikit-learn 8x8 digit features (0..16 for 4x4).

    Shape:
        binary: (B, H, W) bool or 0/1; returns (B, H // block, W // block) int.
    """
    b, h, w = binary.shape
    return binary.reshape(b, h // block, block, w // block, block).astype(np.int32).sum(axis=(2, 4))


# ------------------------------------------------------------------------------------------ simulator
def _extent(lin: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(B, 4) bounding boxes (x0, y0, x1, y1) of point sets under per-sample linear maps (B, 2, 2)."""
    q = pts @ np.swapaxes(lin, 1, 2)  # (B, P, 2)
    return np.concatenate([q.min(axis=1), q.max(axis=1)], axis=1)


class _Params:
    """Per-sample parameter draws from a style's range table; nominal values when randomization is off.

    Every draw is recorded under its key, which is what :meth:`DigitsSimulator.render_with_params` returns.
    """

    def __init__(self, rng: np.random.Generator, n: int, on: bool, ranges: dict[str, tuple[float, ...]]):
        self.rng, self.n, self.on, self.ranges = rng, n, on, ranges
        self.record: dict[str, np.ndarray] = {}

    def draw(self, key: str) -> np.ndarray:
        """(n,) values for ``key``: ``(p,)`` Bernoulli(p); ``(lo, hi, nominal)`` uniform (log-uniform
        for ratios such as ``aspect``); ``(lo, hi, nominal, p)`` uniform with probability p, else nominal."""
        spec, n = self.ranges[key], self.n
        if len(spec) == 1:
            v = self.rng.random(n) < spec[0] if self.on else np.zeros(n, dtype=bool)
        elif not self.on:
            v = np.full(n, float(spec[2]))
        elif key in _LOG_UNIFORM:
            v = np.exp(self.rng.uniform(np.log(spec[0]), np.log(spec[1]), n))
        else:
            v = self.rng.uniform(spec[0], spec[1], n)
            if len(spec) == 4:
                v = np.where(self.rng.random(n) < spec[3], v, spec[2])
        self.record[key] = v
        return v


@register_simulator("digits")
class DigitsSimulator(Simulator):
    """Digits 0-9 from fonts: ``8x8`` sklearn-like (default), ``28x28`` MNIST-like, ``32x32`` SVHN-like RGB.

    Args:
        fonts: TrueType font files to use; ``None`` means matplotlib's bundled fonts (found on first use).
            The built-in pen fonts are always added.
        randomize: ``False`` renders clean digits (font and digit still random; no other randomization).
        pen_font: probability that a sample uses a pen font (single-stroke handwritten forms) instead of
            a TrueType font; ``None`` means the size's default (0.7 for 8x8 and 28x28, 0 for SVHN-like
            print). ``0`` gives purely font-rendered digits.
    """

    task = "classify"
    default_size = (8, 8)
    channels = 1
    dtype = "uint8"
    classes = DIGIT_CLASSES
    label_schema = {
        "label": "class index into classes",
        "params": "render_with_params: font, rotation, shear, aspect, pen_radius, outline_mix, ...",
    }

    def __init__(
        self,
        fonts: Sequence[str | Path] | None = None,
        randomize: bool = True,
        pen_font: float | None = None,
    ):
        self._fonts = tuple(Path(p) for p in fonts) if fonts is not None else None
        self.randomize = bool(randomize)
        if pen_font is not None and not 0.0 <= float(pen_font) <= 1.0:
            raise InputError(f"pen_font {pen_font}: must be a probability in [0, 1]")
        self.pen_font = None if pen_font is None else float(pen_font)

    # ---- configuration
    def configure(
        self,
        fonts: str | Path | None = None,
        randomize: bool | None = None,
        pen_font: float | None = None,
    ) -> DigitsSimulator:
        """A new simulator with extra fonts from the folder ``fonts``, randomization on or off, or another
        pen-font probability (arguments left ``None`` keep this simulator's setting).

        Raises:
            InputError: ``fonts`` is not a folder holding at least one usable font.
        """
        paths = self.font_paths
        extra: list[Path] = []
        if fonts is not None:
            extra = [p for p in find_fonts(fonts) if p not in paths]
            paths = (*paths, *extra)
        sim = DigitsSimulator(
            paths,
            self.randomize if randomize is None else randomize,
            self.pen_font if pen_font is None else pen_font,
        )
        # Rasterise now, so that fonts which open but do not draw fail here with the folder's name.
        if extra and not {p.stem for p in extra} & set(sim.atlas.fonts):
            raise InputError.at(Path(fonts or ""), "none of its fonts could be rasterised")
        return sim

    @property
    def font_paths(self) -> tuple[Path, ...]:
        if self._fonts is None:
            self._fonts = tuple(matplotlib_fonts())
        return self._fonts

    @property
    def atlas(self) -> GlyphAtlas:
        return build_atlas(self.font_paths)

    def check_size(self, size: tuple[int, int]) -> tuple[int, int]:
        hw = (int(size[0]), int(size[1]))
        if hw not in SIZES:
            choices = ", ".join(f"{h}x{w} ({s})" for (h, w), s in SIZES.items())
            raise InputError(f"--size {hw[0]}x{hw[1]}: the digits simulator renders {choices}")
        return hw

    def channels_for(self, size: tuple[int, int]) -> int:
        return 3 if SIZES.get((int(size[0]), int(size[1]))) == "svhn" else 1

    # ---- rendering
    def render(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[Any]]:
        images, labels, _ = self.render_with_params(rng, n, size, target)
        return images, labels

    def render_with_params(
        self, rng: np.random.Generator, n: int, size: tuple[int, int], target: str = "synthetic"
    ) -> tuple[np.ndarray, list[int], list[dict[str, Any]]]:
        """Render ``n`` digits and return every randomised parameter per sample.

        Returns:
            images (n, H, W, C) uint8, labels (class indices) and one JSON-ready parameter dict per
            sample (``font`` plus the numbers drawn for it; the keys depend on the size).
        """
        style = SIZES[self.check_size(size)]
        if target not in ("synthetic", "pseudo-real"):
            raise InputError(f"--target {target}: choose from synthetic, pseudo-real")
        atlas = self.atlas
        par = _Params(rng, n, self.randomize, _RANGES[style])
        digit = rng.integers(0, 10, n)
        # Handwriting styles draw a pen font with probability _PEN_FONT[style]; print (svhn) never does.
        n_ttf = len(atlas.fonts) - atlas.n_pen
        pen = rng.random(n) < (_PEN_FONT[style] if self.pen_font is None else self.pen_font)
        font = np.where(pen, n_ttf + rng.integers(0, atlas.n_pen, n), rng.integers(0, n_ttf, n))
        if style == "sklearn":
            images = self._sklearn(atlas, font * 10 + digit, par, target == "pseudo-real")
        elif style == "mnist":
            images = self._mnist(atlas, font * 10 + digit, par, target == "pseudo-real")
        else:
            images = self._svhn(atlas, font, digit, par, target == "pseudo-real")
        columns = {"font": [atlas.fonts[f] for f in font]}
        for k, v in par.record.items():
            columns[k] = (np.round(v, 4) if v.dtype.kind == "f" else v).tolist()
        params = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        return images, digit.tolist(), params

    # ---- shared stroke model
    def _stroke(self, par: _Params, pseudo: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Distortion (B, 2, 2) and stroke parameters: pen radius r, outline mix a, outline offset e (px)."""
        rot = par.draw("rotation")
        shear = par.draw("shear")
        aspect = par.draw("aspect")
        lin = rz.affine_matrices(rot, shear, aspect, 1.0)[:, :, :2]
        r = par.draw("pen_radius")
        # Half the samples retrace the skeleton with a round pen (handwriting); the rest blend toward
        # the font's own outline (print), which keeps the font's stroke contrast.
        a = par.draw("outline_mix")
        e = par.draw("outline_offset")
        if pseudo:
            gain = par.draw("pen_gain")
            r, e = r * gain, e + (gain - 1.0) * r
        return lin, r, a, e

    def _distance(
        self,
        atlas: GlyphAtlas,
        glyph: np.ndarray,
        m: np.ndarray,
        size: tuple[int, int],
        r: np.ndarray,
        a: np.ndarray,
        e: np.ndarray,
        fields: dict[str, np.ndarray],
    ) -> np.ndarray:
        """Signed distance (px, negative on ink) of each sample's stroke on the output grid.

        Shape:
            glyph: (B,); m: (B, 2, 3) glyph units -> output px; r, a, e: (B,); returns (B, H, W).
        """
        h, w = size
        # Map output pixels straight to atlas pixels, in float32 (half the memory traffic of float64).
        inv = rz.invert_affine(m) * GLYPH_H
        inv[:, :, 2] += CANVAS / 2
        inv = inv.astype(np.float32)[:, :, :, None, None]
        gx, gy = (g.astype(np.float32) for g in rz.pixel_grid(h, w))
        gx = gx + fields.get("dx", np.float32(0.0))
        gy = gy + fields.get("dy", np.float32(0.0))
        ax = inv[:, 0, 0] * gx + inv[:, 0, 1] * gy + inv[:, 0, 2]
        ay = inv[:, 1, 0] * gx + inv[:, 1, 1] * gy + inv[:, 1, 2]
        f = rz.sample_bilinear(atlas.fields, ax, ay, index=glyph, mode="border")  # (B, H, W, 2)
        # Outside the canvas both fields keep growing with the distance to it.
        over = np.hypot(ax - np.clip(ax, 0.5, CANVAS - 0.5), ay - np.clip(ay, 0.5, CANVAS - 0.5))
        sd = np.sqrt(np.abs(np.linalg.det(m[:, :, :2]))).astype(np.float32)[:, None, None]  # px/glyph unit
        over *= sd / GLYPH_H
        pen = r.astype(np.float32)[:, None, None] * (1.0 + fields.get("pressure", np.float32(0.0)))
        aa = a.astype(np.float32)[:, None, None]
        skel = f[..., 0] * sd + over - pen
        outline = f[..., 1] * sd + over - e.astype(np.float32)[:, None, None]
        return skel + aa * (outline - skel) + fields.get("ragged", np.float32(0.0))

    def _fields(self, par: _Params, size: tuple[int, int], pseudo: bool) -> dict[str, np.ndarray]:
        """Smooth per-sample displacement (wobble) and, for pseudo-real, pen pressure and ragged edges."""
        rng, n = par.rng, par.n
        out: dict[str, np.ndarray] = {}
        wob = par.draw("wobble")
        if par.on:
            disp = rz.smooth_noise(rng, n, size, 3, channels=2)
            out["dx"] = wob[:, None, None] * disp[..., 0]
            out["dy"] = wob[:, None, None] * disp[..., 1]
        if pseudo:
            pressure = par.draw("pressure")
            ragged = par.draw("ragged")
            out["pressure"] = pressure[:, None, None] * np.clip(rz.smooth_noise(rng, n, size, 3), -1.5, 1.5)
            out["ragged"] = ragged[:, None, None] * rz.smooth_noise(rng, n, size, 7)
        return out

    # ---- styles
    def _sklearn(self, atlas: GlyphAtlas, glyph: np.ndarray, par: _Params, pseudo: bool) -> np.ndarray:
        """UCI pen digits: a normalised 32x32 binary bitmap, ink counted per 4x4 block."""
        box = 32.0
        lin, r, a, e = self._stroke(par, pseudo)
        m = (1.0 - a) * r + a * e  # ink margin around the centre line / outline, px
        ext = (1.0 - a)[:, None] * _extent(lin, atlas.skeleton[glyph]) + a[:, None] * _extent(
            lin, atlas.outline[glyph]
        )
        hmix = np.maximum(ext[:, 3] - ext[:, 1], 0.1)
        wmix = np.maximum(ext[:, 2] - ext[:, 0], 0.05)
        # Size normalisation: the ink fills the box height; the width follows the glyph but is pulled
        # into [14, 26] px (the real digits span columns 1-6 of 8), stretching at most x1.5.
        aspect = par.record["aspect"]
        s0 = (box - 2.0 * m / np.sqrt(aspect)) / hmix
        wn = s0 * wmix + 2.0 * m * np.sqrt(aspect)
        wt = np.clip(wn * par.draw("width_jitter"), *_SKLEARN_WIDTH)
        rho = np.clip((wt - 2.0 * m * np.sqrt(aspect)) / (s0 * wmix), 1 / _SKLEARN_STRETCH, _SKLEARN_STRETCH)
        k = np.sqrt(rho * aspect)
        s = (box - 2.0 * m / k) / hmix
        sx = rho * s
        shift = par.draw("shift_x")
        tx = box / 2 + shift - sx * (ext[:, 0] + ext[:, 2]) / 2
        ty = box / 2 - s * (ext[:, 1] + ext[:, 3]) / 2
        mat = np.concatenate([lin * np.stack([sx, s], 1)[:, :, None], np.stack([tx, ty], 1)[:, :, None]], 2)
        size = (32, 32)
        fields = self._fields(par, size, pseudo)
        cov = np.clip(0.5 - self._distance(atlas, glyph, mat, size, r, a, e, fields), 0.0, 1.0)
        cov = np.maximum(cov, self._distractors(par, size, 2.0 * r, (6.0, 14.0)))
        blur = par.draw("blur") + (par.draw("extra_blur") if pseudo else 0.0)
        cov = rz.gaussian_blur(cov, blur)
        binary = cov >= par.draw("threshold")[:, None, None]
        speckle = par.draw("speckle")
        if par.on:  # scanner speckle: flip a few pixels
            binary ^= par.rng.random(binary.shape) < speckle[:, None, None]
        counts = block_count(binary)  # (B, 8, 8) in 0..16
        return np.rint(counts * (255.0 / 16.0)).astype(np.uint8)[..., None]

    def _mnist(self, atlas: GlyphAtlas, glyph: np.ndarray, par: _Params, pseudo: bool) -> np.ndarray:
        """MNIST: fit a 20x20 box (aspect kept), centre of mass at the centre of 28x28, grey anti-aliased."""
        size, box = (28, 28), 20.0
        lin, r, a, e = self._stroke(par, pseudo)
        m = (1.0 - a) * r + a * e
        ext = (1.0 - a)[:, None] * _extent(lin, atlas.skeleton[glyph]) + a[:, None] * _extent(
            lin, atlas.outline[glyph]
        )
        s = (box - 2.0 * m) / np.maximum(np.maximum(ext[:, 3] - ext[:, 1], ext[:, 2] - ext[:, 0]), 0.1)
        t = 14.0 - s[:, None] * (ext[:, :2] + ext[:, 2:]) / 2
        fields = self._fields(par, size, pseudo)
        mat = np.concatenate([lin * s[:, None, None], t[:, :, None]], 2)
        cov = np.clip(0.5 - self._distance(atlas, glyph, mat, size, r, a, e, fields), 0.0, 1.0)
        # Second pass: move the centre of mass to (14, 14) as MNIST did.
        gx, gy = rz.pixel_grid(*size)
        mass = np.maximum(cov.sum(axis=(1, 2)), 1e-6)
        com = np.stack([(cov * gx).sum(axis=(1, 2)), (cov * gy).sum(axis=(1, 2))], 1) / mass[:, None]
        mat[:, :, 2] += 14.0 - com
        cov = np.clip(0.5 - self._distance(atlas, glyph, mat, size, r, a, e, fields), 0.0, 1.0)
        cov = np.maximum(cov, self._distractors(par, size, 2.0 * r, (4.0, 10.0)))
        ink = par.draw("intensity")[:, None, None]
        bg = par.draw("background")[:, None, None]
        clutter = par.draw("clutter")[:, None, None]
        if par.on:
            bg = bg + clutter * np.clip(rz.smooth_noise(par.rng, par.n, size, 4), 0.0, None)
        img = bg + (ink - bg) * cov
        blur = par.draw("blur") + (par.draw("extra_blur") if pseudo else 0.0)
        img = rz.gaussian_blur(img, blur)
        noise = par.draw("noise")
        if par.on:
            img = rz.add_gaussian_noise(par.rng, img, noise)
        return _to_uint8(img)[..., None]

    def _svhn(
        self, atlas: GlyphAtlas, font: np.ndarray, digit: np.ndarray, par: _Params, pseudo: bool
    ) -> np.ndarray:
        """SVHN crops: a printed digit centred on a coloured background, neighbours cut by the frame."""
        n, size = par.n, (32, 32)
        lin, r, a_pen, e = self._stroke(par, pseudo)
        # House numbers are print: lean on the outline (the pen mix above only adds variety).
        a = 0.5 + 0.5 * a_pen if par.on else np.ones(n)
        par.record["outline_mix"] = a
        height = par.draw("height")
        glyphs = [font * 10 + digit]
        for side in ("left", "right"):
            show = par.draw(f"{side}_neighbour")
            other = (digit + par.rng.integers(0, 10, n)) % 10 if par.on else digit
            par.record[f"{side}_digit"] = np.where(show, other, -1)
            glyphs.append(font * 10 + other)
        gap = par.draw("gap")
        m = (1.0 - a) * r + a * e
        ext = [
            (1.0 - a)[:, None] * _extent(lin, atlas.skeleton[g]) + a[:, None] * _extent(lin, atlas.outline[g])
            for g in glyphs
        ]
        s = (height - 2.0 * m) / np.maximum(ext[0][:, 3] - ext[0][:, 1], 0.1)
        cx = 16.0 + par.draw("shift_x")
        cy = 16.0 + par.draw("shift_y")
        ty = cy - s * (ext[0][:, 1] + ext[0][:, 3]) / 2
        tx_c = cx - s * (ext[0][:, 0] + ext[0][:, 2]) / 2
        left_edge, right_edge = tx_c + s * ext[0][:, 0] - m, tx_c + s * ext[0][:, 2] + m
        tx = [tx_c, left_edge - gap - m - s * ext[1][:, 2], right_edge + gap + m - s * ext[2][:, 0]]
        mats = np.concatenate(
            [np.concatenate([lin * s[:, None, None], np.stack([t, ty], 1)[:, :, None]], 2) for t in tx]
        )  # (3B, 2, 3): centre, left, right
        fields = self._fields(par, size, pseudo)
        # Render only the glyph instances that show: every centre digit, and the drawn neighbours.
        shown = np.stack([np.ones(n, bool), par.record["left_neighbour"], par.record["right_neighbour"]])
        pick = np.flatnonzero(shown.reshape(-1))  # into the (3B,) instance list
        sample = pick % n
        d = self._distance(
            atlas,
            np.concatenate(glyphs)[pick],
            mats[pick],
            size,
            r[sample],
            a[sample],
            e[sample],
            {k: v[sample] for k, v in fields.items()},
        )
        slots = np.zeros((3 * n, *size), dtype=np.float32)
        slots[pick] = np.clip(0.5 - d, 0.0, 1.0)
        cov = slots.reshape(3, n, *size).max(axis=0)  # union of each sample's instances
        # Colours: a random background and foreground, mostly muted (painted walls and plates: a grey
        # level mixed with a random hue), the foreground kept at least 0.35 away in luminance.
        bg, fg = np.full((n, 3), 0.15), np.full((n, 3), 0.95)
        if par.on:
            sat = par.rng.uniform(0.0, 0.7, (2, n, 1))
            grey = par.rng.uniform(0.0, 1.0, (2, n, 1))
            bg, fg = grey + sat * (par.rng.uniform(0.0, 1.0, (2, n, 3)) - grey)
        lum = np.array([0.299, 0.587, 0.114])
        close = np.abs((fg - bg) @ lum) < 0.35
        fg = np.where(close[:, None], np.clip(1.0 - bg + par.rng.uniform(-0.1, 0.1, (n, 3)), 0, 1), fg)
        par.record["background_rgb"], par.record["foreground_rgb"] = bg, fg
        texture = par.draw("texture")
        gradient = par.draw("gradient")
        back = np.broadcast_to(bg[:, None, None, :], (n, *size, 3)).astype(np.float32)
        if par.on:
            back = back + texture[:, None, None, None] * rz.smooth_noise(par.rng, n, size, 4, channels=3)
            back = back + gradient[:, None, None, None] * rz.smooth_noise(par.rng, n, size, 1)[..., None]
            strokes = rz.random_segments(par.rng, n, 2, size, (6.0, 20.0))
            active = par.rng.random((n, 2)) < par.draw("clutter")[:, None]
            par.record["clutter_strokes"] = active.sum(1)
            widths = par.rng.uniform(1.0, 3.0, (n, 2))
            scov = np.zeros((n, *size), dtype=np.float32)
            some = active.any(axis=1)  # draw only where a stroke shows
            scov[some] = rz.draw_segments(strokes[some], widths[some], size, active[some])
            scol = par.rng.uniform(0.0, 1.0, (n, 3))
            back = back + scov[..., None] * (scol[:, None, None, :] - back)
        img = back + cov[..., None] * (fg[:, None, None, :] - back)
        blur = par.draw("blur") + (par.draw("extra_blur") if pseudo else 0.0)
        img = rz.gaussian_blur(img, blur)
        img = rz.adjust_contrast(img, par.draw("contrast"), par.draw("brightness"))
        noise = par.draw("noise")
        if par.on:
            img = rz.add_gaussian_noise(par.rng, img, noise)
        return _to_uint8(img)

    def _distractors(
        self, par: _Params, size: tuple[int, int], width: np.ndarray, length: tuple[float, float]
    ) -> np.ndarray:
        """Coverage of one stray pen stroke in the samples that draw ``distractor``, (B, H, W)."""
        show = par.draw("distractor")
        cov = np.zeros((par.n, *size), dtype=np.float32)
        if par.on:
            seg = rz.random_segments(par.rng, par.n, 1, size, length)
            cov[show] = rz.draw_segments(seg[show], width[show, None], size)  # only where drawn: fast
        return cov


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
