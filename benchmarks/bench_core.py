"""The core benchmark: session writes, reads by key and listings on the local backend.

Every volstore figure is a ratio against a baseline measured in the same run,
on the same machine, on tmpfs where there is one (``/dev/shm``):

- write: ``with store.session() as s: for obj in objs: s.add(obj)`` (flush and
  commit included) against the raw floor (``os.open``/``os.write`` of bytes
  serialized beforehand, into folders made beforehand), the atomic floor (the
  same through a temporary name and ``os.replace``) and the hand-written seed
  pattern (``mkdir`` and ``json.dump`` per object);
- get: ``repo.get(user, id)`` of every object against ``open``/``read`` plus
  ``Schedule.model_validate_json`` (and an ``os.open``/``os.read`` variant);
- list: ``repo.list(user)`` of 100-object users on a store of 10,000 objects
  against the same users on a store of 200,000.

Each figure is the best (minimum) of several repetitions, with all variants
interleaved in each repetition. Run ``python -m benchmarks bench_core``
(``--smoke`` for the quick run CI uses; ``--help`` for the options).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import math
import os
import pstats
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydantic

import volstore
from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from models import Schedule

RESOURCE_TYPE = "schedules"
OBJECTS_PER_USER = 100
FULL = {"objects": 10_000, "big_store": 200_000, "repetitions": 5}
SMOKE = {"objects": 1_000, "big_store": 10_000, "repetitions": 2}

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Target:
    """One claim of the issue: ``ratio`` compared with ``limit``."""

    name: str
    ratio_name: str
    limit: float
    at_most: bool  # True: ratio <= limit passes; False: ratio >= limit passes

    def passes(self, ratio: float) -> bool:
        return ratio <= self.limit if self.at_most else ratio >= self.limit

    def describe(self) -> str:
        return f"{self.ratio_name} {'<=' if self.at_most else '>='} {self.limit:g}"


TARGETS = (
    Target("session write vs atomic floor", "write.session/atomic_floor", 1.25, True),
    Target("session write vs hand-written", "write.hand_written/session", 2.0, False),
    Target("get vs open+read+validate", "get.repo_get/open_read_validate", 1.3, True),
    Target("list: big store vs small store", "list.spread", 1.3, True),
)


@dataclass
class Workload:
    """The objects, their pre-serialized bytes and their paths, made before any timing."""

    objects: list[Schedule]
    payloads: list[bytes]  # Schedule.model_dump_json() of each object, encoded
    relative_paths: list[str]  # <resource_type>/<sha256(user_id)[:16]>/<id>.json
    folders: list[str]  # the distinct user folders, relative
    users: list[str]


@dataclass
class Results:
    """Best times (seconds) by measurement name, and the ratios derived from them."""

    config: dict[str, Any]
    best: dict[str, float] = field(default_factory=dict)
    all_times: dict[str, list[float]] = field(default_factory=dict)
    per_op: dict[str, int] = field(default_factory=dict)  # operations per measured run
    ratios: dict[str, float] = field(default_factory=dict)

    def record(self, name: str, seconds: float, operations: int) -> None:
        self.all_times.setdefault(name, []).append(seconds)
        self.best[name] = min(self.all_times[name])
        self.per_op[name] = operations


# -- the workload ---------------------------------------------------------------------


def user_folder(user_id: str) -> str:
    """The seed's folder of a user: ``<resource_type>/<sha256(user_id)[:16]>``."""
    return f"{RESOURCE_TYPE}/{hashlib.sha256(user_id.encode('utf-8')).hexdigest()[:16]}"


