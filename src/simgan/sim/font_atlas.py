"""The glyph atlas of the digits simulator: font discovery, glyph rasterising and distance fields.

Every TrueType font that ships with matplotlib and has glyphs for 0-9 (plus any from ``fonts=DIR``), and
a few built-in single-stroke *pen fonts* (the handwritten forms print lacks: a 1 without a foot, an open
4, a crossed 7, a straight-stemmed 9), is rasterised once per digit into a glyph atlas. The atlas stores
two distance fields per glyph: the distance to the glyph's *skeleton* (its centre line, so a round pen
of any radius can retrace it like handwriting) and the signed distance to its *outline* (the printed
font, thickened or thinned at will). :mod:`simgan.sim.digits` draws its batches from it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simgan.errors import InputError

__all__ = [
    "GLYPH_H",
    "CANVAS",
    "GlyphAtlas",
    "matplotlib_fonts",
    "find_fonts",
    "has_digit_glyphs",
    "build_atlas",
    "pen_font_masks",
    "thin",
]

GLYPH_H = 48  # glyph height in atlas pixels (one "glyph unit")
CANVAS = 64  # square atlas canvas per glyph
_FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


# ----------------------------------------------------------------------------------------------- fonts
def matplotlib_fonts() -> list[Path]:
    """The .ttf files bundled with matplotlib that have glyphs for 0-9, sorted by name."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [p for p in sorted(folder.glob("*.ttf")) if has_digit_glyphs(p)]


def has_digit_glyphs(path: str | Path) -> bool:
    """Whether a font file maps 0-9 to ten distinct glyphs that are digits.

    A glyph index alone is not enough: TeX symbol fonts (cmsy10, cmex10) map the digit code points to
    symbols and "last resort" fonts map everything to one box, so glyph names are checked when the font
    has them (``zero`` ... ``nine``, also ``zerooldstyle`` etc.).
    """
    from matplotlib import ft2font

    try:
        font = ft2font.FT2Font(str(path))
        idx = [font.get_char_index(ord(str(d))) for d in range(10)]
        if 0 in idx or len(set(idx)) < 10:
            return False
        names = [font.get_glyph_name(i) for i in idx]
    except (RuntimeError, OSError, ValueError, TypeError):
        return False
    # Fonts without a glyph-name table get generated "uniXXXXXXXX" names: nothing to check there.
    return all(
        not n or n.startswith("uni") or n.startswith(d) for n, d in zip(names, _DIGIT_NAMES, strict=True)
    )


def find_fonts(folder: str | Path) -> list[Path]:
    """Usable fonts (.ttf/.otf/.ttc with digit glyphs) anywhere under ``folder``, sorted.

    Raises:
        InputError: the folder is missing, not a folder, or holds no usable font.
    """
    root = Path(folder)
    if not root.exists():
        raise InputError.at(root, "font folder not found")
    if not root.is_dir():
        raise InputError.at(root, "not a folder (--fonts takes a folder of .ttf/.otf files)")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in _FONT_SUFFIXES and p.is_file())
    usable = [p for p in found if has_digit_glyphs(p)]
    if not usable:
        raise InputError.at(
            root, f"no usable font ({len(found)} .ttf/.otf/.ttc files, none with glyphs for 0-9)"
        )
    return usable


# ----------------------------------------------------------------------------------------------- atlas
@dataclass(frozen=True)
class GlyphAtlas:
    """Distance fields and point sets of every (font, digit) glyph.

    Glyph ``g`` is font ``g // 10``, digit ``g % 10``.

    Attributes:
        fonts: font names (file stems), in atlas order; the last ``n_pen`` are the built-in pen fonts.
        n_pen: how many pen fonts (single-stroke handwriting forms) close the list.
        fields: (G, 64, 64, 2) float32: distance to the skeleton and signed distance to the outline
            (negative inside), both in glyph units (1 = the glyph's height).
        skeleton: (G, P, 2) skeleton pixel centres in glyph units, origin at the canvas centre (padded by
            repeating a point, which leaves extents unchanged).
        outline: (G, Q, 2) boundary ink pixel centres in glyph units (padded the same way).
    """

    fonts: tuple[str, ...]
    n_pen: int
    fields: np.ndarray
    skeleton: np.ndarray
    outline: np.ndarray


