"""The core benchmark: the hot paths of volstore's local backend, as ratios to hand-written floors.

Every figure is a ratio against a baseline measured in the same run, in
interleaved rounds (each round runs every variant of a group, in an order
rotated each round), in CPU time (``time.process_time``: user + system) on
tmpfs (``/dev/shm``) when the machine has it. The report gives, for each
ratio, the median of the per-round ratios and their range (min-max); targets
are judged on the median. The groups (objects are ``models.Schedule``, about
360 bytes of JSON, 100 per user):

1. bulk write: ``with store.session() as s: s.add(...)`` of 10,000 objects
   (flush and commit included) against the atomic floor (the same bytes
   serialized beforehand, a temporary name and ``os.replace``, folders made
   beforehand), with the session's time split (backend batch, encoding,
   bookkeeping);
2. get: ``repo.get(user, id)`` of 10,000 objects against ``os.open``/``os.read``
   (size from ``fstat``) and ``Schedule.model_validate_json``, for keys read
   in every round and for keys read for the first time (new ones each round);
3. list: ``repo.list(user)`` of 100 users of 100 objects against a
   hand-written listdir + read + validate (users listed every round, and
   users listed for the first time), and on a store of 10,000 objects against
   one of at least 200,000 (it also holds the first-read keys and users);
4. the commit of a session that loaded 10,000 objects (by get, by list) and
   changed none, against one encode of each loaded object;
5. memory: peak heap (tracemalloc) of a bulk import through
   ``store.writer(batch_size=...)`` (1,000,000 objects with ``--big``), and of a
   session write of 100,000 objects against an encode-everything buffer.

Run ``python -m benchmarks bench_core`` (``--smoke`` for the quick run CI
uses, ``--big`` for the million-object import, ``--help`` for the options).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import volstore
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from benchmarks.core.measure import Results, Target
from benchmarks.core.memory import bench_import, bench_session_memory
from benchmarks.core.report import LoadMeter, machine, markdown, report, write_json, write_markdown
from benchmarks.core.speed import (
    bench_commit_after_load,
    bench_gets,
    bench_lists,
    bench_writes,
    derive,
    unseen_sets,
    write_split,
)
from benchmarks.core.workload import (
    OBJECTS_PER_USER,
    Workload,
    build_big_store,
    check_layout,
    list_users,
    make_schedules,
    make_workload,
    read_repo_get,
    write_session,
)
from models import Schedule

# benchmarks/strategies makes its objects with bench_core's make_schedules: kept importable here.
__all__ = ["main", "make_schedules"]

FULL = {
    "objects": 10_000,
    "big_store": 200_000,
    "rounds": 15,
    "memory_objects": 100_000,
    "memory_rounds": 3,
    "import_objects": 100_000,
    "batch_size": 1000,
}
BIG_IMPORT = 1_000_000  # --big
SMOKE = {
    "objects": 1_000,
    "big_store": 10_000,
    "rounds": 2,
    "memory_objects": 2_000,
    "memory_rounds": 1,
    "import_objects": 3_000,
    "batch_size": 500,
}


def targets(config: dict[str, Any]) -> list[Target]:
    """The claims of issue 10 (section 5), with this run's sizes in their names."""
    n, big = f"{config['objects']:,}", f"{config['big_store']:,}"
    return [
        Target(
            f"bulk write of {n} in one session vs atomic floor", "write.session/atomic_floor", 1.4
        ),
        Target(
            f"get of {n} by key vs raw read + validate (keys read before)",
            "get.repo_get/raw_read_validate",
            1.15,
        ),
        Target(
            f"get of {n} by key vs raw read + validate (first read)",
            "get.repo_get_unseen/raw_read_validate_unseen",
            1.15,
        ),
        Target(
            "list of one user's 100 vs hand-written (listed before)",
            "list.small_store/hand_written",
            1.25,
        ),
        Target(
            "list of one user's 100 vs hand-written (first listing)",
            "list.repo_list_unseen/hand_written_unseen",
            1.25,
        ),
        Target(f"list flat from {n} to {big} stored (max/min)", "list.spread", 1.3),
        Target(
            f"commit after loading {n} by get vs 1 encode each", "commit.loaded_by_get/encode", 1.2
        ),
        Target(
            f"commit after loading {n} by list vs 1 encode each",
            "commit.loaded_by_list/encode",
            1.2,
        ),
        Target(
            f"import of {config['import_objects']:,} via store.writer: peak heap",
            "import.peak_heap_mb",
            64,
            unit="MB",
        ),
        Target(
            f"session write of {config['memory_objects']:,}: peak heap vs buffer",
            "memory.session_write/buffer_write",
            1.1,
        ),
    ]


# -- profiling --------------------------------------------------------------------------------


