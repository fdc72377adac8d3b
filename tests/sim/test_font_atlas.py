"""The glyph atlas: font discovery, rasterising, pen fonts, distance fields and thinning."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from simgan.errors import InputError
from simgan.sim.font_atlas import (
    CANVAS,
    GLYPH_H,
    build_atlas,
    find_fonts,
    has_digit_glyphs,
    matplotlib_fonts,
    pen_font_masks,
    thin,
)


@pytest.fixture(scope="module")
def fonts() -> list[Path]:
    return matplotlib_fonts()


# --- Fonts --------------------------------------------------------------------------------------------


def test_bundled_fonts_skip_those_without_digit_glyphs(fonts: list[Path]) -> None:
    names = {p.stem for p in fonts}
    assert {"DejaVuSans", "DejaVuSerif-Bold", "cmr10", "STIXGeneral"} <= names
    # Symbol fonts map the digit code points to other glyphs; display/last-resort fonts have none.
    assert not names & {"cmsy10", "cmex10", "LastResortHE-Regular", "DejaVuSansDisplay", "STIXSizOneSymReg"}
    assert fonts == sorted(fonts)


def test_has_digit_glyphs_rejects_non_fonts(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"not a font at all")
    assert not has_digit_glyphs(bad)
    assert not has_digit_glyphs(tmp_path / "missing.ttf")


def test_find_fonts_searches_subfolders_and_any_case_suffix(tmp_path: Path, fonts: list[Path]) -> None:
    src = next(p for p in fonts if p.stem == "DejaVuSans")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Hand.TTF").write_bytes(src.read_bytes())
    (tmp_path / "broken.ttf").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(src.read_bytes())  # a font, but not named like one
    assert find_fonts(tmp_path) == [tmp_path / "sub" / "Hand.TTF"]


def test_font_folder_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.*not found"):
        find_fonts(tmp_path / "nope")
    (tmp_path / "file.ttf").write_bytes(b"x")
    with pytest.raises(InputError, match="file.ttf.*not a folder"):
        find_fonts(tmp_path / "file.ttf")
    with pytest.raises(InputError, match=r"no usable font \(1 .ttf/.otf/.ttc files"):
        find_fonts(tmp_path)  # only a broken .ttf in it


def test_build_atlas_without_a_drawable_font_raises(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"x")
    with pytest.raises(InputError, match="none of the fonts could be rasterised.*broken.ttf"):
        build_atlas([bad])


# --- Pen fonts ----------------------------------------------------------------------------------------


def test_pen_fonts_are_three_variants_of_ten_digits() -> None:
    names, ink, skel = pen_font_masks()
    assert names == ["pen-a", "pen-b", "pen-c"]  # the most variants any digit has (1 and 9: three)
    assert ink.shape == skel.shape == (30, CANVAS, CANVAS) and ink.dtype == skel.dtype == bool
    assert ink.any(axis=(1, 2)).all() and skel.any(axis=(1, 2)).all()
    assert (skel <= ink).all()  # the centre line lies in the ink
    # Each glyph spans about one glyph height: the centre line's rows cover 48 - 6 (the pen) pixels.
    rows = skel.any(axis=2)
    height = CANVAS - rows[:, ::-1].argmax(1) - rows.argmax(1)
    assert (height <= GLYPH_H).all() and np.median(height) >= GLYPH_H - 8


# --- Atlas --------------------------------------------------------------------------------------------


def test_atlas_fields_are_distances(fonts: list[Path]) -> None:
    atlas = build_atlas(fonts)
    g = len(atlas.fonts) * 10
    assert atlas.fields.shape == (g, 64, 64, 2) and atlas.fields.dtype == np.float32
    assert atlas.n_pen == 3 and atlas.fonts[-3:] == ("pen-a", "pen-b", "pen-c")
    assert atlas.fonts[:-3] == tuple(p.stem for p in fonts)  # every bundled font rasterises
    skel, sdf = atlas.fields[..., 0], atlas.fields[..., 1]
    assert skel.min() == 0.0 and (skel >= 0).all()  # zero on the skeleton
    assert (sdf.min(axis=(1, 2)) < 0).all() and (sdf.max(axis=(1, 2)) > 0).all()  # ink inside, paper outside
    # Skeleton points lie inside their glyph's ink (negative signed distance).
    pts = np.rint(atlas.skeleton[:, :, ::-1] * GLYPH_H + CANVAS / 2 - 0.5).astype(int)  # (G, P, (row, col))
    inside = sdf[np.arange(g)[:, None], pts[..., 0], pts[..., 1]]
    assert (inside <= 0.5 / GLYPH_H).mean() > 0.99
    assert atlas.skeleton.shape[0] == atlas.outline.shape[0] == g and atlas.skeleton.shape[2] == 2


def test_atlas_is_cached_per_font_list(fonts: list[Path]) -> None:
    assert build_atlas(fonts) is build_atlas([str(p) for p in fonts])
    small = build_atlas(fonts[:2])
    assert small.fonts == (fonts[0].stem, fonts[1].stem, "pen-a", "pen-b", "pen-c")
    np.testing.assert_array_equal(small.fields[:20], build_atlas(fonts).fields[:20])


def test_atlas_of_the_bundled_fonts_is_pinned(fonts: list[Path]) -> None:
    """The atlas the digits simulator draws from, bit for bit (matplotlib 3.11, Pillow 13, scipy 1.17)."""
    atlas = build_atlas(fonts)
    h = hashlib.sha256(atlas.fields.tobytes())
    h.update(atlas.skeleton.tobytes())
    h.update(atlas.outline.tobytes())
    h.update(json.dumps(atlas.fonts).encode())
    assert (atlas.skeleton.shape, atlas.outline.shape) == ((250, 145, 2), (250, 261, 2))
    assert h.hexdigest()[:16] == "b8f22158e1adaa44"


# --- Thinning -----------------------------------------------------------------------------------------


def test_thin_gives_one_pixel_centre_line() -> None:
    mask = np.zeros((1, 11, 30), bool)
    mask[0, 3:8, 2:28] = True  # a 5-pixel-thick bar
    skel = thin(mask)[0]
    assert (skel <= mask[0]).all()
    assert skel[:, 6:24].sum(axis=0).max() == 1  # one pixel thick along the middle
    assert skel[5, 6:24].all()  # on the centre row


def test_thin_keeps_one_pixel_lines_and_empty_images() -> None:
    mask = np.zeros((2, 9, 9), bool)
    mask[0, 4, 1:8] = True
    np.testing.assert_array_equal(thin(mask), mask)