def thin(masks: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a stack of binary images to one-pixel-wide skeletons.

    Shape:
        masks: (N, H, W) bool; returns (N, H, W) bool.
    """
    img = np.pad(masks.astype(np.uint8), ((0, 0), (1, 1), (1, 1)))
    while True:
        changed = False
        for step in (0, 1):
            p = img
            # Neighbours P2..P9 clockwise from north, as in Zhang & Suen (1984).
            nb = [
                p[:, :-2, 1:-1],
                p[:, :-2, 2:],
                p[:, 1:-1, 2:],
                p[:, 2:, 2:],
                p[:, 2:, 1:-1],
                p[:, 2:, :-2],
                p[:, 1:-1, :-2],
                p[:, :-2, :-2],
            ]
            p2, _, p4, _, p6, _, p8, _ = nb
            count = sum(v.astype(np.int32) for v in nb)
            transitions = sum(((nb[i] == 0) & (nb[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (p[:, 1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                img[:, 1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return img[:, 1:-1, 1:-1].astype(bool)


def _rasterize(path: Path) -> np.ndarray | None:
    """Binary (10, 64, 64) glyph masks of 0-9, each scaled to 48 px high and centred; None if unusable."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype(str(path), 160)
    except OSError:
        return None
    out = np.zeros((10, CANVAS, CANVAS), dtype=bool)
    for d in range(10):
        canvas = Image.new("L", (480, 480))
        ImageDraw.Draw(canvas).text((120, 120), str(d), font=font, fill=255)
        ink = np.asarray(canvas) >= 128
        rows, cols = np.nonzero(ink.any(1))[0], np.nonzero(ink.any(0))[0]
        if rows.size < 2 or cols.size < 1:
            return None
        crop = canvas.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
        scale = min(GLYPH_H / crop.height, (CANVAS - 4) / crop.width)
        w, h = max(1, round(crop.width * scale)), max(1, round(crop.height * scale))
        small = np.asarray(crop.resize((w, h), Image.Resampling.LANCZOS)) >= 128
        y0, x0 = (CANVAS - h) // 2, (CANVAS - w) // 2
        out[d, y0 : y0 + h, x0 : x0 + w] = small
    return out if out.any(axis=(1, 2)).all() else None


def _points(masks: np.ndarray) -> np.ndarray:
    """Pixel centres of each mask in glyph units, padded to a common count: (N, P, 2)."""
    pts = []
    for m in masks:
        ys, xs = np.nonzero(m)
        pts.append((np.stack([xs, ys], axis=1) + 0.5 - CANVAS / 2) / GLYPH_H)
    size = max(len(p) for p in pts)
    return np.stack([np.concatenate([p, np.repeat(p[:1], size - len(p), axis=0)]) for p in pts])


# Single-stroke "pen fonts": centre lines of handwritten digit forms in glyph units (height 1, y down,
# origin at the centre), drawn with the same round pen as the skeletons of the TrueType glyphs. They add
# the handwritten forms printed fonts lack: a 1 without a foot, an open 4, a 7 with a crossbar, a 9 with
# a straight stem. A stroke is ("L", x0, y0, x1, y1, ...) a polyline or ("A", cx, cy, rx, ry, deg0, deg1)
# an elliptical arc (angles clockwise on screen from the +x axis). Pen font v uses variant v of each digit.
_PEN_STROKES: tuple[tuple[tuple[tuple[Any, ...], ...], ...], ...] = (
    ((("A", 0.0, 0.0, 0.26, 0.48, 0, 360),), (("A", 0.0, 0.0, 0.22, 0.48, -60, 310),)),
    (
        (("L", -0.15, -0.3, 0.03, -0.5, 0.0, 0.5),),
        (("L", 0.02, -0.5, 0.0, 0.5),),
        (("L", -0.17, -0.28, 0.03, -0.5, 0.0, 0.5), ("L", -0.14, 0.5, 0.14, 0.5)),
    ),
    (
        (("A", 0.0, -0.23, 0.25, 0.27, 195, 380), ("L", 0.235, -0.14, -0.26, 0.5, 0.28, 0.5)),
        (
            ("A", 0.0, -0.25, 0.24, 0.25, 190, 400),
            ("L", 0.225, -0.15, -0.2, 0.42),
            ("A", -0.15, 0.44, 0.07, 0.06, 150, 520),
            ("L", -0.12, 0.5, 0.28, 0.48),
        ),
    ),
    (
        (("A", 0.0, -0.25, 0.22, 0.25, 200, 460), ("A", 0.0, 0.25, 0.25, 0.25, -95, 160)),
        (("L", -0.22, -0.5, 0.22, -0.5, -0.05, -0.05), ("A", 0.0, 0.22, 0.25, 0.28, -100, 160)),
    ),
    (
        (("L", -0.18, -0.5, -0.25, 0.15, 0.28, 0.15), ("L", 0.12, -0.35, 0.12, 0.5)),
        (("L", 0.12, 0.5, 0.12, -0.5, -0.28, 0.2, 0.28, 0.2),),
    ),
    (
        (("L", 0.25, -0.5, -0.18, -0.5, -0.22, -0.05), ("A", 0.0, 0.2, 0.25, 0.3, 220, 520)),
        (("L", 0.25, -0.5, -0.2, -0.5, -0.22, -0.02), ("A", -0.02, 0.22, 0.26, 0.28, 225, 510)),
    ),
    (
        (("A", 0.25, 0.1, 0.5, 0.6, 250, 165), ("A", 0.0, 0.25, 0.24, 0.25, 0, 360)),
        (("L", 0.15, -0.5, -0.22, 0.22), ("A", 0.0, 0.27, 0.23, 0.23, 0, 360)),
    ),
    (
        (("L", -0.27, -0.5, 0.27, -0.5, -0.05, 0.5),),
        (("L", -0.27, -0.5, 0.27, -0.5, -0.05, 0.5), ("L", -0.06, 0.0, 0.26, 0.0)),
    ),
    (
        (("A", 0.0, -0.25, 0.2, 0.25, 0, 360), ("A", 0.0, 0.24, 0.25, 0.26, 0, 360)),
        (("A", 0.0, -0.27, 0.19, 0.23, 0, 360), ("A", 0.0, 0.22, 0.24, 0.28, 0, 360)),
    ),
    (
        (("A", 0.0, -0.25, 0.24, 0.25, 0, 360), ("L", 0.24, -0.25, 0.2, 0.5)),
        (("A", -0.02, -0.28, 0.22, 0.22, 0, 360), ("L", 0.2, -0.25, 0.02, 0.5)),
        (("A", 0.0, -0.25, 0.22, 0.24, 0, 360), ("A", -0.2, -0.25, 0.42, 0.72, 0, 100)),
    ),
)
_PEN_WIDTH = 6.0  # nominal stroke width in atlas pixels, for the outline field of the pen fonts


def _stroke_points(stroke: tuple[Any, ...]) -> np.ndarray:
    """Dense samples (K, 2) along one pen stroke, in glyph units."""
    if stroke[0] == "A":
        cx, cy, rx, ry, a0, a1 = stroke[1:]
        t = np.deg2rad(np.linspace(a0, a1, 400))
        return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)
    v = np.asarray(stroke[1:], dtype=np.float64).reshape(-1, 2)
    return np.concatenate([np.linspace(v[i], v[i + 1], 200) for i in range(len(v) - 1)])


