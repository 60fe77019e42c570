"""The versions benchmark runs in smoke mode (speed is not checked here, only that it runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_versions_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "versions.json"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from benchmarks.bench_versions import main; sys.exit(main(sys.argv[1:]))",
            "--smoke",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert set(data["writes"]["ratios"]) == {
        "put.versioned/plain",
        "session.versioned/plain",
        "update.versioned/plain",
    }
    for kind in ("local", "mounted"):
        assert data["hot_keys"][kind]["lost_versioned"] == 0
