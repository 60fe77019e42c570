"""The async benchmark: many concurrent requests in one container, async API against threads.

A web endpoint on Modal serves many requests at once in one container. This
benchmark runs 200 concurrent request-like tasks against one store, each task
making ``requests`` requests in a row; a request is a read by key (70%), a
listing of a user's 20 objects (10%) or a write of one object, committed at
once (20%), on users and keys drawn from a seeded generator:

- async: 200 tasks on one event loop, through ``volstore.aio.AsyncStore``
  (its default pool of worker threads for file I/O);
- threads: the same 200 request loops through the blocking API
  (``volstore.Store``), in a thread pool of 200 threads: the usual way to
  serve blocking code concurrently (what a sync FastAPI route does).

Both run on the same backend kinds: a local folder, and an emulated Modal
Volume mounted in a container (``volstore.testing``; commits copy to the
emulated server as Modal's would publish). Reported per variant: throughput
(requests per second) and the 99th percentile of request latency; and the
ratios async/threads of each, per round. Rounds interleave the variants (the
order rotating), each on a fresh copy of the same seeded store; every figure is
the median of the rounds with the minimum and maximum. For context, the async
rounds also report the event loop's lag (a coroutine ticking every millisecond):
what any other request on that loop waits.

There is no target: the figures describe the trade (see docs/async.md). Run
``python -m benchmarks bench_async`` (``--smoke`` for the quick CI run).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import volstore
import volstore.modal
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from benchmarks.core.measure import rotated
from models import Schedule
from volstore.aio import DEFAULT_THREADS, AsyncStore
from volstore.testing import VolumeEmulator

FULL = {"tasks": 200, "requests": 20, "users": 50, "rounds": 5}
SMOKE = {"tasks": 20, "requests": 3, "users": 5, "rounds": 2}
PER_USER = 20
KINDS = ("local", "mounted")
VARIANTS = ("async", "threads")


@dataclass(frozen=True)
class Request:
    """One request: ``get`` a key, ``list`` a user, or ``put`` a new object."""

    kind: str
    user: str
    object_id: str


def plan_requests(tasks: int, requests: int, users: int, seed: int) -> list[list[Request]]:
    """Each task's requests, drawn from ``seed`` (both variants get the same ones)."""
    draw = random.Random(seed)
    plans = []
    for task in range(tasks):
        plan = []
        for n in range(requests):
            user = f"user-{draw.randrange(users):04d}"
            roll = draw.random()
            if roll < 0.7:
                plan.append(Request("get", user, f"s{draw.randrange(PER_USER):03d}"))
            elif roll < 0.8:
                plan.append(Request("list", user, ""))
            else:
                plan.append(Request("put", user, f"w{task:03d}-{n:03d}"))
        plans.append(plan)
    return plans


def schedule(user: str, object_id: str) -> Schedule:
    return Schedule(
        id=object_id,
        user_id=user,
        name=f"report {object_id}",
        cron="0 9 * * 1-5",
        payload={"url": f"https://example.com/hooks/{user}/{object_id}", "retries": 3},
        tags=["report", "team-1"],
    )


def seed_objects(users: int) -> list[Schedule]:
    return [schedule(f"user-{u:04d}", f"s{i:03d}") for u in range(users) for i in range(PER_USER)]


# -- stores ---------------------------------------------------------------------------


@contextmanager
def backend_of(kind: str, root: Path, users: int) -> Iterator[volstore.Backend]:
    """A fresh backend of ``kind`` under ``root``, seeded with every user's objects."""
    if kind == "local":
        volstore.Store(root / "store").repository(Schedule).put_all(seed_objects(users))
        yield volstore.LocalBackend(root / "store")
        return
    emulator = VolumeEmulator(root / "emulator", background_commit_interval=None)
    volume = emulator.Volume.from_name("bench", create_if_missing=True)
    with volume.mount() as mount:
        backend = volstore.modal.volume_backend(volume, mount_path=mount.path, mode="mounted")
        volstore.Store(backend).repository(Schedule).put_all(seed_objects(users))
        yield backend


# -- the two ways to serve ---------------------------------------------------------------


