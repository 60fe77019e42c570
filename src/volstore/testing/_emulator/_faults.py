"""Fault injection: make the next calls of an emulated volume or dict fail, or be slow.

Every emulated handle (``emulator.Volume.from_name(...)``, ``emulator.Dict...``) and
the emulator itself have ``faults``::

    volume.faults.fail_next("commit", errors.ServiceError("unavailable"))
    volume.faults.fail_next("reload", errors.ConflictError("busy"), times=2)
    volume.faults.fail_next("batch_upload", errors.InternalError("oops"), after=True)
    volume.faults.delay_next("commit", 1.5)
    emulator.faults.fail_next("put", errors.ResourceExhaustedError("rate limited"))

A fault stands for the server's answer: the emulated client turns it into what
modal's client raises. ``commit`` and ``reload`` raise ``RuntimeError(str(error))``
for a ``ConflictError`` or ``NotFoundError`` (modal/volume.py: ``except
(ConflictError, NotFoundError) as exc: raise RuntimeError(str(exc))``); every other
error is raised as it is. Faults live in the process that injected them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable

from ._errors import translate_commit_error

#: Operations of a volume handle that can fail or be delayed.
VOLUME_OPERATIONS = frozenset(
    {
        "commit",
        "reload",
        "background_commit",
        "listdir",
        "iterdir",
        "read_file",
        "read_file_into_fileobj",
        "remove_file",
        "copy_files",
        "batch_upload",
        "hydrate",
        "info",
    }
)
#: Operations of a dict handle (``d[k]`` is "get", ``d[k] = v`` "put", ``del d[k]``
#: "pop", ``k in d`` "contains", as in modal/dict.py where each delegates to those).
DICT_OPERATIONS = frozenset(
    {
        "get",
        "put",
        "pop",
        "contains",
        "len",
        "update",
        "clear",
        "keys",
        "values",
        "items",
        "hydrate",
        "info",
    }
)
# The client translates these server errors (modal/volume.py commit and reload).
_TRANSLATED = frozenset({"commit", "reload", "background_commit"})


@dataclasses.dataclass
class _Fault:
    operation: str
    error: BaseException | type[BaseException] | None
    delay: float
    remaining: int | None  # None: every call until cleared
    after: bool


class Faults:
    """The faults waiting for the next calls of one handle (or of a whole emulator).

    Thread-safe. A fault fires once per call (``times`` calls in all, or every call
    with ``times=None``) until :meth:`clear`.
    """

    def __init__(self, operations: Iterable[str], owner: str) -> None:
        self._operations = frozenset(operations)
        self._owner = owner
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Faults of {self._owner}: {len(self._faults)} pending>"

    def _check(self, operation: str, times: int | None) -> None:
        if operation not in self._operations:
            known = ", ".join(sorted(self._operations))
            raise ValueError(
                f"unknown operation {operation!r} for {self._owner}; use one of {known}"
            )
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 (or None for every call), not {times!r}")

    def fail_next(
        self,
        operation: str,
        error: BaseException | type[BaseException],
        *,
        times: int | None = 1,
        after: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``operation`` raise ``error``.

        ``error`` is an exception instance or class (a class is instantiated with a
        message naming the operation). By default the call fails before doing
        anything (a failed commit publishes nothing and stays retryable); with
        ``after=True`` it does its work first, then raises, like a request the server
        applied whose answer was lost. ValueError for an unknown operation.
        """
        self._check(operation, times)
        if not (
            isinstance(error, BaseException)
            or (isinstance(error, type) and issubclass(error, BaseException))
        ):
            raise TypeError(f"error must be an exception or an exception class, not {error!r}")
        with self._lock:
            self._faults.append(_Fault(operation, error, 0.0, times, after))

    def delay_next(self, operation: str, seconds: float, *, times: int | None = 1) -> None:
        """Make the next ``times`` calls of ``operation`` wait ``seconds`` first."""
        self._check(operation, times)
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, not {seconds!r}")
        with self._lock:
            self._faults.append(_Fault(operation, None, float(seconds), times, False))

    def clear(self, operation: str | None = None) -> None:
        """Drop every pending fault (of ``operation`` only, if given)."""
        with self._lock:
            self._faults = [f for f in self._faults if operation not in (None, f.operation)]

    @property
    def pending(self) -> list[str]:
        """The operations with a pending fault, one entry per fault."""
        with self._lock:
            return [f.operation for f in self._faults]

    def _take(self, operation: str) -> list[_Fault]:
        with self._lock:
            taken = [f for f in self._faults if f.operation == operation]
            for fault in taken:
                if fault.remaining is not None:
                    fault.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return taken


class FaultPoint:
    """The faults one call met: delays and errors before the call, errors after it."""

    def __init__(self, operation: str, sources: Iterable[Faults]) -> None:
        self.operation = operation
        self._faults = [fault for source in sources for fault in source._take(operation)]

    def before(self) -> None:
        for fault in self._faults:
            if fault.delay:
                time.sleep(fault.delay)
        for fault in self._faults:
            if fault.error is not None and not fault.after:
                raise self._error(fault.error)

    def after(self) -> None:
        for fault in self._faults:
            if fault.error is not None and fault.after:
                raise self._error(fault.error)

    def _error(self, error: BaseException | type[BaseException]) -> BaseException:
        if isinstance(error, type):
            error = error(f"{self.operation} failed: fault injected by the volstore emulator")
        if self.operation in _TRANSLATED:
            return translate_commit_error(error)
        return error
