"""The S3 benchmark runs in smoke mode (speed is not checked here, only that it runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_s3_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "s3.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_s3", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert set(data["ratios"]) == {
        "flush.sequential/parallel (modeled round trip)",
        "flush.sequential/parallel (loopback)",
        "get.s3/local",
        "list.s3/local",
    }
    assert all(ratio["median"] > 0 for ratio in data["ratios"].values())