@dataclass
class Run:
    """One variant's round: how long it took, each request's latency, the loop's lag."""

    seconds: float
    latencies: list[float]
    loop_lags: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def serve_async(backend: volstore.Backend, plans: list[list[Request]]) -> Run:
    """Every task on one event loop, through an AsyncStore."""

    async def main() -> Run:
        store = AsyncStore(backend)
        repo = store.repository(Schedule)
        latencies: list[float] = []
        lags: list[float] = []
        running = True

        async def tick() -> None:
            while running:
                started = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append(time.perf_counter() - started - 0.001)

        async def task(plan: list[Request]) -> None:
            for request in plan:
                started = time.perf_counter()
                await handle_async(repo, request)
                latencies.append(time.perf_counter() - started)

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        await asyncio.gather(*(task(plan) for plan in plans))
        seconds = time.perf_counter() - started
        running = False
        await ticker
        await store.aclose()
        return Run(seconds, latencies, lags)

    return asyncio.run(main())


async def handle_async(repo: volstore.aio.AsyncRepository[Schedule], request: Request) -> None:
    if request.kind == "get":
        if await repo.get(request.user, request.object_id) is None:
            raise AssertionError(f"{request} found nothing")
    elif request.kind == "list":
        if len(await repo.list(request.user)) < PER_USER:
            raise AssertionError(f"{request} listed too little")
    else:
        await repo.put(schedule(request.user, request.object_id))


def serve_threads(backend: volstore.Backend, plans: list[list[Request]]) -> Run:
    """Every task in a thread of a pool as large as there are tasks, through a Store."""
    store = volstore.Store(backend)
    repo = store.repository(Schedule)
    latencies: list[float] = []
    lock = threading.Lock()

    def task(plan: list[Request]) -> None:
        mine = []
        for request in plan:
            started = time.perf_counter()
            handle_blocking(repo, request)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        # Every thread started before the clock starts, as in a warm server.
        barrier = threading.Barrier(len(plans) + 1)
        ready = [pool.submit(barrier.wait) for _ in plans]
        barrier.wait()
        for future in ready:
            future.result()
        started = time.perf_counter()
        for future in [pool.submit(task, plan) for plan in plans]:
            future.result()
        seconds = time.perf_counter() - started
    return Run(seconds, latencies)


def handle_blocking(repo: volstore.Repository[Schedule], request: Request) -> None:
    if request.kind == "get":
        if repo.get(request.user, request.object_id) is None:
            raise AssertionError(f"{request} found nothing")
    elif request.kind == "list":
        if len(repo.list(request.user)) < PER_USER:
            raise AssertionError(f"{request} listed too little")
    else:
        repo.put(schedule(request.user, request.object_id))


SERVERS: dict[str, Callable[[volstore.Backend, list[list[Request]]], Run]] = {
    "async": serve_async,
    "threads": serve_threads,
}


def check_written(backend: volstore.Backend, plans: list[list[Request]], users: int) -> None:
    """Fail unless every write of the round is stored, with the seed objects."""
    repo = volstore.Store(backend).repository(Schedule)
    expected = users * PER_USER + sum(r.kind == "put" for plan in plans for r in plan)
    stored = sum(repo.count(f"user-{u:04d}") for u in range(users))
    if stored != expected:
        raise AssertionError(f"{stored} objects stored, {expected} expected")


# -- rounds and figures ---------------------------------------------------------------------


@dataclass
class Results:
    config: dict[str, Any]
    runs: dict[str, list[Run]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)

    def record(self, name: str, run: Run) -> None:
        self.runs.setdefault(name, []).append(run)

    def summary(self, name: str, figure: Callable[[Run], float]) -> tuple[float, float, float]:
        values = [figure(run) for run in self.runs[name]]
        return statistics.median(values), min(values), max(values)


