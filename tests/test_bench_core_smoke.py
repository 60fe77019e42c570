"""The core benchmark runs in smoke mode (speed is not checked here, only that it runs)."""

from __future__ import annotations

import json
from pathlib import Path

from tests._bench import smoke_json


def test_core_benchmark_smoke(tmp_path: Path) -> None:
    data = smoke_json("bench_core", tmp_path / "core.json")
    assert "write.session/atomic_floor" in json.dumps(data)
