"""A visual Turing test (the SimGAN paper's Table 1): a page on 127.0.0.1 shows real (--a) and refined
(--b) images one at a time, N of each in random order, and asks "real or refined?" (keys R/1/left for
real, F/2/right for refined). Each answer is saved to RUN/answers.jsonl as it is given: close the page or
stop the server (Ctrl-C) at any time, and the same command resumes the same study. Images are served
under random tokens, so no address or name gives the answer away.

--score RUN prints accuracy, its 95% Clopper-Pearson interval, the two-sided binomial p-value against
chance (0.5) and the confusion table, for a finished study or one still running. See docs/turing.md.
"""

from __future__ import annotations

import argparse

from simgan.cli.common import add_seed, print_json
from simgan.errors import InputError
from simgan.turing import DEFAULT_PORT, TuringServer, format_score, score_folder, serve_study
from simgan.turing.study import Study

NAME = "turing"
ORDER = 55
HELP = "visual Turing test: people tell real from refined images on a local page; --score scores it"
INTERRUPTED = "every answer given is kept: rerun the same command to resume"

_SERVE_FLAGS = ("a", "b", "out", "n", "port")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--a", metavar="REAL", help="the real images (any dataset layout simgan reads)")
    p.add_argument("--b", metavar="REFINED", help="the refined images (same size, channels and bit depth)")
    p.add_argument(
        "--out", metavar="RUN", help="the study folder (trials, answers; resumed when it holds one)"
    )
    p.add_argument(
        "--n", type=int, metavar="N", help="images shown from each set (default: 50, as in the paper)"
    )
    p.add_argument(
        "--port",
        type=int,
        metavar="P",
        help=f"port on 127.0.0.1; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    p.add_argument("--score", metavar="RUN", help="score the study in RUN instead of serving one (no server)")
    add_seed(p)
    p.add_argument("--json", action="store_true", help="with --score: print the score as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    if args.score is not None:
        given = [f"--{k}" for k in _SERVE_FLAGS if getattr(args, k) is not None]
        if given:
            raise InputError(f"--score RUN stands alone: leave out {', '.join(given)}")
        result = score_folder(args.score)
        if args.json:
            print_json(result)
        else:
            print(format_score(result))
        return 0
    if args.json:
        raise InputError("--json goes with --score RUN (serving prints the address, not a score)")
    missing = [f"--{k}" for k in ("a", "b", "out") if getattr(args, k) is None]
    if missing:
        raise InputError(
            f"missing {', '.join(missing)}: serving a study needs --a REAL --b REFINED --out RUN"
        )

    def ready(server: TuringServer, study: Study) -> None:
        print(f"simgan turing: {study.describe()}")
        print(f"open {server.url} in a browser; Ctrl-C stops (rerun the same command to resume)", flush=True)

    study = serve_study(
        args.a,
        args.b,
        args.out,
        n=50 if args.n is None else args.n,
        seed=args.seed,
        port=DEFAULT_PORT if args.port is None else args.port,
        on_ready=ready,
    )
    state = "complete" if study.complete else "rerun the same command to resume"
    print(
        f"\nstopped: {study.answered} of {len(study.trials)} answered ({state}); "
        f"simgan turing --score {args.out} prints the score"
    )
    return 0
