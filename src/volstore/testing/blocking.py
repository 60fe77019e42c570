"""The async API behind a blocking face: run blocking test suites through ``volstore.aio``.

volstore's contract suites, its model-based test and your own tests are
written against the blocking API. The adapters here let the same test code
drive the async API instead, exactly as an async application does: every
call runs as a task on an event loop in a background thread, and every
coroutine is awaited there.

    loop = LoopThread()
    store = blocking_store(AsyncStore(backend), loop)   # quacks like a Store
    with store.session() as s:                          # async with, on the loop
        s.add(obj)
        s.get_one(Model, "ada", "x")                    # await s.get_one(...)
    store.repository(Model).list("ada")                 # await repo.list(...)
    loop.close()

- :func:`blocking_store` wraps an AsyncStore; what it hands out (sessions,
  repositories, their iterators) is wrapped the same way.
- :func:`blocking_backend` wraps a backend as an async store calls it (each
  call in a worker thread serving the loop, or in a greenlet on the loop for
  a backend that ``awaits_io``; Modal calls through their ``.aio`` forms), for
  BackendContract.
- :class:`LoopThread` is the event loop they share.

The contract suites' async variants (``AsyncBackendContract``,
``AsyncUnitOfWorkContract`` in ``volstore.testing.contract``) are built on these.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._bridge import run_sync
from ..aio import (
    AsyncRepository,
    AsyncResults,
    AsyncSession,
    AsyncStore,
    AsyncUserRepository,
)
from ..backends._base import Backend

T = TypeVar("T")

__all__ = [
    "Blocking",
    "BlockingBackend",
    "BlockingIterator",
    "LoopThread",
    "blocking_backend",
    "blocking_store",
]


class LoopThread:
    """An event loop running in a daemon thread; ``run(coro)`` waits for its result there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="volstore-test-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` as a task on the loop; return its result (or raise its error)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        """Stop the loop and its thread (after its async generators are closed)."""
        if self.loop.is_closed():
            return
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


_WRAPPED = (AsyncStore, AsyncSession, AsyncRepository, AsyncUserRepository)


class Blocking:
    """One object of the async API, used as its blocking counterpart is.

    Each method is called on the loop; a coroutine it returns is awaited
    there. Sessions, repositories and async iterators that come back are
    wrapped too; ``with`` runs ``async with``. Attributes are read as they are.
    """

    def __init__(self, target: Any, loop: LoopThread) -> None:
        self._target = target
        self._loop = loop

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            return functools.partial(self._call, value)
        return _wrap(value, self._loop)

    def _call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return _wrap(self._loop.run(call()), self._loop)

    def __enter__(self) -> Any:
        return _wrap(self._loop.run(self._target.__aenter__()), self._loop)

    def __exit__(self, *exc: Any) -> Any:
        return self._loop.run(self._target.__aexit__(*exc))


class BlockingIterator(Iterator[Any]):
    """An async iterator of the async API, iterated step by step on the loop."""

    def __init__(self, results: AsyncResults[Any], loop: LoopThread) -> None:
        self._results = results
        self._loop = loop

    def __next__(self) -> Any:
        async def step() -> Any:
            return await self._results.__anext__()

        try:
            return self._loop.run(step())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        self._loop.run(self._results.aclose())


def _wrap(value: Any, loop: LoopThread) -> Any:
    if isinstance(value, _WRAPPED):
        return Blocking(value, loop)
    if isinstance(value, AsyncResults):
        return BlockingIterator(value, loop)
    return value


def blocking_store(store: AsyncStore, loop: LoopThread) -> Any:
    """``store`` (an AsyncStore) with the blocking Store's face; see the module docstring."""
    return Blocking(store, loop)


class BlockingBackend:
    """A backend as an async store calls it, each call awaited on the loop."""

    def __init__(self, backend: Backend, loop: LoopThread, threads: int) -> None:
        self._backend = backend
        self._loop = loop
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="volstore-test")
        self.inner = backend

    def __repr__(self) -> str:
        return f"blocking_backend({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._backend, name)
        if not callable(value):
            return value
        return functools.partial(self._call, value)

    def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        async def call() -> T:
            on_loop = self._backend.awaits_io
            awaited: Awaitable[T] = run_sync(self._pool, fn, *args, on_loop=on_loop, **kwargs)
            return await awaited

        return self._loop.run(call())

    def close_pool(self) -> None:
        self._pool.shutdown()


def blocking_backend(backend: Backend, loop: LoopThread, *, threads: int = 8) -> Any:
    """``backend`` as an AsyncStore calls it (bridged, in greenlets on ``loop``), blocking.

    Call ``close_pool()`` on it when done (its worker threads).
    """
    return BlockingBackend(backend, loop, threads)