@contextmanager
def profiled(title: str) -> Iterator[None]:
    """Profile the block with cProfile; print the top functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        print(f"\n-- profile: {title} --")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def profile_volstore(workload: Workload, root: Path, read_root: Path) -> None:
    """Profile a session write, a get of every object, the listings, a commit after loading."""
    target = root / "profile-write"
    store = volstore.Store(target, models=[Schedule])
    with profiled(f"session write of {len(workload.objects):,} objects"):
        write_session(store, workload.objects)
    shutil.rmtree(target)
    reader = volstore.Store(read_root)
    repo = reader.repository(Schedule)
    with profiled(f"repo.get of {len(workload.objects):,} objects"):
        read_repo_get(repo, workload.keys)
    with profiled(f"repo.list of {len(workload.users)} users"):
        list_users(repo, workload.users)
    with reader.session() as s:
        session_repo = s.repository(Schedule)
        for user, object_id in workload.keys:
            session_repo.get(user, object_id)
        with profiled(f"commit of a session that loaded {len(workload.objects):,} objects"):
            s.commit()


# -- entry point ------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = benchmark_parser("bench_core", __doc__)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--markdown",
        metavar="PATH",
        help="also write the results as a markdown section into PATH (replacing the section "
        "an earlier run wrote there, keeping the rest of the file)",
    )
    add_size_options(
        parser,
        {
            "rounds": "interleaved rounds of each speed group",
            "objects": "objects written, read and loaded (100 per user)",
            "big_store": "objects in the big store, at least (it also holds the keys and users "
            "read for the first time: (1 + 2 x rounds) x objects)",
            "memory_objects": "objects of the session write whose peak heap is measured",
            "memory_rounds": "rounds of the session-write memory measure",
            "import_objects": "objects of the bulk import through store.writer "
            "(one tenth of it is imported too, to show the peak does not grow)",
            "batch_size": "batch_size of store.writer in the bulk import",
        },
    )
    parser.add_argument(
        "--big",
        action="store_true",
        help=f"import {BIG_IMPORT:,} objects through store.writer (about 5 GiB on tmpfs for a "
        "minute or two; the issue's bounded-memory claim)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print cProfile of the volstore hot paths"
    )
    return parser.parse_args(argv)


def phase(title: str) -> Callable[[], None]:
    """Print that a phase started; the returned function prints how long it took."""
    start = time.perf_counter()
    print(f"bench_core: {title}...", file=sys.stderr, flush=True)
    return lambda: print(
        f"bench_core: {title}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True
    )


def main(argv: list[str]) -> int:
    """Run the benchmark; return 1 when a target is missed (unless --smoke or --no-check)."""
    args = parse_args(argv)
    if args.big and args.import_objects is None:
        args.import_objects = BIG_IMPORT
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    if sizes["objects"] < OBJECTS_PER_USER or min(sizes["rounds"], sizes["memory_rounds"]) < 1:
        print("bench_core: need at least 100 objects and 1 round", file=sys.stderr)
        return 2
    if min(sizes["memory_objects"], sizes["import_objects"], sizes["batch_size"]) < 1:
        print("bench_core: sizes must be positive", file=sys.stderr)
        return 2
    # The big store also holds the keys and users read for the first time, new each round.
    users = sizes["objects"] // OBJECTS_PER_USER
    sizes["big_store"] = max(
        sizes["big_store"], (1 + 2 * sizes["rounds"]) * users * OBJECTS_PER_USER
    )
    root, storage = storage_root(args.dir, prefix="volstore-bench-core-")
    load = LoadMeter()
    wall = time.perf_counter()
    try:
        workload = make_workload(sizes["objects"])
        import_sizes = sorted({max(1, sizes["import_objects"] // 10), sizes["import_objects"]})
        results = Results(
            config={
                "mode": mode(args),
                "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "command": "python -m benchmarks.bench_core " + " ".join(argv),
                "machine": machine(),
                "storage": storage,
                "clock": "time.process_time (CPU time: user + system of this process)",
                "objects": len(workload.objects),
                "users": len(workload.users),
                "big_store": sizes["big_store"],
                "rounds": sizes["rounds"],
                "memory_objects": sizes["memory_objects"],
                "memory_rounds": sizes["memory_rounds"],
                "import_objects": sizes["import_objects"],
                "import_sizes": import_sizes,
                "batch_size": sizes["batch_size"],
                "bytes_per_object": sum(map(len, workload.payloads)) // len(workload.payloads),
            }
        )
        small_root, commit_root, big_root = root / "small", root / "commit", root / "big"
        write_session(volstore.Store(small_root), workload.objects)
        write_session(volstore.Store(commit_root), workload.objects)
        check_layout(workload, volstore.Store(small_root))

        done = phase("1. bulk write")
        bench_writes(results, sizes["objects"], root, sizes["rounds"])
        done()
        done = phase("building the big store")
        others = build_big_store(big_root, workload, sizes["big_store"])
        results.config["big_store"] = len(workload.objects) + len(others) * OBJECTS_PER_USER
        unseen_keys, unseen_users = unseen_sets(others, len(workload.users), sizes["rounds"])
        del others
        done()
        done = phase("2. get by key")
        bench_gets(results, workload, small_root, big_root, unseen_keys, sizes["rounds"])
        done()
        done = phase("3. list")
        bench_lists(results, workload, small_root, big_root, unseen_users, sizes["rounds"])
        done()
        shutil.rmtree(big_root)
        done = phase("4. commit after loading")
        bench_commit_after_load(results, workload, commit_root, sizes["rounds"])
        done()
        derive(results)
        results.facts["write_split_us_per_object"] = write_split(results)

        done = phase(f"5b. session write of {sizes['memory_objects']:,}: peak heap")
        bench_session_memory(results, sizes["memory_objects"], root, sizes["memory_rounds"])
        done()
        done = phase(f"5a. import of {', '.join(f'{n:,}' for n in import_sizes)}: peak heap")
        bench_import(results, root, import_sizes, sizes["batch_size"])
        done()
        results.config["load"] = load.report()
        results.config["wall_seconds"] = time.perf_counter() - wall
        claims = targets(results.config)
        missed = report(results, claims, check=not (args.smoke or args.no_check))
        if args.json:
            write_json(args.json, results, claims, missed)
        if args.markdown:
            write_markdown(args.markdown, markdown(results, claims, missed))
        if args.profile:
            profile_volstore(workload, root, small_root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nrun time {results.config['wall_seconds']:.0f} s (wall)")
    if args.smoke:
        print("smoke run: every variant ran and every ratio was computed; speed not checked")
        return 0
    if missed and not args.no_check:
        print(f"missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
