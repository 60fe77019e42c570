"""Awaited steps over the blocking core: the runner protocol and ``async for`` results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, ParamSpec, Protocol, TypeVar

T = TypeVar("T")
Y = TypeVar("Y")
P = ParamSpec("P")


class Runner(Protocol):
    """Runs a blocking call of the core for the awaiting task (a store's or a session's)."""

    def __call__(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[T]: ...


_DONE: Any = object()


class AsyncResults(AsyncIterator[Y]):
    """An ``async for`` over a blocking iterator of the core, one awaited step at a time.

    ``aclose()`` ends it early (the blocking iterator is closed too).
    """

    def __init__(self, run: Runner, start: Callable[[], Iterator[Y]]) -> None:
        self._run = run
        self._start = start
        self._iterator: Iterator[Y] | None = None
        self._done = False

    def __aiter__(self) -> AsyncResults[Y]:
        return self

    async def __anext__(self) -> Y:
        if self._done:
            raise StopAsyncIteration
        try:
            item: Y = await self._run(self.step)
        except BaseException:
            self._done = True
            raise
        if item is _DONE:
            self._done = True
            raise StopAsyncIteration
        return item

    def step(self) -> Y:
        """One blocking step (run in a greenlet by ``__anext__``): the next item, or a marker."""
        if self._iterator is None:
            self._iterator = self._start()
        item: Y = next(self._iterator, _DONE)
        return item

    async def aclose(self) -> None:
        """Stop early: the blocking iterator is closed (it reads nothing more)."""
        iterator, self._iterator = self._iterator, None
        self._done = True
        close = getattr(iterator, "close", None)
        if close is not None:
            await self._run(close)


__all__ = ["AsyncResults", "Runner"]
