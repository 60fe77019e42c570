"""Where the one implementation meets the event loop: each blocking call, made inline or awaited.

volstore's sessions, repositories, engine and backends are written once, as
plain blocking code. The async API (``volstore.aio``) runs that same code in a
greenlet on the event loop's thread, as SQLAlchemy's ``AsyncSession`` runs its
``Session``: wherever the code would block, it goes through one of the helpers
below, which inside such a greenlet suspend it, await on the loop, and resume
it with the result (or the exception):

- ``offload(fn, *args)``: run ``fn`` in the async store's worker threads (a
  bounded pool): file I/O, a wait on a lock, heavy work (a flush);
- ``call(method, *args)``: a Modal-style call, awaited as ``method.aio(*args)``
  (``offload``-ed when the method has no ``.aio``);
- ``iterate(method, *args)`` and ``enter(method, *args)``: the same for a
  Modal-style generator (``async for``) and context manager (``async with``);
- ``pause(seconds)``: ``asyncio.sleep`` on the loop, ``time.sleep`` elsewhere.

Code that ``offload`` runs in a worker thread serves the same awaited call:
there ``offload`` is the plain call (already off the loop) and ``call``,
``iterate`` and ``enter`` still await the ``.aio`` forms, on the loop, while
the worker thread waits for them (``run_coroutine_threadsafe``). So a flush
runs whole in a worker thread, and the Modal calls it makes are still awaited.

Outside the async API each helper is the plain blocking call, so the
blocking API pays one check per call and nothing else.

Two rules keep code written once safe to run this way (docs/async.md):

1. never block but through a helper (no ``time.sleep``, no blocking Modal call);
2. never hold a lock across a helper: the greenlet suspends there, and another
   one on the same thread taking that lock would block the loop for good.

``greenlet`` is imported only by ``run_sync`` (the async API); this module is
ground: it imports nothing of volstore but the error tree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from concurrent.futures import Executor
from typing import Any, TypeVar

from ._errors import VolstoreError, install_hint

T = TypeVar("T")

INSTALL_HINT = "volstore's async API on the Modal client API needs greenlet: " + install_hint(
    "async", "greenlet"
)


class AsyncUnavailableError(VolstoreError, ImportError):
    """The ``greenlet`` package, which the async API runs on, is not installed."""


_spawned: type[Any] | None = None  # the greenlet class of the async API, once it ran
_getcurrent: Callable[[], Any] | None = None
_worker = threading.local()  # .loop: in a worker thread, the loop of the call it serves


def _greenlet_module() -> Any:
    """The greenlet module; AsyncUnavailableError (an install hint) when it is missing."""
    global _spawned, _getcurrent
    try:
        import greenlet
    except ImportError as exc:
        raise AsyncUnavailableError(INSTALL_HINT) from exc
    if _spawned is None:

        class Spawned(greenlet.greenlet):  # type: ignore[misc]
            """A greenlet running volstore's blocking code for one awaited call."""

            pool: Executor

        _getcurrent = greenlet.getcurrent
        _spawned = Spawned
    return greenlet


def require_greenlet() -> None:
    """Raise AsyncUnavailableError (an install hint) unless greenlet is installed."""
    _greenlet_module()


def in_greenlet() -> bool:
    """Whether this code runs inside an awaited call of the async API (a volstore greenlet)."""
    spawned = _spawned
    return spawned is not None and isinstance(_getcurrent(), spawned)  # type: ignore[misc]


def await_only(awaitable: Awaitable[T]) -> T:
    """Suspend this greenlet until ``awaitable`` is done on the loop; its result or its error.

    Only inside an awaited call of the async API (``in_greenlet()``).
    """
    current = _getcurrent() if _getcurrent is not None else None
    if _spawned is None or not isinstance(current, _spawned):
        raise RuntimeError("await_only() outside an awaited call of volstore's async API")
    result: T = current.parent.switch(awaitable)
    return result


