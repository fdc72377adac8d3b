"""Helpers of the visual Turing test's tests: small image sets whose pixels say which image they are, and
an HTTP client over a real socket (urllib)."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REAL_N, REFINED_N = 8, 7


def real_value(index: int) -> int:
    """The grey value every pixel of real image ``index`` holds."""
    return 10 + index


def refined_value(index: int) -> int:
    return 200 + index


def which_image(png: bytes) -> tuple[str, int]:
    """(truth, index) of a served PNG of these sets, from its flat grey value."""
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    assert pixels.shape == (8, 8) and (pixels == pixels[0, 0]).all(), pixels
    v = int(pixels[0, 0])
    return ("refined", v - 200) if v >= 200 else ("real", v - 10)


def write_folder(root: Path, values: list[int], size: tuple[int, int] = (8, 8), mode: str = "L") -> Path:
    """A plain folder of flat images, one per value (``img00.png``, ...)."""
    root.mkdir(parents=True)
    for k, v in enumerate(values):
        Image.new(mode, size[::-1], v if mode != "RGB" else (v, v, v)).save(root / f"img{k:02d}.png")
    return root


def http(
    url: str, body: Any = None, *, content_type: str = "application/json", raw: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``, or POST ``body`` as JSON (or ``raw`` bytes); returns (status, headers, body)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
