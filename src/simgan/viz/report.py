"""One static HTML page that describes a run: config, curves, grids, the gap table, realism, labels, maps.

``simgan report RUN --out FILE.html`` reads whatever the run folder holds and skips what it does not:

| file in RUN | section |
| --- | --- |
| ``gap.json`` | first, the headline: each row in its unit (%, degrees, px) +/- std, the change against
  synthetic, the share of the gap closed, and a bar chart with error bars (simgan.viz.headline) |
| ``stats.jsonl`` | loss / D-accuracy / learning-rate curves over steps (one panel per key prefix) |
| ``grids/step_*.png`` | synthetic, refined, difference, real at up to 6 training steps |
| ``gap.json`` | the gap table (mean +/- std per condition) and the %-within-d curves |
| ``metrics.json`` | task metrics of a ``train-task`` run, then its ``curves.png`` and confusion matrix |
| ``realism.json`` | two-sample test, FID, KID (``simgan evaluate realism``; one row per condition when it
  maps condition names to results, as ``experiment gap`` writes it) |
| ``labels.json`` | label preservation (``simgan evaluate labels``) |
| ``embedding*.png`` | PCA / t-SNE maps (``simgan visualize``) |
| ``config.json`` | last, the configuration (non-default values marked) |

An experiment folder without its own ``stats.jsonl`` but with ``refiner/stats.jsonl`` (``experiment gap``)
gets its curves and grids from ``RUN/refiner/``.

The page is self-contained and offline: inline CSS, one small inline script (it marks images that
failed to load, for the browser test), no fonts or scripts fetched from anywhere, and a Content
Security Policy that forbids any network load. Images are written beside it in ``FILE_files/`` and
linked by relative paths, so the folder can be moved or zipped with the page. Every string that comes
from the run (config values, dataset paths, metric names) is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from matplotlib.figure import Figure

from simgan import atomic
from simgan.errors import InputError
from simgan.viz.headline import headline, headline_figure

__all__ = ["MAX_GRIDS", "read_stats", "build_report"]

MAX_GRIDS = 6
GRID_COLUMNS = ("synthetic", "refined", "difference", "real")  # simgan.viz.grids.refiner_grid's columns
_GRID_RE = re.compile(r"step_(\d+)\.png$")
_PANEL_ORDER = ("loss", "acc", "lr")
_NOT_CURVES = {"step", "iteration", "epoch"}
_NOT_CURVE_GROUPS = {"time"}  # wall-clock bookkeeping, not a training signal
_HEADLINE = ("accuracy", "angular_error_deg", "mean_error_px")  # the task metrics of DESIGN.md

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1150px; color: #222; line-height: 1.4; padding: 0 12px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92em; }
table.headline { font-size: 1.15em; } table.headline td { min-width: 7em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.changed { background: #fff7d6 !important; }
img { max-width: 100%; border: 1px solid #eee; } img.broken { outline: 3px solid red; }
figure { display: inline-block; margin: 6px 12px 12px 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; }
figure.grid img { min-width: 280px; image-rendering: pixelated; display: block; }
.cols { display: flex; font-size: 0.75em; color: #444; }
.cols span { flex: 1; min-width: 0; text-align: center; }
.wrap { overflow-x: auto; } .wrap td { max-width: 24em; overflow-wrap: anywhere; }
.muted { color: #777; font-size: 0.9em; } code { background: #f4f4f4; padding: 0 3px; }
"""

