"""The S3 benchmark runs in smoke mode (speed is not checked here, only that it runs)."""

from __future__ import annotations

from pathlib import Path

from tests._bench import smoke_json


def test_s3_benchmark_smoke(tmp_path: Path) -> None:
    data = smoke_json("bench_s3", tmp_path / "s3.json")
    assert set(data["ratios"]) == {
        "flush.sequential/parallel (modeled round trip)",
        "flush.sequential/parallel (loopback)",
        "get.s3/local",
        "list.s3/local",
        "list.sequential/parallel (modeled round trip)",
    }
    assert all(ratio["median"] > 0 for ratio in data["ratios"].values())
