"""The query benchmark runs in smoke mode: results and files written are checked, not speed."""

from __future__ import annotations

from pathlib import Path

from tests._bench import smoke_json


def test_queries_benchmark_smoke(tmp_path: Path) -> None:
    document = smoke_json("bench_queries", tmp_path / "queries.json")
    assert {t["name"] for t in document["targets"]} == {
        "per-user query, indexed",
        "per-user query, unindexed",
        "all-users indexed equality",
        "all-users indexed range",
    }
    assert document["files"]["write.two_indexes"]["new"] == 3 * 600
    assert "write.two_indexes/write.no_index" in document["write_ratios"]
