"""The time-bucket benchmark runs in smoke mode (listings and results are checked, not speed)."""

from __future__ import annotations

from tests._bench import run_benchmark


def test_events_benchmark_smoke() -> None:
    result = run_benchmark("bench_events")
    assert "folders listed" in result.stdout or "lists" in result.stdout
