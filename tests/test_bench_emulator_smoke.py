"""The emulator benchmark runs in smoke mode (speed is not checked here, only that it runs).

The counters it reports are checked, though: a one-file commit examines about one
entry whatever the volume holds (the speed claim itself is a benchmark ratio).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_emulator_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "emulator.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_emulator", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert set(data["ratios"]) >= {
        "commit_create.big/small",
        "commit_update.big/small",
        "reload.big/small",
        "mount_per_file.big/medium",
    }
    assert data["config"]["inotify"] is True
    examined = data["entries_examined_per_commit"]
    assert examined["small"] <= 2
    assert examined["big"] <= 2
