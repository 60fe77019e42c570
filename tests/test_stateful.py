"""Model-based test: session + repository against a plain dict, after every step.

Random sequences of add / get / mutate / delete / list / commit / rollback /
a session that raises run against the real store and a dict model side by
side. ``make_store`` is the seam: the Modal contract suite subclasses this
machine with other backends, and the async machines below run the same rules
through the async API (an AsyncStore behind a blocking face: every session and
repository call awaited on an event loop; see volstore.testing.blocking).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import volstore
from models import Schedule
from tests.strategies import schedules, small_ids, small_users
from volstore.aio import AsyncStore
from volstore.testing.blocking import LoopThread, blocking_store

Key = tuple[str, str]


class Boom(Exception):
    """Raised inside a session on purpose."""


class StoreMachine(RuleBasedStateMachine):
    """The store must behave like a dict of committed objects plus a pending overlay."""

    def make_store(self) -> volstore.Store:
        return volstore.Store(volstore.MemoryBackend())

    def __init__(self) -> None:
        super().__init__()
        self.cleanups: list[Callable[[], None]] = []
        self.store = self.make_store()
        self.repo = self.store.repository(Schedule)
        self.committed: dict[Key, dict[str, Any]] = {}
        self.pending: dict[Key, dict[str, Any] | None] = {}
        self.session: volstore.Session | None = None

    def teardown(self) -> None:
        if self.session is not None:
            self.session.close()
        for cleanup in reversed(self.cleanups):
            cleanup()

    def temp_dir(self) -> str:
        path = tempfile.mkdtemp(prefix="volstore-stateful-")
        self.cleanups.append(lambda: shutil.rmtree(path, ignore_errors=True))
        return path

    # -- the model ------------------------------------------------------------------

    def view(self) -> dict[Key, dict[str, Any]]:
        merged = dict(self.committed)
        for key, value in self.pending.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    def active_repo(self) -> volstore.Repository[Schedule]:
        return self.session.repository(Schedule) if self.session is not None else self.repo

    # -- rules ---------------------------------------------------------------------------

    @precondition(lambda self: self.session is None)
    @rule()
    def begin(self) -> None:
        self.session = self.store.session().__enter__()
        self.pending = {}

    @rule(obj=schedules())
    def add(self, obj: Schedule) -> None:
        key = (obj.user_id, obj.id)
        if self.session is not None:
            self.session.add(obj)
            self.pending[key] = obj.model_dump()
        else:
            self.repo.put(obj)
            self.committed[key] = obj.model_dump()

    @rule(user=small_users, object_id=small_ids)
    def get(self, user: str, object_id: str) -> None:
        got = self.active_repo().get(user, object_id)
        expected = self.view().get((user, object_id))
        assert (got.model_dump() if got is not None else None) == expected

    @precondition(lambda self: self.session is not None)
    @rule(user=small_users, object_id=small_ids, tag=st.text(max_size=5))
    def mutate_in_place(self, user: str, object_id: str, tag: str) -> None:
        assert self.session is not None
        got = self.session.get(Schedule, user, object_id)
        if got is not None:
            got.tags.append(tag)
            got.payload.setdefault("n", 0)
            got.payload["n"] += 1
            self.pending[(user, object_id)] = got.model_dump()

    @rule(user=small_users, object_id=small_ids)
    def delete(self, user: str, object_id: str) -> None:
        key = (user, object_id)
        existed = key in self.view()
        assert self.active_repo().delete(user, object_id) is existed
        if self.session is not None:
            if existed:
                self.pending[key] = None
        else:
            self.committed.pop(key, None)

    @rule(user=small_users, limit=st.none() | st.integers(1, 4), after=st.none() | small_ids)
    def list(self, user: str, limit: int | None, after: str | None) -> None:
        expected = sorted(oid for (u, oid) in self.view() if u == user)
        if after is not None:
            expected = [oid for oid in expected if oid > after]
        if limit is not None:
            expected = expected[:limit]
        got = self.active_repo().list(user, after=after, limit=limit)
        assert [s.id for s in got] == expected

    @precondition(lambda self: self.session is not None)
    @rule()
    def commit(self) -> None:
        assert self.session is not None
        self.session.commit()
        self.committed = self.view()
        self.pending = {}

    @precondition(lambda self: self.session is not None)
    @rule()
    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
        self.pending = {}

    @precondition(lambda self: self.session is not None)
    @rule()
    def end(self) -> None:
        assert self.session is not None
        self.session.__exit__(None, None, None)
        self.session = None
        self.committed = self.view()
        self.pending = {}

    @precondition(lambda self: self.session is None)
    @rule(
        objs=st.lists(schedules(), max_size=3),
        deletes=st.lists(st.tuples(small_users, small_ids), max_size=2),
    )
    def session_that_raises(self, objs: list[Schedule], deletes: list[Key]) -> None:
        commits = self.store.stats.commits
        try:
            with self.store.session() as s:
                for obj in objs:
                    s.add(obj)
                for user, object_id in deletes:
                    s.delete(Schedule, user, object_id)
                raise Boom
        except Boom:
            pass
        assert self.store.stats.commits == commits

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def committed_state_is_what_a_fresh_reader_sees(self) -> None:
        fresh = self.repo
        for user in {u for (u, _) in self.committed} | {"ada"}:
            ids = fresh.ids(user)
            assert ids == sorted(oid for (u, oid) in self.committed if u == user)


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestMemoryStore = StoreMachine.TestCase


class LocalStoreMachine(StoreMachine):
    def make_store(self) -> volstore.Store:
        return volstore.Store(volstore.LocalBackend(self.temp_dir()))


LocalStoreMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None
)
TestLocalStore = LocalStoreMachine.TestCase


def through_the_async_api(machine: StoreMachine, backend: volstore.Backend) -> volstore.Store:
    """An AsyncStore on ``backend``, driven as the blocking store is (closed at teardown)."""
    loop = LoopThread()
    store = AsyncStore(backend, threads=4)
    machine.cleanups.append(loop.close)
    machine.cleanups.append(store.pool.shutdown)  # cleanups run last-first: the pool first
    adapted: volstore.Store = blocking_store(store, loop)
    return adapted


class AsyncMemoryStoreMachine(StoreMachine):
    def make_store(self) -> volstore.Store:
        return through_the_async_api(self, volstore.MemoryBackend())


class AsyncLocalStoreMachine(StoreMachine):
    def make_store(self) -> volstore.Store:
        return through_the_async_api(self, volstore.LocalBackend(self.temp_dir()))


AsyncMemoryStoreMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None
)
AsyncLocalStoreMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None
)
TestAsyncMemoryStore = AsyncMemoryStoreMachine.TestCase
TestAsyncLocalStore = AsyncLocalStoreMachine.TestCase
