"""The emulator benchmark runs in smoke mode (speed is not checked here, only that it runs).

The counters it reports are checked, though: a one-file commit examines about one
entry whatever the volume holds (the speed claim itself is a benchmark ratio).
"""

from __future__ import annotations

from pathlib import Path

from tests._bench import smoke_json


def test_emulator_benchmark_smoke(tmp_path: Path) -> None:
    data = smoke_json("bench_emulator", tmp_path / "emulator.json")
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
