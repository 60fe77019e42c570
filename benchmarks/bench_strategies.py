"""Commit strategies: what each costs, what a crash loses, and how volstore compares with peers.

Runs on the local backend (a folder, on tmpfs where there is one) and on the
Modal Volume emulator with a simulated commit cost (``CommitCost``: by default
50 ms per commit or reload plus 20 ms per MB moved; ASSUMPTIONS, not
measurements of Modal). For each workload it runs each commit strategy and
each peer, and measures wall time, commits, files and bytes written, p50/p99
latency per write, and the durability window: how many acknowledged writes a
kill at a random moment would lose.

- strategies: ``per_write`` (a one-object session per write: the seed's slow
  pattern), ``one_session`` (one session, one commit), ``every_n`` (a session
  per N writes), ``every_t`` (a session committed every T seconds),
  ``background`` (files written at once, no explicit commit: Modal's background
  commits publish them; emulator only);
- workloads: bulk import, request-like traffic (one object per request, with
  think time between requests), mixed reads and writes under each reload
  policy (with a second container updating objects);
- peers, in the same run: the seed's hand-written files, TinyDB (one insert at
  a time, ``insert_multiple``), SQLite in one file on the volume; a two-container
  scenario counting lost updates; scaling curves from 1k to 100k objects.

Run ``python -m benchmarks bench_strategies`` (full: writes
``docs/benchmarks/``) or ``--smoke`` (CI: under a minute, writes to a temporary
folder). ``--help`` for the options. docs/benchmarks.md explains the output.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `models` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pydantic

import volstore
import volstore.modal
from benchmarks._peers import SeedFiles, SQLitePeer, TinyDBPeer, user_hash
from benchmarks.bench_core import make_schedules, storage_root
from models import Schedule
from volstore.testing import CommitCost, EmulatedVolume, Mount, VolumeEmulator

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks"
OBJECTS_PER_USER = 100
RESOURCE_TYPE = "schedules"

HOT_OBJECTS = 20  # the mixed workload's objects that are read and updated
READ_SHARE = 0.9  # the mixed workload's share of reads

STRATEGIES = ("per_write", "every_n", "every_t", "one_session", "background")
PEER_STRATEGIES = ("per_write", "every_n", "one_session")
STORES = ("volstore", "seed files", "TinyDB", "SQLite")


@dataclass(frozen=True)
class Sizes:
    """Every size and interval of one mode (full or smoke)."""

    bulk: int  # objects in the bulk import
    per_write_cap_local: int  # writes measured for a slow per-write peer on local (TinyDB)
    per_write_cap_emulator: int  # writes measured for a per-write strategy on the emulator
    requests: int  # requests in the request-like traffic
    think_s: float  # pause between two requests
    every_n: int  # N of "commit every N writes"
    every_t: float  # T of "commit every T seconds"
    background_s: float  # the emulator's background commit interval
    mixed_objects: int  # objects stored before the mixed workload
    mixed_ops: int  # operations of the mixed workload (80% reads)
    mixed_reload_s: float  # ReloadPolicy.every(...) of the mixed workload
    two_records: int  # records of the two-container scenario (half each)
    two_rounds: int  # rounds of updates (each container commits once per round)
    scaling: tuple[int, ...]  # store sizes of the scaling curves
    scaling_writes: int  # one-object writes measured per size and round
    scaling_gets: int  # gets measured per size and round
    scaling_lists: int  # users listed per size and round (100 objects each)
    scaling_rounds: int  # rounds of the scaling measurements (the best one counts)
    peer_budget_s: float  # time budget of one slow peer measurement (TinyDB)
    repetitions: int  # repetitions of the target measurements
    kill_trials: int  # real kills in the kill experiment
    cost: CommitCost


FULL = Sizes(
    bulk=10_000,
    per_write_cap_local=200,
    per_write_cap_emulator=60,
    requests=500,
    think_s=0.002,
    every_n=100,
    every_t=0.5,
    background_s=0.5,
    mixed_objects=1_000,
    mixed_ops=300,
    mixed_reload_s=0.25,
    two_records=200,
    two_rounds=3,
    scaling=(1_000, 10_000, 100_000),
    scaling_writes=100,
    scaling_gets=400,
    scaling_lists=6,
    scaling_rounds=5,
    peer_budget_s=4.0,
    repetitions=5,
    kill_trials=10,
    cost=CommitCost(),
)

SMOKE = Sizes(
    bulk=300,
    per_write_cap_local=30,
    per_write_cap_emulator=20,
    requests=30,
    think_s=0.001,
    every_n=50,
    every_t=0.02,
    background_s=0.02,
    mixed_objects=100,
    mixed_ops=30,
    mixed_reload_s=0.02,
    two_records=20,
    two_rounds=2,
    scaling=(1_000,),
    scaling_writes=20,
    scaling_gets=100,
    scaling_lists=3,
    scaling_rounds=1,
    peer_budget_s=0.2,
    repetitions=1,
    kill_trials=1,
    cost=CommitCost(latency_s=0.005, per_mb_s=0.002),
)


# -- the workload ---------------------------------------------------------------------


def make_objects(total: int, prefix: str = "user") -> list[Schedule]:
    """``total`` objects, 100 per user."""
    objects: list[Schedule] = []
    user = 0
    while len(objects) < total:
        count = min(OBJECTS_PER_USER, total - len(objects))
        objects.extend(make_schedules(f"{prefix}-{user:05d}", count, salt=user))
        user += 1
    return objects


def request_objects(total: int, users: int = 50) -> list[Schedule]:
    """One new object per request, from ``users`` users in turn (not grouped by user)."""
    objects = [make_schedules(f"client-{i % users:03d}", 1, salt=i)[0] for i in range(total)]
    return objects


def fast_write(root: Path, objects: list[Schedule]) -> None:
    """Write objects in volstore's layout with the atomic floor writer (builds big stores fast)."""
    folders: set[str] = set()
    for obj in objects:
        folder = f"{root}/{RESOURCE_TYPE}/{user_hash(obj.user_id)}"
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
        temp, final = f"{folder}/.{obj.id}.tmp", f"{folder}/{obj.id}.json"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, obj.model_dump_json().encode())
        finally:
            os.close(fd)
        os.replace(temp, final)


