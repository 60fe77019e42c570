"""Volstore and its peers behind one writer interface, and one strategy run on one workload."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Protocol

import volstore
from benchmarks.strategies.config import Sizes
from benchmarks.strategies.peers import SeedFiles, SQLitePeer, TinyDBPeer
from benchmarks.strategies.workloads import Env, Recorder, fast_write
from models import Schedule

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
