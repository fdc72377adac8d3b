"""Text tables of results: a plain fixed-width table, and the reality-gap table that ``experiment gap`` and
``demo`` print. Functions return text; printing is the caller's business (the CLI, a notebook)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["HEADLINE", "format_table", "gap_table", "format_gap"]

# The metrics the gap table shows per task: (json path, column title, higher is better).
HEADLINE: dict[str, list[tuple[str, str, bool]]] = {
    "classify": [("accuracy", "accuracy", True)],
    "gaze": [("angular_error_deg", "mean error (deg)", False), ("within_deg.7", "% within 7 deg", True)],
    "handpose": [
        ("within_px.5", "% joints within 5 px", True),
        ("frames_within_px.5", "% frames within 5 px", True),
        ("mean_error_px", "mean error (px)", False),
    ],
}
# The unit of the between-repeat disagreement (simgan.eval.label_free) in the column title.
DISAGREEMENT_UNIT = {"classify": "", "gaze": " (deg)", "handpose": " (px)"}


def format_table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain fixed-width table: the header, a rule of dashes, one line per row (no trailing newline)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _get(metrics: dict[str, Any], path: str) -> float | None:
    v: Any = metrics
    for k in path.split("."):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return float(v) if isinstance(v, int | float) else None


def _cell(key: str, mean: float, std: float) -> str:
    if key in ("angular_error_deg", "mean_error_px"):
        return f"{mean:.2f} +/- {std:.2f}"
    return f"{100 * mean:.1f} +/- {100 * std:.1f}"  # fractions shown as percentages


def gap_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the gap table: one row per training set, mean +/- std per metric, the share of
    the gap the row closes (``gap_closed``, when the result has it), and the label-free signals measured on
    the unlabelled real split (``atc_accuracy`` for classifiers, and ``disagreement`` between repeats)."""
    task = result["task_model"]
    cols = HEADLINE[task]
    closed = any("gap_closed" in m for m in result["results"].values())
    atc = any("atc_accuracy" in m for m in result["results"].values())
    main, main_title, _ = cols[0]
    tta = any(f"{main}_tta" in m for m in result["results"].values())
    dis = any("disagreement" in m for m in result["results"].values())
    header = (
        ["training data", "n train"]
        + [title for _, title, _ in cols]
        + ([f"{main_title} with TTA"] if tta else [])
        + (["gap closed"] if closed else [])
        + (["ATC est. (no labels)"] if atc else [])
        + ([f"disagreement{DISAGREEMENT_UNIT[task]} (no labels)"] if dis else [])
    )
    rows = []
    for name, m in result["results"].items():
        cells = [name, f"{m.get('n_train', 0):.0f}"]
        for path, _, _ in cols:
            head, _, d = path.partition(".")
            mean = _get(m, path)
            std = _get(m, f"{head}_std.{d}" if d else f"{head}_std") or 0.0
            cells.append("-" if mean is None else _cell(head, mean, std))
        if tta:
            t, t_std = _get(m, f"{main}_tta"), _get(m, f"{main}_tta_std") or 0.0
            cells.append("-" if t is None else _cell(main, t, t_std))
        if closed:
            g = m.get("gap_closed")
            cells.append("-" if g is None else f"{round(100 * g):d}%")
        if atc:
            a, a_std = m.get("atc_accuracy"), m.get("atc_accuracy_std", 0.0)
            cells.append("-" if a is None else f"{100 * a:.1f} +/- {100 * a_std:.1f}")
        if dis:
            d = m.get("disagreement")
            cells.append("-" if d is None else f"{100 * d:.1f}%" if task == "classify" else f"{d:.2f}")
        rows.append(cells)
    return header, rows


def format_gap(result: dict[str, Any], out: str | Path) -> str:
    """The text ``experiment gap`` prints: the table, the realism and label-preservation lines, the files.

    Args:
        result: what :func:`simgan.experiment.gap.run_gap` returns.
        out: the experiment folder (named in the last line).
    """
    out = Path(out)
    header, rows = gap_table(result)
    lines = [
        "",
        f"reality gap: {result['task']} ({result['task_model']}), real test set, "
        f"mean +/- std over {result['repeats']} repeat(s)",
        "",
        format_table(rows, header),
    ]
    for name, m in result.get("realism", {}).items():
        lines.append(
            f"realism real vs {name}: two-sample acc {m['c2st_accuracy']:.3f} (0.5 = indistinguishable), "
            f"FID {m['fid']:.3f}"
        )
    labels = result.get("labels") or {}
    if "oracle_accuracy_synthetic" in labels:
        lines.append(
            f"label preservation (oracle trained on real labels): synthetic "
            f"{labels['oracle_accuracy_synthetic']:.3f}, refined {labels['oracle_accuracy_refined']:.3f}"
        )
    lines += ["", f"wrote {out / 'gap.json'} and {out / 'report.html'}"]
    return "\n".join(lines)
