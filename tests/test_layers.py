"""The import rules of docs/architecture.md: each layer imports only the layers below it.

Checked on the source text (every ``import simgan.x`` / ``from simgan.x import``, including imports made
inside functions), so a lazy import cannot hide a wrong-way dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "simgan"

# package (first component under simgan) -> packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "base": {
        "data",
        "sim",
        "nn",
        "losses",
        "adapt",
        "eval",
        "train",
        "refinement",
        "viz",
        "experiment",
        "cli",
    },
    "data": {"sim", "nn", "losses", "adapt", "eval", "train", "refinement", "viz", "experiment", "cli"},
    "sim": {"nn", "losses", "adapt", "eval", "train", "refinement", "viz", "experiment", "cli"},
    "nn": {"sim", "losses", "adapt", "eval", "train", "refinement", "viz", "experiment", "cli"},
    "losses": {"sim", "adapt", "eval", "train", "refinement", "viz", "experiment", "cli"},
    "adapt": {"sim", "eval", "train", "refinement", "viz", "experiment", "cli"},
    "eval": {"train", "refinement", "viz", "experiment", "cli"},
    "train": {"refinement", "viz", "experiment", "cli"},
    "refinement": {"viz", "experiment", "cli"},
    "viz": {"train", "experiment", "cli"},
    "experiment": {"cli"},
    "turing": {"sim", "nn", "losses", "adapt", "eval", "train", "refinement", "viz", "cli"},
    "cli": set(),
}
BASE = {
    "errors",
    "atomic",
    "amp",
    "device",
    "distributed",
    "progress",
    "config",
    "checkpoint",
    "gaze",
    "handpose",
}
BASE |= {"loggers", "__init__"}
ENTRY = {"__main__"}  # ``python -m simgan``: the command line's own layer


def _layer(path: Path) -> str:
    first = path.relative_to(SRC).parts[0].removesuffix(".py")
    return "base" if first in BASE else "cli" if first in ENTRY else first


def _imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "simgan" and len(parts) > 1:
                out.add("base" if parts[1] in BASE else parts[1])
    return out


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


def test_every_module_has_a_layer() -> None:
    assert {_layer(p) for p in MODULES} <= set(FORBIDDEN)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    layer = _layer(path)
    wrong = _imported(path) & FORBIDDEN[layer]
    assert not wrong, f"{path.relative_to(SRC)} ({layer}) imports {sorted(wrong)}"


def test_the_rule_catches_a_wrong_way_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from simgan.cli.common import x\n", encoding="utf-8")
    assert _imported(bad) & FORBIDDEN["experiment"] == {"cli"}
