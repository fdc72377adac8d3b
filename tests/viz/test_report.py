"""The static HTML report: sections from whatever a run holds, escaping, relative images, the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from simgan.data import write_png
from simgan.errors import InputError
from simgan.viz.report import build_report, read_stats

EVIL = '<script>alert("x")</script>'


def make_run(run: Path, *, full: bool = True) -> Path:
    """A run folder as train-refiner + experiment + evaluate leave it (``full``), or config + stats only."""
    run.mkdir(parents=True, exist_ok=True)
    config = {"steps": 300, "lambda_reg": 0.5, "note": EVIL, "data": {"real": "/x/<b>real</b>"}}
    (run / "config.json").write_text(json.dumps({**config, "_non_default": {"lambda_reg": 0.5}}))
    with open(run / "stats.jsonl", "w") as f:
        for s in range(0, 300, 10):
            rec = {
                "step": s,
                "phase": "pretrain_R" if s < 100 else "adversarial",
                "loss/R/reg": 1.0 / (s + 1),
            }
            if s >= 100:
                rec |= {"loss/R/adv": 0.7, "loss/D/real": 0.6, "loss/D/refined": 0.65, "acc/D/real": 0.6}
                rec |= {"acc/D/refined": 0.55, "lr/R": 1e-3, "lr/D": 1e-3}
            f.write(json.dumps(rec) + "\n")
        f.write('{"step": 300, "loss/R')  # a torn last line (killed mid-write)
    if not full:
        return run
    rng = np.random.default_rng(0)
    for s in range(0, 400, 50):
        write_png(run / "grids" / f"step_{s:07d}.png", rng.integers(0, 255, (36, 140, 1), dtype=np.uint8))
    curve = {str(d): min(1.0, d / 15) for d in range(21)}
    results = {
        c: {"angular_error_deg": e, "angular_error_deg_std": 0.2, "within_deg": curve}
        for c, e in [("synthetic", 12.1), ("refined", 9.4), (EVIL, 7.0)]
    }
    (run / "gap.json").write_text(json.dumps({"task": "gaze", "results": results}))
    (run / "realism.json").write_text(
        json.dumps({"c2st_accuracy": 0.61, "c2st_ci": [0.57, 0.65], "fid": 3.2})
    )
    (run / "labels.json").write_text(json.dumps({"pupil_shift_px_mean": 1.1, "pupil_shift_px_std": 0.8}))
    write_png(run / "embedding_tsne.png", rng.integers(0, 255, (50, 80, 3), dtype=np.uint8))
    return run


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"] or "")
        if tag == "script":
            self.scripts += 1
            if a.get("src"):
                self.external.append(a["src"])
        if tag == "link":
            self.external.append(a.get("href") or "")


def _parse(page: Path) -> _Tags:
    tags = _Tags()
    tags.feed(page.read_text(encoding="utf-8"))
    return tags


def test_full_run_gives_every_section_with_working_relative_images(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    out = tmp_path / "site" / "report.html"
    summary = build_report(run, out)
    assert summary["sections"] == [
        "headline", "gap", "grids", "curves", "realism", "labels", "embeddings", "config"
    ]  # fmt: skip
    tags = _parse(out)
    # headline bars + curves + 6 of 8 grids + gap curves + embedding
    assert len(tags.imgs) == 10
    for src in tags.imgs:
        assert src.startswith("report_files/") and not re.match(r"^[a-z]+:", src)
        assert (out.parent / unquote(src)).is_file(), src
    grids = sorted(p.name for p in (out.parent / "report_files").glob("grid_*.png"))
    assert grids[0] == "grid_0000000.png" and grids[-1] == "grid_0000350.png" and len(grids) == 6
    html = out.read_text()
    assert "9.4 &plusmn; 0.2" in html and "0.61" in html  # the full table keeps every number
    head = html.split("<h2>")[1]  # the page opens with the headline, in degrees, against synthetic
    assert head.startswith("The reality gap") and "9.4 ± 0.2°" in head and "−2.7° better" in head
    assert html.rindex("<h2>") == html.index("<h2>Configuration")  # and the configuration comes last


def test_strings_from_the_run_are_escaped(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    build_report(make_run(tmp_path / "run"), out)
    html = out.read_text()
    assert EVIL not in html and "<b>real</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html  # config value and condition name
    tags = _parse(out)
    assert tags.scripts == 1 and tags.external == []  # only our inline marker script, nothing fetched


def test_nothing_is_fetched_from_the_network(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    build_report(make_run(tmp_path / "run"), out)
    html = out.read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "default-src 'none'" in html  # the CSP forbids any network load


def test_config_and_stats_only_still_give_a_page(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    summary = build_report(make_run(tmp_path / "run", full=False), out)
    assert summary["sections"] == ["curves", "config"]
    html = out.read_text()
    assert "1 malformed line(s) of stats.jsonl skipped" in html
    assert '<th class="key changed">lambda_reg</th>' in html  # the non-default value is highlighted
    assert '<th class="key">steps</th>' in html
    assert len(_parse(out).imgs) == 1


def test_rebuilding_replaces_stale_images(tmp_path: Path) -> None:
    run, out = make_run(tmp_path / "run"), tmp_path / "r.html"
    build_report(run, out)
    (run / "embedding_tsne.png").unlink()
    build_report(run, out)
    assert not list((tmp_path / "r_files").glob("map_*"))
    assert not list(tmp_path.glob(".r_files.*"))  # no temp folder left behind


def test_experiment_folder_layout(tmp_path: Path) -> None:
    """experiment gap: the refiner run in RUN/refiner/, realism.json keyed by condition."""
    exp = tmp_path / "exp"
    make_run(exp / "refiner")
    (exp / "refiner" / "gap.json").rename(exp / "gap.json")
    realism = {
        name: {"c2st_accuracy": acc, "c2st_ci": [acc - 0.03, acc + 0.03], "fid": fid, "config": {"seed": 0}}
        for name, acc, fid in [("synthetic", 0.944, 2.65), ("refined", 0.871, 1.93)]
    }
    (exp / "realism.json").write_text(json.dumps(realism))
    summary = build_report(exp, tmp_path / "r.html")
    assert {"curves", "grids", "gap", "realism"} <= set(summary["sections"])
    html = (tmp_path / "r.html").read_text()
    assert "<tr><th>refined</th>" in html and "0.871" in html and "[0.841, 0.901]" in html
    assert "max_per_set" not in html and "seed" not in html.split("Realism")[1]  # config left out


def test_read_stats_skips_torn_lines(tmp_path: Path) -> None:
    p = tmp_path / "stats.jsonl"
    p.write_text('{"step": 1, "loss/R/reg": 0.5}\n\n[1, 2]\n{"step": 2')
    records, bad = read_stats(p)
    assert records == [{"step": 1, "loss/R/reg": 0.5}] and bad == 2


def test_bad_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such run folder"):
        build_report(tmp_path / "missing", tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="nothing to report"):
        build_report(tmp_path / "empty", tmp_path / "r.html")
    run = make_run(tmp_path / "run", full=False)
    with pytest.raises(InputError, match=r"\.html"):
        build_report(run, tmp_path / "r.png")
    (run / "gap.json").write_text("{not json")
    with pytest.raises(InputError, match=r"gap\.json: malformed JSON"):
        build_report(run, tmp_path / "r.html")
    assert not list(tmp_path.glob(".r_files.*"))


def test_report_cli(run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", full=False)
    code, out, _ = run_cli("report", run, "--out", tmp_path / "page.html")
    assert code == 0 and "page.html" in out and (tmp_path / "page.html").is_file()
    code, out, _ = run_cli("report", run, "--json")
    assert code == 0 and json.loads(out)["out"] == str(run / "report.html")
    code, _, err = run_cli("report", tmp_path / "nope", "--out", tmp_path / "x.html")
    assert code == 2 and "nope" in err and "no such run folder" in err


def test_a_task_run_shows_its_curves_and_confusion_matrix(tmp_path: Path) -> None:
    run = tmp_path / "task"
    run.mkdir()
    metrics = {"task": "classify", "accuracy": 0.75, "confusion": [[3, 1], [0, 4]], "classes": ["<a>", "b"]}
    (run / "metrics.json").write_text(json.dumps(metrics))
    write_png(run / "curves.png", np.zeros((20, 30, 3), np.uint8))
    out = tmp_path / "r.html"
    assert build_report(run, out)["sections"] == ["metrics", "task"]
    html = out.read_text()
    task = html.split("<h2>Task run</h2>")[1]
    assert "task_curves.png" in task and "&lt;a&gt;" in task  # class names escaped
    assert '<td class="num changed">3</td>' in task and '<td class="num">1</td>' in task  # diagonal marked


def test_grids_name_their_columns_and_tables_say_where_they_come_from(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    make_run(exp / "refiner")
    gap = json.loads((exp / "refiner" / "gap.json").read_text())
    (exp / "gap.json").write_text(json.dumps({**gap, "repeats": 3}))
    (exp / "config.json").write_text(json.dumps({"seed": 7}))
    realism = {"refined": {"c2st_accuracy": 0.8, "c2st_p_value": 1.2e-55, "fid": 1.9}}
    (exp / "realism.json").write_text(json.dumps({**realism, "synthetic": {"c2st_p_value": 0.0421}}))
    build_report(exp, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    grids = html.split("<h2>Refiner samples</h2>")[1].split("<h2>")[0]
    labels = (
        '<div class="cols"><span>synthetic</span><span>refined</span><span>difference</span><span>real</span>'
    )
    assert grids.count(labels) == 6  # above each of the 6 grids shown
    section = html.split("<h2>Realism</h2>")[1].split("<h2>")[0]
    assert "measured on repeat 0 (seed 7) of 3, not averaged" in section
    assert '<div class="wrap">' in section
    assert "&lt; 0.001" in section and "0.042" in section and "1.2e-55" not in section
