"""The query benchmark runs in smoke mode: results and files written are checked, not speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_queries_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "queries.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "queries", "--smoke", "--", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(out.read_text())
    assert {t["name"] for t in document["targets"]} == {
        "per-user query, indexed",
        "per-user query, unindexed",
        "all-users indexed equality",
        "all-users indexed range",
    }
    assert document["files"]["write.two_indexes"]["new"] == 3 * 600
    assert "write.two_indexes/write.no_index" in document["write_ratios"]