def make_schedules(user_id: str, count: int, salt: int = 0) -> list[Schedule]:
    """``count`` realistic schedules of one user (about 400 bytes of JSON each)."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [
        Schedule(
            id=volstore.new_id(),
            user_id=user_id,
            name=f"nightly report {salt}-{i}",
            cron=f"{i % 60} {i % 24} * * 1-5",
            timezone="Europe/Paris",
            enabled=i % 7 != 0,
            payload={
                "url": f"https://example.com/hooks/{user_id}/{i}",
                "retries": 3,
                "rev": 0,  # bench_strategies' updates count here
                "params": {"format": "csv", "window_days": i % 30, "columns": ["a", "b", "c"]},
            },
            tags=["report", f"team-{i % 5}"],
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def make_workload(total: int, user_prefix: str = "user") -> Workload:
    """``total`` objects, 100 per user, with their bytes and paths."""
    users = [f"{user_prefix}-{u:05d}" for u in range(max(1, total // OBJECTS_PER_USER))]
    objects: list[Schedule] = []
    for user in users:
        objects.extend(make_schedules(user, OBJECTS_PER_USER))
    folders = {user: user_folder(user) for user in users}
    return Workload(
        objects=objects,
        payloads=[obj.model_dump_json().encode("utf-8") for obj in objects],
        relative_paths=[f"{folders[obj.user_id]}/{obj.id}.json" for obj in objects],
        folders=list(folders.values()),
        users=users,
    )


def check_layout(workload: Workload, store: volstore.Store) -> None:
    """Fail unless the baselines use exactly volstore's paths and bytes (same files, same work)."""
    spec = volstore.spec_of(Schedule)
    for obj, path, data in zip(
        workload.objects[:50], workload.relative_paths[:50], workload.payloads[:50], strict=True
    ):
        if store.object_path(spec, obj) != path:
            raise AssertionError(f"layout differs: volstore {store.object_path(spec, obj)}, {path}")
        if store.engine.encode(spec, obj) != data:
            raise AssertionError("the floors' pre-serialized bytes differ from volstore's")


# -- the writers -------------------------------------------------------------------------


def make_folders(root: str, folders: list[str]) -> None:
    """Create the user folders (the floors get them made before timing)."""
    for folder in folders:
        os.makedirs(f"{root}/{folder}", exist_ok=True)