async def run_sync(
    pool: Executor, fn: Callable[..., T], *args: Any, on_loop: bool = False, **kwargs: Any
) -> T:
    """Run the blocking ``fn(*args, **kwargs)`` for an awaited call; await its result.

    ``on_loop=False``: whole, in a worker thread of ``pool`` that serves this
    loop (the helpers there await Modal's ``.aio`` forms on it). ``on_loop=True``:
    in a greenlet on this loop, where every helper suspends it and awaits here
    (``offload`` going to ``pool``); contextvars are shared with the task.

    The call runs to completion either way: a cancellation of the awaiting task
    is delivered (CancelledError) once it has returned, so that nothing is left
    half done (a commit under way finishes; a claim taken is released). Raises
    what ``fn`` raises.
    """
    if not on_loop:
        call = functools.partial(fn, *args, **kwargs)
        return await _to_completion(_submit(pool, call, ()))
    greenlet = _greenlet_module()
    assert _spawned is not None
    driver = greenlet.getcurrent()
    child = _spawned(fn, driver)
    child.gr_context = driver.gr_context
    child.pool = pool
    result = child.switch(*args, **kwargs)
    cancelled = False
    while not child.dead:
        succeeded, outcome, interrupted = await _settle(result)
        cancelled = cancelled or interrupted
        result = child.switch(outcome) if succeeded else child.throw(outcome)
    if cancelled:
        raise asyncio.CancelledError
    out: T = result
    return out


async def _settle(awaitable: Awaitable[Any]) -> tuple[bool, Any, bool]:
    """Await ``awaitable`` to its end, whatever cancellations come meanwhile.

    Returns (succeeded, its result or its exception, whether the awaiting task
    was cancelled while it ran).
    """
    inner = asyncio.ensure_future(awaitable)
    cancelled = False
    while True:
        try:
            return True, await asyncio.shield(inner), cancelled
        except asyncio.CancelledError as exc:
            if not inner.done():
                cancelled = True  # the task, not the call: let the call finish
                continue
            return False, exc, cancelled
        except BaseException as exc:
            return False, exc, cancelled


async def _to_completion(awaitable: Awaitable[T]) -> T:
    succeeded, outcome, cancelled = await _settle(awaitable)
    if not succeeded:
        raise outcome
    if cancelled:
        raise asyncio.CancelledError
    result: T = outcome
    return result


def _submit(pool: Executor, fn: Callable[..., T], args: tuple[Any, ...]) -> asyncio.Future[T]:
    """Run ``fn(*args)`` in a worker thread of ``pool`` serving this loop; a future of it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()  # a lock's re-entrancy is tracked in a contextvar

    def finished(job: concurrent.futures.Future[T]) -> None:  # in the worker thread
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_transfer, job, done)

    pool.submit(context.run, _serve, loop, fn, args).add_done_callback(finished)
    return done


def _transfer(job: concurrent.futures.Future[T], done: asyncio.Future[T]) -> None:
    if done.cancelled():
        return
    error = job.exception()
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(job.result())


def _serve(loop: asyncio.AbstractEventLoop, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """Run ``fn`` in a worker thread, for an awaited call of the async API on ``loop``."""
    previous = getattr(_worker, "loop", None)
    _worker.loop = loop
    try:
        return fn(*args)
    finally:
        _worker.loop = previous


def _loop_served() -> asyncio.AbstractEventLoop | None:
    """In a worker thread of an awaited call: its event loop (else None)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_worker, "loop", None)
    return loop


