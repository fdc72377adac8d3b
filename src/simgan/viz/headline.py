"""The report's opening block: each row of the gap table in the unit people use, its change against the
synthetic row, the share of the gap it closes, and a bar chart with error bars.

Accuracy reads as a percentage, gaze error in degrees and joint error in pixels, each to one decimal with
the std over repeats (left out when there was one repeat or no spread). A change is the row minus
synthetic, signed, with "better" or "worse" in words, since an error falls where an accuracy rises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["Headline", "UNITS", "headline", "headline_figure"]

# metric -> (label, unit suffix, scale, higher is better)
UNITS: dict[str, tuple[str, str, float, bool]] = {
    "accuracy": ("accuracy", " %", 100.0, True),
    "angular_error_deg": ("mean gaze error", "°", 1.0, False),
    "mean_error_px": ("mean joint error", " px", 1.0, False),
}


@dataclass(frozen=True)
class Headline:
    """One row of the opening table: its name and the texts of its cells, plus the numbers to plot."""

    name: str
    value: str
    change: str
    closed: str
    mean: float
    std: float


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)


def headline(gap: dict[str, Any]) -> tuple[str, str, list[Headline]] | None:
    """(metric key, its label with unit, the rows) for a ``gap.json`` dict; None when no row has a
    headline metric."""
    results = gap.get("results") if isinstance(gap, dict) else None
    if not isinstance(results, dict):
        return None
    metric = next(
        (m for m in UNITS if any(_num(r.get(m)) for r in results.values() if isinstance(r, dict))), None
    )
    if metric is None:
        return None
    label, unit, scale, higher = UNITS[metric]
    base = results.get("synthetic", {}).get(metric)
    rows = []
    for name, r in results.items():
        if not isinstance(r, dict) or not _num(r.get(metric)):
            continue
        mean, std = scale * float(r[metric]), scale * float(r.get(f"{metric}_std") or 0.0)
        value = f"{mean:.1f}" + (f" ± {std:.1f}" if std >= 0.05 else "") + unit
        change = ""
        if _num(base) and name != "synthetic":
            delta = mean - scale * float(base)
            better = delta if higher else -delta
            change = f"{'+' if delta >= 0 else '−'}{abs(delta):.1f}{' pp' if unit == ' %' else unit}"
            change += " better" if better > 0 else " worse" if better < 0 else ""
        closed = (
            f"{100 * r['gap_closed']:.0f} %"
            if _num(r.get("gap_closed")) and name not in ("synthetic", "real")
            else ""
        )
        rows.append(Headline(name, value, change, closed, mean, std))
    return metric, f"{label} ({unit.strip()})", rows


def headline_figure(label: str, rows: list[Headline]) -> Figure:
    """Bars of each row's mean with its std as error bars; synthetic and real drawn as reference lines."""
    fig = Figure(figsize=(max(4.0, 0.75 * len(rows) + 1.5), 3.2), layout="constrained")
    ax = fig.subplots()
    xs = np.arange(len(rows))
    colours = ["#9e9e9e" if r.name in ("synthetic", "real") else "#3f7fbf" for r in rows]
    ax.bar(xs, [r.mean for r in rows], yerr=[r.std for r in rows], color=colours, capsize=3)
    for r in rows:
        if r.name in ("synthetic", "real"):
            ax.axhline(r.mean, color="#555", linewidth=0.8, linestyle="--")
    ax.set_xticks(xs, [r.name for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(label)
    low = min(r.mean - r.std for r in rows)
    high = max(r.mean + r.std for r in rows)
    pad = 0.15 * (high - low or 1.0)
    ax.set_ylim(max(0.0, low - pad), high + pad)
    return fig
