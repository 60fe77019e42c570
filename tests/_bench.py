"""Running a benchmark in smoke mode from a test: one home for the subprocess call.

A smoke run checks that every part of a benchmark runs and writes its results;
it never checks speed (timed assertions do not belong in tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_MAIN = "import sys; from importlib import import_module; "
_MAIN += "sys.exit(import_module(sys.argv[1]).main(sys.argv[2:]))"


def run_benchmark(
    module: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks.<module>`` with ``--smoke`` and ``args``; fail the test if it fails.

    ``timeout`` is a hang guard, not a speed check.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", _MAIN, f"benchmarks.{module}", "--smoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def smoke_json(module: str, out: Path, *args: str) -> Any:
    """Run the benchmark in smoke mode with ``--json out``; return what it wrote."""
    run_benchmark(module, "--json", str(out), *args)
    return json.loads(out.read_text())
