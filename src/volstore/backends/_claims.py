"""Claims: exclusive, leased rights to replace a file, kept in a shared put-if-absent map.

A Modal Volume has no lock and no compare-and-swap: the last commit wins per
file. The one atomic primitive shared by every container is
``modal.Dict.put(key, value, skip_if_exists=True)``: of several racing
writers, exactly one gets True. A compare-and-swap on a volume is built on it:

1. claim every path of the batch (in path order, so two writers never wait
   for each other in a circle): one Dict entry per path, holding this
   claim's id and the time it was taken;
2. make the latest committed state visible (``reload``) and compare each
   path's state with the one the writer read: a mismatch releases the claims
   and is a conflict;
3. write and commit; 4. release the claims.

While a path is claimed, every other writer of it waits (up to ``wait``
seconds, then reports a conflict), so no two writers ever build on the same
state. A claimant that dies between 1 and 4 leaves its claim behind: the
claim is a **lease**; once it is ``lease`` seconds old another writer breaks
it and goes on. The one remaining assumption: **no writer pauses for longer
than the lease between its claim and its commit** (default 60 s; a live
writer's claim-to-commit normally takes one reload, one batch and one commit).
Each claim is checked once more just before the commit, so a writer whose
claim was broken does not write.

The map is anything with ``put(key, value, *, skip_if_exists)``, ``get`` and
``pop``: a ``modal.Dict``, or ``volstore.testing``'s emulated one. Its calls
go through ``_bridge.call``: inside the async API they await the map's
``.aio`` forms, and the waits between tries are ``asyncio.sleep``.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._bridge import call, offload, pause
from .._errors import ConflictError

DEFAULT_LEASE = 60.0
"""Seconds after which a claim is presumed abandoned (its writer died) and may be broken."""

DEFAULT_WAIT = 10.0
"""Seconds a writer waits for another writer's claim before it reports a conflict."""


class ClaimMap(Protocol):
    """What claims need of a shared map: ``modal.Dict`` has these."""

    def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool: ...

    def get(self, key: Any, default: Any | None = None) -> Any: ...

    def pop(self, key: Any, default: Any = ...) -> Any: ...


class ClaimConflictError(ConflictError):
    """Another writer holds the claim on a path for longer than the wait: it is replacing it."""

    def __init__(self, path: str, waited: float) -> None:
        ConflictError.__init__(self, path, None, None)
        self.args = (
            f"conflict at {path}: another writer is replacing it (its claim was held for "
            f"the {waited:g} s this writer waited)",
        )
        self.waited = waited


@dataclass
class Held:
    """The claims one writer holds: the map's keys and the value it put under them."""

    keys: list[tuple[str, str]] = field(default_factory=list)  # (path, key)
    value: tuple[str, float, float] = ("", 0.0, 0.0)  # (claim id, taken at, lease)


class Claims:
    """Claims on paths in one shared map, under ``namespace`` (one per volume).

    ``clock`` and ``sleep`` are for tests (a lease can be short there).
    """

    def __init__(
        self,
        source: ClaimMap | Callable[[], ClaimMap],
        *,
        namespace: str,
        lease: float = DEFAULT_LEASE,
        wait: float = DEFAULT_WAIT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = pause,
    ) -> None:
        if lease <= 0 or wait < 0:
            raise ValueError("a claim's lease must be positive and its wait not negative")
        self._source = source
        self._map: ClaimMap | None = source if _is_map(source) else None  # type: ignore[assignment]
        self.namespace = namespace
        self.lease = lease
        self.wait = wait
        self._clock = clock
        self._sleep = sleep
        self.acquired = 0  # counters, for tests and benchmarks
        self.waits = 0
        self.broken = 0

    @property
    def map(self) -> ClaimMap:
        """The shared map (resolved on first use: an unversioned store never needs one)."""
        if self._map is None:
            self._map = offload(self._source)  # type: ignore[arg-type]
        return self._map

    def key(self, path: str) -> str:
        return f"{self.namespace}:{path}"

    def acquire(self, paths: Sequence[str]) -> Held:
        """Claim every name in ``paths`` (in order); return what is held.

        The backends claim the folders of the files they replace (one map
        entry per folder and batch, not per file). Raises ClaimConflictError
        (nothing held) when a name stays claimed by another live writer for
        longer than ``wait``.
        """
        claims = self.map
        held = Held(value=(uuid.uuid4().hex, self._clock(), self.lease))
        try:
            for path in sorted(set(paths)):
                key = self.key(path)
                self._take(claims, path, key, held)
                held.keys.append((path, key))
        except BaseException:
            self.release(held)
            raise
        self.acquired += len(held.keys)
        return held

    def _take(self, claims: ClaimMap, path: str, key: str, held: Held) -> None:
        started = self._clock()
        delay = 0.005
        while True:
            mine = (held.value[0], self._clock(), self.lease)
            if call(claims.put, key, mine, skip_if_exists=True):
                held.value = mine
                return
            current = call(claims.get, key)
            if current is None:
                continue  # released between our put and our get
            if self._expired(current):
                self._break(claims, key, current)
                continue
            waited = self._clock() - started
            if waited >= self.wait:
                raise ClaimConflictError(path, round(waited, 3))
            self.waits += 1
            self._sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.2)

    def _expired(self, value: Any) -> bool:
        try:
            _, taken_at, lease = value
            return bool(self._clock() - float(taken_at) >= float(lease))
        except (TypeError, ValueError):
            return True  # not a claim of ours: nothing can be waiting on it

    def _break(self, claims: ClaimMap, key: str, stale: Any) -> None:
        """Remove an abandoned claim; put back a fresh one popped by mistake."""
        popped = call(claims.pop, key, None)
        if popped is not None and popped != stale:
            # Someone broke it first and claimed anew: give theirs back.
            call(claims.put, key, popped, skip_if_exists=True)
        else:
            self.broken += 1

    def still_held(self, held: Held) -> str | None:
        """The first path whose claim is no longer this writer's (broken meanwhile), or None."""
        claims = self.map
        for path, key in held.keys:
            current = call(claims.get, key)
            if current is None or current[0] != held.value[0]:
                return path
        return None

    def release(self, held: Held) -> None:
        """Give the claims back (only those still this writer's)."""
        if not held.keys:
            return
        claims = self.map
        for _, key in held.keys:
            current = call(claims.get, key)
            if current is not None and current[0] == held.value[0]:
                call(claims.pop, key, None)
        held.keys.clear()


def _is_map(source: object) -> bool:
    return all(hasattr(source, name) for name in ("put", "get", "pop"))


__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_WAIT",
    "ClaimConflictError",
    "ClaimMap",
    "Claims",
    "Held",
]
