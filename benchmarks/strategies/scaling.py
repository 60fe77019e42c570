"""Scaling curves (per-operation cost from 1k to 100k objects) and the targets: ratios
against baselines measured in the same run."""

from __future__ import annotations

import gc
import os
import random
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import volstore
from benchmarks.strategies.config import RESOURCE_TYPE, STORES, Sizes
from benchmarks.strategies.peers import SeedFiles, SQLitePeer, TinyDBPeer, user_hash
from benchmarks.strategies.workloads import fast_write, make_objects
from models import Schedule

# -- scaling: cost per write, get and list from 1k to 100k objects ---------------------------


def measure_ops(ops: list[Callable[[], object]], budget_s: float) -> list[float]:
    """Run ``ops`` in order until done or the budget is spent (at least 3); their times."""
    times = []
    deadline = time.perf_counter() + budget_s
    for op in ops:
        start = time.perf_counter()
        op()
        end = time.perf_counter()
        times.append(end - start)
        if end > deadline and len(times) >= 3:
            break
    return times


def bench_scaling(
    base: Path, sizes: Sizes, log: Callable[[str], None]
) -> dict[str, dict[str, list[float | None]]]:
    """Per-operation time (microseconds) of one-object writes, gets by key and lists of a
    100-object user, for stores of each size, on the local backend.

    Every store of every size is built first; then the sizes are measured in turns,
    round after round, and each figure is the best round's median: a machine that is
    busier at one moment than another does not pass for a store that grew. TinyDB,
    whose operations read or rewrite its whole file, is measured once per size, within
    a time budget.
    """
    rng = random.Random(1)
    fast = ("volstore", "seed files", "SQLite")
    handles: dict[int, dict[str, Any]] = {}
    ops: dict[tuple[int, str, str], list[Callable[[], object]]] = {}
    per_round = {"write": sizes.scaling_writes, "get": sizes.scaling_gets}
    per_round["list"] = sizes.scaling_lists
    for size in sizes.scaling:
        objects = make_objects(size, prefix=f"scale{size}")
        users = sorted({o.user_id for o in objects})
        rounds = sizes.scaling_rounds
        get_keys = [(o.user_id, o.id) for o in objects]
        gets = [rng.choice(get_keys) for _ in range(per_round["get"] * rounds)]
        lists = [rng.choice(users) for _ in range(per_round["list"] * rounds)]
        folder = base / f"scale-{size}"
        fast_write(folder, objects)  # volstore and the seed pattern share the layout
        tiny = TinyDBPeer(base / f"tiny-{size}" / "db.json")
        tiny.write_many(objects)
        lite = SQLitePeer(base / f"sqlite-{size}" / "db.sqlite")
        lite.write_many(objects)
        repo = volstore.Store(folder).repository(Schedule)
        stores: dict[str, Any] = {
            "volstore": repo,
            "seed files": SeedFiles(folder),
            "TinyDB": tiny,
            "SQLite": lite,
        }
        handles[size] = stores
        for store, handle in stores.items():
            # New objects go to existing users (their folders exist), as in a live service.
            new = make_objects(per_round["write"] * rounds, prefix=f"new-{store}")
            new = [
                o.model_copy(update={"user_id": users[i % len(users)]}) for i, o in enumerate(new)
            ]
            write = handle.put if store == "volstore" else handle.write
            ops[size, store, "write"] = [_bind(write, o) for o in new]
            ops[size, store, "get"] = [_bind2(handle.get, u, i) for u, i in gets]
            ops[size, store, "list"] = [_bind(handle.list, u) for u in lists]
    best: dict[tuple[str, str, int], float] = {}
    for rnd in range(sizes.scaling_rounds):
        order = list(sizes.scaling)
        order = order[rnd % len(order) :] + order[: rnd % len(order)]
        for size in order:
            for store in fast:
                for op, count in per_round.items():
                    chunk = ops[size, store, op][rnd * count : (rnd + 1) * count]
                    gc.collect()
                    median = statistics.median(measure_ops(chunk, 1e9)) * 1e6
                    key = (store, op, size)
                    best[key] = min(best.get(key, float("inf")), median)
    for size in sizes.scaling:
        for op, count in per_round.items():
            chunk = ops[size, "TinyDB", op][:count]
            best["TinyDB", op, size] = (
                statistics.median(measure_ops(chunk, sizes.peer_budget_s)) * 1e6
            )
        for store in STORES:
            log(
                f"  {size:>7,} objects  {store:<11}"
                + "  ".join(f"{op} {best[store, op, size]:>10.1f} us" for op in per_round)
            )
        handles[size]["TinyDB"].close()
        handles[size]["SQLite"].close()
    for size in sizes.scaling:
        for name in ("scale", "tiny", "sqlite"):
            shutil.rmtree(base / f"{name}-{size}", ignore_errors=True)
    return {
        store: {op: [best[store, op, size] for size in sizes.scaling] for op in per_round}
        for store in STORES
    }


