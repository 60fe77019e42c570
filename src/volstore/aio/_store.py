"""The async store: volstore's store, awaited, for event loops (FastAPI, Modal's async functions).

An :class:`AsyncStore` holds a :class:`volstore.Store` (the one
implementation: engine, sessions, repositories) and runs each of its calls
for an awaiting task (``_bridge.run_sync``): whole in one of a bounded pool of
worker threads, for file backends (local, mounted volume); or in a greenlet on
the loop, for a backend whose I/O is all awaitable (``Backend.awaits_io``: the
Modal client API). Modal calls are awaited through their ``.aio`` forms either
way. See docs/async.md.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from .._bridge import require_greenlet, run_sync
from .._check_report import DEFAULT_QUARANTINE, CheckReport
from .._engine import DEFAULT_MAX_OBJECT_BYTES, Engine, ReloadPolicy, Stats
from .._events import bucketed
from .._keys import DEFAULT_USER_HASH_LENGTH, UserHasher
from .._model import ModelSpec
from .._store import Store, open_backend
from ..backends._base import Backend
from ._repository import AsyncBucketedRepository, AsyncRepository, wrap
from ._session import AsyncSession

M = TypeVar("M")
T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_THREADS = 32
"""Worker threads of an async store: how many file calls run at once (the rest wait, awaited)."""


class AsyncStore:
    """Typed objects stored as files, awaited: the async counterpart of :class:`volstore.Store`.

    Takes what Store takes (a Backend, a folder path, or None for
    ``$VOLSTORE_ROOT``; ``user_hash_key``, ``reload``, ``max_object_bytes``,
    ``models``), plus ``threads``: the size of its pool of worker threads for
    file I/O (bounded: more concurrent calls wait, without blocking the loop).

    Share one per process (or per container) among all tasks; give each task
    its own session. Raises AsyncUnavailableError (an install hint) when the
    backend's calls run on the loop (``Backend.awaits_io``: the Modal client
    API) and greenlet is missing; what Store raises for a bad backend or option.
    """

    def __init__(
        self,
        backend: Backend | str | os.PathLike[str] | None = None,
        *,
        threads: int = DEFAULT_THREADS,
        user_hash_length: int = DEFAULT_USER_HASH_LENGTH,
        user_hash_key: str | bytes | None = None,
        reload: ReloadPolicy = ReloadPolicy.NEVER,
        max_object_bytes: int | None = DEFAULT_MAX_OBJECT_BYTES,
        models: Iterable[type[Any]] = (),
    ) -> None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be a positive int, not {threads!r}")
        self._backend = open_backend(backend)
        self._on_loop = self._backend.awaits_io
        if self._on_loop:
            require_greenlet()  # the loop runs this backend's calls in greenlets
        self._store = Store(
            self._backend,
            user_hash_length=user_hash_length,
            user_hash_key=user_hash_key,
            reload=reload,
            max_object_bytes=max_object_bytes,
            models=models,
        )
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="volstore-aio")
        self.threads = threads
        _start_every_thread(self.pool, threads)

    def __repr__(self) -> str:
        return f"AsyncStore({self._backend.describe()})"

    async def _run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call of the core for this task (a worker thread, or the loop)."""
        return await run_sync(self.pool, fn, *args, on_loop=self._on_loop, **kwargs)

    # -- what the engine holds ----------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine: what every call of this store runs through."""
        return self._store.engine

    @property
    def backend(self) -> Backend:
        """The storage backend this store was given."""
        return self._backend

    @property
    def stats(self) -> Stats:
        """Counters of backend operations since the store opened."""
        return self._store.stats

    @property
    def hasher(self) -> UserHasher:
        """Maps a user id to its folder name."""
        return self._store.hasher

    @property
    def reload_policy(self) -> ReloadPolicy:
        """When reads reload the backend first (see ReloadPolicy); may be changed at any time."""
        return self._store.reload_policy

    @reload_policy.setter
    def reload_policy(self, policy: ReloadPolicy) -> None:
        self._store.reload_policy = policy

    @property
    def max_object_bytes(self) -> int | None:
        """The largest object, in bytes, this store writes or reads (None: no limit)."""
        return self._store.max_object_bytes

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        """The registered models by resource type."""
        return self._store.models

    def register(self, model: type[Any]) -> ModelSpec:
        """Register a model class; return its spec (see ``Store.register``)."""
        return self._store.register(model)

    # -- entry points ---------------------------------------------------------------------

    def session(self) -> AsyncSession:
        """A new unit of work: ``async with astore.session() as s:`` commits once on clean exit."""
        return AsyncSession(self.engine, self.pool, on_loop=self._on_loop)

    def repository(self, model: type[M]) -> AsyncRepository[M]:
        """An awaited repository for ``model``; its writes commit at once.

        Inside ``async with astore.session() as s:`` use ``s.repository(model)``
        (a write here raises SessionError there). Time-bucketed models get an
        AsyncBucketedRepository (``volstore.aio.bucketed(astore, Model)`` types it).
        """
        return wrap(self._store.repository(model), self._run)

    def _bucketed(self, model: type[M], cache_listings: bool) -> AsyncBucketedRepository[M]:
        return AsyncBucketedRepository(
            bucketed(self._store, model, cache_listings=cache_listings), self._run
        )

    async def check(
        self,
        *,
        repair: bool = False,
        quarantine: str = DEFAULT_QUARANTINE,
        max_findings: int = 10_000,
    ) -> CheckReport:
        """Walk the store and report (or repair) what is wrong; see ``Store.check``."""
        return await self._run(
            self._store.check, repair=repair, quarantine=quarantine, max_findings=max_findings
        )

    # -- paths ----------------------------------------------------------------------------

    def path_for(
        self, spec: ModelSpec, user_id: str, object_id: str, at: datetime | None = None
    ) -> str:
        """The storage path of one object (see ``Store.path_for``)."""
        return self._store.path_for(spec, user_id, object_id, at)

    def object_path(self, spec: ModelSpec, obj: Any) -> str:
        """The storage path of an object, from its own fields."""
        return self._store.object_path(spec, obj)

    def user_folder(self, spec: ModelSpec, user_id: str) -> str:
        """The folder holding one user's objects of one (not time-bucketed) type."""
        return self._store.user_folder(spec, user_id)

    def bucket_folder(self, spec: ModelSpec, at: datetime | None) -> str:
        """The time bucket folder of a time-bucketed model."""
        return self._store.bucket_folder(spec, at)

    # -- the backend's own commit and reload ------------------------------------------------

    async def reload(self) -> None:
        """See what other containers committed (``await volume.reload.aio()`` on Modal)."""
        await self._run(self._store.reload)

    async def commit(self) -> None:
        """Commit the backend (``await volume.commit.aio()`` on Modal). CommitError on failure."""
        await self._run(self._store.commit)

    async def aclose(self) -> None:
        """Release the backend and the worker threads (waiting for calls under way)."""
        await self._run(self._store.close)
        await asyncio.get_running_loop().run_in_executor(None, self.pool.shutdown)

    def close(self) -> None:
        """``aclose()`` for code outside an event loop."""
        self._store.close()
        self.pool.shutdown()

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _start_every_thread(pool: ThreadPoolExecutor, threads: int) -> None:
    """Start the pool's threads now, not on first use.

    The executor starts a thread when a call finds none idle, and ``Thread.start``
    waits until the new thread runs: under load (a worker encoding a big flush
    holds the GIL) that wait would stall the event loop for tens of milliseconds.
    """
    barrier = threading.Barrier(threads)
    for waited in [pool.submit(barrier.wait) for _ in range(threads)]:
        waited.result()


__all__ = ["DEFAULT_THREADS", "AsyncStore"]
