"""The async API never blocks the event loop: a big commit and many reads leave it ticking.

The property: while a session of 10,000 objects commits and 100 reads run
concurrently, no piece of volstore's work holds the event loop for more than
20 ms. A ticking coroutine (``sleep(1 ms)`` in a loop) measures it; for each
tick it records two numbers:

- the loop thread's CPU time between two ticks (``time.thread_time``), less
  the garbage collector's (a collection runs in whichever thread allocates,
  and a full one over 10,000 fresh objects takes 20-60 ms: the runtime's
  pause, not volstore's code; it is reported apart): what volstore ran ON the
  loop in that gap. This is the property itself, and it is immune to the
  machine's load: a thread that waits for a CPU or for the GIL uses none. It
  is asserted strictly: every gap under 20 ms (measured: about 3 ms; a commit
  run on the loop takes hundreds).
- the wall-clock lag of the tick: what a request on the loop feels. On this
  shared 2-core machine (load averages of 5 are common) the OS and the GIL
  (worker threads encoding and writing) add stalls that are not volstore's
  code on the loop, so it is asserted on robust statistics with generous
  margins: the 90th percentile under 20 ms (measured: 1-4 ms), and less than
  half of the run spent in stalls longer than 20 ms (measured: about 10%).

A control runs the same commit through the blocking API on the loop, and must
fail both (which shows the measurement sees a blocked loop). Under pytest's
``filterwarnings = error`` a blocking Modal call on the loop (AsyncUsageWarning)
would fail the mounted case.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

import volstore
from models import Schedule
from volstore.aio import AsyncStore
from volstore.modal import async_volume_store
from volstore.testing import VolumeEmulator

OBJECTS = 10_000
READS = 100
STALL = 0.020


@dataclass
class Lags:
    """What the ticker saw: per tick, the wall-clock lag and the loop thread's CPU time
    (less the garbage collector's, ``gc``: the most one gap held)."""

    wall: list[float]
    cpu: list[float]
    gc: float
    seconds: float

    def quantile(self, q: float) -> float:
        ordered = sorted(self.wall)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def stalled_share(self) -> float:
        """The share of the run the loop spent in stalls longer than STALL."""
        return sum(lag for lag in self.wall if lag > STALL) / self.seconds

    def describe(self) -> str:
        return (
            f"{len(self.wall)} ticks over {self.seconds * 1e3:.0f} ms; loop CPU per gap max "
            f"{max(self.cpu) * 1e3:.1f} ms (+ gc {self.gc * 1e3:.1f} ms); "
            f"wall lag p50 {self.quantile(0.5) * 1e3:.1f} ms, "
            f"p90 {self.quantile(0.9) * 1e3:.1f} ms, max {max(self.wall) * 1e3:.1f} ms; "
            f"stalled {self.stalled_share:.0%} of the run"
        )


class CollectorTime:
    """CPU time the garbage collector spent on one thread (``gc.callbacks``)."""

    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self.thread:
            return
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.total += time.thread_time() - self._started


async def while_ticking(work: Callable[[], Awaitable[object]]) -> Lags:
    """Run ``work`` while a coroutine ticks every millisecond; what the ticks saw."""
    wall: list[float] = []
    cpu: list[float] = []
    most_gc = 0.0
    running = True
    collector = CollectorTime(threading.get_ident())

    async def tick() -> None:
        nonlocal most_gc
        while running:
            started, used, collected = time.perf_counter(), time.thread_time(), collector.total
            await asyncio.sleep(0.001)
            wall.append(time.perf_counter() - started - 0.001)
            in_gc = collector.total - collected
            cpu.append(time.thread_time() - used - in_gc)
            most_gc = max(most_gc, in_gc)

    gc.callbacks.append(collector)
    try:
        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.005)
        started = time.perf_counter()
        await work()
        seconds = time.perf_counter() - started
        running = False
        await ticker
    finally:
        gc.callbacks.remove(collector)
    return Lags(wall, cpu, most_gc, seconds)


def objects(user_prefix: str, count: int = OBJECTS) -> list[Schedule]:
    return [
        Schedule(
            id=f"o{i:05d}",
            user_id=f"{user_prefix}{i % 100}",
            name="nightly " * 6,
            cron="0 * * * *",
            tags=["report", f"team-{i % 5}"],
            payload={"n": i, "url": f"https://example.com/{i}"},
        )
        for i in range(count)
    ]


def readers() -> list[Schedule]:
    return [
        Schedule(id=f"r{i:03d}", user_id="reader", name="r", cron="* * * * *") for i in range(READS)
    ]


@pytest.fixture(params=["local", "mounted", "remote"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AsyncStore]:
    """Files (each call whole in a worker thread) and the client API (calls on the loop)."""
    with ExitStack() as stack:
        if request.param == "local":
            store = AsyncStore(tmp_path / "store", threads=8)
        else:
            volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("v", create_if_missing=True)
            if request.param == "mounted":
                mount = stack.enter_context(volume.mount(background_commit_interval=None))
                store = async_volume_store(volume, mount_path=mount.path, mode="mounted", threads=8)
            else:
                store = async_volume_store(volume, mode="remote", threads=8)
        stack.callback(store.close)
        yield store


def test_a_big_commit_and_many_reads_never_stall_the_loop(store: AsyncStore) -> None:
    async def main() -> tuple[Lags, list[Schedule | None]]:
        await store.repository(Schedule).put_all(readers())
        session = store.session()
        session.add_all(objects("big"))  # memory only; before the measurement
        repo = store.repository(Schedule)
        found: list[Schedule | None] = []

        async def work() -> None:
            reads = [repo.get("reader", f"r{i:03d}") for i in range(READS)]
            _, *got = await asyncio.gather(session.commit(), *reads)
            found.extend(got)

        lags = await while_ticking(work)
        session.close()
        return lags, found

    lags, found = asyncio.run(main())
    print("\nasync API:", lags.describe())
    assert [obj.id if obj else None for obj in found] == [f"r{i:03d}" for i in range(READS)]
    assert store.stats.writes == READS + OBJECTS
    assert max(lags.cpu) < STALL, lags.describe()
    assert lags.quantile(0.9) < STALL, lags.describe()
    assert lags.stalled_share < 0.5, lags.describe()


def test_the_measurement_sees_a_blocked_loop(tmp_path: Path) -> None:
    """The control: the blocking API called on the loop holds it for the whole commit
    (a fifth of the objects is enough to show it)."""
    store = volstore.Store(tmp_path / "store")

    async def work() -> None:
        with store.session() as s:
            s.add_all(objects("blocking", OBJECTS // 5))

    lags = asyncio.run(while_ticking(work))
    print("\nblocking API on the loop:", lags.describe())
    assert max(lags.cpu) > STALL
    assert lags.stalled_share > 0.5