# Marks images that failed to load: the browser test reads data-broken-images from the DOM.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, broken = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) { broken++; imgs[i].className += " broken"; }
  }
  document.body.setAttribute("data-images", String(imgs.length));
  document.body.setAttribute("data-broken-images", String(broken));
});
"""

# Nothing may be fetched from the network: images only from the page's own folder (or data: URIs).
_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt_p(value: float) -> str:
    """A p-value as people read one: '< 0.001' below a thousandth, else three decimals."""
    return "< 0.001" if value < 1e-3 else f"{value:.3f}"


def _fmt(value: Any, key: str = "") -> str:
    """A readable cell: floats to 4 significant digits (p-values as :func:`_fmt_p`), lists of numbers
    compact, the rest as text."""
    if isinstance(value, float) and "p_value" in key and not math.isnan(value):
        return _e(_fmt_p(value))
    if isinstance(value, bool) or value is None:
        return _e(value)
    if isinstance(value, float):
        return _e("nan" if math.isnan(value) else f"{value:.4g}")
    if isinstance(value, int):
        return _e(value)
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return _e("[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value) + "]")
    if isinstance(value, dict | list | tuple):
        return _e(json.dumps(value))
    return _e(value)


def _read_json(path: Path) -> Any | None:
    """A JSON file's content; None when absent; InputError naming a corrupt one."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError.at(path, f"malformed JSON ({e.__class__.__name__})") from None


def read_stats(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """The records of a ``stats.jsonl``, and how many malformed lines were skipped (a torn last line)."""
    records, bad = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(rec, dict):
                records.append(rec)
            else:
                bad += 1
    return records, bad


def _flatten(obj: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, leaf) pairs of nested dicts; lists stay leaves."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}")
            if isinstance(v, dict) and not v:
                yield f"{prefix}{k}", "{}"
    else:
        yield prefix.rstrip("."), obj


def _kv_table(pairs: Iterable[tuple[str, Any]], changed: Collection[str] = (), per_row: int = 1) -> str:
    """Key/value table, ``per_row`` pairs side by side; keys whose top level is in ``changed`` highlighted."""
    cells = []
    for k, v in pairs:
        hl = " changed" if k.split(".")[0] in changed else ""
        num = " num" if isinstance(v, int | float) and not isinstance(v, bool) else ""
        cells.append(f'<th class="key{hl}">{_e(k)}</th><td class="{(hl + num).strip()}">{_fmt(v, k)}</td>')
    rows = ["<tr>" + "".join(cells[i : i + per_row]) + "</tr>" for i in range(0, len(cells), per_row)]
    return "<table>\n" + "\n".join(rows) + "\n</table>"


class _Assets:
    """Files beside the page (``FILE_files/``), built in a temp folder and swapped in at the end."""

    def __init__(self, out: Path):
        self.name = f"{out.stem}_files"
        self.final = out.parent / self.name
        out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}.", dir=out.parent))

    def _src(self, name: str) -> str:
        return _e(f"{quote(self.name)}/{quote(name)}")

    def figure(self, fig: Figure, name: str) -> str:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        (self.tmp / name).write_bytes(buf.getvalue())
        return self._src(name)

    def copy(self, path: Path, name: str) -> str:
        shutil.copyfile(path, self.tmp / name)
        return self._src(name)

    def commit(self) -> None:
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _img(src: str, alt: str, caption: str | None = None, cls: str = "", header: Sequence[str] = ()) -> str:
    """A figure; ``header``: labels of the image's equal-width columns, shown above it."""
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    attr = f' class="{cls}"' if cls else ""
    top = '<div class="cols">' + "".join(f"<span>{_e(h)}</span>" for h in header) + "</div>" if header else ""
    return f'<figure{attr}>{top}<img src="{src}" alt="{_e(alt)}">{cap}</figure>'


# --- sections -----------------------------------------------------------------------------------------


def _config_section(run: Path) -> str | None:
    cfg = _read_json(run / "config.json")
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise InputError.at(run / "config.json", "expected a JSON object")
    non_default = cfg.get("_non_default")
    changed = set(non_default) if isinstance(non_default, dict | list) else set()
    pairs = [(k, v) for k, v in _flatten({k: v for k, v in cfg.items() if k != "_non_default"})]
    note = '<p class="muted">Highlighted: values changed from the defaults.</p>' if changed else ""
    per_row = 3 if len(pairs) > 12 else 1  # a long config reads better in three columns
    return f"<h2>Configuration</h2>\n{note}\n{_kv_table(pairs, changed, per_row)}"


