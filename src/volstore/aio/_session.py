"""The awaited unit of work: ``async with astore.session() as s:`` buffers, then commits once.

An :class:`AsyncSession` holds a blocking :class:`~volstore.Session` (the one
implementation of the identity map, dirty checks, versions and the flush) and
runs each call that reaches storage for the awaiting task, as its store does
(in a worker thread, or in a greenlet on the loop). The rule
for which calls are awaited: a call that may read or write storage is a
coroutine (``get``, ``get_one``, ``flush``, ``commit``, every repository read
and write); a call that only changes the session's memory is not (``add``,
``add_all``, ``delete``, ``rollback``, ``close``, ``repository``).

A session serves one task at a time: a second call while an awaited one is
under way (from another task) raises SessionError instead of interleaving two
changes of one identity map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from datetime import datetime
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from .._bridge import mark_task, run_sync, unmark_task
from .._engine import Engine, ReloadArg, Stats
from .._errors import SessionError
from .._events import bucketed
from .._session import Session
from ._repository import AsyncBucketedRepository, AsyncRepository, wrap

M = TypeVar("M")
T = TypeVar("T")
P = ParamSpec("P")


class AsyncSession:
    """A unit of work over an AsyncStore. Create it with ``astore.session()``.

    ``async with astore.session() as s:`` commits once on a clean exit and
    writes nothing when the block raises (or is cancelled). Inside it the
    same key gives the same object, reads see the session's own pending
    writes and deletes, and objects changed in place are written at commit.
    """

    def __init__(self, engine: Engine, pool: Executor, *, on_loop: bool = False) -> None:
        self._engine = engine
        self._pool = pool
        self._on_loop = on_loop
        self._session = Session(engine)
        self._busy: str | None = None
        self._entered = False

    def __repr__(self) -> str:
        return repr(self._session).replace("<Session", "<AsyncSession", 1)

    @property
    def stats(self) -> Stats:
        """What this session did to the backend: reads, writes, deletes, commits."""
        return self._session.stats

    # -- one task at a time ---------------------------------------------------------------

    def _check_idle(self, what: str) -> None:
        if self._busy is not None:
            raise SessionError(
                f"{what} was called while this session's {self._busy} is under way in another "
                "task: a session serves one task at a time (give each task its own session)"
            )

    async def _run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call of the session (or one of its repositories) on the loop."""
        name = getattr(fn, "__name__", "call")
        self._check_idle(f"{name}()")
        self._busy = f"{name}()"
        try:
            return await run_sync(self._pool, fn, *args, on_loop=self._on_loop, **kwargs)
        finally:
            self._busy = None

    # -- context manager --------------------------------------------------------------------

    async def __aenter__(self) -> AsyncSession:
        self._session._check_open()
        if not self._entered:
            self._entered = True
            mark_task(self._engine)  # a store's write in this task is refused meanwhile
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                self.rollback()
        finally:
            self.close()

    def close(self) -> None:
        """Discard pending changes and end the session; later use raises SessionError."""
        self._check_idle("close()")
        self._session.close()
        if self._entered:
            self._entered = False
            unmark_task(self._engine)

    # -- objects: memory only ---------------------------------------------------------------

    def add(self, obj: M) -> M:
        """Insert or replace ``obj`` at its key when the session commits; return it.

        A None id is replaced by a generated one. Raises InvalidKeyError for a
        bad id or user id (before anything is written).
        """
        self._check_idle("add()")
        return self._session.add(obj)

    put = add

    def add_all(self, objs: Iterable[M]) -> list[M]:
        """Add several objects; return them."""
        self._check_idle("add_all()")
        return self._session.add_all(objs)

    @overload
    def delete(self, obj: object, /) -> None: ...

    @overload
    def delete(
        self, model: type[Any], user_id: str, object_id: str, /, *, at: datetime | None = None
    ) -> None: ...

    def delete(
        self,
        target: Any,
        user_id: str | None = None,
        object_id: str | None = None,
        /,
        *,
        at: datetime | None = None,
    ) -> None:
        """Delete an object, or the object at a key (``delete(Model, user_id, id)``), at commit.

        Buffered: nothing is read or written now (a key holding nothing is not an error).
        """
        self._check_idle("delete()")
        # The blocking session checks the arguments (either form of its overloads).
        self._session.delete(target, user_id, object_id, at=at)  # type: ignore[arg-type]

    def repository(self, model: type[M]) -> AsyncRepository[M]:
        """An awaited repository for ``model`` whose reads and writes go through this session.

        Time-bucketed models get an AsyncBucketedRepository
        (``volstore.aio.bucketed(session, Model)`` gives it the precise type).
        """
        self._check_idle("repository()")
        return wrap(self._session.repository(model), self._run)

    def _bucketed(self, model: type[M], cache_listings: bool) -> AsyncBucketedRepository[M]:
        self._check_idle("bucketed()")
        repository = bucketed(self._session, model, cache_listings=cache_listings)
        return AsyncBucketedRepository(repository, self._run)

    # -- reads and the commit: awaited ------------------------------------------------------

    async def get(
        self,
        model: type[M],
        user_id: str,
        object_id: str,
        *,
        at: datetime | None = None,
        reload: ReloadArg = None,
    ) -> M | None:
        """The object at the key, or None. Sees this session's pending writes and deletes."""
        return await self._run(self._session.get, model, user_id, object_id, at=at, reload=reload)

    async def get_one(
        self,
        model: type[M],
        user_id: str,
        object_id: str,
        *,
        at: datetime | None = None,
        reload: ReloadArg = None,
    ) -> M:
        """Like get, but raises ObjectNotFoundError (a KeyError) when there is no object."""
        return await self._run(
            self._session.get_one, model, user_id, object_id, at=at, reload=reload
        )

    async def flush(self) -> bool:
        """Write pending changes without committing; return whether there were any."""
        return await self._run(self._session.flush)

    async def commit(self) -> None:
        """Write every pending change and commit the backend once; the session goes on.

        As ``Session.commit``: nothing is committed if encoding or writing
        fails (pending changes stay pending; StaleObjectError for a versioned
        object changed meanwhile); if the backend's commit fails, calling
        commit() again retries it.
        """
        await self._run(self._session.commit)

    def rollback(self) -> None:
        """Discard every pending change; the session goes on with an empty identity map."""
        self._check_idle("rollback()")
        self._session.rollback()

    @property
    def has_changes(self) -> bool:
        """Whether a commit now would write anything (encodes loaded objects to find out)."""
        return self._session.has_changes


__all__ = ["AsyncSession"]
