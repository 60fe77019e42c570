"""The versions benchmark runs in smoke mode (speed is not checked here, only that it runs)."""

from __future__ import annotations

from pathlib import Path

from tests._bench import smoke_json


def test_versions_benchmark_smoke(tmp_path: Path) -> None:
    data = smoke_json("bench_versions", tmp_path / "versions.json")
    assert set(data["writes"]["ratios"]) == {
        "put.versioned/plain",
        "session.versioned/plain",
        "update.versioned/plain",
    }
    for kind in ("local", "mounted"):
        assert data["hot_keys"][kind]["lost_versioned"] == 0
