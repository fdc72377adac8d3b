"""The report's headline: units people use, signed changes that say better or worse, the gap closed."""

from __future__ import annotations

from simgan.viz.headline import headline, headline_figure


def test_accuracy_reads_as_percent_with_the_gap_closed() -> None:
    gap = {
        "results": {
            "synthetic": {"accuracy": 0.744, "accuracy_std": 0.008},
            "refined": {"accuracy": 0.770, "accuracy_std": 0.025, "gap_closed": 0.135},
            "real": {"accuracy": 0.936, "accuracy_std": 0.0},
        }
    }
    metric, label, rows = headline(gap)
    assert metric == "accuracy" and label == "accuracy (%)"
    by = {r.name: r for r in rows}
    assert by["synthetic"].value == "74.4 ± 0.8 %" and by["synthetic"].change == ""
    assert by["refined"].change == "+2.6 pp better" and by["refined"].closed == "14 %"
    assert by["real"].value == "93.6 %"  # no "± 0.0" filler


def test_an_error_that_rises_is_worse() -> None:
    gap = {"results": {"synthetic": {"mean_error_px": 6.11}, "refined": {"mean_error_px": 6.5}}}
    _, label, rows = headline(gap)
    assert (
        label == "mean joint error (px)" and rows[1].value == "6.5 px" and rows[1].change == "+0.4 px worse"
    )
    gaze = {"results": {"synthetic": {"angular_error_deg": 8.72}, "refined": {"angular_error_deg": 8.0}}}
    assert headline(gaze)[2][1].change == "−0.7° better"


def test_no_headline_without_a_task_metric_and_a_figure_with_one() -> None:
    assert headline({"results": {"a": {"n_test": 5}}}) is None and headline({}) is None
    _, label, rows = headline({"results": {"synthetic": {"accuracy": 0.5}, "dann": {"accuracy": 0.6}}})
    fig = headline_figure(label, rows)
    assert len(fig.axes[0].patches) == 2  # one bar per row
