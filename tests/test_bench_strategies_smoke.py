"""The commit-strategy benchmark's smoke mode runs end to end, so the suite never rots.

It runs in a subprocess, as CI and users run it. Nothing here checks a speed:
only that every part ran and wrote the results it documents.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests._bench import run_benchmark


def test_smoke_mode_runs_every_part_and_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_benchmark("bench_strategies", "--out", str(out), timeout=600)

    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["mode"] == "smoke"
    assert {"latency_s", "per_mb_s"} <= set(doc["config"]["commit_cost"])
    runs = doc["runs"]
    for target in ("local", "emulator"):
        for workload in ("bulk", "requests"):
            stores = {
                r["store"] for r in runs if r["target"] == target and r["workload"] == workload
            }
            assert stores == {"volstore", "seed files", "TinyDB", "SQLite"}
    strategies = {r["strategy"] for r in runs if r["store"] == "volstore"}
    assert strategies == {"per_write", "every_n", "every_t", "one_session", "background"}
    for run in runs:
        assert {"wall_s", "commits", "files_written", "bytes_written", "p50_ms", "p99_ms"} <= set(
            run
        )
        assert {"lost_max", "lost_mean_time", "lost_mean_acks"} <= set(run)
        if run["strategy"] == "per_write":
            assert run["lost_max"] == 0, run  # a commit per write loses nothing acknowledged
    one_session = [r for r in runs if r["strategy"] == "one_session"]
    assert all(r["lost_max"] == r["measured"] - 1 for r in one_session)

    policies = {(r["target"], r["policy"]) for r in doc["mixed"]}
    assert len(policies) == 6
    lost = {r["store"]: r["lost_updates"] for r in doc["two_containers"]}
    assert lost["volstore"] == 0
    assert lost["seed files"] == 0
    assert lost["TinyDB"] > 0
    assert lost["SQLite"] > 0
    assert {k["strategy"] for k in doc["kill"]} == {"background", "every_n"}
    assert set(doc["scaling"]["series"]) == {"volstore", "seed files", "TinyDB", "SQLite"}
    assert len(doc["targets"]) == 4
    assert all({"name", "claim", "ratio", "passed"} <= set(t) for t in doc["targets"])

    for name in ("results.md", "tradeoff.png", "latency.png", "scaling.png"):
        assert (out / name).stat().st_size > 0, name
    for name in ("lost_updates.png", "reload_policies.png"):
        assert (out / name).stat().st_size > 0, name
