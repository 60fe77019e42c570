"""The time-bucket benchmark runs in smoke mode (listings and results are checked, not speed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_events_benchmark_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/bench_events.py", "--smoke"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "folders listed" in result.stdout or "lists" in result.stdout
