"""What no lost updates cost: versioned writes against unversioned ones, claims, hot keys.

Every figure is a ratio against a baseline measured in the same run, in
interleaved rounds (each round runs every variant, in a rotated order), on
tmpfs where there is one, in CPU time; the median and the min-max of the
per-round ratios are reported.

- ``write``: ``repo.put`` of N new objects, one commit each (the shape of an
  update endpoint), versioned (a compare-and-swap: flock, check, write) against
  the same model without ``version_field``; and one session writing all N.
- ``update``: ``repo.update`` (read, change, compare-and-swap) against a plain
  read-modify-write of an unversioned model, on a local folder.
- ``claims``: claim-and-release cycles per second on the emulated ``modal.Dict``
  (the cross-container part of a versioned write on a Modal Volume), and the
  same cycle's share of a versioned put on an emulated mounted volume.
- ``hot keys``: 8 threads incrementing 3 counters with ``repo.update`` on one
  store: increments per second, local folder and emulated mounted volume,
  against the same threads doing unversioned read-modify-writes (which lose
  updates); lost increments are counted for both.

Run ``python -m benchmarks versions`` (``--smoke`` for the quick run CI uses).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import volstore
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from benchmarks.core.measure import cpu_seconds, rotated
from volstore.modal import volume_claims, volume_store
from volstore.testing import VolumeEmulator

FULL = {"objects": 2000, "rounds": 7, "increments": 40, "claims": 300}
SMOKE = {"objects": 100, "rounds": 2, "increments": 5, "claims": 20}


class Plain(volstore.Model, resource_type="plain-docs"):
    id: str
    user_id: str
    body: str = ""
    count: int = 0


class Versioned(volstore.Model, resource_type="versioned-docs", version_field="version"):
    id: str
    user_id: str
    body: str = ""
    count: int = 0
    version: int = 0


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def docs(model: type[Any], count: int, users: int = 20) -> list[Any]:
    body = "x" * 200
    return [model(id=f"d{i:06d}", user_id=f"user{i % users}", body=body) for i in range(count)]


def bench_writes(root: Path, objects: int, rounds: int) -> dict[str, Any]:
    """Puts and one-session writes, versioned against plain, interleaved."""
    variants: dict[str, Callable[[Path], float]] = {}

    def puts(model: type[Any]) -> Callable[[Path], float]:
        def run(folder: Path) -> float:
            repo = volstore.Store(folder).repository(model)
            items = docs(model, objects)
            return cpu_seconds(lambda: [repo.put(item) for item in items])

        return run

    def session(model: type[Any]) -> Callable[[Path], float]:
        def run(folder: Path) -> float:
            store = volstore.Store(folder)
            items = docs(model, objects)

            def write() -> None:
                with store.session() as s:
                    s.add_all(items)

            return cpu_seconds(write)

        return run

    def updates(model: type[Any], versioned: bool) -> Callable[[Path], float]:
        def run(folder: Path) -> float:
            store = volstore.Store(folder)
            repo = store.repository(model)
            items = docs(model, objects // 4)
            repo.put_all(items)

            def bump(doc: Any) -> None:
                doc.count += 1

            def plain_update(doc: Any) -> None:
                current = repo.get_one(doc.user_id, doc.id)
                current.count += 1
                repo.put(current)

            if versioned:
                return cpu_seconds(lambda: [repo.update(d.user_id, d.id, bump) for d in items])
            return cpu_seconds(lambda: [plain_update(d) for d in items])

        return run

    variants = {
        "put.plain": puts(Plain),
        "put.versioned": puts(Versioned),
        "session.plain": session(Plain),
        "session.versioned": session(Versioned),
        "update.plain": updates(Plain, False),
        "update.versioned": updates(Versioned, True),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for rep in range(rounds):
        for name, run in rotated(list(variants.items()), rep):
            folder = root / f"{name}-{rep}"
            times[name].append(run(folder))
            shutil.rmtree(folder)
    ratios = {
        "put.versioned/plain": [
            v / p for v, p in zip(times["put.versioned"], times["put.plain"], strict=True)
        ],
        "session.versioned/plain": [
            v / p for v, p in zip(times["session.versioned"], times["session.plain"], strict=True)
        ],
        "update.versioned/plain": [
            v / p for v, p in zip(times["update.versioned"], times["update.plain"], strict=True)
        ],
    }
    per_object = {
        name: statistics.median(values)
        / (objects // 4 if name.startswith("update") else objects)
        * 1e6
        for name, values in times.items()
    }
    return {
        "us_per_object": per_object,
        "ratios": {name: summary(values) for name, values in ratios.items()},
    }


@contextmanager
def mounted(root: Path, name: str) -> Iterator[volstore.Store]:
    volume = VolumeEmulator(root / "emulator").Volume.from_name(name, create_if_missing=True)
    with volume.mount(background_commit_interval=None) as mount:
        yield volume_store(volume, mount_path=mount.path, mode="mounted")


def bench_claims(root: Path, cycles: int, rounds: int) -> dict[str, Any]:
    """Claim-and-release cycles on the emulated Dict, and a versioned put on a mounted volume."""
    volume = VolumeEmulator(root / "emulator").Volume.from_name("claims", create_if_missing=True)
    claims = volume_claims(volume)
    assert claims is not None
    rates: list[float] = []
    shares: list[float] = []
    with mounted(root, "puts") as store:
        repo = store.repository(Versioned)
        for rep in range(rounds):
            started = time.perf_counter()
            for i in range(cycles):
                claims.release(claims.acquire([f"folder/{rep}/{i}"]))
            cycle = (time.perf_counter() - started) / cycles
            rates.append(1 / cycle)
            items = docs(Versioned, max(10, cycles // 10))
            for i, item in enumerate(items):
                item.id = f"r{rep}-{i}"
            started = time.perf_counter()
            for item in items:
                repo.put(item)
            put = (time.perf_counter() - started) / len(items)
            shares.append(cycle / put)
    return {
        "claim_cycles_per_second": summary(rates),
        "claim_share_of_a_mounted_versioned_put": summary(shares),
        "note": "wall time: the emulated Dict is files and flock, not network round trips",
    }


def hot_keys(
    store: volstore.Store, model: type[Any], threads: int, increments: int
) -> dict[str, Any]:
    """Threads incrementing 3 counters; return increments/s and how many were lost."""
    repo = store.repository(model)
    repo.put_all([model(id=f"k{k}", user_id="hot") for k in range(3)])
    versioned = model is Versioned
    acknowledged = [0] * threads

    def bump(doc: Any) -> None:
        doc.count += 1

    def one(index: int) -> None:
        for i in range(increments):
            key = f"k{(index + i) % 3}"
            if versioned:
                repo.update("hot", key, bump, retries=1000)
            else:
                doc = repo.get_one("hot", key)
                doc.count += 1
                repo.put(doc)
            acknowledged[index] += 1

    pool = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    seconds = time.perf_counter() - started
    stored = sum(d.count for d in repo.list("hot"))
    return {
        "increments_per_second": sum(acknowledged) / seconds,
        "lost": sum(acknowledged) - stored,
    }


def bench_hot_keys(root: Path, increments: int, rounds: int) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {}
    for rep in range(rounds):
        for kind in rotated(["local", "mounted"], rep):
            for model in (Plain, Versioned):
                name = f"{kind}.{'versioned' if model is Versioned else 'plain'}"
                where = root / f"hot-{name}-{rep}"
                if kind == "local":
                    outcome = hot_keys(volstore.Store(where), model, 8, increments)
                else:
                    with mounted(where, "hot") as store:
                        outcome = hot_keys(store, model, 8, increments)
                results.setdefault(name, []).append(outcome)
                shutil.rmtree(where, ignore_errors=True)
    out: dict[str, Any] = {}
    for kind in ("local", "mounted"):
        versioned, plain = results[f"{kind}.versioned"], results[f"{kind}.plain"]
        out[kind] = {
            "versioned_increments_per_second": summary(
                [r["increments_per_second"] for r in versioned]
            ),
            "throughput_versioned/plain": summary(
                [
                    v["increments_per_second"] / p["increments_per_second"]
                    for v, p in zip(versioned, plain, strict=True)
                ]
            ),
            "lost_versioned": sum(r["lost"] for r in versioned),
            "lost_plain": sum(r["lost"] for r in plain),
            "acknowledged_per_run": 8 * increments,
        }
    return out


def main(argv: list[str]) -> int:
    parser = benchmark_parser("bench_versions", __doc__)
    add_size_options(
        parser,
        {
            "objects": "objects per write variant",
            "rounds": "interleaved rounds",
            "increments": "increments per thread in the hot-key runs",
            "claims": "claim cycles per round",
        },
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    root, storage = storage_root(args.dir, prefix="volstore-bench-versions-")
    try:
        results = {
            "config": {**sizes, "mode": mode(args), "storage": storage, "cpus": os.cpu_count()},
            "writes": bench_writes(root, sizes["objects"], sizes["rounds"]),
            "claims": bench_claims(root, sizes["claims"], sizes["rounds"]),
            "hot_keys": bench_hot_keys(root, sizes["increments"], sizes["rounds"]),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"versioned writes: {sizes['objects']} objects, {sizes['rounds']} rounds, {storage}")
    for name, us in results["writes"]["us_per_object"].items():
        print(f"  {name:20s} {us:8.1f} us/object (CPU, median)")
    for name, ratio in results["writes"]["ratios"].items():
        print(f"  {name:26s} {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})")
    claims = results["claims"]
    rate = claims["claim_cycles_per_second"]
    share = claims["claim_share_of_a_mounted_versioned_put"]
    print(
        f"claims on the emulated Dict: {rate['median']:.0f} claim+release/s "
        f"({rate['min']:.0f}-{rate['max']:.0f}); a cycle is {share['median']:.0%} of a mounted "
        "versioned put"
    )
    for kind, figures in results["hot_keys"].items():
        tput = figures["versioned_increments_per_second"]
        ratio = figures["throughput_versioned/plain"]
        print(
            f"hot keys, 8 threads, {kind}: {tput['median']:.0f} increments/s versioned, "
            f"{ratio['median']:.2f}x the unversioned throughput ({ratio['min']:.2f}-"
            f"{ratio['max']:.2f}); lost over all rounds: versioned {figures['lost_versioned']}, "
            f"unversioned {figures['lost_plain']}, of {figures['acknowledged_per_run']} "
            "increments acknowledged per round"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    lost = sum(figures["lost_versioned"] for figures in results["hot_keys"].values())
    if lost:
        print(f"LOST {lost} acknowledged versioned increments", file=sys.stderr)
        return 1
    return 0
