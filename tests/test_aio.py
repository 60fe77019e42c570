"""The async API (volstore.aio): awaited sessions and repositories, and what runs where.

The contract suites and the model-based test also run through it (tests/contract,
tests/test_stateful.py); these tests pin what only an event loop shows: the
session's rules across ``await`` points, cancellation, what runs in worker
threads and what awaits Modal's ``.aio`` forms, and many concurrent requests
in one container. pytest runs with ``filterwarnings = error``: a blocking
Modal call on the loop (AsyncUsageWarning) fails any of them.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import pytest

import volstore
import volstore.aio
from models import Event, Schedule
from volstore.aio import AsyncStore
from volstore.modal import async_volume_store, volume_store
from volstore.testing import EmulatedVolume, VolumeEmulator

T = TypeVar("T")
CREATED = datetime(2024, 2, 29, 12, tzinfo=timezone.utc)


def run(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(main())  # type: ignore[arg-type]


def sched(object_id: str, user: str = "ada", name: str = "n") -> Schedule:
    return Schedule(id=object_id, user_id=user, name=name, cron="* * * * *", created_at=CREATED)


class Counter(volstore.Model, resource_type="aio-counters", version_field="version"):
    id: str
    user_id: str
    value: int = 0
    version: int = 0


@pytest.fixture
def astore(tmp_path: Path) -> Iterator[AsyncStore]:
    store = AsyncStore(tmp_path / "store", threads=4)
    yield store
    store.close()


# -- sessions ------------------------------------------------------------------------------


def test_a_session_commits_once_on_a_clean_exit(astore: AsyncStore) -> None:
    async def main() -> list[str]:
        async with astore.session() as s:
            s.add_all([sched(f"s{i}") for i in range(5)])
            assert await s.get(Schedule, "ada", "s3") is not None  # its own pending write
        return await astore.repository(Schedule).ids("ada")

    assert run(main) == ["s0", "s1", "s2", "s3", "s4"]
    assert astore.stats.commits == 1


def test_a_session_that_raises_or_is_cancelled_writes_nothing(astore: AsyncStore) -> None:
    async def main() -> list[str]:
        with pytest.raises(RuntimeError, match="boom"):
            async with astore.session() as s:
                s.add(sched("raised"))
                raise RuntimeError("boom")
        ready = asyncio.Event()

        async def request() -> None:
            async with astore.session() as s:
                s.add(sched("cancelled"))
                ready.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(request())
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await astore.repository(Schedule).ids("ada")

    assert run(main) == []
    assert astore.stats.commits == 0


def test_memory_only_calls_are_plain_and_storage_calls_are_awaited(astore: AsyncStore) -> None:
    async def main() -> None:
        await astore.repository(Schedule).put(sched("old"))
        async with astore.session() as s:
            added = s.add(sched("new"))  # no await: memory only
            assert added.id == "new"
            s.delete(Schedule, "ada", "old")  # buffered
            assert await s.get(Schedule, "ada", "old") is None
            repo = s.repository(Schedule)
            assert await repo.ids("ada") == ["new"]
            assert await repo.count("ada") == 1
            assert s.has_changes
            s.rollback()
            assert await repo.ids("ada") == ["old"]

    run(main)


def test_a_session_serves_one_task_at_a_time(tmp_path: Path) -> None:
    """Two tasks on one session: the second call is refused while the first is under way."""
    gate = threading.Event()

    class Slow(volstore.LocalBackend):
        def read(self, path: str, *, limit: int | None = None) -> bytes:
            gate.wait(10)
            return super().read(path, limit=limit)

    store = AsyncStore(Slow(tmp_path / "s"), threads=2)

    async def main() -> None:
        async with store.session() as s:
            first = asyncio.create_task(s.get(Schedule, "ada", "x"))
            await asyncio.sleep(0.05)  # the first get is reading, in a worker thread
            with pytest.raises(volstore.SessionError, match="one task at a time"):
                await s.get(Schedule, "ada", "y")
            with pytest.raises(volstore.SessionError, match="get\\(\\) is under way"):
                s.add(sched("z"))
            gate.set()
            assert await first is None
            s.add(sched("z"))  # free again
        assert await store.repository(Schedule).ids("ada") == ["z"]

    try:
        run(main)
    finally:
        gate.set()
        store.close()


def test_a_store_write_inside_an_open_session_of_the_task_is_refused(astore: AsyncStore) -> None:
    async def other_task() -> None:
        await astore.repository(Schedule).put(sched("elsewhere"))

    async def main() -> list[str]:
        async with astore.session() as s:
            s.add(sched("mine"))
            with pytest.raises(volstore.SessionError, match="outside the session"):
                await astore.repository(Schedule).put(sched("outside"))
            # Another request (a task the server started, not this one) is not inside it.
            await elsewhere(other_task())
        await astore.repository(Schedule).put(sched("after"))  # closed: allowed again
        return await astore.repository(Schedule).ids("ada")

    assert run(main) == ["after", "elsewhere", "mine"]


def elsewhere(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """``coro`` as a task of its own context, as a server starts each request's task."""
    return contextvars.Context().run(asyncio.get_running_loop().create_task, coro)


