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
import json
import os
import platform
import pstats
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pydantic

import volstore
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from benchmarks.core.measure import Results, Target
from benchmarks.core.memory import bench_import, bench_session_memory
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
    make_workload,
    read_repo_get,
    write_session,
)
from models import Schedule

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


# -- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers ran on."""
    cpu = platform.processor() or "unknown"
    memory = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), cpu)
        with open("/proc/meminfo") as f:
            memory = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "pydantic": pydantic.VERSION,
        "volstore": volstore.__version__,
    }


def busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


class LoadMeter:
    """How busy the machine was during the run, and how much of that was this process."""

    def __init__(self) -> None:
        self.load_before = os.getloadavg()
        self.jiffies_before = busy_jiffies()
        self.own_before = sum(os.times()[:4])

    def report(self) -> dict[str, Any]:
        after = busy_jiffies()
        own = sum(os.times()[:4]) - self.own_before
        found: dict[str, Any] = {
            "load_average_before": list(self.load_before),
            "load_average_after": list(os.getloadavg()),
        }
        if after is not None and self.jiffies_before is not None:
            hertz = os.sysconf("SC_CLK_TCK")
            busy = (after[0] - self.jiffies_before[0]) / hertz
            total = (after[1] - self.jiffies_before[1]) / hertz
            if total > 0:
                found["machine_busy_share"] = busy / total
                found["others_busy_share"] = max(0.0, busy - own) / total
        return found


# -- reporting --------------------------------------------------------------------------------


def unit_of(name: str) -> str:
    if name.startswith("memory."):
        return "B/obj"
    if name.startswith("list."):
        return "us/list"
    return "us/obj"


def per_op(results: Results, name: str, value: float) -> float:
    scale = 1.0 if results.units[name] == "B" else 1e6
    return value / results.operations[name] * scale


