"""The unit of work outside a session: reads go to the engine, each write commits at once.

``store.repository(Model)`` reads and writes through a :class:`Direct`: a read
is a read of the engine (after the reload policy), a write is a one-object
tracker, flushed and committed at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ._engine import Engine, ReloadArg
from ._errors import CorruptObjectError, SessionError
from ._model import ModelSpec
from ._tracker import Tracker


class Direct:
    """The unit of work outside a session: reads go to the engine, each write commits at once.

    Raises SessionError for a write made while a ``with store.session()``
    block of the same store is open on this thread: it would commit at once,
    outside that session, and survive the session's failure.
    """

    buffered = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _check_no_session(self, what: str) -> None:
        if self.engine.in_session():
            raise SessionError(
                f"{what} on a repository of the store commits at once, outside the session "
                "open on this thread (and would survive its failure); use the session's "
                "repository instead: `with store.session() as s: s.repository(Model).put(...)`"
            )

    def get(
        self,
        spec: ModelSpec,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        reload: ReloadArg = None,
    ) -> Any | None:
        engine = self.engine
        path = engine.layout.object_path(spec, user_id, object_id, at)
        if reload is not None or not engine.never_reloads:
            engine.maybe_reload(reload)
        obj = engine.read_object(spec, path, object_id, user_id)
        if obj is None and spec.previous_codecs:
            found = engine.locate(spec, path)
            if found is not None:
                return engine.decode(spec, found[0], found[1], object_id, user_id)
        return obj

    def read_listed(
        self, spec: ModelSpec, user_id: str, items: Sequence[tuple[str, str | None]]
    ) -> list[Any | CorruptObjectError | None]:
        paths = [(object_id, path) for object_id, path in items if path is not None]
        if len(paths) == len(items):
            return self.engine.read_objects(spec, user_id, paths)
        found = iter(self.engine.read_objects(spec, user_id, paths))
        return [None if path is None else next(found) for _, path in items]

    def _commit(self, tracker: Tracker) -> None:
        if tracker.flush():
            self.engine.commit()

    def add(self, obj: Any) -> Any:
        self._check_no_session("put()")
        tracker = Tracker(self.engine)
        tracker.add(obj)
        self._commit(tracker)
        return obj

    def add_all(self, objs: Iterable[Any]) -> list[Any]:
        self._check_no_session("put_all()")
        tracker = Tracker(self.engine)
        added = tracker.add_all(objs)
        self._commit(tracker)
        return added

    def delete_key(
        self, spec: ModelSpec, user_id: str, object_id: str, at: datetime | None
    ) -> None:
        self.delete_keys(spec, [(user_id, object_id, at)])

    def delete_keys(
        self, spec: ModelSpec, keys: Iterable[tuple[str, str, datetime | None]]
    ) -> None:
        self._check_no_session("delete()")
        tracker = Tracker(self.engine)
        tracker.delete_keys(spec, keys)
        self._commit(tracker)

    def pending_ids(self, spec: ModelSpec, user_id: str) -> tuple[set[str], set[str]]:
        return set(), set()

    def pending_objects(self, spec: ModelSpec) -> tuple[list[Any], set[str]]:
        return [], set()

    def adopt(
        self,
        spec: ModelSpec,
        obj: Any,
        path: str,
        stored_path: str,
        raw: bytes,
        token: str | None = None,
    ) -> None:
        """Outside a session nothing is remembered."""


__all__ = ["Direct"]
