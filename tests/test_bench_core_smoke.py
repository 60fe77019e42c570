"""The core benchmark runs in smoke mode (speed is not checked here, only that it runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "core.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_core", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert "write.session/atomic_floor" in json.dumps(data)