def report(results: Results, check: bool) -> list[str]:
    """Print the machine, the measurements and ratios, the verdicts; return the targets missed."""
    config, env = results.config, results.config["machine"]
    print(
        f"\nvolstore core benchmark ({config['mode']}), {config['started']}\n"
        f"machine: {env['cpu']}, {env['cores']} cores, {env['memory']}, {env['os']}\n"
        f"python {env['python']}, pydantic {env['pydantic']}, volstore {env['volstore']}\n"
        f"storage: {config['storage']}\n"
        f"sizes: {config['objects']:,} objects ({config['users']} users of {OBJECTS_PER_USER}); "
        f"big store {config['big_store']:,}; {config['rounds']} interleaved rounds; "
        f"memory: session write of {config['memory_objects']:,} "
        f"({config['memory_rounds']} rounds), "
        f"import of {', '.join(f'{n:,}' for n in config['import_sizes'])} "
        f"(batch_size={config['batch_size']})"
    )
    load = config["load"]
    busy = (
        f"; during the run the machine's CPUs were {load['machine_busy_share']:.0%} busy, "
        f"{load['others_busy_share']:.0%} by other processes"
        if "machine_busy_share" in load
        else ""
    )
    print(
        "load average (1, 5, 15 min): "
        f"{' '.join(f'{v:.2f}' for v in load['load_average_before'])} before, "
        f"{' '.join(f'{v:.2f}' for v in load['load_average_after'])} after{busy}"
    )
    print(
        "times are CPU time (user + system) of this process; figures: median [min-max] of rounds\n"
    )
    print(f"{'measurement':<36}{'median':>12}  {'[min - max]':<22}{'unit'}")
    for name, values in results.measurements.items():
        summary = results.summary(name)
        low, high = per_op(results, name, summary.low), per_op(results, name, summary.high)
        print(
            f"{name:<36}{per_op(results, name, summary.median):>12,.2f}  "
            f"{f'[{low:,.2f} - {high:,.2f}]':<22}{unit_of(name)} ({len(values)} rounds)"
        )
    print(f"\n{'ratio (per round)':<50}{'median':>8}  [min - max]")
    for name, summary in results.ratios.items():
        print(f"{name:<50}{summary.median:>7.3f}x  [{summary.low:.3f} - {summary.high:.3f}]")
    split = results.facts["write_split_us_per_object"]
    med = {name: part["median"] for name, part in split.items()}
    print(
        f"\nsession write per object (median of rounds, us): {med['session']:.2f} = "
        f"backend batch {med['backend_batch']:.2f} "
        f"({med['backend_batch_over_atomic_floor']:+.2f} over the atomic floor "
        f"{med['atomic_floor']:.2f}, {med['backend_batch_over_dirfd_floor']:+.2f} over the "
        f"folder-descriptor floor) + encode {med['encode']:.2f} + bookkeeping "
        f"{med['bookkeeping']:.2f} (adds {med['adds']:.2f}, flush {med['flush_bookkeeping']:.2f})"
    )
    for how in ("get", "list"):
        commit = results.summary(f"commit.loaded_by_{how}")
        count = results.operations[f"commit.loaded_by_{how}"]
        print(
            f"commit after loading {count:,} by {how}: {commit.median / count * 1e6:.2f} us per "
            f"loaded object [{commit.low / count * 1e6:.2f} - {commit.high / count * 1e6:.2f}]"
        )
    for key, fact in results.facts.items():
        if key.startswith("import_") and isinstance(fact, dict):
            print(
                f"import of {fact['objects']:,} via store.writer(batch_size={fact['batch_size']}): "
                f"peak heap {fact['peak_heap_mb']:.1f} MB (max RSS {fact['max_rss_mb']:.0f} MB), "
                f"{fact['commits']:,} commits, "
                f"{fact['cpu_seconds_under_tracemalloc']:.1f} s CPU under tracemalloc"
            )
    if "import.peak_largest/peak_smallest" in results.facts:
        print(
            "import peak heap, largest / smallest import: "
            f"{results.facts['import.peak_largest/peak_smallest']:.2f}x"
        )
    rss = results.facts["memory.max_rss_mb"]
    print(
        "max RSS of the memory measures' processes (objects made beforehand included): "
        f"session {max(rss['session']):.0f} MB, buffer {max(rss['buffer']):.0f} MB"
    )
    missed = []
    print(f"\n{'target':<64}{'claim':<58}{'median':>9}  [min - max]  result")
    for target in targets(config):
        ok = target.passes(results)
        if not ok:
            missed.append(target.name)
        verdict = ("pass" if ok else "MISS") if check else ("pass" if ok else "miss (unchecked)")
        value = target.value(results)
        spread = (
            f"[{results.ratios[target.ratio].low:.2f} - {results.ratios[target.ratio].high:.2f}]"
            if target.unit == "x"
            else ""
        )
        figure = f"{value:.2f}{target.unit}"
        print(f"{target.name:<64}{target.claim():<58}{figure:>9}  {spread:<11}  {verdict}")
    return missed


def write_json(path: str, results: Results, missed: list[str]) -> None:
    """Write every measurement, ratio, split, fact and verdict as JSON."""
    document = {
        "config": results.config,
        "measurements": {
            name: {
                "unit": "cpu_seconds" if results.units[name] == "s" else "heap_bytes",
                "operations": results.operations[name],
                **results.summary(name).as_dict(),
            }
            for name in results.measurements
        },
        "ratios": {name: summary.as_dict() for name, summary in results.ratios.items()},
        "facts": results.facts,
        "targets": [
            {
                "name": target.name,
                "claim": target.claim(),
                "measure": target.ratio,
                "median" if target.unit == "x" else "value": target.value(results),
                **(
                    {
                        "min": results.ratios[target.ratio].low,
                        "max": results.ratios[target.ratio].high,
                    }
                    if target.unit == "x"
                    else {}
                ),
                "passed": target.passes(results),
            }
            for target in targets(results.config)
        ],
        "missed": missed,
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n")


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
    add_size_options(
        parser,
        {
            "rounds": "interleaved rounds of each speed group",
            "objects": "objects written, read and loaded (100 per user)",
            "big_store": "objects in the big store for listing",
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
        missed = report(results, check=not (args.smoke or args.no_check))
        if args.json:
            write_json(args.json, results, missed)
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
