"""Experiments that measure the reality gap.

gap     train the task model on synthetic, refined, label-consistent refined, DANN- and self-trained
        (on the unlabelled real images), 4x synthetic, 4x refined and real labelled data; test all of
        them on the same held-out real set (the SimGAN paper's Tables 2-4), mean +/- std over
        --repeats and the share of the gap each row closes. --methods picks rows. With no data
        folders it runs on the embedded default (digits: font renders vs scikit-learn's real
        handwriting; eyes/hands: the pseudo-real target domain).
matrix  train on each dataset, test on each (the cross-domain table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simgan.cli.common import (
    AMP_HELP,
    EQUALIZE_HELP,
    ConfigFlags,
    add_device,
    add_jobs,
    add_json,
    add_seed,
    config_overrides,
    print_json,
    print_table,
    size_arg,
)
from simgan.config import load_config
from simgan.data import source
from simgan.errors import InputError
from simgan.experiment.gap import OPT_IN, ROWS, TASK_OF, GapConfig, RealData, run_gap, with_models
from simgan.experiment.table import format_gap
from simgan.progress import quiet

NAME = "experiment"
HELP = "reality-gap experiments (gap, matrix)"
ORDER = 80


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    fmt = p.formatter_class

    g = sub.add_parser(
        "gap",
        help="synthetic vs refined vs adapted vs real, tested on real data",
        description="The reality-gap table (the paper's Tables 2-4): per row and repeat, simulate, refine "
        "or adapt, train the task network, and test it on real data; mean and std over repeats, the share "
        "of the gap each row closes, and the report. A rerun resumes; --overwrite starts over.",
        formatter_class=fmt,
    )
    g.add_argument("--out", type=Path, default=None, help="output folder (default runs/gap-TASK)")
    g.add_argument("--config", type=Path, help="YAML with GapConfig keys (refiner: and task_model: nested)")
    f = ConfigFlags(g, GapConfig)
    f.add("--task", "simulator / task", choices=sorted(TASK_OF))
    f.add("--n-synthetic", "synthetic training images per repeat")
    f.add("--scale", "data-scaling factor of the *_4x rows; 0 disables")
    f.add("--n-real", "images per pseudo-real split, eyes/hands")
    f.add("--size", "image HxW", type=size_arg, metavar="HxW", shown="the simulator's")
    f.add("--repeats", "repeats for mean +/- std")
    f.add("--refiner-steps", "refiner adversarial iterations", field="refiner.steps")
    f.add("--lambda-reg", "self-regularization weight lambda", field="refiner.lambda_reg")
    f.add("--epochs", "task-model epochs", field="task_model.epochs")
    g.add_argument("--real-unlabeled", help="your unlabelled real images (for the refiner)")
    g.add_argument("--real-labeled", help="your labelled real images (the 'real' upper-bound row)")
    g.add_argument("--real-test", help="your labelled real test images")
    g.add_argument("--synthetic", help="your own synthetic set instead of the simulator's")
    g.add_argument("--refiner", help="a trained refiner RUN to use instead of training one")
    f.add(
        "--methods",
        f"comma-separated rows to run, from {','.join(ROWS)} (synthetic and real always run; all but "
        f"{','.join(OPT_IN)} by default)",
        type=lambda t: [m.strip() for m in t.split(",") if m.strip()],
        metavar="ROWS",
        shown="all",
    )
    f.add("--noise-channels", "refined_samples: K noise maps at the stochastic refiner's input")
    f.add("--consistent-lambda-reg", "refined_consistent: the consistent refiner's lambda")
    f.add("--lambda-consistency", "refined_consistent: weight of the consistency loss")
    f.add(
        "--tta",
        "also score every row with 10-crop test-time augmentation",
        field="task_model.tta",
        const=True,
    )
    f.add("--no-realism", "skip the realism / label-preservation checks", field="realism", const=False)
    g.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=AMP_HELP + ", for the refiners and the task models (default: the config's, on)",
    )
    g.add_argument(
        "--equalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=EQUALIZE_HELP + ", in the refiners and the task models (default: the config's; auto: eyes)",
    )
    g.add_argument("--overwrite", action="store_true", help="delete OUT first")
    add_jobs(g, "1")
    f.add("--seed", "base seed; repeat r uses seed + r")
    add_device(g)
    add_json(g)

    m = sub.add_parser(
        "matrix",
        help="train on each dataset, test on each",
        description="The cross-domain matrix: a task network trained on each --data set (its train split) "
        "is tested on the test split of every set; the diagonal is in-domain.",
        formatter_class=fmt,
    )
    m.add_argument("--task", choices=source.TASKS, required=True)
    m.add_argument("--data", action="append", required=True, metavar="NAME=DIR", help="a labelled dataset")
    m.add_argument("--out", type=Path, default=Path("runs/matrix"), help="output folder")
    m.add_argument("--epochs", type=int, default=10, help="epochs per model")
    m.add_argument("--test-fraction", type=float, default=0.3, help="held-out share of each dataset")
    add_seed(m)
    add_json(m)


def gap_config(args: argparse.Namespace) -> GapConfig:
    """GapConfig from defaults, the ``--config`` YAML, then the flags given."""
    cfg = load_config(GapConfig, args.config, config_overrides(args))
    return with_models(cfg, amp=args.amp, equalize=args.equalize)


def run(args: argparse.Namespace) -> int:
    if args.experiment == "matrix":
        from simgan.experiment.matrix import cross_domain_matrix, matrix_rows

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
    log = (lambda *a, **k: None) if args.json or quiet() else print
    result = run_gap(
        cfg,
        out,
        real=real,
        device=args.device,
        progress=not args.json,
        overwrite=args.overwrite,
        log=log,
        workers=args.jobs,
    )
    if args.json:
        print_json({k: v for k, v in result.items() if k != "per_repeat"})
    else:
        print(format_gap(result, out))
    return 0