def write_raw_floor(targets: list[tuple[str, bytes]]) -> None:
    """The raw floor: ``os.open``/``os.write``/``os.close`` of bytes serialized beforehand."""
    for path, data in targets:
        fd = os.open(path, _CREATE, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def write_atomic_floor(targets: list[tuple[str, str, bytes]]) -> None:
    """The atomic floor: the raw floor through a temporary name, then ``os.replace``."""
    for temp, path, data in targets:
        fd = os.open(temp, _CREATE_NEW, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(temp, path)


def write_hand_written(root: Path, objects: list[Schedule]) -> None:
    """The seed's hand-written pattern: mkdir, then ``json.dump`` of ``model_dump`` per object.

    The seed's ``json.dump(model.model_dump(), f)`` raises TypeError on the
    datetime field, so this uses ``model_dump(mode="json")``, the smallest fix.
    """
    for obj in objects:
        user_hash = hashlib.sha256(obj.user_id.encode("utf-8")).hexdigest()[:16]
        folder = root / RESOURCE_TYPE / user_hash
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{obj.id}.json", "w") as f:
            json.dump(obj.model_dump(mode="json"), f)


def write_session(store: volstore.Store, objects: list[Schedule]) -> None:
    """volstore: one session adds every object; its exit flushes and commits."""
    with store.session() as s:
        for obj in objects:
            s.add(obj)


# -- the readers -------------------------------------------------------------------------


def read_open_validate(paths: list[str]) -> list[Schedule]:
    """The careful hand-written reader: ``open``/``read`` then ``model_validate_json``."""
    found = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        found.append(Schedule.model_validate_json(data))
    return found


def read_raw_validate(paths: list[str]) -> list[Schedule]:
    """The raw reader: ``os.open``/``fstat``/``os.read`` then ``model_validate_json``."""
    found = []
    for path in paths:
        fd = os.open(path, _READ)
        try:
            data = os.read(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        found.append(Schedule.model_validate_json(data))
    return found


def read_repo_get(repo: volstore.Repository[Schedule], keys: list[tuple[str, str]]) -> list[Any]:
    """volstore: ``repo.get(user_id, id)`` of every key."""
    return [repo.get(user_id, object_id) for user_id, object_id in keys]


def list_users(repo: volstore.Repository[Schedule], users: list[str]) -> int:
    """volstore: ``repo.list(user_id)`` of every user; returns the objects found."""
    return sum(len(repo.list(user)) for user in users)


# -- measuring ---------------------------------------------------------------------------


def timed(run: Callable[[], object]) -> float:
    """Seconds one call of ``run`` takes (the collector runs before, not during, the call)."""
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def rotated(items: list[Any], by: int) -> list[Any]:
    """``items`` rotated by ``by``: each repetition starts with another variant."""
    by %= len(items)
    return items[by:] + items[:by]


def bench_writes(results: Results, workload: Workload, root: Path, repetitions: int) -> None:
    """The writers, interleaved, each into a fresh folder per repetition.

    Besides the four the targets compare, two diagnostic rows split the
    session's time: ``backend_batch`` (``LocalBackend.write_batch`` of the
    pre-serialized bytes, making its folders as the session's flush does) and
    ``encode_only`` (the store encoding every object, nothing written).
    """
    count = len(workload.objects)

    def raw_floor(target: Path) -> float:
        make_folders(str(target), workload.folders)
        files = [
            (f"{target}/{path}", data)
            for path, data in zip(workload.relative_paths, workload.payloads, strict=True)
        ]
        return timed(lambda: write_raw_floor(files))

    def atomic_floor(target: Path) -> float:
        make_folders(str(target), workload.folders)
        files = []
        for path, data in zip(workload.relative_paths, workload.payloads, strict=True):
            folder, _, name = f"{target}/{path}".rpartition("/")
            files.append((f"{folder}/.{name}.tmp", f"{folder}/{name}", data))
        return timed(lambda: write_atomic_floor(files))

    def hand_written(target: Path) -> float:
        return timed(lambda: write_hand_written(target, workload.objects))

    def session(target: Path) -> float:
        store = volstore.Store(target)
        return timed(lambda: write_session(store, workload.objects))

    def backend_batch(target: Path) -> float:
        backend = volstore.LocalBackend(target)
        files = dict(zip(workload.relative_paths, workload.payloads, strict=True))
        return timed(lambda: backend.write_batch(files))

    spec = volstore.spec_of(Schedule)
    encoder = volstore.Store(root / "encoder").engine.encode

    def encode(_target: Path) -> float:
        return timed(lambda: [encoder(spec, obj) for obj in workload.objects])

    variants: list[tuple[str, Callable[[Path], float]]] = [
        ("write.raw_floor", raw_floor),
        ("write.atomic_floor", atomic_floor),
        ("write.hand_written", hand_written),
        ("write.session", session),
        ("write.backend_batch", backend_batch),
        ("write.encode_only", encode),
    ]
    for rep in range(repetitions):
        for name, variant in rotated(variants, rep):
            target = root / f"{name}-{rep}"
            target.mkdir()
            results.record(name, variant(target), count)
            if name != "write.encode_only":
                check_written(target, workload)
            shutil.rmtree(target)


def check_written(root: Path, workload: Workload) -> None:
    """Fail unless a writer left every object, whole, where volstore reads it."""
    store = volstore.Store(root)
    repo = store.repository(Schedule)
    for obj in (workload.objects[0], workload.objects[-1]):
        if repo.get(obj.user_id, obj.id) != obj:
            raise AssertionError(f"a writer in {root} did not store {obj.id} correctly")
    files = sum(len(os.listdir(root / folder)) for folder in workload.folders)
    if files != len(workload.objects):
        raise AssertionError(f"{root} holds {files} files, not {len(workload.objects)}")


def bench_reads(results: Results, workload: Workload, store_root: Path, repetitions: int) -> None:
    """``repo.get`` of every object against the hand-written readers, interleaved."""
    paths = [f"{store_root}/{path}" for path in workload.relative_paths]
    keys = [(obj.user_id, obj.id) for obj in workload.objects]
    repo = volstore.Store(store_root).repository(Schedule)
    if read_repo_get(repo, keys) != workload.objects:
        raise AssertionError("repo.get did not return the objects written")
    if read_open_validate(paths) != workload.objects:
        raise AssertionError("the hand-written reader did not return the objects written")
    variants: list[tuple[str, Callable[[], object]]] = [
        ("get.open_read_validate", lambda: read_open_validate(paths)),
        ("get.raw_read_validate", lambda: read_raw_validate(paths)),
        ("get.repo_get", lambda: read_repo_get(repo, keys)),
    ]
    for rep in range(repetitions):
        for name, run in rotated(variants, rep):
            results.record(name, timed(run), len(keys))


def build_big_store(root: Path, workload: Workload, total: int) -> int:
    """A store of ``total`` objects: the workload's users plus others, 100 objects each.

    Written with the atomic floor writer (not through a session, to save time),
    in volstore's layout, so volstore reads it like any store it wrote.
    """

    def write(paths: list[str], payloads: list[bytes], folders: list[str]) -> None:
        make_folders(str(root), folders)
        files = []
        for path, data in zip(paths, payloads, strict=True):
            folder, _, name = f"{root}/{path}".rpartition("/")
            files.append((f"{folder}/.{name}.tmp", f"{folder}/{name}", data))
        write_atomic_floor(files)

    write(workload.relative_paths, workload.payloads, workload.folders)
    written = len(workload.objects)
    other = 0
    while written < total:
        user = f"other-{other:06d}"
        objects = make_schedules(user, OBJECTS_PER_USER, salt=other)
        folder = user_folder(user)
        write(
            [f"{folder}/{obj.id}.json" for obj in objects],
            [obj.model_dump_json().encode("utf-8") for obj in objects],
            [folder],
        )
        written += len(objects)
        other += 1
    return written


def bench_listing(
    results: Results, workload: Workload, small_root: Path, big_root: Path, repetitions: int
) -> None:
    """``repo.list`` of the workload's users on the small store and on the big one."""
    users = workload.users
    small = volstore.Store(small_root).repository(Schedule)
    big = volstore.Store(big_root).repository(Schedule)
    expected = len(users) * OBJECTS_PER_USER
    for repo in (small, big):
        if list_users(repo, users) != expected:
            raise AssertionError("listing did not find every user's objects")
        if repo.list(users[0]) != sorted(workload.objects[:OBJECTS_PER_USER], key=_id_of):
            raise AssertionError("listing did not return the user's objects in id order")
    variants: list[tuple[str, Callable[[], object]]] = [
        ("list.small_store", lambda: list_users(small, users)),
        ("list.big_store", lambda: list_users(big, users)),
    ]
    for rep in range(repetitions):
        for name, run in rotated(variants, rep):
            results.record(name, timed(run), len(users))


def _id_of(obj: Schedule) -> str:
    return obj.id


def compute_ratios(results: Results) -> None:
    """The ratios the targets speak of (and a few more, for context)."""
    best = results.best
    session, atomic = best["write.session"], best["write.atomic_floor"]
    list_small, list_big = best["list.small_store"], best["list.big_store"]
    results.ratios = {
        "write.session/raw_floor": session / best["write.raw_floor"],
        "write.session/atomic_floor": session / atomic,
        "write.hand_written/session": best["write.hand_written"] / session,
        "write.atomic_floor/raw_floor": atomic / best["write.raw_floor"],
        "write.backend_batch/atomic_floor": best["write.backend_batch"] / atomic,
        "get.repo_get/open_read_validate": best["get.repo_get"] / best["get.open_read_validate"],
        "get.repo_get/raw_read_validate": best["get.repo_get"] / best["get.raw_read_validate"],
        "list.big_store/small_store": list_big / list_small,
        "list.spread": max(list_small, list_big) / min(list_small, list_big),
    }


def session_breakdown(results: Results) -> dict[str, float]:
    """Microseconds per object of a session write: backend, encoding, and the rest.

    The rest (the session's own bookkeeping: identity map, keys, paths, flush)
    is what the session adds over ``write_batch`` of bytes it already has.
    """
    count = results.per_op["write.session"]
    session, backend, encode = (
        results.best[name] / count * 1e6
        for name in ("write.session", "write.backend_batch", "write.encode_only")
    )
    floor = results.best["write.atomic_floor"] / count * 1e6
    return {
        "session": session,
        "backend_write_batch": backend,
        "of_which_over_atomic_floor": backend - floor,
        "encode": encode,
        "session_bookkeeping": session - backend - encode,
    }


# -- reporting ---------------------------------------------------------------------------


def report(results: Results, check: bool) -> list[str]:
    """Print the times and ratios; return the names of the targets missed."""
    config = results.config
    print(
        f"\nvolstore core benchmark ({config['mode']}): {config['objects']:,} objects, "
        f"{config['users']} users; listing stores of {config['objects']:,} and "
        f"{config['big_store']:,} objects; best of {config['repetitions']}"
    )
    print(f"storage: {config['storage']}")
    print(f"python {config['python']}, pydantic {config['pydantic']}\n")
    print(f"{'measurement':<28}{'best total':>12}{'per op':>12}  all runs (ms)")
    for name, best in results.best.items():
        per_op = best / results.per_op[name] * 1e6
        runs = " ".join(f"{t * 1e3:.1f}" for t in results.all_times[name])
        unit = "us/list" if name.startswith("list.") else "us/obj"
        print(f"{name:<28}{best * 1e3:>9.1f} ms{per_op:>8.1f} {unit:<7}  {runs}")
    print(f"\n{'ratio':<36}{'value':>8}")
    for name, ratio in results.ratios.items():
        print(f"{name:<36}{ratio:>7.2f}x")
    parts = session_breakdown(results)
    print(
        f"\nsession write per object: {parts['session']:.1f} us = "
        f"backend write_batch {parts['backend_write_batch']:.1f} "
        f"({parts['of_which_over_atomic_floor']:+.1f} over the atomic floor) "
        f"+ encode {parts['encode']:.1f} + session bookkeeping {parts['session_bookkeeping']:.1f}"
    )
    missed = []
    print(f"\n{'target':<34}{'claim':<40}{'result'}")
    for target in TARGETS:
        ratio = results.ratios[target.ratio_name]
        ok = target.passes(ratio)
        if not ok:
            missed.append(target.name)
        verdict = ("pass" if ok else "MISS") if check else ("pass" if ok else "miss (unchecked)")
        print(f"{target.name:<34}{target.describe():<40}{ratio:.2f}x {verdict}")
    return missed


def write_json(path: str, results: Results, missed: list[str]) -> None:
    """Write every time, ratio and verdict as JSON."""
    document = {
        "config": results.config,
        "best_seconds": results.best,
        "all_seconds": results.all_times,
        "operations": results.per_op,
        "ratios": results.ratios,
        "session_write_us_per_object": session_breakdown(results),
        "targets": [
            {
                "name": target.name,
                "claim": target.describe(),
                "ratio": results.ratios[target.ratio_name],
                "passed": target.passes(results.ratios[target.ratio_name]),
            }
            for target in TARGETS
        ],
        "missed": missed,
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n")


@contextmanager
def profiled(enabled: bool, title: str) -> Iterator[None]:
    """Profile the block with cProfile when ``enabled``; print the top functions by own time."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        print(f"\n-- profile: {title} --")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def profile_volstore(workload: Workload, root: Path, read_root: Path) -> None:
    """Profile one session write and one ``get`` of every object (for ``--profile``)."""
    target = root / "profile-write"
    store = volstore.Store(target)
    with profiled(True, f"session write of {len(workload.objects):,} objects"):
        write_session(store, workload.objects)
    shutil.rmtree(target)
    repo = volstore.Store(read_root).repository(Schedule)
    keys = [(obj.user_id, obj.id) for obj in workload.objects]
    with profiled(True, f"repo.get of {len(keys):,} objects"):
        read_repo_get(repo, keys)


# -- entry point -------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = benchmark_parser("bench_core", __doc__)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    add_size_options(
        parser,
        {
            "repetitions": "repetitions of each measurement",
            "objects": "objects written and read (100 per user)",
            "big_store": "objects in the big store for listing",
        },
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print cProfile of the volstore write and get"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the benchmark; return 1 when a target is missed (unless --smoke or --no-check)."""
    args = parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    if sizes["objects"] < OBJECTS_PER_USER or sizes["repetitions"] < 1:
        print("bench_core: need at least 100 objects and 1 repetition", file=sys.stderr)
        return 2
    sizes["big_store"] = max(sizes["big_store"], sizes["objects"])
    root, storage = storage_root(args.dir)
    try:
        workload = make_workload(sizes["objects"])
        results = Results(
            config={
                "mode": mode(args),
                "objects": len(workload.objects),
                "users": len(workload.users),
                "big_store": sizes["big_store"],
                "repetitions": sizes["repetitions"],
                "storage": storage,
                "python": sys.version.split()[0],
                "pydantic": pydantic.VERSION,
                "bytes_per_object": sum(map(len, workload.payloads)) // len(workload.payloads),
            }
        )
        small_root = root / "small"
        write_session(volstore.Store(small_root), workload.objects)
        check_layout(workload, volstore.Store(small_root))
        bench_writes(results, workload, root, sizes["repetitions"])
        bench_reads(results, workload, small_root, sizes["repetitions"])
        big_root = root / "big"
        results.config["big_store"] = build_big_store(big_root, workload, sizes["big_store"])
        bench_listing(results, workload, small_root, big_root, sizes["repetitions"])
        compute_ratios(results)
        broken = [name for name, ratio in results.ratios.items() if not 0 < ratio < math.inf]
        if broken:
            print(f"bench_core: ratios not computed: {', '.join(broken)}", file=sys.stderr)
            return 1
        missed = report(results, check=not (args.smoke or args.no_check))
        if args.json:
            write_json(args.json, results, missed)
        if args.profile:
            profile_volstore(workload, root, small_root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.smoke:
        print("\nsmoke run: every variant ran and every ratio was computed; speed not checked")
        return 0
    if missed and not args.no_check:
        print(f"\nmissed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
