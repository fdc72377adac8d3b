"""Run every benchmark module here (`python -m benchmarks`), or those whose names match the arguments."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def main(argv: list[str]) -> int:
    names = [m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")]
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    if not chosen:
        print("no benchmarks found" + (f" matching {argv}" if argv else ""))
        return 0
    for name in sorted(chosen):
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