def test_a_closed_session_refuses_further_use(astore: AsyncStore) -> None:
    async def main() -> None:
        session = astore.session()
        session.add(sched("never"))
        session.close()
        with pytest.raises(volstore.SessionError, match="closed"):
            await session.get(Schedule, "ada", "never")
        with pytest.raises(volstore.SessionError, match="closed"):
            session.add(sched("again"))
        assert await astore.repository(Schedule).get("ada", "never") is None

    run(main)


# -- repositories ----------------------------------------------------------------------------


def test_iterations_are_async_for_and_read_lazily(astore: AsyncStore) -> None:
    async def main() -> None:
        repo = astore.repository(Schedule)
        await repo.put_all([sched(f"{i:02d}") for i in range(10)] + [sched("b0", user="bob")])
        assert [s.id async for s in repo.iter("ada", after="03", limit=3)] == ["04", "05", "06"]
        reads = astore.stats.reads
        results = repo.iter("ada")
        first = await results.__anext__()
        await results.aclose()
        assert first.id == "00"
        assert astore.stats.reads - reads == 1  # one object read, not ten
        assert len([p async for p in repo.scan_paths()]) == 11
        assert sorted([s.user_id async for s in repo.scan()]) == ["ada"] * 10 + ["bob"]
        bob = repo.for_user("bob")
        assert [s.id for s in await bob.list()] == ["b0"]
        with pytest.raises(volstore.TenantIsolationError):
            await bob.put(sched("x", user="ada"))
        assert await repo.delete("ada", "00")
        assert not await repo.delete("ada", "00")
        assert await repo.delete_all("ada") == 9
        with pytest.raises(volstore.ObjectNotFoundError):
            await repo.get_one("ada", "01")

    run(main)


class Job(volstore.Model, resource_type="aio-jobs", indexes=["status"]):
    id: str
    user_id: str
    status: str = "open"
    rank: int = 0


def test_queries_build_plainly_and_run_awaited(astore: AsyncStore) -> None:
    async def main() -> None:
        repo = astore.repository(Job)
        jobs = [
            Job(id=f"j{i}", user_id="ada", status="done" if i % 3 else "open", rank=i)
            for i in range(9)
        ]
        await repo.put_all([*jobs, Job(id="b0", user_id="bob")])
        query = repo.query("ada").where(status="open").order_by(volstore.desc("rank"))
        assert isinstance(query, volstore.aio.AsyncQuery)  # built without awaiting: no I/O yet
        assert [j.id for j in await query.all()] == ["j6", "j3", "j0"]
        assert [j.id async for j in query] == ["j6", "j3", "j0"]
        assert await query.count() == 3
        assert await query.exists()
        assert (await query.first()) == jobs[6]
        assert (await query.explain()).index == "status"
        first = await query.page(2)
        assert [j.id for j in first.items] == ["j6", "j3"]
        rest = await query.page(2, first.cursor)
        assert [j.id for j in rest.items] == ["j0"]
        assert rest.cursor is None
        assert [[j.id for j in p.items] async for p in query.pages(2)] == [["j6", "j3"], ["j0"]]
        assert [j.id for j in await query.after(query.cursor_after(jobs[6])).all()] == ["j3", "j0"]
        everyone = repo.query(all_users=True).where(status="open")
        assert sorted(j.id for j in await everyone.all()) == ["b0", "j0", "j3", "j6"]
        assert [j.id for j in await repo.for_user("bob").query().all()] == ["b0"]
        async with astore.session() as session:
            in_session = session.repository(Job)
            await in_session.delete("ada", "j3")
            # a session's query sees its own pending changes
            still_open = await in_session.query("ada").where(status="open").all()
            assert [j.id for j in still_open] == ["j0", "j6"]
        assert await query.count() == 2
        with pytest.raises(volstore.QueryError):
            await repo.query("ada").where(nope=1).all()

    run(main)


