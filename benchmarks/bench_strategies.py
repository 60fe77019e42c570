"""Commit strategies: what each costs, what a crash loses, and how volstore compares with peers.

The suite lives in the ``benchmarks.strategies`` package (its docstring lists
the parts); this module is its entry point for the runner:
``python -m benchmarks bench_strategies`` (full: writes ``docs/benchmarks/``),
``--smoke`` (CI), ``--help`` for the options. docs/benchmarks.md explains the
output.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `models` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.strategies.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
