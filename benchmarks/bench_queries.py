"""The query benchmark: queries and secondary indexes against the loops they replace.

A local store (on tmpfs, ``/dev/shm``, where there is one) holds ``objects``
jobs of ``users`` users (100 each) plus one user with ``user_objects`` jobs,
indexed on ``status`` and ``next_run``. In each round, in a rotating order,
it times (CPU time of this process: the machine may be shared):

- ``per_user.list_filter``: ``[j for j in repo.list(u) if j.status == "open"]``;
- ``per_user.query_indexed``: ``repo.query(u).where(status="open").all()``;
- ``per_user.list_filter_plain`` and ``per_user.query_plain``: the same on an
  unindexed field (``priority >= 5``: the query reads the user's folder);
- ``all_users.full_scan``: ``[j for j in repo.scan() if ...]``, the loop a
  query replaces (every object of every user read and validated);
- ``all_users.equality``: ``status == "rare"`` (0.1% of the objects);
- ``all_users.range``: ``next_run`` within one day of a 100-day spread (1%).

Writes: one session writing ``write_objects`` new jobs into a fresh store,
for a model with no index, one, and two (rounds interleaved), and the files
each writes; then an update that changes one indexed value of each job, and
one that changes no indexed value. Their next runs fall within one day (as a
scheduler's do). A fresh store makes every index folder as it goes (one per
hour and shard for ``next_run``); the ``warm`` rows write as many jobs again
into the store that holds the first ones, whose folders exist: what an
application's steady writes cost.

Every figure is a ratio against a baseline of the same round: the report
gives the median and the range (min-max) over the rounds. Targets (issue 14):

- per-user query over one user's 1,000 objects <= 1.2x list + a Python filter
  (indexed and unindexed condition);
- all-users indexed equality returning 100 of 100,000 objects (1,000 users)
  <= 1/100 of a full scan's time; an indexed range returning 1% <= 1/30;
- writes: an index costs one small file per object written, nothing when an
  update leaves its value unchanged (checked exactly); the bulk-write ratios
  with one and two indexes against none are reported.

    python -m benchmarks queries            # full size; exit 1 on a miss
    python -m benchmarks queries --smoke    # small and quick: results checked, not speed
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import AwareDatetime

import volstore
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from benchmarks.core.measure import rotated

FULL = {"objects": 100_000, "users": 1_000, "user_objects": 1_000, "write_objects": 20_000,
        "rounds": 5}  # fmt: skip
SMOKE = {"objects": 4_000, "users": 40, "user_objects": 300, "write_objects": 600, "rounds": 2}
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPREAD_DAYS = 100
HEAVY = "heavy-user"
Status = Literal["open", "done", "rare"]


class Job(volstore.Model, resource_type="jobs", indexes=["status", "next_run"]):
    """A scheduled job: what the benchmark queries."""

    id: str
    user_id: str
    name: str
    status: Status = "open"
    priority: int = 0
    next_run: AwareDatetime
    payload: dict[str, Any] = {}  # noqa: RUF012 - a pydantic default, copied per instance


class JobNoIndex(volstore.Model, resource_type="jobs0"):
    id: str
    user_id: str
    name: str
    status: Status = "open"
    priority: int = 0
    next_run: AwareDatetime
    payload: dict[str, Any] = {}  # noqa: RUF012


class JobOneIndex(volstore.Model, resource_type="jobs1", indexes=["status"]):
    id: str
    user_id: str
    name: str
    status: Status = "open"
    priority: int = 0
    next_run: AwareDatetime
    payload: dict[str, Any] = {}  # noqa: RUF012


class JobTwoIndexes(volstore.Model, resource_type="jobs2", indexes=["status", "next_run"]):
    id: str
    user_id: str
    name: str
    status: Status = "open"
    priority: int = 0
    next_run: AwareDatetime
    payload: dict[str, Any] = {}  # noqa: RUF012


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    baseline: str
    limit: float

    def describe(self) -> str:
        return f"{self.measured} / {self.baseline} <= {_ratio(self.limit)}"


TARGETS = (
    Target("per-user query, indexed", "per_user.query_indexed", "per_user.list_filter", 1.2),
    Target("per-user query, unindexed", "per_user.query_plain", "per_user.list_filter_plain", 1.2),
    Target("all-users indexed equality", "all_users.equality", "all_users.full_scan", 1 / 100),
    Target("all-users indexed range", "all_users.range", "all_users.full_scan", 1 / 30),
)
WRITE_RATIOS = (
    ("write.one_index", "write.no_index"),
    ("write.two_indexes", "write.no_index"),
    ("write.one_index.warm", "write.no_index.warm"),
    ("write.two_indexes.warm", "write.no_index.warm"),
)


@dataclass
class Results:
    config: dict[str, Any]
    seconds: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(self, name: str, seconds: float, count: int) -> None:
        self.seconds.setdefault(name, []).append(seconds)
        self.counts[name] = count

    def ratio(self, measured: str, baseline: str) -> tuple[float, float, float]:
        """Median, min and max of the per-round ratios ``measured / baseline``."""
        ratios = [
            m / b for m, b in zip(self.seconds[measured], self.seconds[baseline], strict=True)
        ]
        return statistics.median(ratios), min(ratios), max(ratios)


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value >= 0.1 else f"1/{1 / value:,.0f}"


def cpu(run: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds of one call of ``run`` (the collector runs before, not during it)."""
    gc.collect()
    start = time.process_time()
    result = run()
    return time.process_time() - start, result


