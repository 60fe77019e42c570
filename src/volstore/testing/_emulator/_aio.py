"""``.aio`` on every emulated method, and Modal's warning for blocking calls in a loop.

modal wraps its API with synchronicity: each method is blocking, and its ``.aio``
form is a coroutine (``await volume.commit.aio()``), an async generator (``async for
entry in volume.iterdir.aio("/")``) or an async context manager (``async with
volume.batch_upload.aio() as batch``). A blocking call made while an event loop runs
in the calling thread emits ``modal.exception.AsyncUsageWarning``
(modal/_utils/async_utils.py ``_blocking_in_async_warning``, called by synchronicity's
``_run_function_sync`` when ``asyncio.get_running_loop()`` succeeds); setting
``MODAL_ASYNC_WARNINGS=0`` turns the warning off, as modal's config does.

The emulated ``.aio`` forms run the blocking implementation in a worker thread
(``asyncio.to_thread``), so they never block the event loop. The decorators below
also apply fault injection (see ``_faults``) to each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from ._errors import modal_class
from ._faults import FaultPoint, Faults

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
Y = TypeVar("Y")
Y_co = TypeVar("Y_co", covariant=True)
S = TypeVar("S", bound="HasFaults")

_state = threading.local()


class HasFaults(Protocol):
    """What an emulated handle gives its decorated methods: where faults come from."""

    def _fault_sources(self) -> tuple[Faults, ...]: ...


def _async_warnings_enabled() -> bool:
    # modal/config.py: the "async_warnings" setting, env MODAL_ASYNC_WARNINGS.
    value = os.environ.get("MODAL_ASYNC_WARNINGS", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def warn_if_in_event_loop(owner: str, method: str, *, stacklevel: int) -> None:
    """Emit AsyncUsageWarning if an event loop runs in this thread (modal's rule)."""
    if getattr(_state, "depth", 0):
        return  # a call made by another emulated call: warned once already
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    if not _async_warnings_enabled():
        return
    # Wording of modal/_utils/async_utils.py _blocking_in_async_warning.
    message = (
        "A blocking Modal interface is being used in an async context."
        "\n\nThis may cause performance issues or bugs."
        " Consider rewriting to use Modal's async interfaces:"
        "\nhttps://modal.com/docs/guide/async"
        f"\n\nSuggested rewrite:\n  await {owner}.{method}.aio(...)"
    )
    warnings.warn(message, modal_class("AsyncUsageWarning"), stacklevel=stacklevel + 1)


@contextlib.contextmanager
def _inside_call() -> Iterator[None]:
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


class DualContextManager(Generic[Y_co]):
    """A context manager usable with ``with`` and with ``async with`` (like
    synchronicity's); the async form runs enter and exit in a worker thread. The
    blocking ``with`` inside a running event loop emits AsyncUsageWarning."""

    def __init__(self, cm: AbstractContextManager[Y_co], owner: str = "", method: str = "") -> None:
        self._cm = cm
        self._owner = owner
        self._method = method

    def __enter__(self) -> Y_co:
        if self._method:
            warn_if_in_event_loop(self._owner, self._method, stacklevel=2)
        return self._cm.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self._cm.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Y_co:
        return await asyncio.to_thread(self._cm.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await asyncio.to_thread(self._cm.__exit__, exc_type, exc, tb)


class BoundMethod(Protocol[P, R_co]):
    """An emulated method of a handle: call it, or ``await`` its ``.aio`` form."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    @property
    def aio(self) -> Callable[P, Awaitable[R_co]]: ...


class BoundGenerator(Protocol[P, Y_co]):
    """An emulated generator method: iterate it, or ``async for`` over its ``.aio``."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[Y_co]: ...

    @property
    def aio(self) -> Callable[P, AsyncIterator[Y_co]]: ...


class BoundContext(Protocol[P, Y_co]):
    """An emulated context manager method: ``with`` it, or ``async with`` its ``.aio``."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> DualContextManager[Y_co]: ...

    @property
    def aio(self) -> Callable[P, DualContextManager[Y_co]]: ...


def _bind(function: Callable[..., Any], obj: object) -> Any:
    bound = functools.partial(function, obj)
    bound.aio = functools.partial(function.aio, obj)  # type: ignore[attr-defined]
    return bound


def _owner_name(obj: object) -> str:
    if isinstance(obj, type):
        return obj.__name__.replace("Emulated", "") or "obj"
    return type(obj).__name__.lower().replace("emulated", "") or "obj"


class _Method(Generic[S, P, R]):
    def __init__(self, func: Callable[Concatenate[S, P], R], operation: str) -> None:
        self._func = func
        self._operation = operation

        @functools.wraps(func)
        def blocking(obj: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            warn_if_in_event_loop(_owner_name(obj), func.__name__, stacklevel=2)
            return self._run(obj, *args, **kwargs)

        @functools.wraps(func)
        async def aio(obj: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return await asyncio.to_thread(self._run, obj, *args, **kwargs)

        blocking.aio = aio  # type: ignore[attr-defined]
        self._blocking = blocking

    def _run(self, obj: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with _inside_call():
            point = FaultPoint(self._operation, obj._fault_sources())
            point.before()
            result = self._func(obj, *args, **kwargs)
            point.after()
            return result

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Callable[Concatenate[S, P], R]: ...

    @overload
    def __get__(self, obj: S, owner: type[Any]) -> BoundMethod[P, R]: ...

    def __get__(self, obj: S | None, owner: type[Any]) -> Any:
        return self._blocking if obj is None else _bind(self._blocking, obj)


class _GeneratorMethod(Generic[S, P, Y]):
    def __init__(self, func: Callable[Concatenate[S, P], Iterator[Y]], operation: str) -> None:
        self._func = func
        self._operation = operation

        @functools.wraps(func)
        def blocking(obj: S, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[Y]:
            warn_if_in_event_loop(_owner_name(obj), func.__name__, stacklevel=2)
            return self._run(obj, *args, **kwargs)

        @functools.wraps(func)
        async def aio(obj: S, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Y]:
            iterator = self._run(obj, *args, **kwargs)
            done = object()
            while True:
                item = await asyncio.to_thread(next, iterator, done)
                if item is done:
                    return
                yield item  # type: ignore[misc]

        blocking.aio = aio  # type: ignore[attr-defined]
        self._blocking = blocking

    def _run(self, obj: S, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[Y]:
        # Like Modal's (async generators underneath), errors surface on first iteration.
        point = FaultPoint(self._operation, obj._fault_sources())
        point.before()
        yield from self._func(obj, *args, **kwargs)
        point.after()

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Callable[Concatenate[S, P], Iterator[Y]]: ...

    @overload
    def __get__(self, obj: S, owner: type[Any]) -> BoundGenerator[P, Y]: ...

    def __get__(self, obj: S | None, owner: type[Any]) -> Any:
        return self._blocking if obj is None else _bind(self._blocking, obj)


class _ContextMethod(Generic[S, P, Y]):
    def __init__(
        self, func: Callable[Concatenate[S, P], AbstractContextManager[Y]], operation: str
    ) -> None:
        self._func = func
        self._operation = operation

        @functools.wraps(func)
        def blocking(obj: S, /, *args: P.args, **kwargs: P.kwargs) -> DualContextManager[Y]:
            # Warned at ``__enter__``: ``async with`` of the same object is fine.
            return DualContextManager(func(obj, *args, **kwargs), _owner_name(obj), func.__name__)

        @functools.wraps(func)
        def aio(obj: S, /, *args: P.args, **kwargs: P.kwargs) -> DualContextManager[Y]:
            return DualContextManager(func(obj, *args, **kwargs))

        blocking.aio = aio  # type: ignore[attr-defined]
        self._blocking = blocking

    @overload
    def __get__(
        self, obj: None, owner: type[Any]
    ) -> Callable[Concatenate[S, P], DualContextManager[Y]]: ...

    @overload
    def __get__(self, obj: S, owner: type[Any]) -> BoundContext[P, Y]: ...

    def __get__(self, obj: S | None, owner: type[Any]) -> Any:
        return self._blocking if obj is None else _bind(self._blocking, obj)


def emulated(
    operation: str,
) -> Callable[[Callable[Concatenate[S, P], R]], _Method[S, P, R]]:
    """Decorate a blocking method of a handle: AsyncUsageWarning, faults, ``.aio``."""

    def decorate(func: Callable[Concatenate[S, P], R]) -> _Method[S, P, R]:
        return _Method(func, operation)

    return decorate


def emulated_generator(
    operation: str,
) -> Callable[[Callable[Concatenate[S, P], Iterator[Y]]], _GeneratorMethod[S, P, Y]]:
    """Decorate a generator method: faults on first iteration, ``.aio`` async generator."""

    def decorate(func: Callable[Concatenate[S, P], Iterator[Y]]) -> _GeneratorMethod[S, P, Y]:
        return _GeneratorMethod(func, operation)

    return decorate


def emulated_context(
    operation: str,
) -> Callable[[Callable[Concatenate[S, P], AbstractContextManager[Y]]], _ContextMethod[S, P, Y]]:
    """Decorate a context manager method (the implementation places its own fault
    point, at the moment the request goes out); ``with`` or ``async with``."""

    def decorate(
        func: Callable[Concatenate[S, P], AbstractContextManager[Y]],
    ) -> _ContextMethod[S, P, Y]:
        return _ContextMethod(func, operation)

    return decorate


class _ClassContext(Generic[P, Y]):
    """A classmethod returning a context manager, with ``.aio`` (``Volume.ephemeral``)."""

    def __init__(self, func: Callable[Concatenate[Any, P], AbstractContextManager[Y]]) -> None:
        @functools.wraps(func)
        def blocking(cls: Any, /, *args: P.args, **kwargs: P.kwargs) -> DualContextManager[Y]:
            return DualContextManager(func(cls, *args, **kwargs), _owner_name(cls), func.__name__)

        @functools.wraps(func)
        def aio(cls: Any, /, *args: P.args, **kwargs: P.kwargs) -> DualContextManager[Y]:
            return DualContextManager(func(cls, *args, **kwargs))

        blocking.aio = aio  # type: ignore[attr-defined]
        self._blocking = blocking

    def __get__(self, obj: object, owner: type[Any]) -> BoundContext[P, Y]:
        return _bind(self._blocking, owner)  # type: ignore[no-any-return]


def emulated_class_context(
    func: Callable[Concatenate[Any, P], AbstractContextManager[Y]],
) -> _ClassContext[P, Y]:
    """Decorate a classmethod context manager (``with`` / ``async with`` / ``.aio``)."""
    return _ClassContext(func)