def pen_font_masks() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names, ink masks and skeletons (both (V*10, 64, 64) bool) of the built-in pen fonts."""
    from scipy.ndimage import distance_transform_edt

    n_var = max(len(v) for v in _PEN_STROKES)
    skel = np.zeros((n_var * 10, CANVAS, CANVAS), dtype=bool)
    for v in range(n_var):
        for d, variants in enumerate(_PEN_STROKES):
            pts = np.concatenate([_stroke_points(s) for s in variants[v % len(variants)]])
            # Scale so the centre line spans the glyph height minus the pen, like a stroked font glyph.
            px = np.floor(pts * (GLYPH_H - _PEN_WIDTH) + CANVAS / 2).astype(np.int64)
            px = np.clip(px, 0, CANVAS - 1)
            skel[v * 10 + d, px[:, 1], px[:, 0]] = True
    ink = np.stack([distance_transform_edt(~m) <= _PEN_WIDTH / 2 for m in skel])
    return [f"pen-{chr(ord('a') + v)}" for v in range(n_var)], ink, thin(skel)


@functools.lru_cache(maxsize=8)
def _cached_atlas(paths: tuple[str, ...]) -> GlyphAtlas:
    from scipy.ndimage import distance_transform_edt

    names, masks = [], []
    for p in paths:
        m = _rasterize(Path(p))
        if m is not None:
            names.append(Path(p).stem)
            masks.append(m)
    if not masks:
        raise InputError(f"none of the fonts could be rasterised ({', '.join(paths)})")
    pen_names, pen_ink, pen_skel = pen_font_masks()
    names += pen_names
    ink = np.concatenate([*masks, pen_ink])  # (G, 64, 64)
    skel = np.concatenate([thin(np.concatenate(masks)), pen_skel])
    # Boundary ink pixels: ink with at least one 4-neighbour of background.
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    interior = padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    boundary = ink & ~interior
    fields = np.empty((*ink.shape, 2), dtype=np.float32)
    for g in range(len(ink)):  # one exact EDT per glyph, once per atlas
        fields[g, ..., 0] = distance_transform_edt(~skel[g])
        # Signed distance to the outline; the +-0.5 puts the zero level on pixel edges.
        fields[g, ..., 1] = np.where(
            ink[g], 0.5 - distance_transform_edt(ink[g]), distance_transform_edt(~ink[g]) - 0.5
        )
    fields /= GLYPH_H
    return GlyphAtlas(tuple(names), len(pen_names), fields, _points(skel), _points(boundary))


def build_atlas(fonts: Sequence[str | Path]) -> GlyphAtlas:
    """The glyph atlas for these font files plus the pen fonts (cached per font list).

    Fonts that fail to rasterise are skipped.
    """
    return _cached_atlas(tuple(str(p) for p in fonts))