# -- the durability recorder -----------------------------------------------------------


class Recorder:
    """Latency per write, and after each acknowledged write how many are not durable yet.

    "Acknowledged": the call that handed the write to the storage layer returned
    (``session.add``, ``db.insert``, appending to a batch), so the application
    moved on. "Durable": committed (emulator: in the volume's committed state;
    local: in a file). Durable counts come by construction (a commit that
    returned makes every earlier write durable) or, for background commits, from
    ``probe`` (the files the container has published).
    """

    def __init__(
        self,
        probe: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.probe = probe
        self.clock = clock
        self.latencies: list[float] = []
        self.acked = 0
        self.durable = 0
        self.commits = 0
        self.start = clock()
        self.samples: list[tuple[float, int]] = [(self.start, 0)]
        self.ack_lost: list[int] = []

    def _lost(self) -> int:
        durable = self.durable
        if self.probe is not None:
            durable = max(durable, self.probe())
        return max(0, self.acked - durable)

    def ack(self, seconds: float, committed: bool) -> None:
        """One write acknowledged after ``seconds``; ``committed``: a commit made it durable."""
        self.acked += 1
        if committed:
            self.durable = self.acked
            self.commits += 1
        self.latencies.append(seconds)
        lost = self._lost()
        self.ack_lost.append(lost)
        self.samples.append((self.clock(), lost))

    def sample(self) -> None:
        """Record the window between writes too (background commits land there)."""
        self.samples.append((self.clock(), self._lost()))

    def window(self) -> tuple[int, float, float]:
        """(max, mean over acknowledged writes, mean over time) of writes a kill would lose."""
        if not self.ack_lost:
            return 0, 0.0, 0.0
        steps = zip(self.samples, self.samples[1:], strict=False)
        area = sum(n * (t1 - t0) for (t0, n), (t1, _) in steps)
        span = self.samples[-1][0] - self.samples[0][0]
        worst = max(n for _, n in self.samples)
        return worst, statistics.fmean(self.ack_lost), area / span if span > 0 else 0.0


# -- environments: a local folder, or a container on the emulator ------------------------


class Env(Protocol):
    kind: str
    path: Path

    def volstore(
        self, *, flush_only: bool = False, reload: volstore.ReloadPolicy = ...
    ) -> volstore.Store: ...

    def volume_commit(self) -> None: ...

    def probe(self) -> int: ...

    def counters(self) -> dict[str, int]: ...

    def clock(self) -> float: ...


def _write_chars() -> int:
    """Bytes this process passed to write() so far (Linux /proc/self/io), or 0."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class LocalEnv:
    """A local folder: writes are durable once in a file; commit does nothing."""

    kind = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def volstore(
        self,
        *,
        flush_only: bool = False,
        reload: volstore.ReloadPolicy = volstore.ReloadPolicy.NEVER,
    ) -> volstore.Store:
        return volstore.Store(volstore.LocalBackend(self.path), reload=reload)

    def volume_commit(self) -> None:
        pass

    def probe(self) -> int:
        return 0

    def counters(self) -> dict[str, int]:
        return {"bytes": _write_chars(), "files": 0, "background_commits": 0}

    def clock(self) -> float:
        return time.perf_counter()

    overhead_s = 0.0


class EmulatorEnv:
    """A container of the emulator: files under the mount, durable once committed.

    With ``modeled`` (the default), ``clock()`` runs on modeled time: real time minus
    the emulator's own work inside ``commit()`` and ``reload()`` (it scans and copies
    the mounted folder), the simulated commit cost (the sleeps) kept. Modeled time is
    the client's work plus the assumed cost of Modal's round trips; the emulator's
    work is kept apart in ``overhead_s``.
    """

    kind = "emulator"

    def __init__(self, volume: EmulatedVolume, mount: Mount, *, modeled: bool = True) -> None:
        self.volume = volume
        self.mount = mount
        self.path = mount.path
        self.overhead_s = 0.0
        if modeled:
            # Instance attributes: every caller of volume.commit() (volstore's mounted
            # backend, the peers' writers) goes through the timer.
            volume.commit = self._timed(volume.commit)  # type: ignore[method-assign]
            volume.reload = self._timed(volume.reload)  # type: ignore[method-assign]

    def _timed(self, method: Callable[[], None]) -> Callable[[], None]:
        def call() -> None:
            slept = self.mount.counters.simulated_seconds
            start = time.perf_counter()
            try:
                method()
            finally:
                elapsed = time.perf_counter() - start
                self.overhead_s += elapsed - (self.mount.counters.simulated_seconds - slept)

        return call

    def clock(self) -> float:
        return time.perf_counter() - self.overhead_s

    def volstore(
        self,
        *,
        flush_only: bool = False,
        reload: volstore.ReloadPolicy = volstore.ReloadPolicy.NEVER,
    ) -> volstore.Store:
        if flush_only:  # files on the mount, no explicit commit: background commits publish
            return volstore.Store(volstore.LocalBackend(self.path), reload=reload)
        return volstore.modal.volume_store(
            self.volume, mount_path=self.path, mode="mounted", reload=reload
        )

    def volume_commit(self) -> None:
        self.volume.commit()

    def probe(self) -> int:
        return self.mount.counters.files_published

    def counters(self) -> dict[str, int]:
        c = self.mount.counters
        return {
            "bytes": c.bytes_published,
            "files": c.files_published,
            "background_commits": c.background_commits,
        }


@contextmanager
def emulator_env(
    emulator: VolumeEmulator, name: str, background_s: float | None = None
) -> Iterator[EmulatorEnv]:
    """A fresh volume ``name`` mounted by one container (background commits only if asked)."""
    volume = emulator.Volume.from_name(name, create_if_missing=True)
    with volume.mount(background_commit_interval=background_s) as mount:
        yield EmulatorEnv(volume, mount)


# -- writers: volstore and the peers behind one interface -------------------------------


class Writer(Protocol):
    def add(self, obj: Schedule) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


class VolstoreWriter:
    """``add`` to the open session (opened on demand); ``commit`` commits and closes it."""

    def __init__(self, store: volstore.Store) -> None:
        self.store = store
        self.session: volstore.Session | None = None

    def add(self, obj: Schedule) -> None:
        if self.session is None:
            self.session = self.store.session()
        self.session.add(obj)

    def commit(self) -> None:
        if self.session is not None:
            self.session.commit()
            self.session.close()
            self.session = None

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


class PeerWriter:
    """``add`` appends to a batch; ``commit`` writes it (one call) and commits the volume.

    A batch of one is ``insert``/``INSERT``+``COMMIT``/one file; a larger batch is
    ``insert_multiple``/``executemany``+``COMMIT``/one file each.
    """

    def __init__(self, peer: SeedFiles | TinyDBPeer | SQLitePeer, env: Env) -> None:
        self.peer = peer
        self.env = env
        self.batch: list[Schedule] = []

    def add(self, obj: Schedule) -> None:
        self.batch.append(obj)

    def commit(self) -> None:
        if len(self.batch) == 1:
            self.peer.write(self.batch[0])
        elif self.batch:
            self.peer.write_many(self.batch)
        self.batch = []
        self.env.volume_commit()

    def close(self) -> None:
        self.peer.close()


def make_peer(store: str, env: Env) -> SeedFiles | TinyDBPeer | SQLitePeer:
    if store == "seed files":
        return SeedFiles(env.path)
    if store == "TinyDB":
        return TinyDBPeer(env.path / "tinydb" / "db.json")
    if store == "SQLite":
        return SQLitePeer(env.path / "sqlite" / "db.sqlite")
    raise ValueError(store)


# -- one strategy on one workload --------------------------------------------------------


@dataclass
class RunResult:
    """One row of the trade-off table."""

    target: str
    workload: str
    store: str
    strategy: str
    writes: int  # writes in the workload
    measured: int  # writes made (fewer when a slow variant is measured on a prefix)
    wall_s: float  # wall time of the measured writes, think time included (modeled)
    real_wall_s: float  # the same, as measured (emulator: its own work included)
    emulator_overhead_s: float  # the emulator's work in commit/reload, not in modeled times
    write_time_s: float  # time spent in write calls (no think time), for ``writes`` writes
    projected: bool  # write_time_s projected from the measured prefix
    commits: int
    background_commits: int
    files_written: int
    bytes_written: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost_max: int
    lost_mean_acks: float
    lost_mean_time: float

    @property
    def per_write_ms(self) -> float:
        return self.write_time_s / self.writes * 1e3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def should_commit(strategy: str, index: int, total: int, since: float, sizes: Sizes) -> bool:
    """Whether the strategy commits after write ``index`` (``since``: seconds since the last)."""
    if index == total - 1 or strategy in ("per_write", "background"):
        return True
    if strategy == "every_n":
        return (index + 1) % sizes.every_n == 0
    if strategy == "every_t":
        return since >= sizes.every_t
    return False  # one_session: only after the last write


def drive(
    writer: Writer,
    strategy: str,
    objects: list[Schedule],
    sizes: Sizes,
    think_s: float,
    recorder: Recorder,
) -> None:
    """Hand each object to ``writer`` and commit as the strategy says; record everything."""
    total = len(objects)
    clock = recorder.clock
    last_commit = clock()
    for index, obj in enumerate(objects):
        start = clock()
        writer.add(obj)
        commit = should_commit(strategy, index, total, clock() - last_commit, sizes)
        if commit:
            writer.commit()
            last_commit = clock()
        # Background: the flush put the file on the mount; only a background commit
        # (seen through the recorder's probe) makes it durable.
        recorder.ack(clock() - start, commit and strategy != "background")
        if think_s:
            time.sleep(think_s)
            recorder.sample()


def run_one(
    env: Env,
    workload: str,
    store: str,
    strategy: str,
    objects: list[Schedule],
    sizes: Sizes,
    think_s: float,
    cap: int | None = None,
) -> RunResult:
    """Run one store with one strategy in ``env`` (a fresh folder or volume).

    With ``cap`` (slow per-write variants), only ``cap`` writes are timed: half into
    the empty store, half into the store filled (untimed, in one batch) with all but
    those; the time of every write is projected from the two halves' means, which is
    exact when a write's cost grows linearly with the store (a database file, or the
    emulator's commit, which scans the mount).
    """
    total = len(objects)
    if cap is not None and cap < total:
        half = cap // 2
        head, middle, tail = (
            objects[:half],
            objects[half : total - (cap - half)],
            objects[total - (cap - half) :],
        )
    else:
        head, middle, tail = objects, [], []
    if store == "volstore":
        writer: Writer = VolstoreWriter(env.volstore(flush_only=strategy == "background"))
    else:
        writer = PeerWriter(make_peer(store, env), env)
    probe = env.probe if strategy == "background" else None
    before = env.counters()
    gc.collect()
    real_start, overhead_start = time.perf_counter(), env.overhead_s
    recorder = Recorder(probe, env.clock)
    filled: dict[str, int] = {}
    try:
        drive(writer, strategy, head, sizes, think_s, recorder)
        head_count = len(recorder.latencies)
        if tail:
            fill_before = env.counters()
            fill_overhead = env.overhead_s
            if isinstance(writer, PeerWriter) and not isinstance(writer.peer, SeedFiles):
                writer.peer.write_many(middle)
            else:
                fast_write(env.path, middle)
            env.volume_commit()
            fill_after = env.counters()
            filled = {k: fill_after[k] - fill_before[k] for k in fill_after}
            overhead_start += env.overhead_s - fill_overhead
            drive(writer, strategy, tail, sizes, think_s, recorder)
    finally:
        writer.close()
    wall = env.clock() - recorder.start
    real_wall = time.perf_counter() - real_start
    overhead = env.overhead_s - overhead_start
    after = env.counters()
    delta = {k: after[k] - before[k] - filled.get(k, 0) for k in after}
    lost_max, lost_acks, lost_time = recorder.window()
    lat = recorder.latencies
    measured = len(lat)
    if tail:
        wall = sum(lat)
        head_mean = statistics.fmean(lat[:head_count])
        tail_mean = statistics.fmean(lat[head_count:])
        write_time = total * (head_mean + tail_mean) / 2
    else:
        write_time = sum(lat)
    files = delta["files"]
    if env.kind == "local":
        # By construction: a file per object, or (TinyDB, SQLite) the one file per commit.
        files = measured if store in ("volstore", "seed files") else recorder.commits
    return RunResult(
        target=env.kind,
        workload=workload,
        store=store,
        strategy=strategy,
        writes=total,
        measured=measured,
        wall_s=wall,
        real_wall_s=real_wall,
        emulator_overhead_s=overhead,
        write_time_s=write_time,
        projected=bool(tail),
        commits=recorder.commits if strategy != "background" else 0,
        background_commits=delta["background_commits"],
        files_written=files,
        bytes_written=delta["bytes"],
        p50_ms=percentile(lat, 50) * 1e3,
        p99_ms=percentile(lat, 99) * 1e3,
        max_ms=max(lat, default=0.0) * 1e3,
        lost_max=lost_max,
        lost_mean_acks=lost_acks,
        lost_mean_time=lost_time,
    )


def _slug(*parts: str) -> str:
    return "-".join(p.replace(" ", "_") for p in parts)


def bench_workload(
    workload: str,
    objects: list[Schedule],
    think_s: float,
    base: Path,
    emulator: VolumeEmulator,
    sizes: Sizes,
    log: Callable[[str], None],
) -> list[RunResult]:
    """Every store with each of its strategies, on local and on the emulator."""
    results: list[RunResult] = []
    plan = [("volstore", s) for s in STRATEGIES] + [
        (peer, s) for peer in STORES[1:] for s in PEER_STRATEGIES
    ]
    for kind in ("local", "emulator"):
        for store, strategy in plan:
            if kind == "local" and strategy == "background":
                continue  # no commits on a local folder: the same as per_write
            cap = None
            if strategy == "per_write" and think_s == 0:
                if kind == "emulator":
                    cap = sizes.per_write_cap_emulator
                elif store == "TinyDB":
                    cap = sizes.per_write_cap_local
            name = _slug(workload, kind, store, strategy)
            if kind == "local":
                result = run_one(
                    LocalEnv(base / name), workload, store, strategy, objects, sizes, think_s, cap
                )
                shutil.rmtree(base / name, ignore_errors=True)
            else:
                interval = sizes.background_s if strategy == "background" else None
                with emulator_env(emulator, name, interval) as env:
                    result = run_one(env, workload, store, strategy, objects, sizes, think_s, cap)
            results.append(result)
            log(
                f"  {kind:<9}{store:<11}{strategy:<12}{result.per_write_ms:>9.3f} ms/write  "
                f"p99 {result.p99_ms:>8.2f} ms  lost {result.lost_mean_time:>8.1f} "
                f"(max {result.lost_max})"
            )
    return results


# -- mixed reads and writes under each reload policy -------------------------------------


@dataclass
class MixedResult:
    target: str
    policy: str
    reads: int
    writes: int
    read_p50_ms: float
    read_p99_ms: float
    write_p50_ms: float
    write_p99_ms: float
    reloads: int
    stale_reads: int
    other_updates: int
    wall_s: float  # time in container A's calls


def bench_mixed(
    base: Path, emulator: VolumeEmulator, sizes: Sizes, log: Callable[[str], None]
) -> list[MixedResult]:
    """Container A: 90% gets of hot objects, 10% one-object writes (new objects), under
    each reload policy; container B updates a hot object (and commits) every 5
    operations. A stale read returns an older revision than the one committed."""
    policies = {
        "never": volstore.ReloadPolicy.NEVER,
        f"every {sizes.mixed_reload_s:g}s": volstore.ReloadPolicy.every(sizes.mixed_reload_s),
        "always": volstore.ReloadPolicy.ALWAYS,
    }
    seed_objects = make_objects(sizes.mixed_objects, prefix="mixed")
    results = []
    for kind in ("local", "emulator"):
        for label, policy in policies.items():
            name = _slug("mixed", kind, label.replace(".", "_"))
            if kind == "local":
                folder = base / name
                fast_write(folder, seed_objects)
                a_env: Env = LocalEnv(folder)
                a_store = a_env.volstore(reload=policy)
                b_store = LocalEnv(folder).volstore()
                result = _mixed_run(kind, label, a_store, b_store, seed_objects, sizes, a_env.clock)
                shutil.rmtree(folder, ignore_errors=True)
            else:
                b_volume = emulator.Volume.from_name(name, create_if_missing=True)
                with b_volume.mount(background_commit_interval=None) as b_mount:
                    fast_write(b_mount.path, seed_objects)
                    b_mount.commit()
                    b_store = volstore.modal.volume_store(
                        b_volume, mount_path=b_mount.path, mode="mounted"
                    )
                    with emulator_env(emulator, name) as a:
                        a_store = a.volstore(reload=policy)
                        result = _mixed_run(
                            kind, label, a_store, b_store, seed_objects, sizes, a.clock
                        )
            results.append(result)
            log(
                f"  {kind:<9}{label:<12} read p50 {result.read_p50_ms:7.3f} ms  "
                f"p99 {result.read_p99_ms:7.3f} ms  stale {result.stale_reads}/{result.reads}"
            )
    return results


def _mixed_run(
    kind: str,
    label: str,
    a_store: volstore.Store,
    b_store: volstore.Store,
    objects: list[Schedule],
    sizes: Sizes,
    clock: Callable[[], float],
) -> MixedResult:
    rng = random.Random(42)
    committed_rev = {(o.user_id, o.id): 0 for o in objects}
    # The traffic centres on a few hot objects: the ones others update are the ones read.
    keys = rng.sample(list(committed_rev), min(HOT_OBJECTS, len(committed_rev)))
    a_repo = a_store.repository(Schedule)
    b_repo = b_store.repository(Schedule)
    reads: list[float] = []
    writes: list[float] = []
    stale = updates = 0
    new_objects = iter(request_objects(sizes.mixed_ops, users=10))
    for op in range(sizes.mixed_ops):
        if op % 5 == 4:  # container B updates one object and commits (not timed)
            key = rng.choice(keys)
            with b_store.session() as s:
                obj = s.get_one(Schedule, *key)
                obj.payload["rev"] = committed_rev[key] + 1
            committed_rev[key] += 1
            updates += 1
        if rng.random() < READ_SHARE:
            key = rng.choice(keys)
            start = clock()
            found = a_repo.get(*key)
            reads.append(clock() - start)
            if found is None or found.payload["rev"] < committed_rev[key]:
                stale += 1
        else:
            start = clock()
            a_repo.put(next(new_objects))
            writes.append(clock() - start)
    del b_repo
    return MixedResult(
        target=kind,
        policy=label,
        reads=len(reads),
        writes=len(writes),
        read_p50_ms=percentile(reads, 50) * 1e3,
        read_p99_ms=percentile(reads, 99) * 1e3,
        write_p50_ms=percentile(writes, 50) * 1e3,
        write_p99_ms=percentile(writes, 99) * 1e3,
        reloads=a_store.stats.reloads,
        stale_reads=stale,
        other_updates=updates,
        wall_s=sum(reads) + sum(writes),
    )


# -- two containers updating different records ---------------------------------------------


@dataclass
class TwoContainerResult:
    store: str
    records: int
    updates: int  # updates made by both containers (each container its own half)
    lost_updates: int  # records whose final committed value is not their owner's last update


def bench_two_containers(emulator: VolumeEmulator, sizes: Sizes) -> list[TwoContainerResult]:
    """Containers A and B mount one volume; each updates its own half of the records and
    commits, in turns, without reloading (the commit refreshes each view). With one
    database file the last commit wins the whole file; with a file per object, each file."""
    objects = make_objects(sizes.two_records, prefix="shared")
    owner = {obj.id: ("A" if i % 2 == 0 else "B") for i, obj in enumerate(objects)}
    results = []
    for store in STORES:
        name = _slug("two", store)
        setup = emulator.Volume.from_name(name, create_if_missing=True)
        with setup.mount(background_commit_interval=None) as m:
            env = EmulatorEnv(setup, m)
            if store == "volstore":
                with env.volstore().session() as s:
                    s.add_all(objects)
            else:
                peer = make_peer(store, env)
                peer.write_many(objects)
                peer.close()
            m.commit()
        handles = {c: emulator.Volume.from_name(name) for c in "AB"}
        with (
            handles["A"].mount(background_commit_interval=None) as ma,
            handles["B"].mount(background_commit_interval=None) as mb,
        ):
            envs = {"A": EmulatorEnv(handles["A"], ma), "B": EmulatorEnv(handles["B"], mb)}
            for rnd in range(sizes.two_rounds):
                for c in "AB":
                    mine = [o for o in objects if owner[o.id] == c]
                    _update_records(store, envs[c], mine, f"{c}-round-{rnd}")
                    envs[c].volume_commit()
        final = _final_names(emulator, name, store, objects)
        last = sizes.two_rounds - 1
        lost = sum(1 for o in objects if final.get(o.id) != f"{owner[o.id]}-round-{last}")
        results.append(
            TwoContainerResult(store, len(objects), len(objects) * sizes.two_rounds, lost)
        )
    return results


def _update_records(store: str, env: EmulatorEnv, mine: list[Schedule], value: str) -> None:
    if store == "volstore":
        with env.volstore().session() as s:
            for obj in mine:
                s.get_one(Schedule, obj.user_id, obj.id).name = value
        return
    peer = make_peer(store, env)
    try:
        if isinstance(peer, TinyDBPeer):
            for obj in mine:
                peer.update_name(obj.id, value)
        else:
            updated = []
            for obj in mine:
                current = peer.get(obj.user_id, obj.id)
                assert current is not None
                updated.append(current.model_copy(update={"name": value}))
            peer.write_many(updated)
    finally:
        peer.close()  # a database file left open would block the view refresh


def _final_names(
    emulator: VolumeEmulator, name: str, store: str, objects: list[Schedule]
) -> dict[str, str]:
    """Each record's name in the volume's final committed state (a new container reads it)."""
    reader = emulator.Volume.from_name(name)
    with reader.mount(background_commit_interval=None) as m:
        env = EmulatorEnv(reader, m)
        if store == "volstore":
            repo = env.volstore().repository(Schedule)
            found = [repo.get(o.user_id, o.id) for o in objects]
            names = {o.id: o.name for o in found if o is not None}
        elif store == "TinyDB":
            tiny = TinyDBPeer(m.path / "tinydb" / "db.json")
            names = {doc["id"]: doc["name"] for doc in tiny.all()}
            tiny.close()
        else:
            peer = make_peer(store, env)
            assert isinstance(peer, (SeedFiles, SQLitePeer))
            got = [peer.get(o.user_id, o.id) for o in objects]
            names = {o.id: o.name for o in got if o is not None}
            peer.close()
    return names


# -- the real kill experiment -----------------------------------------------------------------


@dataclass
class KillResult:
    strategy: str
    trials: int
    acked_at_kill: list[int]
    committed_after: list[int]
    lost: list[int]
    estimate_mean_time: float  # the recorder's estimate for the same runs (over time)
    estimate_mean_acks: float  # the same, averaged over acknowledged writes

    @property
    def lost_mean(self) -> float:
        return statistics.fmean(self.lost) if self.lost else 0.0


def bench_kill(
    emulator: VolumeEmulator, sizes: Sizes, log: Callable[[str], None]
) -> list[KillResult]:
    """Request traffic with background commits (and with a commit every N); another thread
    kills the container (``Mount.kill``) at a random moment. Lost: writes acknowledged
    before the kill that are not in the committed state afterwards."""
    rng = random.Random(7)
    results = []
    for strategy in ("background", "every_n"):
        acked_list, committed_list, lost_list = [], [], []
        estimates, ack_estimates = [], []
        for trial in range(sizes.kill_trials):
            objects = request_objects(sizes.requests * 4)
            name = _slug("kill", strategy, str(trial))
            interval = sizes.background_s if strategy == "background" else None
            volume = emulator.Volume.from_name(name, create_if_missing=True)
            mount = volume.mount(background_commit_interval=interval)
            mount.__enter__()
            env = EmulatorEnv(volume, mount, modeled=False)  # real kills run on real time
            writer = VolstoreWriter(env.volstore(flush_only=strategy == "background"))
            recorder = Recorder(env.probe if strategy == "background" else None)
            at_kill: list[int] = []
            # Kill somewhere in the middle of the expected run (never before the first commit
            # interval has passed, so every trial exercises the window, not the start-up).
            expected = len(objects) * (sizes.think_s + 0.0002)
            delay = rng.uniform(0.25 * expected, 0.75 * expected)

            def killer(
                delay: float = delay,
                at_kill: list[int] = at_kill,
                recorder: Recorder = recorder,
                mount: Mount = mount,
            ) -> None:
                time.sleep(delay)
                at_kill.append(recorder.acked)
                mount.kill()

            thread = threading.Thread(target=killer)
            thread.start()
            try:
                drive_until_killed(writer, strategy, objects, sizes, recorder, mount)
            finally:
                thread.join()
                mount.__exit__(None, None, None)
            committed = _committed_objects(emulator, name)
            acked = at_kill[0]
            acked_ids = {o.id for o in objects[:acked]}
            lost = len(acked_ids - committed)
            acked_list.append(acked)
            committed_list.append(len(committed))
            lost_list.append(lost)
            _, per_ack, over_time = recorder.window()
            estimates.append(over_time)
            ack_estimates.append(per_ack)
        result = KillResult(
            strategy,
            sizes.kill_trials,
            acked_list,
            committed_list,
            lost_list,
            statistics.fmean(estimates),
            statistics.fmean(ack_estimates),
        )
        results.append(result)
        log(
            f"  {strategy:<11} lost per kill {lost_list} (mean {result.lost_mean:.1f}); estimate "
            f"{result.estimate_mean_acks:.1f} per ack, {result.estimate_mean_time:.1f} over time"
        )
    return results


def drive_until_killed(
    writer: VolstoreWriter,
    strategy: str,
    objects: list[Schedule],
    sizes: Sizes,
    recorder: Recorder,
    mount: Mount,
) -> None:
    """``drive`` for the kill experiment: stops at the first failure once the mount is gone."""
    last_commit = time.monotonic()
    total = len(objects)
    for index, obj in enumerate(objects):
        if not mount.active:
            return
        start = time.perf_counter()
        try:
            writer.add(obj)
            commit = should_commit(strategy, index, total, time.monotonic() - last_commit, sizes)
            if commit:
                writer.commit()
                last_commit = time.monotonic()
        except (OSError, RuntimeError, volstore.VolstoreError):
            return  # the container is gone
        if not mount.active:
            return  # killed during this write: it was never acknowledged
        recorder.ack(time.perf_counter() - start, commit and strategy != "background")
        time.sleep(sizes.think_s)
        recorder.sample()


def _committed_objects(emulator: VolumeEmulator, name: str) -> set[str]:
    volume = emulator.Volume.from_name(name)
    try:
        entries = volume.listdir(RESOURCE_TYPE, recursive=True)
    except Exception:  # nothing was ever committed: no folder
        return set()
    return {
        e.path.rpartition("/")[2][: -len(".json")]
        for e in entries
        if e.path.endswith(".json") and not e.path.rpartition("/")[2].startswith(".")
    }


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


# -- reporting --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers ran on."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            memory = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import matplotlib
    import tinydb

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "pydantic": pydantic.VERSION,
        "volstore": volstore.__version__,
        "tinydb": tinydb.__version__,
        "sqlite": sqlite3.sqlite_version,
        "matplotlib": matplotlib.__version__,
    }


STRATEGY_LABELS = {
    "per_write": "commit per write",
    "every_n": "commit every N",
    "every_t": "commit every T s",
    "one_session": "one commit",
    "background": "background only",
}


def run_label(run: dict[str, Any] | RunResult, sizes: dict[str, Any] | None = None) -> str:
    r = dataclasses.asdict(run) if isinstance(run, RunResult) else run
    strategy = r["strategy"]
    label = STRATEGY_LABELS[strategy]
    if sizes is not None:
        if strategy == "every_n":
            label = f"commit every {sizes['every_n']}"
        elif strategy == "every_t":
            label = f"commit every {sizes['every_t']:g} s"
        elif strategy == "background":
            label = f"background ({sizes['background_s']:g} s)"
    if r["store"] == "TinyDB":
        label += " (insert)" if strategy == "per_write" else " (insert_multiple)"
    if r["store"] == "SQLite" and strategy != "per_write":
        label += " (executemany)"
    return label


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _fmt_ms(ms: float) -> str:
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 1:
        return f"{ms:.1f}"
    return f"{ms:.3f}"


def tradeoff_table(doc: dict[str, Any], target: str, workload: str) -> list[str]:
    """The markdown rows of one trade-off table."""
    sizes = doc["config"]["sizes"]
    rows = [r for r in doc["runs"] if r["target"] == target and r["workload"] == workload]
    rows.sort(key=lambda r: (STORES.index(r["store"]), STRATEGIES.index(r["strategy"])))
    think = workload == "requests"
    total_col = "write time (s)" if not think else "wall (s)"
    lines = [
        f"| store | strategy | {total_col} | ms/write | p50 ms | p99 ms | max ms | commits | "
        "files | bytes/write | lost on kill: mean (time) | mean (per ack) | max |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        per_write = r["write_time_s"] / r["writes"] * 1e3
        total = r["wall_s"] if think else r["write_time_s"]
        mark = "~" if r["projected"] else ""
        commits = (
            f"{r['background_commits']} bg" if r["strategy"] == "background" else f"{r['commits']}"
        )
        measured = f" ({r['measured']:,} of {r['writes']:,})" if r["projected"] else ""
        lines.append(
            f"| {r['store']} | {run_label(r, sizes)}{measured} | {mark}{total:,.2f} | "
            f"{_fmt_ms(per_write)} | {_fmt_ms(r['p50_ms'])} | {_fmt_ms(r['p99_ms'])} | "
            f"{_fmt_ms(r['max_ms'])} | {commits} | {r['files_written']:,} | "
            f"{_fmt_bytes(r['bytes_written'] / max(r['measured'], 1))} | "
            f"{r['lost_mean_time']:,.1f} | {r['lost_mean_acks']:,.1f} | {r['lost_max']:,} |"
        )
    return lines


def markdown(doc: dict[str, Any]) -> str:
    """results.md: every table of the run."""
    c = doc["config"]
    s = c["sizes"]
    cost = c["commit_cost"]
    m = c["machine"]
    out = [
        "# Commit strategies: results",
        "",
        f"Mode: **{c['mode']}**, run {c['date']} on {m['cpu']} ({m['cores']} cores, "
        f"{m['memory']}), {m['os']}; Python {m['python']}, pydantic {m['pydantic']}, "
        f"TinyDB {m['tinydb']}, SQLite {m['sqlite']}. Storage: {c['storage']}. "
        f"Total run time {c['seconds']:.0f} s.",
        "",
        f"Emulator commit cost (ASSUMED, not measured on Modal): {cost['latency_s'] * 1e3:g} ms "
        f"per commit or reload + {cost['per_mb_s'] * 1e3:g} ms per MB moved. Background commit "
        f"interval {s['background_s']:g} s (Modal: every few seconds). N = {s['every_n']}, "
        f"T = {s['every_t']:g} s.",
        "",
        "`~`: time projected for all writes from the ones measured: half into the empty "
        "store, half into the store filled with the rest (the mean of the two, times all "
        "writes). Lost on kill: acknowledged writes not "
        "yet committed; mean (time) is what a kill at a random moment loses.",
        "",
        "## Targets",
        "",
        "| target | claim | measured | result |",
        "|---|---|--:|---|",
    ]
    for t in doc["targets"]:
        verdict = "pass" if t["passed"] else "**MISS**"
        out.append(f"| {t['name']} | `{t['claim']}` | {t['ratio']:.2f}x | {verdict} |")
    out += ["", "Best times behind the ratios (seconds):", ""]
    out += [f"- `{k}`: {v:.4f}" for k, v in doc["target_seconds"].items()]
    titles = {
        "bulk": f"Bulk import of {s['bulk']:,} objects",
        "requests": f"Request-like traffic: {s['requests']:,} requests, one object each, "
        f"{s['think_s'] * 1e3:g} ms between requests",
    }
    for workload, title in titles.items():
        for target in ("emulator", "local"):
            out += ["", f"## {title}: {target}", ""]
            out += tradeoff_table(doc, target, workload)
    out += [
        "",
        f"## Mixed reads and writes under each reload policy ({s['mixed_ops']} operations: "
        f"{READ_SHARE:.0%} gets of {HOT_OBJECTS} hot objects, the rest one-object writes; "
        "another container updates a hot object and commits every 5 operations)",
        "",
        "| target | reload policy | reads | read p50 ms | read p99 ms | write p50 ms | "
        "write p99 ms | reloads | stale reads | time in calls (s) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in doc["mixed"]:
        out.append(
            f"| {r['target']} | {r['policy']} | {r['reads']} | {_fmt_ms(r['read_p50_ms'])} | "
            f"{_fmt_ms(r['read_p99_ms'])} | {_fmt_ms(r['write_p50_ms'])} | "
            f"{_fmt_ms(r['write_p99_ms'])} | {r['reloads']} | {r['stale_reads']} | "
            f"{r['wall_s']:.2f} |"
        )
    out += [
        "",
        f"## Two containers update different records ({s['two_rounds']} rounds each)",
        "",
        "| store | records | updates made | updates lost |",
        "|---|--:|--:|--:|",
    ]
    for r in doc["two_containers"]:
        out.append(f"| {r['store']} | {r['records']} | {r['updates']} | {r['lost_updates']} |")
    if doc.get("kill"):
        out += [
            "",
            "## Real kills (`Mount.kill()` at a random moment) against the estimate",
            "",
            "| strategy | kills | acknowledged at kill | lost per kill | mean lost | "
            "estimate: mean per ack | mean over time |",
            "|---|--:|---|---|--:|--:|--:|",
        ]
        for k in doc["kill"]:
            mean_lost = statistics.fmean(k["lost"]) if k["lost"] else 0.0
            out.append(
                f"| {run_label({'strategy': k['strategy'], 'store': 'volstore'}, s)} | "
                f"{k['trials']} | {k['acked_at_kill']} | {k['lost']} | {mean_lost:.1f} | "
                f"{k['estimate_mean_acks']:.1f} | {k['estimate_mean_time']:.1f} |"
            )
    sc = doc["scaling"]
    out += [
        "",
        "## Scaling: median time per operation (microseconds), local backend",
        "",
        "| store | operation | " + " | ".join(f"{n:,}" for n in sc["sizes"]) + " |",
        "|---|---|" + "--:|" * len(sc["sizes"]),
    ]
    for store, ops in sc["series"].items():
        for op, values in ops.items():
            cells = " | ".join(f"{v:,.1f}" if v is not None else "-" for v in values)
            out.append(f"| {store} | {op} | {cells} |")
    return "\n".join(out) + "\n"


def print_tradeoff(doc: dict[str, Any]) -> None:
    """The trade-off table of speed against durability, on stdout."""
    sizes = doc["config"]["sizes"]
    for workload in ("bulk", "requests"):
        for target in ("emulator", "local"):
            rows = [r for r in doc["runs"] if r["target"] == target and r["workload"] == workload]
            print(f"\ntrade-off: {workload}, {target}")
            print(
                f"  {'store':<11}{'strategy':<34}{'ms/write':>10}{'p99 ms':>10}"
                f"{'commits':>9}{'lost mean':>11}{'lost max':>10}"
            )
            for r in rows:
                per_write = r["write_time_s"] / r["writes"] * 1e3
                mark = "~" if r["projected"] else " "
                print(
                    f"  {r['store']:<11}{run_label(r, sizes):<34}{mark}{per_write:>9.3f}"
                    f"{r['p99_ms']:>10.2f}{r['commits']:>9}{r['lost_mean_time']:>11.1f}"
                    f"{r['lost_max']:>10}"
                )


# -- entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks bench_strategies", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a quick run (CI) into a temporary folder"
    )
    parser.add_argument(
        "--out",
        help=f"where to write results.json, results.md and the plots (full run default: "
        f"{DEFAULT_OUT.relative_to(ROOT)}; smoke default: a temporary folder)",
    )
    parser.add_argument("--dir", help="where to store data (default: /dev/shm if present)")
    parser.add_argument(
        "--no-check", action="store_true", help="exit 0 even when a target is missed"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--only",
        help="comma-separated parts to run (targets,bulk,requests,mixed,two,kill,scaling)",
    )
    return parser.parse_args(argv)


PARTS = ("targets", "bulk", "requests", "mixed", "two", "kill", "scaling")


def main(argv: list[str]) -> int:
    """Run the suite; write results.json, results.md and plots; 1 if a target is missed."""
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    parts = set(PARTS if not args.only else args.only.split(","))
    unknown = parts - set(PARTS)
    if unknown:
        print(f"bench_strategies: unknown parts {sorted(unknown)}", file=sys.stderr)
        return 2
    if args.out:
        out = Path(args.out)
    elif args.smoke:
        out = Path(tempfile.mkdtemp(prefix="volstore-strategies-smoke-"))
    else:
        out = DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    root, storage = storage_root(args.dir, prefix="volstore-strategies-")

    def log(message: str) -> None:
        print(message, flush=True)

    mode = "smoke" if args.smoke else "full"
    log(f"volstore commit strategies ({mode}); data in {root}; results to {out}")
    cost = sizes.cost
    config_sizes = {k: v for k, v in dataclasses.asdict(sizes).items() if k not in ("cost",)}
    config_sizes["scaling"] = list(sizes.scaling)
    doc: dict[str, Any] = {
        "config": {
            "mode": mode,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "storage": storage,
            "machine": machine(),
            "commit_cost": {"latency_s": cost.latency_s, "per_mb_s": cost.per_mb_s},
            "sizes": config_sizes,
            "parts": sorted(parts),
        },
        "runs": [],
        "mixed": [],
        "two_containers": [],
        "kill": [],
        "scaling": {"sizes": list(sizes.scaling), "series": {}},
        "target_seconds": {},
        "ratios": {},
        "targets": [],
        "missed": [],
    }
    try:
        emulator = VolumeEmulator(root / "emulator", commit_cost=cost)
        if "targets" in parts:
            log("\n-- targets: bulk writes and gets against their floors (local) --")
            doc["target_seconds"] = bench_targets(root, sizes)
            for k, v in doc["target_seconds"].items():
                log(f"  {k:<24}{v * 1e3:>10.1f} ms")
        if "bulk" in parts:
            log(f"\n-- bulk import of {sizes.bulk:,} objects --")
            objects = make_objects(sizes.bulk)
            doc["runs"] += [
                dataclasses.asdict(r)
                for r in bench_workload("bulk", objects, 0.0, root, emulator, sizes, log)
            ]
        if "requests" in parts:
            log(f"\n-- request-like traffic: {sizes.requests:,} requests --")
            objects = request_objects(sizes.requests)
            doc["runs"] += [
                dataclasses.asdict(r)
                for r in bench_workload(
                    "requests", objects, sizes.think_s, root, emulator, sizes, log
                )
            ]
        if "mixed" in parts:
            log("\n-- mixed reads and writes under each reload policy --")
            doc["mixed"] = [dataclasses.asdict(r) for r in bench_mixed(root, emulator, sizes, log)]
        if "two" in parts:
            log("\n-- two containers update different records --")
            two = bench_two_containers(emulator, sizes)
            doc["two_containers"] = [dataclasses.asdict(r) for r in two]
            for r in two:
                log(f"  {r.store:<11} lost {r.lost_updates} of {r.records} records' updates")
        if "kill" in parts:
            log("\n-- real kills at random moments --")
            doc["kill"] = [dataclasses.asdict(r) for r in bench_kill(emulator, sizes, log)]
        if "scaling" in parts:
            log("\n-- scaling: per-operation cost as the store grows (local) --")
            doc["scaling"]["series"] = bench_scaling(root, sizes, log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if "targets" in parts and "scaling" in parts:
        doc["ratios"] = compute_ratios(doc["target_seconds"], doc["scaling"]["series"])
        for target in TARGETS:
            ratio = doc["ratios"][target.ratio_name]
            passed = target.passes(ratio)
            doc["targets"].append(
                {"name": target.name, "claim": target.describe(), "ratio": ratio, "passed": passed}
            )
            if not passed:
                doc["missed"].append(target.name)
    doc["config"]["seconds"] = time.perf_counter() - started
    print_tradeoff(doc)
    if doc["targets"]:
        print(f"\n{'target':<48}{'claim':<44}result")
        for t in doc["targets"]:
            verdict = "pass" if t["passed"] else ("miss (unchecked)" if args.smoke else "MISS")
            print(f"{t['name']:<48}{t['claim']:<44}{t['ratio']:.2f}x {verdict}")
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "results.md").write_text(markdown(doc))
    if not args.no_plots:
        from benchmarks import _plots

        for path in _plots.write_all(doc, out):
            log(f"wrote {path}")
    seconds = doc["config"]["seconds"]
    log(f"\nwrote {out / 'results.json'} and {out / 'results.md'} in {seconds:.0f} s")
    if args.smoke:
        print("smoke run: every part ran; speed not checked")
        return 0
    if doc["missed"] and not args.no_check:
        print(f"missed: {', '.join(doc['missed'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
