"""Awaited repositories: the blocking repositories, run in a greenlet on the event loop.

Each method of :class:`AsyncRepository` hands the same call of the blocking
:class:`~volstore.Repository` to its runner: the store's (``_bridge.run_sync``:
a worker thread, or a greenlet on the loop) or the session's (the same, one
call at a time).
There is no second implementation of a read, a listing or a write here: only
the signatures, awaited.

Iterations (``iter``, ``scan``, ``scan_paths``, ``range``) are async iterators:
the blocking iterator is made at the first step (so an argument's error
surfaces when iteration starts), and each step is one awaited ``next``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, ParamSpec, TypeVar

from .._engine import ReloadArg
from .._events import BucketedRepository, BucketedUserRepository, CleanupReport, RetentionReport
from .._model import ModelSpec
from .._repository import OnError, Repository, UserRepository
from ._query import AsyncQuery
from ._results import AsyncResults, Runner

M = TypeVar("M")
T = TypeVar("T")
Y = TypeVar("Y")
P = ParamSpec("P")


class AsyncRepository(Generic[M]):
    """Typed, awaited access to one model: ``astore.repository(M)`` or ``session.repository(M)``.

    The same operations as :class:`volstore.Repository`, with the same
    arguments, results and errors; each is awaited, and iterations are
    ``async for``. Outside a session each write commits at once; in a session
    writes wait for its commit. Create it through an AsyncStore or an AsyncSession.
    """

    def __init__(self, sync: Repository[M], run: Runner) -> None:
        self._sync = sync
        self._run = run

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    @property
    def model(self) -> type[M]:
        return self._sync.model

    @property
    def spec(self) -> ModelSpec:
        return self._sync.spec

    @property
    def in_session(self) -> bool:
        """Whether this repository belongs to a session (writes wait for its commit)."""
        return self._sync.in_session

    def for_user(self, user_id: str) -> AsyncUserRepository[M]:
        """A view bound to one user: it cannot reach anyone else's objects."""
        return AsyncUserRepository(self._sync.for_user(user_id), self._run)

    def query(self, user_id: str | None = None, *, all_users: bool = False) -> AsyncQuery[M]:
        """An awaited query over one user's objects or everyone's (see ``Repository.query``)."""
        return AsyncQuery(self._sync.query(user_id, all_users=all_users), self._run)

    # -- reads ----------------------------------------------------------------------------

    async def get(
        self, user_id: str, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> M | None:
        """The object at the key, or None (see ``Repository.get``)."""
        return await self._run(self._sync.get, user_id, object_id, at, reload=reload)

    async def get_one(
        self, user_id: str, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> M:
        """Like get, but raises ObjectNotFoundError (a KeyError) when nothing is there."""
        return await self._run(self._sync.get_one, user_id, object_id, at, reload=reload)

    async def exists(
        self, user_id: str, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> bool:
        """Whether an object is stored at the key (see ``Repository.exists``)."""
        return await self._run(self._sync.exists, user_id, object_id, at, reload=reload)

    async def ids(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
    ) -> builtins.list[str]:
        """One user's object ids, sorted, without reading the objects (see ``Repository.ids``)."""
        return await self._run(
            self._sync.ids, user_id, pattern=pattern, after=after, limit=limit, reload=reload
        )

    def iter(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: Any = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> AsyncResults[M]:
        """``async for`` over one user's objects; each is read when it is reached."""
        sync = self._sync
        return AsyncResults(
            self._run,
            lambda: sync.iter(
                user_id, pattern=pattern, after=after, limit=limit, reload=reload, on_error=on_error
            ),
        )

    async def list(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: Any = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """One user's objects, in the repository's order (a page with ``after``/``limit``)."""
        return await self._run(
            self._sync.list,
            user_id,
            pattern=pattern,
            after=after,
            limit=limit,
            reload=reload,
            on_error=on_error,
        )

    async def count(
        self, user_id: str, *, pattern: str | None = None, reload: ReloadArg = None
    ) -> int:
        """How many objects the user has (a folder listing; no object is read)."""
        return await self._run(self._sync.count, user_id, pattern=pattern, reload=reload)

    def scan_paths(self, *, reload: ReloadArg = None) -> AsyncResults[str]:
        """``async for`` over the path of every stored object of this type, all users."""
        sync = self._sync
        return AsyncResults(self._run, lambda: sync.scan_paths(reload=reload))

    def scan(self, *, reload: ReloadArg = None, on_error: OnError = "raise") -> AsyncResults[M]:
        """``async for`` over every stored object of this type, all users (the store's state)."""
        sync = self._sync
        return AsyncResults(self._run, lambda: sync.scan(reload=reload, on_error=on_error))

    # -- writes ---------------------------------------------------------------------------

    async def put(self, obj: M) -> M:
        """Insert or replace ``obj``; return it (outside a session: written and committed)."""
        return await self._run(self._sync.put, obj)

    add = put

    async def put_all(self, objs: Iterable[M]) -> builtins.list[M]:
        """Insert or replace several objects (one commit, outside a session)."""
        return await self._run(self._sync.put_all, builtins.list(objs))

    async def update(
        self,
        user_id: str,
        object_id: str,
        change: Callable[[M], M | None],
        *,
        at: datetime | None = None,
        create: Callable[[], M] | None = None,
        retries: int = 10,
    ) -> M:
        """Read, change and write one object; on a conflict, read again and retry.

        See ``Repository.update``: ``change`` (a plain function) may run more
        than once; the waits between attempts are ``asyncio.sleep``.
        """
        return await self._run(
            self._sync.update, user_id, object_id, change, at=at, create=create, retries=retries
        )

    async def delete(self, user_id: str, object_id: str, at: datetime | None = None) -> bool:
        """Delete the object at the key; return whether there was one."""
        return await self._run(self._sync.delete, user_id, object_id, at)

    async def delete_all(self, user_id: str) -> int:
        """Delete every object of this type that the user has; return how many (one commit)."""
        return await self._run(self._sync.delete_all, user_id)


class AsyncUserRepository(Generic[M]):
    """One user's objects of one model, awaited (``repository.for_user(user_id)``).

    Every call is confined to the bound user, as in :class:`volstore.UserRepository`.
    """

    def __init__(self, sync: UserRepository[M], run: Runner) -> None:
        self._sync = sync
        self._run = run

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    @property
    def user_id(self) -> str:
        return self._sync.user_id

    def query(self) -> AsyncQuery[M]:
        """An awaited query over this user's objects (see ``Repository.query``)."""
        return AsyncQuery(self._sync.query(), self._run)

    async def get(
        self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> M | None:
        return await self._run(self._sync.get, object_id, at, reload=reload)

    async def get_one(
        self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> M:
        return await self._run(self._sync.get_one, object_id, at, reload=reload)

    async def exists(
        self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> bool:
        return await self._run(self._sync.exists, object_id, at, reload=reload)

    async def ids(
        self,
        *,
        pattern: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
    ) -> builtins.list[str]:
        return await self._run(
            self._sync.ids, pattern=pattern, after=after, limit=limit, reload=reload
        )

    def iter(
        self,
        *,
        pattern: str | None = None,
        after: Any = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> AsyncResults[M]:
        sync = self._sync
        return AsyncResults(
            self._run,
            lambda: sync.iter(
                pattern=pattern, after=after, limit=limit, reload=reload, on_error=on_error
            ),
        )

    async def list(
        self,
        *,
        pattern: str | None = None,
        after: Any = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        return await self._run(
            self._sync.list,
            pattern=pattern,
            after=after,
            limit=limit,
            reload=reload,
            on_error=on_error,
        )

    async def count(self, *, pattern: str | None = None, reload: ReloadArg = None) -> int:
        return await self._run(self._sync.count, pattern=pattern, reload=reload)

    async def put(self, obj: M) -> M:
        return await self._run(self._sync.put, obj)

    async def put_all(self, objs: Iterable[M]) -> builtins.list[M]:
        return await self._run(self._sync.put_all, builtins.list(objs))

    async def update(
        self,
        object_id: str,
        change: Callable[[M], M | None],
        *,
        at: datetime | None = None,
        create: Callable[[], M] | None = None,
        retries: int = 10,
    ) -> M:
        """Read, change and write one of the user's objects, retrying on conflicts."""
        return await self._run(
            self._sync.update, object_id, change, at=at, create=create, retries=retries
        )

    async def delete(self, object_id: str, at: datetime | None = None) -> bool:
        return await self._run(self._sync.delete, object_id, at)

    async def delete_all(self) -> int:
        return await self._run(self._sync.delete_all)


class AsyncBucketedRepository(AsyncRepository[M]):
    """The awaited repository of a time-bucketed model: range queries, latest, retention.

    See :class:`volstore.BucketedRepository`; ``range`` is an ``async for``.
    """

    def __init__(self, sync: BucketedRepository[M], run: Runner) -> None:
        super().__init__(sync, run)
        self._bucketed = sync

    @property
    def cache_hits(self) -> int:
        """How many folder listings the listing cache answered (``cache_listings=True``)."""
        return self._bucketed.cache_hits

    def for_user(self, user_id: str) -> AsyncBucketedUserRepository[M]:
        """A view bound to one user: it cannot reach anyone else's objects."""
        return AsyncBucketedUserRepository(self._bucketed.for_user(user_id), self._run)

    def range(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        user_id: str | None = None,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> AsyncResults[M]:
        """``async for`` over the objects with ``start <= timestamp < end``, by timestamp then id.

        See ``BucketedRepository.range``; one bucket is listed and read at a time.
        """
        sync = self._bucketed
        return AsyncResults(
            self._run,
            lambda: sync.range(
                start, end, user_id=user_id, pattern=pattern, reload=reload, on_error=on_error
            ),
        )

    async def latest(
        self,
        user_id: str,
        n: int = 10,
        *,
        before: datetime | None = None,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """The user's ``n`` newest objects (before ``before``, if given), newest first."""
        return await self._run(
            self._bucketed.latest,
            user_id,
            n,
            before=before,
            pattern=pattern,
            reload=reload,
            on_error=on_error,
        )

    async def purge_older_than(
        self,
        cutoff: datetime | timedelta | int,
        *,
        now: datetime | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> RetentionReport:
        """Delete every object older than ``cutoff``, with one commit; report what went."""
        return await self._run(
            self._bucketed.purge_older_than, cutoff, now=now, reload=reload, on_error=on_error
        )

    async def remove_empty_folders(self, prefix: str | None = None) -> CleanupReport:
        """Remove the empty folders below ``prefix`` (default: the type folder), bottom up."""
        return await self._run(self._bucketed.remove_empty_folders, prefix)

    def clear_listing_cache(self) -> None:
        """Forget every cached listing (the next query lists afresh)."""
        self._bucketed.clear_listing_cache()


class AsyncBucketedUserRepository(AsyncUserRepository[M]):
    """One user's objects of a time-bucketed model, awaited (with ``range`` and ``latest``)."""

    def __init__(self, sync: BucketedUserRepository[M], run: Runner) -> None:
        super().__init__(sync, run)
        self._bucketed = sync

    def range(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> AsyncResults[M]:
        """``async for`` over the user's objects with ``start <= timestamp < end``."""
        sync = self._bucketed
        return AsyncResults(
            self._run,
            lambda: sync.range(start, end, pattern=pattern, reload=reload, on_error=on_error),
        )

    async def latest(
        self,
        n: int = 10,
        *,
        before: datetime | None = None,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """The user's ``n`` newest objects, newest first."""
        latest = self._bucketed.latest
        return await self._run(
            latest, n, before=before, pattern=pattern, reload=reload, on_error=on_error
        )


def wrap(sync: Repository[M], run: Runner) -> AsyncRepository[M]:
    """The awaited repository around a blocking one (bucketed ones keep their queries)."""
    if isinstance(sync, BucketedRepository):
        return AsyncBucketedRepository(sync, run)
    return AsyncRepository(sync, run)


__all__ = [
    "AsyncBucketedRepository",
    "AsyncBucketedUserRepository",
    "AsyncRepository",
    "AsyncResults",
    "AsyncUserRepository",
    "Runner",
    "wrap",
]
