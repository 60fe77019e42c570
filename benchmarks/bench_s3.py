"""The S3 benchmark: a session's flush with parallel against sequential uploads; get and list costs.

A real S3-compatible server runs on this machine (SeaweedFS, started through
``volstore.testing.seaweedfs``), and every figure is a ratio of times
measured in the same run, in interleaved rounds (the order rotates from one
round to the next), reported as the median and the min-max of the rounds:

- flush: ``with store.session() as s: s.add_all(objects)`` of 1,000 objects
  (about 350 bytes each) on ``S3Backend(max_concurrency=32)`` against the
  same with ``max_concurrency=1`` (one upload at a time). S3 is
  latency-bound: a PUT to S3 in the same region waits 10 to 50 ms for its
  answer, a PUT to a server on the loopback about 1 ms. So the flush is
  measured twice: with the round trip a network adds, modeled as a wait of
  ``--latency-ms`` (default 10) before each request is sent (a sleep, which
  frees the interpreter as waiting on a socket does), where the target
  parallel >= 4x sequential applies; and on the bare loopback, where
  both the client and the server compete for this machine's cores (shown,
  no target);
- get: ``repo.get(user, id)`` of 200 objects, S3 (loopback) against the local
  backend on tmpfs;
- list: ``repo.list(user)`` of users of 100 objects, S3 (loopback) against the
  local backend; and with the modeled round trip, the objects fetched in
  parallel (``max_concurrency``) against one at a time.

Run ``python -m benchmarks bench_s3`` (``--smoke`` for the quick run CI uses;
``--help`` for the options).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import volstore
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from models import Schedule
from volstore.testing.seaweedfs import SeaweedFS, seaweedfs_server

FULL = {"objects": 1_000, "rounds": 3, "latency_ms": 10, "gets": 200, "concurrency": 32}
SMOKE = {"objects": 40, "rounds": 1, "latency_ms": 2, "gets": 20, "concurrency": 8}
OBJECTS_PER_USER = 100
BUCKET = "volstore-bench"


@dataclass(frozen=True)
class Target:
    """One claim: the ratio ``name`` at least ``limit``."""

    name: str
    limit: float


TARGETS = (Target("flush.sequential/parallel (modeled round trip)", 4.0),)


@dataclass
class Results:
    """Times (seconds) per measurement and round, and the ratios derived from them."""

    config: dict[str, Any]
    times: dict[str, list[float]] = field(default_factory=dict)
    operations: dict[str, int] = field(default_factory=dict)

    def record(self, name: str, seconds: float, operations: int) -> None:
        self.times.setdefault(name, []).append(seconds)
        self.operations[name] = operations

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def ratio(self, numerator: str, denominator: str) -> dict[str, float]:
        """The median ratio and the min-max of the per-round ratios."""
        rounds = [
            a / b for a, b in zip(self.times[numerator], self.times[denominator], strict=True)
        ]
        return {"median": statistics.median(rounds), "min": min(rounds), "max": max(rounds)}


def make_objects(count: int, salt: str) -> list[Schedule]:
    """``count`` schedules, ``OBJECTS_PER_USER`` per user."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [
        Schedule(
            id=f"s{i:05d}",
            user_id=f"{salt}-user{i // OBJECTS_PER_USER:03d}",
            name=f"nightly report {i}",
            cron="0 3 * * *",
            payload={"recipients": ["ops@example.com"], "format": "pdf", "n": i},
            tags=["reports", "nightly"],
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def with_latency(backend: volstore.Backend, seconds: float) -> None:
    """Wait ``seconds`` before each request is sent: the round trip of a network."""
    if seconds <= 0:
        return

    def wait(**_: Any) -> None:
        time.sleep(seconds)

    backend.client.meta.events.register("before-send.s3", wait)  # type: ignore[attr-defined]


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def flush(server: SeaweedFS, objects: list[Schedule], concurrency: int, latency: float) -> float:
    """One session adding every object to a fresh prefix; the seconds of its ``with`` block."""
    backend = server.backend(
        f"s3://{BUCKET}/flush-{uuid.uuid4().hex[:8]}", max_concurrency=concurrency
    )
    store = volstore.Store(backend, models=[Schedule])
    store.repository(Schedule).get(objects[0].user_id, "warm-up")  # the layout check, the client
    with_latency(backend, latency)

    def session() -> None:
        with store.session() as s:
            s.add_all(objects)

    seconds = timed(session)
    if store.repository(Schedule).ids(objects[-1].user_id) == []:
        raise AssertionError("the flush stored nothing")
    backend.close()
    return seconds


def warm_up(server: SeaweedFS) -> None:
    """The server's first writes to a bucket allocate its storage volumes: not measured."""
    backend = server.backend(f"s3://{BUCKET}/warm-up")
    backend.write_batch({f"w/{i}.json": b"{}" for i in range(64)})
    backend.delete_tree("w")
    backend.close()


def bench_flush(results: Results, server: SeaweedFS, sizes: dict[str, Any]) -> None:
    objects = make_objects(sizes["objects"], "flush")
    latency = sizes["latency_ms"] / 1000
    variants: list[tuple[str, Callable[[], float]]] = [
        ("flush.parallel+rtt", lambda: flush(server, objects, sizes["concurrency"], latency)),
        ("flush.sequential+rtt", lambda: flush(server, objects, 1, latency)),
        ("flush.parallel", lambda: flush(server, objects, sizes["concurrency"], 0)),
        ("flush.sequential", lambda: flush(server, objects, 1, 0)),
    ]
    for round_ in range(sizes["rounds"]):
        shift = round_ % len(variants)
        for name, run in variants[shift:] + variants[:shift]:
            results.record(name, run(), len(objects))


def bench_reads(
    results: Results, server: SeaweedFS, local_root: Path, sizes: dict[str, Any]
) -> None:
    objects = make_objects(max(sizes["gets"], 2 * OBJECTS_PER_USER), "reads")
    url = f"s3://{BUCKET}/reads-{uuid.uuid4().hex[:8]}"
    s3_store = server.store(url, models=[Schedule])
    local_store = volstore.Store(local_root / "reads", models=[Schedule])
    for store in (s3_store, local_store):
        with store.session() as s:
            s.add_all(objects)
    keys = [(obj.user_id, obj.id) for obj in objects[: sizes["gets"]]]
    users = sorted({obj.user_id for obj in objects})

    def gets(store: volstore.Store) -> Callable[[], object]:
        repo = store.repository(Schedule)
        return lambda: [repo.get_one(user, object_id) for user, object_id in keys]

    def lists(store: volstore.Store) -> Callable[[], object]:
        repo = store.repository(Schedule)
        return lambda: [repo.list(user) for user in users]

    def with_round_trip(concurrency: int) -> volstore.Store:
        """A store on the same objects whose every request first waits the modeled round trip."""
        store = volstore.Store(server.backend(url, max_concurrency=concurrency), models=[Schedule])
        store.repository(Schedule).get(users[0], "warm-up")  # the layout check, the client
        with_latency(store.backend, sizes["latency_ms"] / 1000)
        return store

    parallel, sequential = with_round_trip(sizes["concurrency"]), with_round_trip(1)
    variants = [
        ("get.s3", gets(s3_store), len(keys)),
        ("get.local", gets(local_store), len(keys)),
        ("list.s3", lists(s3_store), len(users)),
        ("list.local", lists(local_store), len(users)),
        ("list.parallel+rtt", lists(parallel), len(users)),
        ("list.sequential+rtt", lists(sequential), len(users)),
    ]
    for round_ in range(sizes["rounds"]):
        shift = round_ % len(variants)
        for name, run, operations in variants[shift:] + variants[:shift]:
            results.record(name, timed(run), operations)
    for store in (s3_store, parallel, sequential):
        store.backend.close()


RATIOS = {
    "flush.sequential/parallel (modeled round trip)": (
        "flush.sequential+rtt",
        "flush.parallel+rtt",
    ),
    "flush.sequential/parallel (loopback)": ("flush.sequential", "flush.parallel"),
    "get.s3/local": ("get.s3", "get.local"),
    "list.s3/local": ("list.s3", "list.local"),
    "list.sequential/parallel (modeled round trip)": (
        "list.sequential+rtt",
        "list.parallel+rtt",
    ),
}


def report(results: Results) -> dict[str, dict[str, float]]:
    print(f"{'measurement':<24} {'median':>10} {'min-max':>21} {'per op':>12}")
    for name, times in results.times.items():
        per_op = results.median(name) / results.operations[name]
        spread = f"{min(times) * 1000:.1f}-{max(times) * 1000:.1f} ms"
        print(
            f"{name:<24} {results.median(name) * 1000:>8.1f}ms {spread:>21} "
            f"{per_op * 1000:>10.3f}ms"
        )
    ratios = {name: results.ratio(*pair) for name, pair in RATIOS.items()}
    print()
    for name, ratio in ratios.items():
        print(f"{name:<48} {ratio['median']:6.2f}x  (rounds {ratio['min']:.2f}-{ratio['max']:.2f})")
    return ratios


def main(argv: list[str]) -> int:
    parser = benchmark_parser("bench_s3", __doc__)
    add_size_options(
        parser,
        {
            "objects": "objects in the flushed session",
            "rounds": "interleaved rounds of every measurement",
            "latency_ms": "the modeled network round trip added to each request",
            "gets": "objects read by key per get measurement",
            "concurrency": "max_concurrency of the parallel flush",
        },
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    local_root, storage = storage_root(args.dir, prefix="volstore-bench-s3-")
    results = Results(config={"mode": mode(args), **sizes, "local_storage": storage})
    print(
        f"bench_s3 ({mode(args)}): {sizes['objects']} objects, {sizes['rounds']} rounds, "
        f"modeled round trip {sizes['latency_ms']} ms, local backend on {storage}",
        flush=True,
    )
    try:
        with seaweedfs_server(
            local_root / "seaweedfs", buckets=(BUCKET,), stop_timeout=1.0
        ) as server:
            warm_up(server)
            bench_flush(results, server, sizes)
            bench_reads(results, server, local_root, sizes)
    finally:
        shutil.rmtree(local_root, ignore_errors=True)
    ratios = report(results)
    failed = []
    for target in TARGETS:
        ratio = ratios[target.name]["median"]
        verdict = "ok" if ratio >= target.limit else "MISSED"
        if ratio < target.limit:
            failed.append(target.name)
        print(f"target {target.name} >= {target.limit:g}: {ratio:.2f}x {verdict}")
    if args.json:
        document = {
            "config": results.config,
            "times": results.times,
            "ratios": ratios,
            "targets": {t.name: t.limit for t in TARGETS},
        }
        Path(args.json).write_text(json.dumps(document, indent=2))
    if failed and not args.smoke and not args.no_check:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