# -- the store ------------------------------------------------------------------------------


def make_jobs(
    model: type[Any], user: str, count: int, rng: random.Random, start: int, days: int = SPREAD_DAYS
) -> list[Any]:
    """``count`` jobs of one user, their next runs spread over ``days`` days from T0."""
    jobs = []
    for i in range(count):
        n = start + i
        jobs.append(
            model(
                id=f"job-{n:07d}",
                user_id=user,
                name=f"nightly export {n}",
                status="open" if rng.random() < 0.5 else "done",
                priority=rng.randrange(10),
                next_run=T0 + timedelta(seconds=rng.randrange(days * 86_400)),
                payload={"url": f"https://example.com/hook/{n}", "retries": 3},
            )
        )
    return jobs


def build(root: Path, sizes: dict[str, int]) -> tuple[volstore.Store, int]:
    """The big store: ``objects`` jobs of ``users`` users, 0.1% "rare", and the heavy user."""
    rng = random.Random(14)
    store = volstore.Store(root)
    per_user = max(1, sizes["objects"] // sizes["users"])
    jobs = []
    for u in range(sizes["users"]):
        jobs.extend(make_jobs(Job, f"user-{u:05d}", per_user, rng, u * per_user))
    rare = max(1, len(jobs) // 1000)
    for job in rng.sample(jobs, rare):
        job.status = "rare"
    jobs.extend(make_jobs(Job, HEAVY, sizes["user_objects"], rng, len(jobs)))
    for start in range(0, len(jobs), 5_000):
        with store.session() as session:
            session.add_all(jobs[start : start + 5_000])
    return store, rare


# -- the measurements -------------------------------------------------------------------------


def bench_reads(results: Results, store: volstore.Store, rare: int, rounds: int) -> list[str]:
    repo = store.repository(Job)
    day = T0 + timedelta(days=SPREAD_DAYS // 2)
    next_day = day + timedelta(days=1)
    variants: dict[str, Callable[[], list[Job]]] = {
        "per_user.list_filter": lambda: [j for j in repo.list(HEAVY) if j.status == "open"],
        "per_user.query_indexed": lambda: repo.query(HEAVY).where(status="open").all(),
        "per_user.list_filter_plain": lambda: [j for j in repo.list(HEAVY) if j.priority >= 5],
        "per_user.query_plain": lambda: repo.query(HEAVY).where(priority__gte=5).all(),
        "all_users.full_scan": lambda: sorted(
            (j for j in repo.scan() if j.status == "rare"), key=lambda j: (j.id, j.user_id)
        ),
        "all_users.equality": lambda: repo.query(all_users=True).where(status="rare").all(),
        "all_users.range": lambda: (
            repo.query(all_users=True)
            .where(lambda j: (j.next_run >= day) & (j.next_run < next_day))
            .all()
        ),
    }
    found: dict[str, list[Job]] = {}
    for round_ in range(rounds):
        for name in rotated(list(variants), round_):
            seconds, result = cpu(variants[name])
            assert isinstance(result, list)
            results.record(name, seconds, len(result))
            found[name] = result
    # The answers, against plain Python over everything.
    everything = sorted(repo.scan(), key=lambda j: (j.id, j.user_id))
    failures = []
    expected = {
        "per_user.query_indexed": found["per_user.list_filter"],
        "per_user.query_plain": found["per_user.list_filter_plain"],
        "all_users.equality": [j for j in everything if j.status == "rare"],
        "all_users.range": [j for j in everything if day <= j.next_run < next_day],
    }
    for name, want in expected.items():
        if found[name] != want:
            failures.append(
                f"{name} returned {len(found[name])} objects, not the {len(want)} wanted"
            )
    if len(expected["all_users.equality"]) != rare:
        failures.append(f"the store holds {len(expected['all_users.equality'])} rare jobs")
    return failures


def bench_writes(results: Results, root: Path, sizes: dict[str, int]) -> list[str]:
    """Sessions writing new jobs, then updating them, for 0, 1 and 2 indexes, interleaved."""
    count = sizes["write_objects"]
    models: dict[str, type[Any]] = {
        "write.no_index": JobNoIndex,
        "write.one_index": JobOneIndex,
        "write.two_indexes": JobTwoIndexes,
    }
    failures = []
    for round_ in range(sizes["rounds"]):
        for name in rotated(list(models), round_):
            model = models[name]
            rng = random.Random(round_)
            jobs = [j for u in range(max(1, count // 100)) for j in make_jobs(
                model, f"writer-{u}", 100, rng, u * 100, days=1)]  # fmt: skip
            target = root / f"{name}-{round_}"
            store = volstore.Store(target)
            store.register(model)

            def write(store: volstore.Store = store, jobs: list[Any] = jobs) -> None:
                with store.session() as session:
                    session.add_all(jobs)

            seconds, _ = cpu(write)
            results.record(name, seconds, len(jobs))
            more = [j for u in range(max(1, count // 100)) for j in make_jobs(
                model, f"writer-{u}", 100, rng, (u + 1000) * 100, days=1)]  # fmt: skip
            seconds, _ = cpu(lambda store=store, more=more: write(store, more))  # type: ignore[misc]
            results.record(f"{name}.warm", seconds, len(more))
            indexes = len(volstore.spec_of(model).indexes)
            files = {"new": store.stats.writes // 2}
            if files["new"] != len(jobs) * (1 + indexes):
                failures.append(f"{name}: {files['new']} files for {len(jobs)} new objects")
            jobs = [*jobs, *more]
            files["objects"] = len(jobs)
            before = store.stats.writes, store.stats.deletes
            with store.session() as session:
                for job in session.repository(model).query(all_users=True).all():
                    job.priority += 1  # no indexed value changes
            files["unchanged_value"] = store.stats.writes - before[0]
            before = store.stats.writes, store.stats.deletes
            with store.session() as session:
                for job in session.repository(model).query(all_users=True).all():
                    job.status = "done" if job.status == "open" else "open"
            files["changed_value"] = store.stats.writes - before[0]
            files["changed_value_deletes"] = store.stats.deletes - before[1]
            want = (len(jobs), len(jobs) * (1 + min(indexes, 1)), len(jobs) * min(indexes, 1))
            got = (files["unchanged_value"], files["changed_value"], files["changed_value_deletes"])
            if got != want:
                failures.append(f"{name}: updates wrote/deleted {got}, expected {want}")
            results.files[name] = files
            shutil.rmtree(target)
    return failures


# -- the report --------------------------------------------------------------------------------


def report(results: Results, check: bool) -> list[str]:
    config = results.config
    print(
        f"\nvolstore query benchmark ({config['mode']}): {config['objects']:,} jobs of "
        f"{config['users']:,} users, a user with {config['user_objects']:,}; writes of "
        f"{config['write_objects']:,} jobs; {config['rounds']} rounds; CPU time"
    )
    print(f"storage: {config['storage']}; python {config['python']}\n")
    print(f"{'measurement':<28}{'median':>11}{'min':>11}{'max':>11}{'objects':>9}")
    for name, times in results.seconds.items():
        print(
            f"{name:<28}{statistics.median(times) * 1e3:>8.1f} ms{min(times) * 1e3:>8.1f} ms"
            f"{max(times) * 1e3:>8.1f} ms{results.counts[name]:>9,}"
        )
    missed = []
    print(f"\n{'target':<30}{'claim':<62}{'median':>9}  {'range':<20} verdict")
    for target in TARGETS:
        median, low, high = results.ratio(target.measured, target.baseline)
        ok = median <= target.limit
        if not ok:
            missed.append(target.name)
        verdict = ("pass" if ok else "MISS") if check else ("pass" if ok else "miss (unchecked)")
        print(
            f"{target.name:<30}{target.describe():<62}{_ratio(median):>9}  "
            f"{_ratio(low) + ' - ' + _ratio(high):<20} {verdict}"
        )
    print(f"\n{'bulk write (new objects)':<30}{'ratio':<62}{'median':>9}  range")
    for measured, baseline in WRITE_RATIOS:
        median, low, high = results.ratio(measured, baseline)
        print(f"{measured:<30}{measured + ' / ' + baseline:<62}{median:>8.2f}x  "
              f"{low:.2f}x - {high:.2f}x")  # fmt: skip
    print(
        f"\n{'files written per write':<30}{'new':>8}{'unchanged value':>17}{'changed value':>15}"
    )
    for name, files in results.files.items():
        count = files["objects"]
        print(
            f"{name:<30}{2 * files['new'] / count:>8.1f}{files['unchanged_value'] / count:>17.1f}"
            f"{files['changed_value'] / count:>15.1f}  "
            f"(+{files['changed_value_deletes'] / count:.1f} deleted)"
        )
    return missed


def write_json(path: str, results: Results, missed: list[str]) -> None:
    document = {
        "config": results.config,
        "seconds": results.seconds,
        "objects": results.counts,
        "files": results.files,
        "targets": [
            {
                "name": t.name,
                "claim": t.describe(),
                "median_ratio": results.ratio(t.measured, t.baseline)[0],
                "range": results.ratio(t.measured, t.baseline)[1:],
                "passed": t.name not in missed,
            }
            for t in TARGETS
        ],
        "write_ratios": {f"{m}/{b}": results.ratio(m, b)[0] for m, b in WRITE_RATIOS},
    }
    Path(path).write_text(json.dumps(document, indent=2))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = benchmark_parser("bench_queries", __doc__)
    add_size_options(
        parser,
        {
            "objects": "jobs in the big store (default 100,000)",
            "users": "users in the big store (default 1,000)",
            "user_objects": "jobs of the one user the per-user queries read (default 1,000)",
            "write_objects": "jobs each write round writes (default 20,000)",
            "rounds": "rounds of every measurement (default 5)",
        },
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the benchmark; 1 when a result is wrong, or a speed target is missed (not --smoke)."""
    args = parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    root, storage = storage_root(args.dir, prefix="volstore-bench-queries-")
    check = not (args.smoke or args.no_check)
    results = Results(
        config={**sizes, "mode": mode(args), "storage": storage, "python": sys.version.split()[0]}
    )
    try:
        began = time.perf_counter()
        store, rare = build(root / "big", sizes)
        print(f"built the store in {time.perf_counter() - began:.1f} s under {root}")
        failures = bench_reads(results, store, rare, sizes["rounds"])
        failures += bench_writes(results, root, sizes)
        missed = report(results, check)
        if args.json:
            write_json(args.json, results, missed)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures or (check and missed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
