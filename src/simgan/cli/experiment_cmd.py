"""Experiments that measure the reality gap.

gap     train the task model on synthetic, refined, 4x synthetic, 4x refined and real labelled data;
        test all of them on the same held-out real set (the SimGAN paper's Tables 2-4), mean +/- std
        over --repeats. With no data folders it runs on the embedded default (digits: font renders vs
        scikit-learn's real handwriting; eyes/hands: the pseudo-real target domain).
matrix  train on each dataset, test on each (the cross-domain table).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from simgan.cli.common import add_device, add_json, add_seed, print_json, print_table, size_arg
from simgan.config import load_config
from simgan.errors import InputError
from simgan.experiment.gap import TASK_OF, GapConfig, RealData, gap_table, run_gap

NAME = "experiment"
HELP = "reality-gap experiments (gap, matrix)"
ORDER = 80


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    fmt = argparse.ArgumentDefaultsHelpFormatter

    g = sub.add_parser("gap", help="synthetic vs refined vs real, tested on real data", formatter_class=fmt)
    g.add_argument("--task", choices=sorted(TASK_OF), help="simulator / task (default digits)")
    g.add_argument("--out", type=Path, default=None, help="output folder (default runs/gap-TASK)")
    g.add_argument("--config", type=Path, help="YAML with GapConfig keys (refiner: and task_model: nested)")
    g.add_argument("--n-synthetic", type=int, help="synthetic training images per repeat (default 2000)")
    g.add_argument("--scale", type=int, help="data-scaling factor of the *_4x rows; 0 disables (default 4)")
    g.add_argument("--n-real", type=int, help="images per pseudo-real split, eyes/hands (default 2000)")
    g.add_argument("--size", type=size_arg, help="image HxW (default: the simulator's)")
    g.add_argument("--repeats", type=int, help="repeats for mean +/- std (default 3)")
    g.add_argument("--refiner-steps", type=int, help="refiner adversarial iterations")
    g.add_argument("--lambda-reg", type=float, help="self-regularization weight lambda")
    g.add_argument("--epochs", type=int, help="task-model epochs")
    g.add_argument("--real-unlabeled", help="your unlabelled real images (for the refiner)")
    g.add_argument("--real-labeled", help="your labelled real images (the 'real' upper-bound row)")
    g.add_argument("--real-test", help="your labelled real test images")
    g.add_argument("--synthetic", help="your own synthetic set instead of the simulator's")
    g.add_argument("--refiner", help="a trained refiner RUN to use instead of training one")
    g.add_argument("--no-realism", action="store_true", help="skip the realism / label-preservation checks")
    g.add_argument("--overwrite", action="store_true", help="delete OUT first")
    add_seed(g)
    add_device(g)
    add_json(g)

    m = sub.add_parser("matrix", help="train on each dataset, test on each", formatter_class=fmt)
    m.add_argument("--task", choices=sorted(set(TASK_OF.values())), required=True)
    m.add_argument("--data", action="append", required=True, metavar="NAME=DIR", help="a labelled dataset")
    m.add_argument("--out", type=Path, default=Path("runs/matrix"), help="output folder")
    m.add_argument("--epochs", type=int, default=10, help="epochs per model")
    m.add_argument("--test-fraction", type=float, default=0.3, help="held-out share of each dataset")
    add_seed(m)
    add_json(m)


def gap_config(args: argparse.Namespace, base: GapConfig | None = None) -> GapConfig:
    """GapConfig from defaults (or ``base``), ``--config`` YAML, then flags."""
    cfg = load_config(GapConfig, args.config) if getattr(args, "config", None) else (base or GapConfig())
    top = {
        "task": args.task,
        "n_synthetic": args.n_synthetic,
        "scale": args.scale,
        "n_real": args.n_real,
        "size": tuple(args.size) if args.size else None,
        "repeats": args.repeats,
        "seed": args.seed,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in top.items() if v is not None})
    refiner: dict[str, object] = {"steps": args.refiner_steps, "lambda_reg": args.lambda_reg}
    cfg = dataclasses.replace(
        cfg, refiner=dataclasses.replace(cfg.refiner, **{k: v for k, v in refiner.items() if v is not None})
    )
    if args.epochs is not None:
        cfg = dataclasses.replace(cfg, task_model=dataclasses.replace(cfg.task_model, epochs=args.epochs))
    if args.no_realism:
        cfg = dataclasses.replace(cfg, realism=False)
    return cfg


def print_gap(result: dict, out: Path) -> None:
    header, rows = gap_table(result)
    print(
        f"\nreality gap: {result['task']} ({result['task_model']}), real test set, "
        f"mean +/- std over {result['repeats']} repeat(s)\n"
    )
    print_table(rows, header)
    for name, m in result.get("realism", {}).items():
        print(
            f"realism real vs {name}: two-sample acc {m['c2st_accuracy']:.3f} (0.5 = indistinguishable), "
            f"FID {m['fid']:.3f}"
        )
    labels = result.get("labels") or {}
    if "oracle_accuracy_synthetic" in labels:
        print(
            f"label preservation (oracle trained on real labels): synthetic "
            f"{labels['oracle_accuracy_synthetic']:.3f}, refined {labels['oracle_accuracy_refined']:.3f}"
        )
    print(f"\nwrote {out / 'gap.json'} and {out / 'report.html'}")


def run(args: argparse.Namespace) -> int:
    if args.experiment == "matrix":
        from simgan.eval.matrix import cross_domain_matrix, matrix_rows

        datasets = {}
        for item in args.data:
            name, sep, folder = item.partition("=")
            if not sep or not name or not folder:
                raise InputError(f"--data {item!r}: expected NAME=DIR")
            datasets[name] = folder
        result = cross_domain_matrix(
            args.task,
            datasets,
            args.out,
            epochs=args.epochs,
            seed=args.seed,
            test_fraction=args.test_fraction,
            progress=not args.json,
        )
        if args.json:
            print_json(result)
        else:
            header, rows = matrix_rows(result)
            print_table(rows, header)
        return 0
    cfg = gap_config(args)
    out = args.out or Path(f"runs/gap-{cfg.task}")
    real = RealData(args.real_unlabeled, args.real_labeled, args.real_test, args.synthetic, args.refiner)
    log = (lambda *a, **k: None) if args.json else print
    result = run_gap(
        cfg, out, real=real, device=args.device, progress=not args.json, overwrite=args.overwrite, log=log
    )
    if args.json:
        print_json({k: v for k, v in result.items() if k != "per_repeat"})
    else:
        print_gap(result, out)
    return 0
