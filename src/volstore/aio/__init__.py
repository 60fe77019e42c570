"""volstore's async API: the same stores, sessions and repositories, awaited.

    from volstore.aio import AsyncStore

    store = AsyncStore("data")                       # or volstore.modal.async_volume_store(...)
    async with store.session() as s:                 # one commit on clean exit
        s.add(Schedule(user_id="ada", cron="0 * * * *"))
        other = await s.get(Schedule, "ada", "daily")
    schedules = await store.repository(Schedule).list("ada")
    async for event in volstore.aio.bucketed(store, Event).range(start, end):
        ...

Named after SQLAlchemy's ``AsyncSession``: separate classes whose storage
calls are coroutines, rather than Modal's ``.aio`` on each method (a
forgotten ``.aio`` would block the loop silently; a forgotten ``await`` is
caught by mypy and by Python's "never awaited" warning). It runs the one
implementation of volstore in greenlets: see docs/async.md. Needs the
``greenlet`` package (volstore's ``async`` extra, or ``pip install greenlet``).
"""

from __future__ import annotations

from typing import TypeVar

from .._bridge import AsyncUnavailableError
from ._query import AsyncQuery
from ._repository import (
    AsyncBucketedRepository,
    AsyncBucketedUserRepository,
    AsyncRepository,
    AsyncResults,
    AsyncUserRepository,
)
from ._session import AsyncSession
from ._store import DEFAULT_THREADS, AsyncStore

M = TypeVar("M")


def bucketed(
    source: AsyncStore | AsyncSession, model: type[M], *, cache_listings: bool = False
) -> AsyncBucketedRepository[M]:
    """The awaited bucketed repository of ``model`` for an AsyncStore or an AsyncSession.

    As ``volstore.bucketed``: ``cache_listings=True`` keeps folder listings
    between queries. Raises ModelDefinitionError for a model without a ``time_field``.
    """
    return source._bucketed(model, cache_listings)


__all__ = [
    "DEFAULT_THREADS",
    "AsyncBucketedRepository",
    "AsyncBucketedUserRepository",
    "AsyncQuery",
    "AsyncRepository",
    "AsyncResults",
    "AsyncSession",
    "AsyncStore",
    "AsyncUnavailableError",
    "AsyncUserRepository",
    "bucketed",
]