def test_an_argument_error_surfaces_when_iteration_starts(astore: AsyncStore) -> None:
    async def main() -> None:
        results = astore.repository(Schedule).iter("ada", limit=-1)
        with pytest.raises(ValueError, match="limit"):
            await results.__anext__()
        with pytest.raises(StopAsyncIteration):
            await results.__anext__()

    run(main)


def test_time_ranges_latest_and_retention(astore: AsyncStore) -> None:
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)
    events = [
        Event(
            id=f"e{i:02d}",
            user_id="ada" if i % 2 else "bob",
            kind="k",
            timestamp=start + timedelta(hours=i),
        )
        for i in range(12)
    ]

    async def main() -> None:
        events_repo = volstore.aio.bucketed(astore, Event)
        await events_repo.put_all(events)
        window = [e.id async for e in events_repo.range(start, start + timedelta(hours=4))]
        assert window == ["e00", "e01", "e02", "e03"]
        ada = events_repo.for_user("ada")
        assert [e.id async for e in ada.range(None, None)] == [f"e{i:02d}" for i in range(1, 12, 2)]
        assert [e.id for e in await ada.latest(2)] == ["e11", "e09"]
        report = await events_repo.purge_older_than(start + timedelta(hours=6))
        assert report.removed_objects == 6
        assert [e.id for e in await events_repo.list("bob")] == ["e06", "e08", "e10"]
        await events_repo.remove_empty_folders()
        async with astore.session() as s:
            in_session = volstore.aio.bucketed(s, Event)
            s.add(Event(id="new", user_id="ada", kind="k", timestamp=start))
            assert [e.id async for e in in_session.range(start, start + timedelta(hours=1))] == [
                "new"
            ]
        with pytest.raises(volstore.ModelDefinitionError):
            volstore.aio.bucketed(astore, Schedule)

    run(main)


def test_versioned_writes_meet_the_conflict_error(astore: AsyncStore) -> None:
    async def main() -> None:
        repo = astore.repository(Counter)
        await repo.put(Counter(id="c", user_id="ada"))
        with pytest.raises(volstore.StaleObjectError) as info:
            async with astore.session() as s:
                mine = await s.get_one(Counter, "ada", "c")
                theirs = await repo.get_one("ada", "c")
                theirs.value = 5
                await elsewhere(repo.put(theirs))
                mine.value = 1
        assert (info.value.expected, info.value.found) == (1, 2)
        assert (await repo.get_one("ada", "c")).value == 5

    run(main)


def test_update_retries_across_concurrent_tasks_and_loses_nothing(astore: AsyncStore) -> None:
    """Thirty tasks increment one versioned counter: conflicts are retried, none is lost."""

    def bump(counter: Counter) -> None:
        counter.value += 1

    async def main() -> int:
        repo = astore.repository(Counter)
        await repo.put(Counter(id="hot", user_id="ada"))
        await asyncio.gather(*(repo.update("ada", "hot", bump, retries=50) for _ in range(30)))
        return (await repo.get_one("ada", "hot")).value

    assert run(main) == 30


# -- what runs where ---------------------------------------------------------------------------


