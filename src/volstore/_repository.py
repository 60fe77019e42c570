"""Typed repositories: get, list, page, delete for one model.

A repository reads and writes through a unit of work (``_tracker``):
``store.repository(Schedule)`` through the store's, where each read goes
straight to the backend (after the reload policy) and each write commits at
once; ``session.repository(Schedule)`` through the session's, where reads go
through the identity map and writes wait for the session's commit. The code
is the same for both.
"""

from __future__ import annotations

import bisect
import builtins
import fnmatch
import random
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from ._bridge import pause
from ._engine import Engine, ReloadArg, check_reload_arg
from ._errors import (
    CorruptObjectError,
    ObjectNotFoundError,
    OnError,
    SessionError,
    StaleObjectError,
    TenantIsolationError,
    handle_corrupt,
)
from ._query import Query, check_limit
from ._time import Window
from ._tracker import Tracker
from ._uow import UnitOfWork

M = TypeVar("M")
_CHUNK = 64  # files read per backend call when a user's objects are listed


class Source(Protocol):
    """A store or a session: what a repository can be built on."""

    def _unit_of_work(self) -> UnitOfWork: ...


def unit_of_work_of(source: Source | UnitOfWork) -> UnitOfWork:
    """The unit of work of a store or a session (or the one given)."""
    method = getattr(source, "_unit_of_work", None)
    if method is not None:
        uow: UnitOfWork = method()
        return uow
    if isinstance(getattr(source, "engine", None), Engine) and hasattr(source, "buffered"):
        return source  # type: ignore[return-value]
    raise TypeError(f"a repository is built on a Store or a Session, not {source!r}")