def bench(results: Results, root: Path, sizes: dict[str, int]) -> None:
    plans = plan_requests(sizes["tasks"], sizes["requests"], sizes["users"], seed=15)
    for round_ in range(sizes["rounds"]):
        for kind in KINDS:
            done: dict[str, Run] = {}
            for variant in rotated(VARIANTS, round_):
                where = root / f"{kind}-{variant}-{round_}"
                with backend_of(kind, where, sizes["users"]) as backend:
                    run = SERVERS[variant](backend, plans)
                    check_written(backend, plans, sizes["users"])
                shutil.rmtree(where, ignore_errors=True)
                results.record(f"{kind}.{variant}", run)
                done[variant] = run
            async_, threads = done["async"], done["threads"]
            results.ratios.setdefault(f"{kind}.throughput.async/threads", []).append(
                async_.throughput / threads.throughput
            )
            results.ratios.setdefault(f"{kind}.p99.async/threads", []).append(
                async_.p99() / threads.p99()
            )


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def report(results: Results) -> None:
    config = results.config
    print(
        f"\nvolstore async benchmark ({config['mode']}): {config['tasks']} concurrent tasks x "
        f"{config['requests']} requests (70% get, 10% list, 20% put+commit), {config['users']} "
        f"users of {PER_USER} objects; {config['rounds']} interleaved rounds, median [min-max]"
    )
    print(
        f"async store: {config['async_threads']} worker threads; threads: a pool of "
        f"{config['tasks']}"
    )
    print(f"storage: {config['storage']}; python {config['python']}\n")
    print(f"{'variant':<18}{'requests/s':>26}{'p99 latency (ms)':>30}{'loop lag p99 (ms)':>24}")
    for name in results.runs:
        rate = results.summary(name, lambda run: run.throughput)
        p99 = results.summary(name, lambda run: run.p99() * 1e3)
        lag = "-"
        if name.endswith(".async"):
            lags = results.summary(name, lambda run: _quantile(run.loop_lags, 0.99) * 1e3)
            lag = f"{lags[0]:.1f} [{lags[1]:.1f}-{lags[2]:.1f}]"
        print(
            f"{name:<18}{rate[0]:>12.0f} [{rate[1]:.0f}-{rate[2]:.0f}]".ljust(44)
            + f"{p99[0]:>12.1f} [{p99[1]:.1f}-{p99[2]:.1f}]".ljust(30)
            + f"{lag:>24}"
        )
    print(f"\n{'ratio (per round)':<36}{'median':>9}   [min-max]")
    for name, values in results.ratios.items():
        median, low, high = spread(values)
        print(f"{name:<36}{median:>8.2f}x   [{low:.2f}-{high:.2f}]")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write_json(path: str, results: Results) -> None:
    def figures(name: str) -> dict[str, Any]:
        runs = results.runs[name]
        return {
            "requests_per_second": [run.throughput for run in runs],
            "p99_seconds": [run.p99() for run in runs],
            "loop_lag_p99_seconds": [_quantile(run.loop_lags, 0.99) for run in runs]
            if name.endswith(".async")
            else None,
        }

    document = {
        "config": results.config,
        "variants": {name: figures(name) for name in results.runs},
        "ratios": {
            name: dict(zip(("median", "min", "max"), spread(values), strict=True))
            for name, values in results.ratios.items()
        },
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str]) -> int:
    """Run the benchmark; it has no target, so it fails only on an error."""
    parser = benchmark_parser("bench_async", __doc__)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    add_size_options(
        parser,
        {
            "tasks": "concurrent request-like tasks (and threads of the blocking pool)",
            "requests": "requests each task makes in a row",
            "users": f"users, each with {PER_USER} objects",
            "rounds": "interleaved rounds of each variant",
        },
    )
    args = parser.parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    if min(sizes.values()) < 1:
        print("bench_async: every size must be at least 1", file=sys.stderr)
        return 2
    root, storage = storage_root(args.dir, prefix="volstore-bench-async-")
    try:
        results = Results(
            config={
                "mode": mode(args),
                **sizes,
                "async_threads": DEFAULT_THREADS,
                "storage": storage,
                "python": sys.version.split()[0],
            }
        )
        bench(results, root, sizes)
        broken = [
            name
            for name, values in results.ratios.items()
            if not all(0 < value < math.inf for value in values)
        ]
        if broken:
            print(f"bench_async: ratios not computed: {', '.join(broken)}", file=sys.stderr)
            return 1
        report(results)
        if args.json:
            write_json(args.json, results)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.smoke:
        print("\nsmoke run: every variant ran and every ratio was computed; speed not checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
