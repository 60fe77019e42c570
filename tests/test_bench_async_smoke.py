"""The async benchmark runs in smoke mode (speed is not checked here, only that it runs).

Every variant serves every request (each round checks that every write is
stored), and every ratio is computed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_async_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "async.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_async", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert set(data["variants"]) == {
        "local.async",
        "local.threads",
        "mounted.async",
        "mounted.threads",
    }
    assert set(data["ratios"]) == {
        f"{kind}.{figure}.async/threads"
        for kind in ("local", "mounted")
        for figure in ("throughput", "p99")
    }
    rounds = data["config"]["rounds"]
    assert all(len(v["requests_per_second"]) == rounds for v in data["variants"].values())
    assert all(
        v["loop_lag_p99_seconds"] for k, v in data["variants"].items() if k.endswith("async")
    )
