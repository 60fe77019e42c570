"""The unit of work: ``with store.session() as s:`` buffers, then commits once.

A session buffers every add and delete in memory (its tracker: identity map,
dirty checks, versions). On a clean exit it encodes everything (so a bad key
or an unencodable object fails before any byte is written), writes the files
in one backend batch, applies the deletes, and commits the backend once. If
the block raises, nothing is written and nothing is committed. A session that
changed nothing commits nothing.

A session is not thread-safe: use one per thread (the store may be shared).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, overload

from ._engine import Engine, ReloadArg, Stats, check_reload_arg
from ._engine import Stats as SessionStats  # what one session did to the backend
from ._errors import ObjectNotFoundError, SessionError
from ._events import BucketedRepository
from ._repository import Repository
from ._tracker import Tracker
from ._uow import UnitOfWork

M = TypeVar("M")


class Session:
    """A unit of work over a store. Create it with ``store.session()``.

    Inside a session the same key always gives the same object (identity map),
    reads see the session's own pending writes and deletes, and objects loaded
    in the session and changed in place (nested lists and dicts included) are
    written at commit; unchanged ones are not.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tracker = Tracker(engine)
        self._closed = False
        self._entered = False
        self._uncommitted = False  # flushed to the backend, not yet committed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Session on {self._engine.backend.describe()} ({state})>"

    @property
    def stats(self) -> Stats:
        """What this session did to the backend: reads, writes, deletes, commits."""
        return self._tracker.stats

    # -- context manager ----------------------------------------------------------

    def __enter__(self) -> Session:
        self._check_open()
        if not self._entered:
            self._entered = True
            self._engine.session_opened()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.close()

    def close(self) -> None:
        """Discard pending changes and end the session; later use raises SessionError."""
        self._tracker.clear()
        self._closed = True
        if self._entered:
            self._entered = False
            self._engine.session_closed()

    def _check_open(self) -> None:
        if self._closed:
            raise SessionError("this session is closed; open a new one with store.session()")

    def _unit_of_work(self) -> UnitOfWork:
        self._check_open()
        return self._tracker

    # -- objects --------------------------------------------------------------------------

    def add(self, obj: M) -> M:
        """Insert or replace ``obj`` at its key when the session commits; return it.

        A None id is replaced by a generated one. Raises InvalidKeyError for a
        bad id or user id (before anything is written).
        """
        if self._closed:
            self._check_open()
        result: M = self._tracker.add(obj)
        return result

    put = add

    def add_all(self, objs: Iterable[M]) -> list[M]:
        """Add several objects; return them."""
        self._check_open()
        return self._tracker.add_all(objs)

    def get(
        self,
        model: type[M],
        user_id: str,
        object_id: str,
        *,
        at: datetime | None = None,
        reload: ReloadArg = None,
    ) -> M | None:
        """The object at the key, or None. Sees this session's pending writes and deletes.

        ``at`` is the object's timestamp, needed for time-bucketed models. Raises
        InvalidKeyError for a bad key and CorruptObjectError (naming the file)
        for a stored file that does not parse or validate; TypeError for a
        ``reload`` that is not a ReloadPolicy, a bool or None.
        """
        self._check_open()
        check_reload_arg(reload)  # also when the session holds the object already
        tracker = self._tracker
        obj: M | None = tracker.get(tracker.spec(model), user_id, object_id, at, reload)
        return obj

    def get_one(
        self,
        model: type[M],
        user_id: str,
        object_id: str,
        *,
        at: datetime | None = None,
        reload: ReloadArg = None,
    ) -> M:
        """Like get, but raises ObjectNotFoundError (a KeyError) when there is no object."""
        obj = self.get(model, user_id, object_id, at=at, reload=reload)
        if obj is None:
            spec = self._tracker.spec(model)
            raise ObjectNotFoundError(spec.resource_type, user_id, object_id)
        return obj

    @overload
    def delete(self, obj: object, /) -> None: ...

    @overload
    def delete(
        self, model: type[Any], user_id: str, object_id: str, /, *, at: datetime | None = None
    ) -> None: ...

    def delete(
        self,
        target: Any,
        user_id: str | None = None,
        object_id: str | None = None,
        /,
        *,
        at: datetime | None = None,
    ) -> None:
        """Delete an object, or the object at a key (``delete(Model, user_id, id)``).

        ``at`` is the timestamp, for a time-bucketed model deleted by key.
        Buffered until commit; deleting a key that holds nothing is not an error.
        """
        self._check_open()
        tracker = self._tracker
        if isinstance(target, type):
            if user_id is None or object_id is None:
                raise TypeError("delete(Model, user_id, id) needs the user id and the id")
            tracker.delete_key(tracker.spec(target), user_id, object_id, at)
            return
        if user_id is not None or object_id is not None or at is not None:
            raise TypeError("delete(obj) takes the object alone")
        tracker.delete_object(target)

    def repository(self, model: type[M]) -> Repository[M]:
        """A repository for ``model`` whose reads and writes go through this session.

        For a time-bucketed model use ``session.bucketed(Model)``, typed with
        its range queries (this returns the same repository, typed as a
        plain one).
        """
        self._check_open()
        if self._tracker.spec(model).time_field is not None:
            return BucketedRepository(self._tracker, model)
        return Repository(self._tracker, model)

    def bucketed(self, model: type[M]) -> BucketedRepository[M]:
        """The repository of a time-bucketed ``model`` in this session: range queries see
        the session's pending adds and deletes.

        Raises ModelDefinitionError for a model without a ``time_field``.
        """
        self._check_open()
        return BucketedRepository(self._tracker, model)

    # -- commit -------------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write pending changes to the backend without committing; return whether any.

        A later ``commit()`` publishes them. Raises as ``commit`` does.
        """
        self._check_open()
        if self._tracker.flush():
            self._uncommitted = True
            return True
        return False

    def commit(self) -> None:
        """Write every pending change and commit the backend once; the session goes on.

        Does nothing when nothing changed. If encoding or writing fails, nothing
        is committed and the pending changes stay pending (for versioned
        objects, StaleObjectError: nothing of the stale object was written). If
        the backend's commit itself fails, the files are written but not
        committed; calling commit() again retries the commit.
        """
        self.flush()
        if self._uncommitted:
            self._engine.commit()
            self._uncommitted = False
            self._tracker.stats.commits += 1

    def rollback(self) -> None:
        """Discard every pending change; the session goes on with an empty identity map."""
        self._check_open()
        self._tracker.clear()

    @property
    def has_changes(self) -> bool:
        """Whether a commit now would write anything (encodes loaded objects to find out)."""
        return self._tracker.has_changes


__all__ = ["Session", "SessionStats"]
