"""The backend as an async store calls it: in a worker thread, or on the event loop.

The engine of an :class:`~volstore.aio.AsyncStore` holds a :class:`BridgedBackend`
around the store's backend. The engine's code is the blocking code every store
runs; inside an awaited call it runs in a greenlet on the loop's thread, and
each call it makes here is handed on:

- to one of the store's worker threads (``_bridge.offload``): file I/O of the
  local and mounted backends, any backend written as blocking code;
- or straight to the backend, on the loop, for the methods the backend names
  in ``runs_on_loop``: those make their blocking calls through ``_bridge``
  themselves (the Modal backends await Modal's ``.aio`` forms).

Outside an awaited call each method is the backend's own, called directly.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from .._bridge import in_greenlet, offload
from ..backends._base import Backend, Entry, FileTooLargeError

T = TypeVar("T")


class BridgedBackend(Backend):
    """``inner``, called from worker threads or on the loop (see the module docstring).

    Safe to share between tasks and threads as ``inner`` is.
    """

    def __init__(self, inner: Backend) -> None:
        if not isinstance(inner, Backend):
            raise TypeError(f"backend must be a volstore Backend, not {inner!r}")
        self.inner = inner
        # Class-level settings of the contract, per instance here: the inner backend's
        # (the engine translates exactly the errors its storage raises).
        setattr(self, "storage_errors", inner.storage_errors)  # noqa: B010
        setattr(self, "may_hold_temporary_files", inner.may_hold_temporary_files)  # noqa: B010
        self._on_loop = inner.runs_on_loop
        self._read_takes_limit = "limit" in inspect.signature(inner.read).parameters

    def __repr__(self) -> str:
        return f"BridgedBackend({self.inner!r})"

    def _run(self, name: str, call: Callable[[], T]) -> T:
        if name in self._on_loop or not in_greenlet():
            return call()
        return offload(call)

    def _method(self, name: str, *args: Any, **kwargs: Any) -> Any:
        # Looked up at each call: a method replaced on the inner backend (a test's
        # fault injection) is the one called.
        return self._run(name, functools.partial(getattr(self.inner, name), *args, **kwargs))

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        if self._read_takes_limit:
            data: bytes = self._method("read", path, limit=limit)
            return data
        data = self._method("read", path)
        if limit is not None and len(data) > limit:
            raise FileTooLargeError(path, len(data), limit)
        return data

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        self._method("write_batch", files)

    def delete_batch(self, paths: Iterable[str]) -> None:
        self._method("delete_batch", list(paths))

    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        entries: list[Entry] = self._method("list", prefix, hidden=hidden, details=details)
        return entries

    def commit(self) -> None:
        self._method("commit")

    def reload(self) -> None:
        self._method("reload")

    def exists(self, path: str) -> bool:
        return bool(self._method("exists", path))

    def walk(self, prefix: str) -> Iterator[str]:
        return iter(self._run("walk", lambda: list(self.inner.walk(prefix))))

    def delete_tree(self, prefix: str) -> int:
        return int(self._method("delete_tree", prefix))

    def remove_empty_folder(self, path: str) -> bool:
        return bool(self._method("remove_empty_folder", path))

    def move(self, source: str, target: str) -> None:
        self._method("move", source, target)

    def remove_temporary(self, path: str, *, min_age: float) -> bool:
        return bool(self._method("remove_temporary", path, min_age=min_age))

    def read_token(self, path: str, *, limit: int | None = None) -> tuple[bytes, str]:
        found: tuple[bytes, str] = self._method("read_token", path, limit=limit)
        return found

    @property
    def supports_conditional(self) -> bool:
        return self.inner.supports_conditional

    def apply_conditional(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str],
        expected: Mapping[str, str | None],
    ) -> dict[str, str]:
        tokens: dict[str, str] = self._method("apply_conditional", writes, list(deletes), expected)
        return tokens

    def close(self) -> None:
        self._method("close")

    def describe(self) -> str:
        return self.inner.describe()


__all__ = ["BridgedBackend"]
