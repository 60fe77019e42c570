"""The memory groups: peak heap of a session write, and of a bounded-memory import.

Peak heap is what ``tracemalloc`` sees (Python's allocator) at its highest
point during the measured call, counted from the start of the call (see
``measure.peak_heap``). Every measurement runs in a fresh Python process
(``python -m benchmarks.core.memory ...``), so none inherits the caches an
earlier one filled (volstore remembers ids and folders it has checked, up to a
bound, process-wide): each starts from the same state. Nothing is timed while
tracing, which slows every allocation down.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import volstore
from benchmarks.core.measure import Results, Variant, peak_heap, run_rounds
from benchmarks.core.workload import (
    OBJECTS_PER_USER,
    lazy_objects,
    make_objects,
    write_buffer,
    write_session,
)
from models import Schedule

MB = 1024 * 1024
PROJECT = Path(__file__).resolve().parents[2]


def count_files(root: Path) -> int:
    """Object files below ``root`` (hidden names, such as temporary files, not counted)."""
    total = 0
    for _, _, names in os.walk(root):
        total += sum(1 for name in names if name.endswith(".json") and name[0] != ".")
    return total


def high_water_rss() -> int:
    """This process's peak resident set, in bytes.

    ``VmHWM`` from /proc/self/status where there is one: ``ru_maxrss`` of a
    child can carry its parent's peak across fork and exec, which would
    report the benchmark's own size instead of the measure's.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def room(root: Path) -> int:
    """Bytes free where ``root`` lives."""
    stats = os.statvfs(root)
    return stats.f_bavail * stats.f_frsize


# -- the measurements, each run in a child process -----------------------------------------


def measure_write(kind: str, target: Path, count: int) -> dict[str, Any]:
    """Peak heap of a session write (``kind="session"``) or of the buffer write of ``count``.

    The objects are made before measuring and are not counted: only what the
    writer allocates on top of them (the session: its identity map, records,
    paths, encoded bytes and flush plan; the buffer: the list of (path, bytes)
    and the bytes).
    """
    objects, _ = make_objects(count, "memory")
    if kind == "session":
        store = volstore.Store(target, models=[Schedule])
        peak = peak_heap(lambda: write_session(store, objects))
    else:
        spec = volstore.spec_of(Schedule)
        target.mkdir(parents=True)
        peak = peak_heap(lambda: write_buffer(str(target), objects, spec))
    files = count_files(target)
    if files != count:
        raise AssertionError(f"{kind}: {files} files written, not {count}")
    return {"peak_heap_bytes": peak}


def measure_import(target: Path, count: int, batch_size: int) -> dict[str, Any]:
    """Peak heap of ``store.writer(batch_size=...)`` importing ``count`` lazily made objects.

    The objects are generated one at a time inside the measured call, so each
    one is counted while it lives (a few at a time, as in a real import
    reading rows from a file). Checks that every object was written, in one
    commit per batch.
    """
    store = volstore.Store(target, models=[Schedule])
    counts: dict[str, int] = {}

    def run() -> None:
        with store.writer(batch_size=batch_size) as w:
            for obj in lazy_objects(count, "import"):
                w.add(obj)
        counts["written"], counts["commits"] = w.written, w.commits

    start = time.process_time()
    peak = peak_heap(run)
    cpu = time.process_time() - start
    files = count_files(target)
    commits = -(-count // batch_size)
    if files != count or counts["written"] != count or counts["commits"] != commits:
        raise AssertionError(
            f"the writer stored {files:,} files, reported {counts['written']:,} written in "
            f"{counts['commits']} commits; expected {count:,} in {commits}"
        )
    return {
        "peak_heap_bytes": peak,
        "commits": counts["commits"],
        "cpu_seconds_under_tracemalloc": cpu,
    }


def child_main(argv: list[str]) -> int:
    """``python -m benchmarks.core.memory KIND TARGET COUNT [BATCH]``: one measurement, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.core.memory")
    parser.add_argument("kind", choices=["session", "buffer", "import"])
    parser.add_argument("target", type=Path, help="a folder that does not exist yet")
    parser.add_argument("count", type=int)
    parser.add_argument("batch_size", type=int, nargs="?", default=1000)
    args = parser.parse_args(argv)
    try:
        if args.kind == "import":
            found = measure_import(args.target, args.count, args.batch_size)
        else:
            found = measure_write(args.kind, args.target, args.count)
    finally:
        shutil.rmtree(args.target, ignore_errors=True)
    found["max_rss_bytes"] = high_water_rss()
    print(json.dumps(found))
    return 0


def in_child(*args: object) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON result."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "benchmarks.core.memory", *map(str, args)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the groups --------------------------------------------------------------------------------


def bench_session_memory(results: Results, count: int, root: Path, rounds: int) -> None:
    """A session write of ``count`` objects against the encode-everything buffer, peak heap."""
    rss: dict[str, list[float]] = {"session": [], "buffer": []}

    def variant(kind: str) -> Variant:
        def run(number: int) -> dict[str, float]:
            found = in_child(kind, root / f"memory-{kind}-{number}", count)
            rss[kind].append(found["max_rss_bytes"])
            return {f"memory.{kind}_write": found["peak_heap_bytes"]}

        return run

    run_rounds(
        results, [("session", variant("session")), ("buffer", variant("buffer"))], rounds, count
    )
    results.ratio(
        "memory.session_write/buffer_write", "memory.session_write", "memory.buffer_write"
    )
    results.facts["memory.max_rss_mb"] = {
        kind: [value / MB for value in values] for kind, values in rss.items()
    }


def bench_import(results: Results, root: Path, sizes: list[int], batch_size: int) -> None:
    """``store.writer(batch_size=...)`` of lazily made objects at each size: peak heap."""
    for total in sizes:
        needed = total * 5 * 1024  # tmpfs keeps at least a page per small file, and its inode
        if room(root) < needed:
            raise RuntimeError(
                f"the import of {total:,} objects needs about {needed / 2**30:.1f} GiB free in "
                f"{root}; pass --dir to put it elsewhere, or a smaller --import-objects"
            )
        found = in_child("import", root / f"import-{total}", total, batch_size)
        results.record(f"memory.import_{total}", found["peak_heap_bytes"], total, unit="B")
        results.facts[f"import_{total}"] = {
            "objects": total,
            "users": -(-total // OBJECTS_PER_USER),
            "batch_size": batch_size,
            "commits": found["commits"],
            "peak_heap_bytes": found["peak_heap_bytes"],
            "peak_heap_mb": found["peak_heap_bytes"] / MB,
            "max_rss_mb": found["max_rss_bytes"] / MB,
            "cpu_seconds_under_tracemalloc": found["cpu_seconds_under_tracemalloc"],
        }
    largest, smallest = max(sizes), min(sizes)
    results.facts["import.peak_heap_mb"] = results.facts[f"import_{largest}"]["peak_heap_mb"]
    if largest != smallest:
        results.facts["import.peak_largest/peak_smallest"] = (
            results.facts[f"import_{largest}"]["peak_heap_bytes"]
            / results.facts[f"import_{smallest}"]["peak_heap_bytes"]
        )


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
