"""The visual Turing test of the SimGAN paper (section 3.1, Table 1), served as a page on localhost.

:class:`Study` draws and records the trials (:mod:`~simgan.turing.records` on disk), :class:`TuringServer`
serves the page, :func:`serve_study` does both until Ctrl-C (``simgan turing``), and :func:`score_folder`
scores a study, finished or not (``simgan turing --score``).
"""

from simgan.turing.records import TRUTHS, Answer, Trial, read_answers, read_trials
from simgan.turing.score import format_score, score, score_confusion, score_folder
from simgan.turing.server import DEFAULT_PORT, TuringServer, serve_study
from simgan.turing.study import StaleAnswer, Study

__all__ = [
    "DEFAULT_PORT",
    "TRUTHS",
    "Answer",
    "StaleAnswer",
    "Study",
    "Trial",
    "TuringServer",
    "format_score",
    "read_answers",
    "read_trials",
    "score",
    "score_confusion",
    "score_folder",
    "serve_study",
]