def _curves_section(run: Path, assets: _Assets) -> str | None:
    path = run / "stats.jsonl"
    if not path.is_file():
        return None
    records, bad = read_stats(path)
    steps = [r.get("step", k) for k, r in enumerate(records)]
    keys = sorted(
        k
        for k in {k for r in records for k, v in r.items() if _is_num(v)} - _NOT_CURVES
        if k.split("/")[0] not in _NOT_CURVE_GROUPS
    )
    if not records or not keys:
        return '<h2>Training curves</h2>\n<p class="muted">stats.jsonl holds no numeric values yet.</p>'
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(k.split("/")[0], []).append(k)
    order = [g for g in _PANEL_ORDER if g in groups] + sorted(g for g in groups if g not in _PANEL_ORDER)
    fig = Figure(figsize=(4.2 * len(order), 3.4), layout="constrained")
    axes = fig.subplots(1, len(order), squeeze=False)[0]
    # Phase changes (pretrain R -> pretrain D -> adversarial) as dashed lines on every panel.
    changes = [
        (steps[i], records[i].get("phase"))
        for i in range(1, len(records))
        if records[i].get("phase") != records[i - 1].get("phase")
    ]
    for ax, group in zip(axes, order, strict=True):
        for k in groups[group]:
            xs = [s for s, r in zip(steps, records, strict=True) if k in r]
            ys = [float(r[k]) for r in records if k in r]
            ax.plot(xs, ys, label=k, linewidth=1.2)
        for s, phase in changes:
            ax.axvline(s, color="grey", linestyle="--", linewidth=0.8)
            if ax is axes[0]:
                ax.annotate(
                    str(phase),
                    (s, 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=7,
                    rotation=90,
                    va="top",
                    ha="right",
                    color="grey",
                )
        ax.set(xlabel="step", title=group)
        if group == "loss" and all(float(r[k]) > 0 for k in groups[group] for r in records if k in r):
            ax.set_yscale("log")
        if group == "acc":
            ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
    src = assets.figure(fig, "curves.png")
    note = f'<p class="muted">{bad} malformed line(s) of stats.jsonl skipped.</p>' if bad else ""
    return (
        f"<h2>Training curves</h2>\n{note}\n<p class=\"muted\">{len(records)} logged steps "
        f"(last: {_e(steps[-1])}); dashed lines mark phase changes.</p>\n{_img(src, 'training curves')}"
    )


def _grids_section(run: Path, assets: _Assets) -> str | None:
    folder = run / "grids"
    if not folder.is_dir():
        return None
    grids = sorted(
        ((int(m.group(1)), p) for p in folder.iterdir() if p.is_file() and (m := _GRID_RE.search(p.name))),
    )
    if not grids:
        return None
    # Evenly spaced steps, always the first and the last.
    pick = sorted({round(i) for i in np.linspace(0, len(grids) - 1, min(MAX_GRIDS, len(grids)))})
    figs = []
    for i in pick:
        step, path = grids[i]
        src = assets.copy(path, f"grid_{step:07d}.png")
        figs.append(_img(src, f"grid at step {step}", f"step {step}", cls="grid", header=GRID_COLUMNS))
    return (
        '<h2>Refiner samples</h2>\n<p class="muted">Each row one synthetic image x: x, R(x), |R(x) - x| '
        "(white: a change of half the range) and a real image (unpaired: S+U learning has no pairs). "
        f"{len(grids)} grid(s) saved; {len(pick)} shown.</p>\n" + "\n".join(figs)
    )


def _gap_section(run: Path, assets: _Assets) -> str | None:
    gap = _read_json(run / "gap.json")
    if gap is None:
        return None
    results = gap.get("results") if isinstance(gap, dict) else None
    if not isinstance(results, dict) or not results:
        raise InputError.at(run / "gap.json", 'expected {"task": ..., "results": {condition: {metrics}}}')
    conds = [c for c, m in results.items() if isinstance(m, dict)]
    scalar_keys: list[str] = []
    curve_keys: list[str] = []
    for c in conds:
        for k, v in results[c].items():
            if k.endswith("_std"):
                continue
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in scalar_keys:
                scalar_keys.append(k)
            elif isinstance(v, dict) and k not in curve_keys and all(_is_num(x) for x in v.values()):
                curve_keys.append(k)
    # The task's headline metrics first, bookkeeping (counts, seconds) after.
    scalar_keys.sort(key=lambda k: (k not in _HEADLINE, k.startswith("n_") or k.endswith("_seconds")))
    # A column that holds one value in every row says it once, under the table.
    same = [k for k in scalar_keys if k not in _HEADLINE and len({results[c].get(k) for c in conds}) == 1]
    scalar_keys = [k for k in scalar_keys if k not in same]
    head = "".join(f"<th>{_e(k)}</th>" for k in scalar_keys)
    rows = []
    for c in conds:
        cells = []
        for k in scalar_keys:
            v, sd = results[c].get(k), results[c].get(f"{k}_std")
            text = "" if v is None else _fmt(float(v))
            if _is_num(sd) and float(sd) != 0.0:  # no "+/- 0" filler
                text += f" &plusmn; {_fmt(float(sd))}"
            cells.append(f'<td class="num">{text}</td>')
        rows.append(f"<tr><th>{_e(c)}</th>{''.join(cells)}</tr>")
    table = f"<table>\n<tr><th>condition</th>{head}</tr>\n" + "\n".join(rows) + "\n</table>"
    task = _e(gap.get("task", "?"))
    parts = [f"<h2>All numbers of the gap table</h2>\n<p>Task: <code>{task}</code>.</p>\n{table}"]
    if same:
        shared = ", ".join(f"{_e(k)} {_fmt(float(results[conds[0]][k]))}" for k in same)
        parts.append(f'<p class="muted">The same in every row: {shared}.</p>')
    if curve_keys:
        fig = Figure(figsize=(4.6 * len(curve_keys), 3.6), layout="constrained")
        axes = fig.subplots(1, len(curve_keys), squeeze=False)[0]
        for ax, k in zip(axes, curve_keys, strict=True):
            for c in conds:
                curve = results[c].get(k)
                if isinstance(curve, dict) and curve:
                    pts = sorted(
                        (float(d), float(f)) for d, f in curve.items() if _is_num_text(d) and _is_num(f)
                    )
                    xs, ys = np.array([p[0] for p in pts]), 100.0 * np.array([p[1] for p in pts])
                    (line,) = ax.plot(xs, ys, label=c)
                    std = results[c].get(f"{k}_std")
                    if isinstance(std, dict) and len(std) == len(curve):
                        # +/- one std over repeats, when the experiment had several
                        sd = 100.0 * np.array([float(std.get(str(d).removesuffix(".0"), 0.0)) for d in xs])
                        ax.fill_between(xs, ys - sd, ys + sd, color=line.get_color(), alpha=0.15, linewidth=0)
            unit = "degrees" if "deg" in k else "pixels" if "px" in k else ""
            ax.set(xlabel=f"d ({unit})" if unit else "d", ylabel="% within d", title=k, ylim=(0, 100))
            ax.legend(fontsize=8)
        parts.append(
            _img(
                assets.figure(fig, "gap_curves.png"), "percent within d curves", "% of test samples within d"
            )
        )
    return "\n".join(parts)


def _headline_section(run: Path, assets: _Assets) -> str | None:
    """The opening block: what the run measured, in the units people use (simgan.viz.headline)."""
    gap = _read_json(run / "gap.json")
    found = headline(gap) if isinstance(gap, dict) else None
    if found is None:
        return None
    metric, label, rows = found
    body = "\n".join(
        f'<tr><th>{_e(r.name)}</th><td class="num">{_e(r.value)}</td><td class="num">{_e(r.change)}</td>'
        f'<td class="num">{_e(r.closed)}</td></tr>'
        for r in rows
    )
    repeats = gap.get("repeats")
    over = (
        f", mean &plusmn; std over {_e(repeats)} repeats" if isinstance(repeats, int) and repeats > 1 else ""
    )
    table = (
        f'<table class="headline">\n<tr><th>row</th><th>{_e(label)}</th><th>vs synthetic</th>'
        f"<th>gap closed</th></tr>\n{body}\n</table>"
    )
    chart = _img(assets.figure(headline_figure(label, rows), "headline.png"), f"{label} per row")
    task = _e(gap.get("task", "?"))
    rule = "Gap closed: (row &minus; synthetic) / (real &minus; synthetic)."
    intro = f"{_e(label)} on the real test set, task <code>{task}</code>{over}. {rule}"
    return f"<h2>The reality gap</h2>\n<p>{intro}</p>\n{table}\n{chart}"


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_num_text(s: Any) -> bool:
    try:
        float(s)
    except (TypeError, ValueError):
        return False
    return True


def _cell(v: Any, key: str = "") -> str:
    return f'<td class="num">{_fmt(v, key)}</td>' if _is_num(v) else f"<td>{_fmt(v, key)}</td>"


def _short(v: Any) -> bool:
    """A value worth a table cell: a scalar, a string, or a short numeric list (a confidence interval)."""
    if isinstance(v, list):
        return len(v) <= 4 and all(_is_num(x) for x in v)
    return not isinstance(v, dict)


def _metrics_section(run: Path, name: str, title: str, intro: str) -> str | None:
    data = _read_json(run / name)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InputError.at(run / name, "expected a JSON object")
    origin = ""
    gap = _read_json(run / "gap.json") if (run / "gap.json").is_file() else None
    if isinstance(gap, dict) and isinstance(gap.get("repeats"), int) and gap["repeats"] > 1:
        config = _read_json(run / "config.json")
        seed = config.get("seed", 0) if isinstance(config, dict) else 0
        origin = f"; measured on repeat 0 (seed {seed}) of {gap['repeats']}, not averaged"
    intro_html = f'<p class="muted">{_e(intro)}{_e(origin)} (<code>{_e(name)}</code>)</p>'
    if data and all(isinstance(v, dict) for v in data.values()):
        # One result per condition ({"synthetic": {...}, "refined": {...}}): one row each.
        keys: list[str] = []
        for m in data.values():
            keys += [k for k, v in m.items() if k not in keys and k != "config" and _short(v)]
        head = "".join(f"<th>{_e(k)}</th>" for k in keys)
        rows = [
            f"<tr><th>{_e(c)}</th>" + "".join(_cell(m.get(k, ""), k) for k in keys) + "</tr>"
            for c, m in data.items()
        ]
        table = (
            f'<div class="wrap"><table>\n<tr><th>condition</th>{head}</tr>\n'
            + "\n".join(rows)
            + "\n</table></div>"
        )
        return f"<h2>{_e(title)}</h2>\n{intro_html}\n{table}"
    # Scalars and short numeric lists; long curves and confusion matrices are better read in the JSON.
    pairs = [(k, v) for k, v in _flatten({k: v for k, v in data.items() if k != "config"}) if _short(v)]
    return f'<h2>{_e(title)}</h2>\n{intro_html}\n<div class="wrap">{_kv_table(pairs)}</div>'


def _task_section(run: Path, assets: _Assets) -> str | None:
    """A train-task run's picture: its curves (``curves.png``) and, for classify, the confusion matrix of
    ``metrics.json`` (rows the true class, columns the predicted one; the diagonal marked)."""
    metrics = _read_json(run / "metrics.json")
    parts = []
    if (run / "curves.png").is_file():
        src = assets.copy(run / "curves.png", "task_curves.png")
        parts.append(_img(src, "training curves", "curves.png"))
    confusion = metrics.get("confusion") if isinstance(metrics, dict) else None
    if isinstance(confusion, list) and confusion and all(isinstance(r, list) for r in confusion):
        names = metrics.get("classes") or [str(k) for k in range(len(confusion))]
        head = "".join(f"<th>{_e(n)}</th>" for n in names)
        rows = []
        for i, row in enumerate(confusion):
            cells = "".join(
                f'<td class="num{" changed" if i == j else ""}">{_fmt(v)}</td>' for j, v in enumerate(row)
            )
            rows.append(f"<tr><th>{_e(names[i] if i < len(names) else i)}</th>{cells}</tr>")
        parts.append(
            '<p class="muted">Confusion matrix on the test set: rows the true class, columns the predicted '
            "one.</p>\n"
            f"<table>\n<tr><th>true \\ predicted</th>{head}</tr>\n" + "\n".join(rows) + "\n</table>"
        )
    return "<h2>Task run</h2>\n" + "\n".join(parts) if parts else None


def _embedding_section(run: Path, assets: _Assets) -> str | None:
    maps = sorted(p for p in run.glob("embedding*.png") if p.is_file())
    if not maps:
        return None
    figs = [_img(assets.copy(p, f"map_{k}_{_safe(p.name)}"), p.stem, p.name) for k, p in enumerate(maps)]
    return "<h2>Embeddings</h2>\n" + "\n".join(figs)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


# --- the page -----------------------------------------------------------------------------------------


def build_report(run: str | Path, out: str | Path, *, title: str | None = None) -> dict[str, Any]:
    """Write the static HTML report of a run folder (sections in the module docstring).

    Args:
        run: the run folder (train-refiner, train-task or experiment output).
        out: the ``.html`` file to write; images go to ``<out stem>_files/`` beside it.
        title: page title (default: the run folder's name).

    Returns:
        ``{"out": path, "assets": folder, "sections": [names of the sections written]}``.

    Raises:
        InputError: the run folder is missing, holds nothing to report, or a JSON file in it is corrupt.
    """
    run, out = Path(run), Path(out)
    if not run.is_dir():
        raise InputError.at(run, "no such run folder")
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError.at(out, "the report must be an .html file")
    # An experiment folder keeps its refiner run in RUN/refiner/: take the curves and grids from there.
    training = run
    if not (run / "stats.jsonl").is_file() and (run / "refiner" / "stats.jsonl").is_file():
        training = run / "refiner"
    assets = _Assets(out)
    try:
        sections = {  # the result first, the configuration last
            "headline": _headline_section(run, assets),
            "gap": _gap_section(run, assets),
            "grids": _grids_section(training, assets),
            "curves": _curves_section(training, assets),
            "metrics": _metrics_section(run, "metrics.json", "Task metrics", "Test-set metrics of the run"),
            "task": _task_section(run, assets),
            "realism": _metrics_section(
                run,
                "realism.json",
                "Realism",
                "Two-sample test (0.5 = indistinguishable) and FID/KID "
                "in simgan's random-feature space (not comparable to Inception-FID)",
            ),
            "labels": _metrics_section(
                run, "labels.json", "Label preservation", "Synthetic vs refined, matched by sample id"
            ),
            "embeddings": _embedding_section(run, assets),
            "config": _config_section(run),
        }
        present = {k: v for k, v in sections.items() if v is not None}
        if not present:
            raise InputError.at(
                run, "nothing to report: no config.json, stats.jsonl, grids/, gap.json or metrics files"
            )
        name = title or run.resolve().name
        page = "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en">',
                "<head>",
                '<meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>simgan report: {_e(name)}</title>",
                f"<style>{_CSS}</style>",
                "</head>",
                "<body>",
                f"<h1>simgan report: {_e(name)}</h1>",
                f'<p class="muted">Run folder: <code>{_e(run)}</code></p>',
                *present.values(),
                f"<script>{_SCRIPT}</script>",
                "</body>",
                "</html>",
                "",
            ]
        )
        assets.commit()
    except BaseException:
        assets.discard()
        raise
    atomic.write_text(out, page)
    return {"out": str(out), "assets": str(assets.final), "sections": list(present)}
