"""Measure the gap without task labels: how real do images look, and did refinement keep the labels?

realism: a classifier two-sample test ("automated visual Turing test": a fresh small CNN learns to tell
A from B on half of a balanced sample; held-out accuracy 0.5 = indistinguishable, with a 95% interval),
plus FID and KID in the feature space of a fixed random-init CNN that simgan builds itself (nothing is
downloaded; the numbers are not comparable to Inception-FID).

labels: match synthetic and refined samples by id. Digits: an oracle classifier reads both versions
(accuracy on each, agreement). Eyes: pupil-centre shift in pixels. Hands: silhouette IoU and depth change
at the labelled joints.
"""

from __future__ import annotations

import argparse
from typing import Any

from simgan.cli.common import ConfigFlags, add_device, add_json, config_overrides, print_json, print_table
from simgan.config import load_config
from simgan.eval.realism import RealismConfig, evaluate_realism
from simgan.experiment.labels import LabelsConfig, evaluate_labels

NAME = "evaluate"
INTERRUPTED = "nothing was half-written: rerun the same command (it starts again)"
ORDER = 50
HELP = "realism (two-sample test, FID/KID) and label preservation of refined images"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="{realism,labels}", required=True)
    fmt = p.formatter_class

    r = sub.add_parser(
        "realism",
        help="two-sample test, FID and KID between two image sets",
        description="Classifier two-sample test (held-out accuracy with a 95% Wilson interval; 0.5 = "
        "indistinguishable) and FID/KID in the space of a fixed random-init CNN (not Inception-FID).",
        formatter_class=fmt,
    )
    r.add_argument("--a", required=True, metavar="DIR", help="first image set (e.g. refined)")
    r.add_argument("--b", required=True, metavar="DIR", help="second image set (e.g. real)")
    r.add_argument("--out", metavar="DIR", help="write DIR/metrics.json")
    rf = ConfigFlags(r, RealismConfig)
    rf.add("--max-per-set", "images per set at most")
    rf.add("--epochs", "two-sample classifier epochs (at least --min-steps steps)")
    rf.add(
        "--steps",
        "two-sample classifier step budget (0: max(--min-steps, epochs x batches)); stops once it fits",
    )
    rf.add(
        "--min-steps", "at least this many classifier steps, whatever the set size (small sets repeat epochs)"
    )
    rf.add(
        "--fit-threshold",
        "training accuracy the classifier must reach before 'indistinguishable' is reported",
    )
    rf.add("--test-fraction", "held-out share of each set")
    rf.add("--seed", "random seed (same seed, same result)")
    add_device(r)
    add_json(r)
    r.set_defaults(_what=_realism)

    lab = sub.add_parser(
        "labels",
        help="does refinement keep the labels? (matched by id)",
        description="Digits: oracle accuracy on synthetic and refined images and their agreement. Eyes: "
        "pupil-centre shift in pixels. Hands: silhouette IoU and depth change at the labelled joints.",
        formatter_class=fmt,
    )
    lab.add_argument("--synthetic", required=True, metavar="DIR", help="the labelled synthetic set")
    lab.add_argument("--refined", required=True, metavar="DIR", help="its refined version (same ids)")
    lab.add_argument(
        "--oracle",
        metavar="DIR_OR_RUN",
        help="digits: labelled real data to train the oracle on, or a train-task run to load "
        "(default: train it on the synthetic set)",
    )
    lab.add_argument(
        "--out", metavar="DIR", help="write DIR/metrics.json (and DIR/oracle/, a trained oracle)"
    )
    lf = ConfigFlags(lab, LabelsConfig)
    lf.add("--max-samples", "pairs measured at most")
    lf.add("--oracle-epochs", "epochs of a trained oracle (at least)")
    lf.add("--oracle-min-steps", "step floor of a trained oracle (0: none)")
    lf.add("--seed", "random seed (same seed, same result)")
    add_device(lab)
    add_json(lab)
    lab.set_defaults(_what=_labels)


def _realism(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_config(RealismConfig, None, config_overrides(args))
    return evaluate_realism(args.a, args.b, cfg, out=args.out, device=args.device, progress=not args.json)


def _labels(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_config(LabelsConfig, None, config_overrides(args))
    return evaluate_labels(
        args.synthetic,
        args.refined,
        cfg,
        oracle=args.oracle,
        out=args.out,
        device=args.device,
        progress=not args.json,
    )


def _rows(result: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for k, v in result.items():
        if k in ("config", "features") or isinstance(v, dict):
            continue
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, list):
            v = "[" + ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in v) + "]"
        rows.append([k, v])
    return rows


def run(args: argparse.Namespace) -> int:
    result = args._what(args)
    if args.json:
        print_json(result)
        return 0
    print_table(_rows(result), ["metric", "value"])
    if "features" in result:
        f = result["features"]
        print(f"\nFID/KID features: {f['network']}; {f['layer']}. {f['note']}.")
    return 0
