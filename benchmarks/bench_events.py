"""The time-bucket benchmark: a one-hour range query against a full scan.

A local store (on tmpfs, ``/dev/shm``, where there is one) holds 30 days x 24
hours of ``models.Event`` objects, about 100 per hour from 50 users, in hour
buckets. Each repetition times, in a rotating order:

- ``full_scan``: ``repo.range(None, None)`` (every bucket listed, every event
  read and validated), filtered to the hour in Python: what answering the
  query costs without the bucket layout;
- ``hour``: ``repo.range(H, H + 1h)``, an hour aligned on a bucket;
- ``hour_unaligned``: ``repo.range(H + 30min, H + 90min)``, two buckets;
- ``hour_one_user``: ``repo.range(H, H + 1h, user_id=u)``;
- ``latest_10``: ``repo.latest(u, 10)``.

Each figure is the best of several runs; the full scan and the queries are
measured in the same run. Folder listings are counted by ``store.stats.lists``.

Targets (from the issue): each one-hour query (aligned or not, all users)
takes at most 1/50 of the full scan, and lists at most 2 hour buckets plus
the user folders inside them. Both results must equal the filtered full scan.

    PYTHONPATH=. python benchmarks/bench_events.py            # full size; exit 1 on a miss
    PYTHONPATH=. python benchmarks/bench_events.py --smoke    # small, a few seconds
    PYTHONPATH=. python -m benchmarks events                  # through the runner

``--smoke`` checks listings and results, never speed.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` and ``models`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import volstore
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from models import Event
from volstore import BucketedRepository, bucketed

FULL = {"days": 30, "per_hour": 100, "users": 50, "repetitions": 3}
SMOKE = {"days": 2, "per_hour": 20, "users": 10, "repetitions": 2}
QUERY_RUNS_PER_REPETITION = 5  # the queries are cheap: time them more often
MAX_TIME_RATIO = 1 / 50
START = datetime(2024, 2, 15, tzinfo=timezone.utc)  # the store crosses 29 February


@dataclass
class Measurement:
    """Times (seconds) of one query, the folders it listed and what it returned."""

    times: list[float] = field(default_factory=list)
    lists: int = 0
    result: list[str] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)


def build(root: Path, days: int, per_hour: int, users: int) -> tuple[volstore.Store, float]:
    """Write the events, one session (one commit) per day; return the store and the seconds."""
    rng = random.Random(20240229)
    names = [f"user-{u:02d}@example.com" for u in range(users)]
    store = volstore.Store(volstore.LocalBackend(root))
    began = time.perf_counter()
    for day in range(days):
        with store.session() as session:
            for hour in range(24):
                bucket = START + timedelta(days=day, hours=hour)
                for n in range(per_hour):
                    offset = timedelta(microseconds=rng.randrange(3_600_000_000))
                    session.add(
                        Event(
                            user_id=rng.choice(names),
                            kind=rng.choice(["view", "click", "buy"]),
                            timestamp=bucket + offset,
                            data={"page": f"/p/{rng.randrange(500)}", "n": n},
                        )
                    )
    return store, time.perf_counter() - began


def timed(store: volstore.Store, query: Callable[[], list[str]], m: Measurement) -> None:
    gc.collect()
    lists = store.stats.lists
    began = time.perf_counter()
    result = query()
    m.times.append(time.perf_counter() - began)
    m.lists = store.stats.lists - lists
    m.result = result


def user_folders_in(store: volstore.Store, start: datetime, end: datetime) -> tuple[int, int]:
    """(buckets, user folders in them) overlapping ``[start, end)``, listed without counting."""
    spec = volstore.spec_of(Event)
    buckets = folders = 0
    bucket = start.replace(minute=0, second=0, microsecond=0)
    while bucket < end:
        buckets += 1
        folder = store.bucket_folder(spec, bucket)
        folders += sum(1 for entry in store.backend.list(folder) if entry.is_dir)
        bucket += timedelta(hours=1)
    return buckets, folders


def run(root: Path, sizes: dict[str, int], check_speed: bool) -> int:
    days, per_hour, users, repetitions = (
        sizes["days"],
        sizes["per_hour"],
        sizes["users"],
        sizes["repetitions"],
    )
    store, build_seconds = build(root, days, per_hour, users)
    total = days * 24 * per_hour
    print(
        f"stored {total:,} events ({days} days x 24 hours x {per_hour}, {users} users) "
        f"in {build_seconds:.1f} s under {root}"
    )
    repo: BucketedRepository[Event] = bucketed(store, Event)
    hour = START + timedelta(days=days // 2, hours=13)
    half = timedelta(minutes=30)
    one_user = "user-07@example.com" if users > 7 else "user-00@example.com"

    def ids(events: list[Event]) -> list[str]:
        return [e.id for e in events]

    def in_window(start: datetime, end: datetime) -> Callable[[Event], bool]:
        return lambda e: start <= e.timestamp < end

    inside_hour = in_window(hour, hour + 2 * half)
    inside_unaligned = in_window(hour + half, hour + 3 * half)
    queries: dict[str, Callable[[], list[str]]] = {
        "full_scan": lambda: ids([e for e in repo.range(None, None) if inside_hour(e)]),
        "hour": lambda: ids(list(repo.range(hour, hour + 2 * half))),
        "hour_unaligned": lambda: ids(list(repo.range(hour + half, hour + 3 * half))),
        "hour_one_user": lambda: ids(list(repo.range(hour, hour + 2 * half, user_id=one_user))),
        "latest_10": lambda: ids(repo.latest(one_user, 10)),
    }
    measured = {name: Measurement() for name in queries}
    order = list(queries)
    for repetition in range(repetitions):
        for name in order[repetition % len(order) :] + order[: repetition % len(order)]:
            runs = 1 if name == "full_scan" else QUERY_RUNS_PER_REPETITION
            for _ in range(runs):
                timed(store, queries[name], measured[name])

    # what the full scan says, for checking the queries' results
    everything = list(repo.range(None, None))
    expected = {
        "hour": ids(sorted(filter(inside_hour, everything), key=lambda e: (e.timestamp, e.id))),
        "hour_unaligned": ids(
            sorted(filter(inside_unaligned, everything), key=lambda e: (e.timestamp, e.id))
        ),
        "hour_one_user": ids(
            sorted(
                (e for e in everything if inside_hour(e) and e.user_id == one_user),
                key=lambda e: (e.timestamp, e.id),
            )
        ),
        "latest_10": ids(
            sorted(
                (e for e in everything if e.user_id == one_user),
                key=lambda e: (e.timestamp, e.id),
                reverse=True,
            )[:10]
        ),
    }
    scan = measured["full_scan"]
    print(f"\n{'query':<16}{'best':>11}{'vs full scan':>14}{'listed':>8}{'objects':>9}  runs")
    for name, m in measured.items():
        ratio = m.best / scan.best
        print(
            f"{name:<16}{m.best * 1e3:>8.2f} ms{f'1/{1 / ratio:,.0f}':>14}{m.lists:>8}"
            f"{len(m.result):>9}  {len(m.times)}"
        )

    failures: list[str] = []
    if scan.result != expected["hour"]:
        failures.append("the filtered full scan differs from the hour's events")
    for name, want in expected.items():
        if measured[name].result != want:
            failures.append(f"{name} returned other events than the full scan")
    print(f"\n{'target':<46}{'limit':>12}{'result':>12}  verdict")
    for name, (start, end) in {
        "hour": (hour, hour + 2 * half),
        "hour_unaligned": (hour + half, hour + 3 * half),
    }.items():
        buckets, folders = user_folders_in(store, start, end)
        limit = min(buckets, 2) + folders
        lists = measured[name].lists
        ok = buckets <= 2 and lists <= limit
        print(
            f"{name + ': folders listed':<46}{f'<= {limit}':>12}{lists:>12}  "
            f"{'pass' if ok else 'MISS'} ({buckets} bucket(s) + {folders} user folders)"
        )
        if not ok:
            failures.append(f"{name} listed {lists} folders; at most {limit} allowed")
        ratio = measured[name].best / scan.best
        ok = ratio <= MAX_TIME_RATIO
        verdict = "pass" if ok else ("MISS" if check_speed else "miss (unchecked)")
        shown = f"1/{1 / ratio:,.0f}"
        print(f"{name + ': time vs full scan':<46}{'<= 1/50':>12}{shown:>12}  {verdict}")
        if not ok and check_speed:
            failures.append(f"{name} took 1/{1 / ratio:.0f} of the full scan; the target is 1/50")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = benchmark_parser("bench_events", __doc__)
    add_size_options(
        parser,
        {
            "days": "days of events (default 30)",
            "per_hour": "events per hour (default 100)",
            "users": "users (default 50)",
            "repetitions": "repetitions of the full scan",
        },
    )
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the benchmark; return 1 when a target is missed (speed: not with --smoke/--no-check)."""
    args = parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    root, storage = storage_root(args.dir, prefix="volstore-bench-events-")
    print(
        f"volstore time-bucket benchmark ({mode(args)}), python {sys.version.split()[0]}; "
        f"data in {storage}"
    )
    try:
        return run(root / "store", sizes, check_speed=not (args.smoke or args.no_check))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
