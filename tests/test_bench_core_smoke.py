"""The core benchmark runs in smoke mode (speed is not checked here, only that it runs)."""

from __future__ import annotations

import json
from pathlib import Path

from tests._bench import smoke_json


def test_core_benchmark_smoke(tmp_path: Path) -> None:
    data = smoke_json("bench_core", tmp_path / "core.json")
    assert "write.session/atomic_floor" in json.dumps(data)
    rounds = data["config"]["rounds"]
    # Every figure is a per-round ratio, summarised as median and range, never a best-of.
    for name, ratio in data["ratios"].items():
        assert len(ratio["rounds"]) == (
            data["config"]["memory_rounds"] if name.startswith("memory.") else rounds
        ), name
        assert ratio["min"] <= ratio["median"] <= ratio["max"], name
    for name, measured in data["measurements"].items():
        assert measured["unit"] in {"cpu_seconds", "heap_bytes"}, name
        assert all(value > 0 for value in measured["rounds"]), name
    # Every target of issue 10 has a verdict, and the ratios' verdicts follow their medians.
    measures = {target["measure"] for target in data["targets"]}
    assert {
        "write.session/atomic_floor",
        "get.repo_get/raw_read_validate",
        "list.small_store/hand_written",
        "list.spread",
        "commit.loaded_by_get/encode",
        "commit.loaded_by_list/encode",
        "import.peak_heap_mb",
        "memory.session_write/buffer_write",
    } <= measures
    for target in data["targets"]:
        limit = float(target["claim"].split("<=")[1].rstrip("xMB "))
        value = target.get("median", target.get("value"))
        assert target["passed"] == (value <= limit), target
    assert data["missed"] == [t["name"] for t in data["targets"] if not t["passed"]]
    # The bulk import really went through store.writer, in one commit per batch.
    size = data["config"]["import_objects"]
    assert data["facts"][f"import_{size}"]["commits"] == -(-size // data["config"]["batch_size"])
    assert data["config"]["machine"]["cores"] >= 1
    assert data["config"]["storage"]
