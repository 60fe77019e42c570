"""Awaited queries: the blocking ``Query``, its terminal calls awaited.

Building a query (``where``, ``order_by``, ``limit``, ``after``...) does no
I/O, so those calls are plain and return a new AsyncQuery; running it
(``all``, ``first``, ``count``, ``exists``, ``page``, ``explain``) is
awaited, and ``async for`` iterates its results one awaited step at a time.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .._conditions import Condition
from .._engine import ReloadArg
from .._query import Desc, Page, Query, QueryPlan
from .._repository import OnError
from ._results import AsyncResults, Runner

M = TypeVar("M")


class AsyncQuery(Generic[M]):
    """A query of the async API (see :class:`volstore.Query` for each call's contract)."""

    def __init__(self, sync: Query[M], run: Runner) -> None:
        self._sync = sync
        self._run = run

    def __repr__(self) -> str:
        return f"Async{self._sync!r}"

    def _with(self, sync: Query[M]) -> AsyncQuery[M]:
        return AsyncQuery(sync, self._run)

    def where(self, *conditions: Condition | Callable[[M], object], **equals: Any) -> AsyncQuery[M]:
        return self._with(self._sync.where(*conditions, **equals))

    def order_by(self, *keys: str | Callable[[M], object] | Desc) -> AsyncQuery[M]:
        return self._with(self._sync.order_by(*keys))

    def limit(self, count: int | None) -> AsyncQuery[M]:
        return self._with(self._sync.limit(count))

    def after(self, cursor: str | None) -> AsyncQuery[M]:
        return self._with(self._sync.after(cursor))

    def on_error(self, policy: OnError) -> AsyncQuery[M]:
        return self._with(self._sync.on_error(policy))

    def reload(self, reload: ReloadArg) -> AsyncQuery[M]:
        return self._with(self._sync.reload(reload))

    async def all(self) -> builtins.list[M]:
        """Every object the query matches, in its order."""
        return await self._run(self._sync.all)

    def __aiter__(self) -> AsyncResults[M]:
        sync = self._sync
        return AsyncResults(self._run, lambda: iter(sync))

    async def first(self) -> M | None:
        return await self._run(self._sync.first)

    async def count(self) -> int:
        return await self._run(self._sync.count)

    async def exists(self) -> bool:
        return await self._run(self._sync.exists)

    async def page(self, size: int, cursor: str | None = None) -> Page[M]:
        return await self._run(self._sync.page, size, cursor)

    def pages(self, size: int) -> AsyncResults[Page[M]]:
        sync = self._sync
        return AsyncResults(self._run, lambda: sync.pages(size))

    async def explain(self) -> QueryPlan:
        return await self._run(self._sync.explain)

    def cursor_after(self, obj: M) -> str:
        """The cursor that resumes right after ``obj`` (no I/O)."""
        return self._sync.cursor_after(obj)


__all__ = ["AsyncQuery"]