def _bind(func: Callable[[Any], object], arg: Any) -> Callable[[], object]:
    return lambda: func(arg)


def _bind2(func: Callable[[Any, Any], object], a: Any, b: Any) -> Callable[[], object]:
    return lambda: func(a, b)


# -- the targets: ratios against baselines measured in the same run ------------------------


@dataclass(frozen=True)
class Target:
    name: str
    ratio_name: str
    limit: float
    at_most: bool

    def passes(self, ratio: float) -> bool:
        return ratio <= self.limit if self.at_most else ratio >= self.limit

    def describe(self) -> str:
        return f"{self.ratio_name} {'<=' if self.at_most else '>='} {self.limit:g}"


TARGETS = (
    Target(
        "bulk write in one session vs the atomic floor", "bulk.session/atomic_floor", 1.25, True
    ),
    Target("bulk write: hand-written vs one session", "bulk.hand_written/session", 2.0, False),
    Target("one-object session write, 1k to 100k stored", "scaling.write_spread", 1.3, True),
    Target(
        "get of 10,000 by key vs raw read + validate", "get.repo_get/raw_read_validate", 1.3, True
    ),
)


def bench_targets(base: Path, sizes: Sizes) -> dict[str, float]:
    """Best-of-N times (seconds) of the bulk writers and of the readers, interleaved."""
    objects = make_objects(sizes.bulk, prefix="target")
    payloads = [o.model_dump_json().encode() for o in objects]
    rel = [f"{RESOURCE_TYPE}/{user_hash(o.user_id)}/{o.id}.json" for o in objects]
    folders = sorted({p.rpartition("/")[0] for p in rel})
    best: dict[str, float] = {}

    def record(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    def atomic_floor(target: Path) -> float:
        for f in folders:
            os.makedirs(target / f, exist_ok=True)
        files = []
        for path, data in zip(rel, payloads, strict=False):
            folder, _, name = f"{target}/{path}".rpartition("/")
            files.append((f"{folder}/.{name}.tmp", f"{folder}/{name}", data))
        gc.collect()
        start = time.perf_counter()
        for temp, final, data in files:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(temp, final)
        return time.perf_counter() - start

    def hand_written(target: Path) -> float:
        seed = SeedFiles(target)
        gc.collect()
        start = time.perf_counter()
        for obj in objects:
            seed.write(obj)
        return time.perf_counter() - start

    def session(target: Path) -> float:
        store = volstore.Store(target)
        gc.collect()
        start = time.perf_counter()
        with store.session() as s:
            for obj in objects:
                s.add(obj)
        return time.perf_counter() - start

    writers = [
        ("bulk.atomic_floor", atomic_floor),
        ("bulk.hand_written", hand_written),
        ("bulk.session", session),
    ]
    for rep in range(sizes.repetitions):
        for name, writer in writers[rep % 3 :] + writers[: rep % 3]:
            target = base / f"target-{name}-{rep}"
            record(name, writer(target))
            shutil.rmtree(target)

    store_root = base / "target-read"
    fast_write(store_root, objects)
    repo = volstore.Store(store_root).repository(Schedule)
    keys = [(o.user_id, o.id) for o in objects]
    paths = [f"{store_root}/{p}" for p in rel]

    def raw_read_validate() -> float:
        gc.collect()
        start = time.perf_counter()
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                data = os.read(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            Schedule.model_validate_json(data)
        return time.perf_counter() - start

    def repo_get() -> float:
        gc.collect()
        start = time.perf_counter()
        for user_id, object_id in keys:
            repo.get(user_id, object_id)
        return time.perf_counter() - start

    if repo.get(*keys[-1]) != objects[-1]:
        raise AssertionError("repo.get did not return the object written")
    readers = [("get.raw_read_validate", raw_read_validate), ("get.repo_get", repo_get)]
    for rep in range(sizes.repetitions + 1):
        for name, reader in readers[rep % 2 :] + readers[: rep % 2]:
            record(name, reader())
    shutil.rmtree(store_root)
    return best


def compute_ratios(best: dict[str, float], scaling: dict[str, Any]) -> dict[str, float]:
    writes = [v for v in scaling["volstore"]["write"] if v]
    return {
        "bulk.session/atomic_floor": best["bulk.session"] / best["bulk.atomic_floor"],
        "bulk.hand_written/session": best["bulk.hand_written"] / best["bulk.session"],
        "scaling.write_spread": max(writes) / min(writes) if writes else 1.0,
        "get.repo_get/raw_read_validate": best["get.repo_get"] / best["get.raw_read_validate"],
    }