def _await_from_worker(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` on ``loop`` while this worker thread waits for its result."""

    async def awaited() -> T:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(awaited(), loop).result()


def _awaiter() -> Callable[[Awaitable[Any]], Any] | None:
    """How this code awaits: suspending its greenlet, from a worker thread, or not at all."""
    if in_greenlet():
        return await_only
    loop = _loop_served()
    if loop is None:
        return None
    return lambda awaitable: _await_from_worker(loop, awaitable)


def offload(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``; inside an awaited call, in a worker thread while the loop goes on."""
    if not in_greenlet():
        return fn(*args)  # blocking code, or already in a worker thread
    return await_only(_submit(_getcurrent().pool, fn, args))  # type: ignore[misc]


def call(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A Modal-style call: ``method(...)``, or inside an awaited call ``await method.aio(...)``.

    A method without ``.aio`` runs in a worker thread there.
    """
    wait = _awaiter()
    aio = getattr(method, "aio", None) if wait is not None else None
    if aio is None:
        return offload(lambda: method(*args, **kwargs))
    result: T = wait(aio(*args, **kwargs))  # type: ignore[misc]
    return result


def iterate(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Generator[Any, None, None]:
    """A Modal-style generator: ``method(...)``, or ``async for`` over ``method.aio(...)``.

    Close it when leaving early (``contextlib.closing``): the async generator
    underneath is then closed on the loop too.
    """
    wait = _awaiter()
    aio = getattr(method, "aio", None) if wait is not None else None
    if aio is None:
        iterator = offload(lambda: iter(method(*args, **kwargs)))
        while (item := offload(next, iterator, _DONE)) is not _DONE:
            yield item
        return
    assert wait is not None
    agen = aio(*args, **kwargs)
    try:
        while True:
            try:
                item = wait(agen.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and _awaiter() is not None:
            wait(aclose())


_DONE = object()


@contextlib.contextmanager
def enter(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """A Modal-style context manager: ``with method(...)``, or ``async with method.aio(...)``."""
    wait = _awaiter()
    aio = getattr(method, "aio", None) if wait is not None else None
    if wait is None:
        with method(*args, **kwargs) as value:
            yield value
        return
    manager = method(*args, **kwargs) if aio is None else aio(*args, **kwargs)
    if aio is None:
        value = offload(manager.__enter__)
        exit_: Callable[..., Any] = lambda *exc: offload(manager.__exit__, *exc)  # noqa: E731
    else:
        value = wait(manager.__aenter__())
        exit_ = lambda *exc: wait(manager.__aexit__(*exc))  # noqa: E731
    try:
        yield value
    except BaseException:
        if not exit_(*sys.exc_info()):
            raise
    else:
        exit_(None, None, None)


DECODE_INLINE = 1024 * 1024


def decoded(decode: Callable[..., T], data: bytes, *args: Any) -> T:
    """``decode(data, *args)``: inline, or for a payload over 1 MiB ``offload``-ed (a big
    decode on the loop would stall it for many milliseconds)."""
    if len(data) <= DECODE_INLINE:
        return decode(data, *args)
    return offload(decode, data, *args)


# Objects marked in this task (a contextvar: per thread for blocking code, per task
# in asyncio). The engine marks itself while an ``async with`` session of it is
# open: many tasks share the loop's thread, so a per-thread count cannot say.
_TASK_MARKS: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar(
    "volstore_task_marks", default=()
)


def mark_task(obj: object) -> None:
    """Mark ``obj`` in the current task (or thread); marks nest."""
    _TASK_MARKS.set((*_TASK_MARKS.get(), id(obj)))


def unmark_task(obj: object) -> None:
    """Remove one mark of ``obj`` from the current task (none there: nothing happens)."""
    marks = list(_TASK_MARKS.get())
    if id(obj) in marks:
        marks.remove(id(obj))
        _TASK_MARKS.set(tuple(marks))


def task_marked(obj: object) -> bool:
    """Whether ``obj`` is marked in the current task (or thread)."""
    return id(obj) in _TASK_MARKS.get()


def pause(seconds: float) -> None:
    """Wait ``seconds``: ``asyncio.sleep`` inside an awaited call, ``time.sleep`` elsewhere."""
    if in_greenlet():
        await_only(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


__all__ = [
    "INSTALL_HINT",
    "AsyncUnavailableError",
    "await_only",
    "call",
    "decoded",
    "enter",
    "in_greenlet",
    "iterate",
    "mark_task",
    "offload",
    "pause",
    "require_greenlet",
    "run_sync",
    "task_marked",
    "unmark_task",
]