class Recording(volstore.LocalBackend):
    """A local backend noting the thread of each call and how many run at once."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.threads: set[str] = set()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def _note(self) -> None:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            self.running += 1
            self.most = max(self.most, self.running)

    def _done(self) -> None:
        with self._lock:
            self.running -= 1

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        self._note()
        try:
            threading.Event().wait(0.002)  # long enough for calls to overlap
            return super().read(path, limit=limit)
        finally:
            self._done()

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        self._note()
        try:
            super().write_batch(files)
        finally:
            self._done()


def test_file_io_runs_in_a_bounded_pool_of_worker_threads(tmp_path: Path) -> None:
    backend = Recording(tmp_path / "s")
    store = AsyncStore(backend, threads=3)

    async def main() -> str:
        await store.repository(Schedule).put_all([sched(f"s{i}") for i in range(20)])
        repo = store.repository(Schedule)
        await asyncio.gather(*(repo.get("ada", f"s{i}") for i in range(20)))
        return threading.current_thread().name

    try:
        loop_thread = run(main)
    finally:
        store.close()
    assert loop_thread not in backend.threads
    assert all(name.startswith("volstore-aio") for name in backend.threads)
    assert 1 < backend.most <= 3


class Decodes(volstore.Model, resource_type="aio-big"):
    id: str
    user_id: str
    blob: str
    threads: list[str] = []  # noqa: RUF012 - a pydantic field default, copied per instance

    @pydantic.model_validator(mode="after")
    def _where(self) -> Decodes:
        self.threads.append(threading.current_thread().name)
        return self


@pytest.mark.parametrize("kind", ["local", "remote"])
def test_objects_are_decoded_off_the_loop(kind: str, tmp_path: Path) -> None:
    """Files: each call runs whole in a worker thread. The client API (calls on the loop):
    a large object is decoded in a worker thread, a small one on the loop (no hop)."""
    if kind == "local":
        store = AsyncStore(tmp_path / "s", threads=2)
    else:
        volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("v", create_if_missing=True)
        store = async_volume_store(volume, mode="remote", threads=2)

    async def main() -> tuple[Decodes, Decodes, str]:
        repo = store.repository(Decodes)
        await repo.put_all(
            [
                Decodes(id="big", user_id="ada", blob="x" * 2_000_000),
                Decodes(id="small", user_id="ada", blob="y"),
            ]
        )
        return (
            await repo.get_one("ada", "big"),
            await repo.get_one("ada", "small"),
            threading.current_thread().name,
        )

    try:
        big, small, loop_thread = run(main)
    finally:
        store.close()
    assert big.threads[-1].startswith("volstore-aio")  # 2 MB: never on the loop
    if kind == "local":
        assert small.threads[-1].startswith("volstore-aio")
    else:
        assert small.threads[-1] == loop_thread


class Counting:
    """A volume handle counting the ``.aio`` calls made through it (refusing blocking ones)."""

    def __init__(self, volume: EmulatedVolume) -> None:
        self.volume = volume
        self.name = volume.name
        self.awaited: list[str] = []
        for method in ("commit", "reload", "listdir", "read_file", "batch_upload", "remove_file"):
            setattr(self, method, self._method(method))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.volume, name)

    def _method(self, name: str) -> Any:
        real = getattr(self.volume, name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            if _loop_running():
                raise AssertionError(f"blocking {name}() on the event loop")
            return real(*args, **kwargs)

        def aio(*args: Any, **kwargs: Any) -> Any:
            self.awaited.append(name)
            return real.aio(*args, **kwargs)

        blocking.aio = aio  # type: ignore[attr-defined]
        return blocking


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_the_mounted_backend_awaits_commit_and_reload(tmp_path: Path) -> None:
    volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("v", create_if_missing=True)
    with volume.mount(background_commit_interval=None) as mount:
        handle = Counting(volume)
        store = async_volume_store(handle, mount_path=mount.path, mode="mounted", threads=4)

        async def main() -> list[str]:
            async with store.session() as s:
                s.add(sched("a"))
            await store.reload()
            return await store.repository(Schedule).ids("ada", reload=True)

        try:
            assert run(main) == ["a"]
        finally:
            store.close()
    assert handle.awaited.count("commit") == 1
    assert handle.awaited.count("reload") == 2


def test_the_remote_backend_awaits_every_client_call(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emu")
    handle = Counting(emulator.Volume.from_name("v", create_if_missing=True))
    store = async_volume_store(handle, mode="remote", threads=2)

    async def main() -> tuple[list[str], Schedule]:
        repo = store.repository(Schedule)
        await repo.put_all([sched("a"), sched("b")])
        assert await repo.delete("ada", "b")
        counters = store.repository(Counter)
        await counters.put(Counter(id="c", user_id="ada"))  # compare-and-swap through claims
        await counters.update("ada", "c", lambda c: setattr(c, "value", 7))
        return await repo.ids("ada"), await repo.get_one("ada", "a")

    try:
        ids, found = run(main)
    finally:
        store.close()
    assert ids == ["a"]
    assert found == sched("a")
    assert {"listdir", "read_file", "batch_upload", "remove_file"} <= set(handle.awaited)
    assert (
        volume_store(handle.volume, mode="remote").repository(Counter).get_one("ada", "c").value
        == 7
    )


def test_concurrent_requests_in_one_container_never_break_a_reload(tmp_path: Path) -> None:
    """Many tasks read, write and reload one mounted volume at once; a reload never meets a
    file another request holds open (the emulator fails a reload then, as Modal does)."""
    volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("v", create_if_missing=True)
    with volume.mount() as mount:  # background commits on, as on Modal
        store = async_volume_store(
            volume,
            mount_path=mount.path,
            mode="mounted",
            threads=8,
            reload=volstore.ReloadPolicy.ALWAYS,
        )

        async def request(n: int) -> int:
            user = f"u{n % 5}"
            repo = store.repository(Schedule)
            if n % 3 == 0:
                async with store.session() as s:
                    s.add(sched(f"r{n:03d}", user=user))
                return 1
            if n % 3 == 1:
                await store.reload()
            return len(await repo.list(user))

        async def main() -> list[int]:
            await store.repository(Schedule).put_all(
                [sched(f"seed{i}", user=f"u{i % 5}") for i in range(25)]
            )
            return await asyncio.gather(*(request(n) for n in range(90)))

        try:
            results = run(main)
        finally:
            store.close()
    assert len(results) == 90
    assert store.stats.reloads > 30
    with volume.mount() as again:  # a new container sees every session's commit
        check = volume_store(volume, mount_path=again.path, mode="mounted")
        repo = check.repository(Schedule)
        assert sum(len(repo.ids(f"u{u}")) for u in range(5)) == 25 + 30


def test_a_cancelled_commit_finishes_then_reports_the_cancellation(tmp_path: Path) -> None:
    """A thread cannot be stopped mid-write: a commit under way runs to its end (files whole,
    committed once), and the task hears of its cancellation only then."""
    writing = threading.Event()
    release = threading.Event()
    order: list[str] = []

    class SlowWrites(volstore.LocalBackend):
        def write_batch(self, files: Mapping[str, bytes]) -> None:
            writing.set()
            release.wait(10)
            super().write_batch(files)
            order.append("written")

    store = AsyncStore(SlowWrites(tmp_path / "s"), threads=2)

    async def main() -> list[str]:
        session = store.session()
        session.add(sched("a"))
        task = asyncio.create_task(session.commit())
        await asyncio.get_running_loop().run_in_executor(None, writing.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting for the thread
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        order.append("cancelled")
        session.close()
        return await store.repository(Schedule).ids("ada")

    try:
        assert run(main) == ["a"]
    finally:
        release.set()
        store.close()
    assert order == ["written", "cancelled"]
    assert store.stats.commits == 1


def test_a_cancelled_call_on_the_loop_finishes_and_releases_its_claims(tmp_path: Path) -> None:
    """The client API (calls on the loop): a versioned write cancelled while it holds its
    claims still finishes, releases them, and only then reports the cancellation."""
    volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("v", create_if_missing=True)
    store = async_volume_store(volume, mode="remote", threads=2)

    async def main() -> Counter:
        repo = store.repository(Counter)
        await repo.put(Counter(id="c", user_id="ada"))
        task = asyncio.create_task(repo.update("ada", "c", lambda c: setattr(c, "value", 1)))
        for _ in range(3):  # cancel while it is awaiting its Modal calls
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Nothing was left claimed: the next writer goes through at once.
        return await repo.update("ada", "c", lambda c: setattr(c, "value", c.value + 1))

    try:
        final = run(main)
    finally:
        store.close()
    assert (final.value, final.version) == (2, 3)


def test_first_calls_racing_on_a_fresh_store_do_not_deadlock(tmp_path: Path) -> None:
    """The layout check reads the marker without holding a lock across the read: twenty
    first calls at once, on the loop (the client API), suspend there without blocking the
    loop (a lock held across an awaited read would freeze the loop thread for good)."""
    volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("v", create_if_missing=True)
    volume_store(volume, mode="remote").repository(Schedule).put(sched("a"))
    outcome: list[list[Schedule | None]] = []

    def serve() -> None:
        store = async_volume_store(volume, mode="remote", threads=4)

        async def main() -> list[Schedule | None]:
            repo = store.repository(Schedule)
            return await asyncio.gather(*(repo.get("ada", "a") for _ in range(20)))

        outcome.append(asyncio.run(main()))
        store.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the event loop froze"
    assert outcome
    assert all(found == sched("a") for found in outcome[0])


def test_a_missing_greenlet_is_named_with_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a backend whose calls run on the loop (the client API) needs greenlet."""
    volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("v", create_if_missing=True)
    monkeypatch.setitem(sys.modules, "greenlet", None)
    with pytest.raises(volstore.aio.AsyncUnavailableError, match=r"volstore\[async\]"):
        async_volume_store(volume, mode="remote")
    assert issubclass(volstore.aio.AsyncUnavailableError, ImportError)
    AsyncStore(tmp_path / "files").close()  # files: worker threads, no greenlet needed


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="threads"):
        AsyncStore(tmp_path / "s", threads=0)
    with pytest.raises(TypeError, match="Backend or a path"):
        AsyncStore(42)  # type: ignore[arg-type]