class Repository(Generic[M]):
    """Typed access to the objects of one model, through a store or a session.

    ``Repository(store, Model)`` is ``store.repository(Model)``;
    ``Repository(session, Model)`` is ``session.repository(Model)``.
    """

    def __init__(self, source: Source | UnitOfWork, model: type[M]) -> None:
        self._uow = unit_of_work_of(source)
        self.engine = self._uow.engine
        self.model = model
        self.spec = self.engine.register(model)

    def __repr__(self) -> str:
        bound = " in a session" if self._uow.buffered else ""
        return (
            f"{type(self).__name__}[{self.model.__name__}]({self.engine.backend.describe()}{bound})"
        )

    @property
    def in_session(self) -> bool:
        """Whether this repository belongs to a session (writes wait for its commit)."""
        return self._uow.buffered

    def for_user(self, user_id: str) -> UserRepository[M]:
        """A view of this repository bound to one user: it cannot reach anyone else's objects."""
        self.engine.hasher(user_id)  # validates the user id now
        return UserRepository(self, user_id)

    # -- queries -----------------------------------------------------------------------

    def query(self, user_id: str | None = None, *, all_users: bool = False) -> Query[M]:
        """A query over one user's objects (``query(user_id)``) or everyone's (``all_users=True``).

        The scope is explicit: one of the two must be given. See ``Query``
        and docs/queries.md. Raises InvalidKeyError for a bad user id,
        TypeError when neither or both scopes are given.
        """
        if (user_id is None) == (not all_users):
            raise TypeError(
                "give a user id (query(user_id)) or ask for every user (query(all_users=True))"
            )
        if user_id is not None:
            self.engine.hasher(user_id)  # validates the user id now
        return Query(self, user_id)

    def _unit_of_work_for_queries(self) -> UnitOfWork:
        return self._uow

    def _scan_user(self, user_id: str, on_error: OnError) -> Iterator[M]:
        return self.iter(user_id, on_error=on_error, reload=False)

    def _scan_window(self, window: Window, user_id: str | None, on_error: OnError) -> Iterator[M]:
        raise TypeError(f"{self.model.__name__} is not time-bucketed")

    # -- reads by key -----------------------------------------------------------------

    def get(
        self,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        *,
        reload: ReloadArg = None,
    ) -> M | None:
        """The object at ``(user_id, object_id)``, or None.

        ``at`` is the object's timestamp, needed (only) for time-bucketed
        models: any time in its bucket. Raises InvalidKeyError for a bad key,
        CorruptObjectError (naming the file) for a stored file that does not
        parse or validate, or anything but an object file at the path.
        TypeError for a ``reload`` that is not a ReloadPolicy, a bool or None.
        """
        if reload is not None:  # checked also when the session holds the object already
            check_reload_arg(reload)
        obj: M | None = self._uow.get(self.spec, user_id, object_id, at, reload)
        return obj

    def get_one(
        self,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        *,
        reload: ReloadArg = None,
    ) -> M:
        """Like get, but raises ObjectNotFoundError (also a KeyError) when nothing is there."""
        obj = self.get(user_id, object_id, at, reload=reload)
        if obj is None:
            raise ObjectNotFoundError(self.spec.resource_type, user_id, object_id)
        return obj

    def exists(
        self,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        *,
        reload: ReloadArg = None,
    ) -> bool:
        """Whether an object is stored at the key (seen through the session, if any).

        Raises CorruptObjectError when something other than an object file
        stands at its path (a folder, a link, a FIFO).
        """
        check_reload_arg(reload)
        path = self.engine.path_for(self.spec, user_id, object_id, at)
        present, deleted = self._uow.pending_ids(self.spec, user_id)
        if object_id in present or object_id in deleted:
            return object_id in present
        self.engine.maybe_reload(reload)
        return self.engine.object_exists(self.spec, path)

    # -- listing ------------------------------------------------------------------------

    def _names(self, user_id: str) -> dict[str, str]:
        """``id -> file name`` of one user's stored objects (the model's own format first).

        Whatever stands under an object's name counts (a folder, a link): reading
        it then reports it, as ``get`` does.
        """
        folder = self.engine.layout.user_folder(self.spec, user_id)
        object_id_of = self.engine.layout.object_id_of
        spec = self.spec
        names: dict[str, str] = {}
        own = spec.extension
        for entry in self.engine.list(folder):
            name = entry.name
            object_id = object_id_of(spec, name)
            if object_id is not None and (object_id not in names or name.endswith(own)):
                names[object_id] = name
        return names

    def ids(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
    ) -> builtins.list[str]:
        """One user's object ids, sorted, without reading the objects.

        ``pattern`` is a glob on ids (``"2024-*"``), ``after`` an id to start
        after (the last id of the previous page), ``limit`` the most to return.
        Only that user's folder is listed.
        """
        check_limit(limit)
        if after is not None and not isinstance(after, str):
            raise TypeError(f"after must be an id string, not {after!r}")
        self.engine.maybe_reload(reload)
        found = set(self._names(user_id))
        return self._page(user_id, found, pattern, after, limit)

    def _page(
        self,
        user_id: str,
        found: set[str],
        pattern: str | None,
        after: str | None,
        limit: int | None,
    ) -> builtins.list[str]:
        present, deleted = self._uow.pending_ids(self.spec, user_id)
        if present or deleted:
            found = (found | present) - deleted
        ids = sorted(found)
        if after is not None:
            ids = ids[bisect.bisect_right(ids, after) :]
        if pattern is not None:
            ids = [object_id for object_id in ids if fnmatch.fnmatchcase(object_id, pattern)]
        return ids if limit is None else ids[:limit]

    def _cursor(self, after: M | str | None) -> str | None:
        """The id a page starts after: ``after`` is the previous page's last object, or its id."""
        if after is None or isinstance(after, str):
            return after
        if isinstance(after, self.model):
            object_id: str = self.spec.object_id(after)
            return object_id
        raise TypeError(
            f"after= takes the last {self.model.__name__} of the previous page, or its id, "
            f"not {after!r}"
        )

    def iter(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: M | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> Iterator[M]:
        """Lazily yield one user's objects in id order, read as iteration reaches them.

        The folder is listed once, when iteration starts; files are then read
        in chunks that grow from one (the first object alone) to 64. An object deleted by
        someone else meanwhile is skipped. See ``list`` for ``after`` and ``on_error``.
        """
        check_limit(limit)
        cursor = self._cursor(after)
        self.engine.maybe_reload(reload)
        names = self._names(user_id)
        ids = self._page(user_id, set(names), pattern, cursor, limit)
        return self._read_listed(user_id, ids, names, on_error)

    def _read_listed(
        self, user_id: str, ids: builtins.list[str], names: dict[str, str], on_error: OnError
    ) -> Iterator[M]:
        folder = self.engine.layout.user_folder(self.spec, user_id)
        read = self._uow.read_listed
        spec = self.spec
        # Chunks of files per backend call (one folder open, not one path walk per
        # file), growing from one (the first object costs one read) to _CHUNK;
        # nothing is held open between chunks, so a lazy iteration never keeps a
        # reload waiting.
        start, size = 0, 1
        while start < len(ids):
            chunk = ids[start : start + size]
            start += size
            size = min(size * 4, _CHUNK)
            items = [
                (i, None if (name := names.get(i)) is None else f"{folder}/{name}") for i in chunk
            ]
            for obj in read(spec, user_id, items):
                if isinstance(obj, CorruptObjectError):
                    handle_corrupt(on_error, obj)
                elif obj is not None:
                    yield obj

    def list(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: M | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """One user's objects sorted by id (a page of them with ``after`` and ``limit``).

        ``after`` is the cursor: the last object of the previous page (or its
        id): ``page = repo.list(user, after=page[-1], limit=100)``. ``on_error``:
        ``"raise"`` (the default) raises CorruptObjectError for a stored file
        that does not parse or validate; ``"skip"`` leaves it out; a function is
        called with the error, and the file is left out.
        """
        return builtins.list(
            self.iter(
                user_id, pattern=pattern, after=after, limit=limit, reload=reload, on_error=on_error
            )
        )

    def count(self, user_id: str, *, pattern: str | None = None, reload: ReloadArg = None) -> int:
        """How many objects the user has (a folder listing; no object is read)."""
        return len(self.ids(user_id, pattern=pattern, reload=reload))

    def scan_paths(self, *, reload: ReloadArg = None) -> Iterator[str]:
        """Yield the path of every stored object of this type, all users, lazily.

        Walks ``<type>/`` folder by folder (one listing in memory at a time),
        so memory stays flat whatever the store's size. Works for flat and
        time-bucketed layouts. Temporary files and foreign files are skipped.
        Raises TypeError for a bad ``reload`` at once.
        """
        check_reload_arg(reload)
        return self._scan_paths(reload)

    def _scan_paths(self, reload: ReloadArg) -> Iterator[str]:
        self.engine.maybe_reload(reload)
        object_id_of = self.engine.layout.object_id_of
        spec = self.spec
        for path in self.engine.walk(spec.resource_type):
            if object_id_of(spec, path.rpartition("/")[2]) is not None:
                yield path

    def scan(self, *, reload: ReloadArg = None, on_error: OnError = "raise") -> Iterator[M]:
        """Yield every stored object of this type, all users, lazily (see ``scan_paths``).

        Reads the store directly, not through a session's pending changes.
        An object in a user folder its owner does not hash to is corrupt
        (``on_error``): it is never handed out as another user's.
        """
        check_reload_arg(reload)
        return self._scan(reload, on_error)

    def _scan(self, reload: ReloadArg, on_error: OnError) -> Iterator[M]:
        engine = self.engine
        spec = self.spec
        hasher = engine.hasher
        for path in self.scan_paths(reload=reload):
            object_id = engine.layout.object_id_of(spec, path.rpartition("/")[2])
            try:
                data = engine.read(path)
                if data is None:
                    continue  # deleted since it was listed
                obj = engine.decode(spec, path, data, object_id)
                folder = path.rsplit("/", 2)[-2]
                if hasher(getattr(obj, spec.owner_field)) != folder:
                    raise CorruptObjectError(
                        path, "holds an object of a user whose folder is not this one"
                    )
            except CorruptObjectError as exc:
                handle_corrupt(on_error, exc)
                continue
            yield obj

    # -- writes ---------------------------------------------------------------------------

    def put(self, obj: M) -> M:
        """Insert or replace ``obj``; return it (with its generated id, if it had none).

        In a session it is written at the session's commit; outside one it is
        written and committed at once. Raises SessionError for a write to a
        store's repository while a session of that store is open on this
        thread (use the session's repository).
        """
        result: M = self._uow.add(obj)
        return result

    add = put

    def put_all(self, objs: Iterable[M]) -> builtins.list[M]:
        """Insert or replace several objects (with one commit, outside a session)."""
        return self._uow.add_all(objs)

    def update(
        self,
        user_id: str,
        object_id: str,
        change: Callable[[M], M | None],
        *,
        at: datetime | None = None,
        create: Callable[[], M] | None = None,
        retries: int = 10,
    ) -> M:
        """Read, change and write one object; on a conflict, read again and retry.

        ``change(obj)`` changes the object in place (or returns a replacement).
        Each attempt reads the object (the first by the store's reload policy,
        retries after a reload) and writes it with a compare-and-swap
        (versioned models), in its own commit; after a StaleObjectError it
        waits a little (exponential backoff with jitter) and starts again, up
        to ``retries`` times. ``create()`` makes the
        object when none is stored. Returns the object as written.

        ``change`` may run more than once: keep it free of side effects. For
        an unversioned model there is no conflict to detect: the last writer
        wins. Raises ObjectNotFoundError when nothing is stored and there is
        no ``create``; the last StaleObjectError when every attempt met a
        conflict; SessionError in a session (it commits on its own).
        """
        if self._uow.buffered:
            raise SessionError(
                "update() commits each attempt on its own; call it on a repository of the "
                "store, not of a session"
            )
        if retries < 0:
            raise ValueError(f"retries must not be negative, not {retries}")
        engine = self.engine
        delay = 0.005
        for attempt in builtins.range(retries + 1):
            tracker = Tracker(engine)
            # A retry reloads: the conflict said the view is older than the store.
            reload: ReloadArg = True if attempt else None
            obj: M | None = tracker.get(self.spec, user_id, object_id, at, reload)
            if obj is None:
                if create is None:
                    raise ObjectNotFoundError(self.spec.resource_type, user_id, object_id)
                obj = tracker.add(create())
            replacement = change(obj)
            if replacement is not None and replacement is not obj:
                obj = tracker.add(replacement)
            try:
                if tracker.flush():
                    engine.commit()
            except StaleObjectError:
                if attempt == retries:
                    raise
                pause(delay * (0.5 + random.random()))  # asyncio.sleep in an awaited call
                delay = min(delay * 2, 0.5)
                continue
            return obj
        raise AssertionError("unreachable: the last attempt returns or raises")

    def delete(self, user_id: str, object_id: str, at: datetime | None = None) -> bool:
        """Delete the object at the key; return whether there was one.

        ``at`` is the timestamp, for a time-bucketed model. Outside a session:
        one delete and one commit, or nothing when absent.
        """
        if not self.exists(user_id, object_id, at):
            return False
        self._uow.delete_key(self.spec, user_id, object_id, at)
        return True

    def delete_all(self, user_id: str) -> int:
        """Delete every object of this type that the user has; return how many (one commit)."""
        ids = self.ids(user_id)
        if ids:
            self._uow.delete_keys(self.spec, [(user_id, object_id, None) for object_id in ids])
        return len(ids)


class UserRepository(Generic[M]):
    """One user's objects of one model: tenant isolation by construction.

    Every call is confined to the bound user's folder: ids are validated as
    single path components, so no id reaches another folder, and an object
    owned by someone else is refused with TenantIsolationError.
    """

    def __init__(self, repository: Repository[M], user_id: str) -> None:
        self.repository = repository
        self.user_id = user_id

    def __repr__(self) -> str:
        return f"{self.repository!r}.for_user({self.user_id!r})"

    def _own(self, obj: M) -> M:
        owner = self.repository.spec.owner(obj)
        if owner != self.user_id:
            raise TenantIsolationError(
                f"this repository is bound to user {self.user_id!r}; "
                f"the object belongs to {owner!r}"
            )
        return obj

    def get(
        self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> M | None:
        """The bound user's object ``object_id``, or None (see ``Repository.get``)."""
        return self.repository.get(self.user_id, object_id, at, reload=reload)

    def get_one(self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None) -> M:
        """The bound user's object ``object_id``; ObjectNotFoundError when absent."""
        return self.repository.get_one(self.user_id, object_id, at, reload=reload)

    def exists(
        self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> bool:
        """Whether the bound user has an object ``object_id`` (see ``Repository.exists``)."""
        return self.repository.exists(self.user_id, object_id, at, reload=reload)

    def ids(
        self,
        *,
        pattern: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
    ) -> builtins.list[str]:
        """The bound user's object ids, sorted (see ``Repository.ids``)."""
        return self.repository.ids(
            self.user_id, pattern=pattern, after=after, limit=limit, reload=reload
        )

    def list(
        self,
        *,
        pattern: str | None = None,
        after: M | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """The bound user's objects (see ``Repository.list``); ``after=page[-1]`` pages."""
        return self.repository.list(
            self.user_id,
            pattern=pattern,
            after=after,
            limit=limit,
            reload=reload,
            on_error=on_error,
        )

    def iter(
        self,
        *,
        pattern: str | None = None,
        after: M | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> Iterator[M]:
        """The bound user's objects, lazily (see ``Repository.iter``)."""
        return self.repository.iter(
            self.user_id,
            pattern=pattern,
            after=after,
            limit=limit,
            reload=reload,
            on_error=on_error,
        )

    def count(self, *, pattern: str | None = None, reload: ReloadArg = None) -> int:
        """How many objects the bound user has (a folder listing)."""
        return self.repository.count(self.user_id, pattern=pattern, reload=reload)

    def query(self) -> Query[M]:
        """A query over this user's objects (see ``Repository.query``)."""
        return self.repository.query(self.user_id)

    def put(self, obj: M) -> M:
        """Insert or replace ``obj``; TenantIsolationError when another user owns it."""
        return self.repository.put(self._own(obj))

    def put_all(self, objs: Iterable[M]) -> builtins.list[M]:
        """Insert or replace several objects (one commit, outside a session); all the user's."""
        return self.repository.put_all([self._own(obj) for obj in objs])

    def update(
        self,
        object_id: str,
        change: Callable[[M], M | None],
        *,
        at: datetime | None = None,
        create: Callable[[], M] | None = None,
        retries: int = 10,
    ) -> M:
        """Read, change and write one of the user's objects, retrying on conflicts."""

        def made() -> M:
            assert create is not None
            return self._own(create())

        return self.repository.update(
            self.user_id,
            object_id,
            change,
            at=at,
            create=None if create is None else made,
            retries=retries,
        )

    def delete(self, object_id: str, at: datetime | None = None) -> bool:
        """Delete the bound user's object ``object_id``; return whether there was one."""
        return self.repository.delete(self.user_id, object_id, at)

    def delete_all(self) -> int:
        """Delete every object of this type the bound user has; return how many."""
        return self.repository.delete_all(self.user_id)


__all__ = [
    "OnError",
    "Repository",
    "Source",
    "UserRepository",
    "check_limit",
    "handle_corrupt",
    "unit_of_work_of",
]
