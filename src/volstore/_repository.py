"""Typed repositories: get, list, page, delete for one model.

``store.repository(Schedule)`` works on its own: each read goes straight to the
backend (after the reload policy), each write is a one-write session with its
own commit. ``session.repository(Schedule)`` works inside a unit of work:
reads go through the identity map and writes wait for the session's commit.
"""

from __future__ import annotations

import bisect
import builtins
import fnmatch
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from ._errors import (
    CorruptObjectError,
    ObjectNotFoundError,
    TenantIsolationError,
)
from ._keys import id_from_file_name, is_valid_id

if TYPE_CHECKING:
    from ._session import Session
    from ._store import ReloadArg, Store

M = TypeVar("M")
OnError = Literal["raise", "skip"] | Callable[[CorruptObjectError], None]
"""What ``list`` does with a stored file that does not parse: raise, skip, or call a function."""


class Repository(Generic[M]):
    """Typed access to the objects of one model, for one store (and optionally one session)."""

    def __init__(self, store: Store, model: type[M], *, session: Session | None = None) -> None:
        self.store = store
        self.model = model
        self.spec = store.register(model)
        self.session = session

    def __repr__(self) -> str:
        bound = " in a session" if self.session is not None else ""
        return f"Repository[{self.model.__name__}]({self.store!r}{bound})"

    def for_user(self, user_id: str) -> UserRepository[M]:
        """A view of this repository bound to one user: it cannot reach anyone else's objects."""
        self.store.hasher(user_id)  # validates the user id now
        return UserRepository(self, user_id)

    # -- reads ------------------------------------------------------------------------

    def get(self, user_id: str, object_id: str, *, reload: ReloadArg = None) -> M | None:
        """The object at ``(user_id, object_id)``, or None.

        Raises InvalidKeyError for a bad key, CorruptObjectError (naming the
        file) for a stored file that does not parse or validate.
        """
        if self.session is not None:
            return self.session.get(self.model, user_id, object_id, reload=reload)
        store = self.store
        path = store.path_for(self.spec, user_id, object_id)
        store.maybe_reload(reload)
        found = store.locate(self.spec, path)
        if found is None:
            return None
        return store.decode(self.spec, found[0], found[1], object_id, user_id)  # type: ignore[no-any-return]

    def get_one(self, user_id: str, object_id: str, *, reload: ReloadArg = None) -> M:
        """Like get, but raises ObjectNotFoundError (also a KeyError) when nothing is there."""
        obj = self.get(user_id, object_id, reload=reload)
        if obj is None:
            raise ObjectNotFoundError(self.spec.resource_type, user_id, object_id)
        return obj

    def exists(self, user_id: str, object_id: str, *, reload: ReloadArg = None) -> bool:
        """Whether an object is stored at the key (seen through the session, if any)."""
        if self.session is not None:
            present, deleted = self.session.pending_ids(self.spec, user_id)
            if object_id in present or object_id in deleted:
                return object_id in present
        path = self.store.path_for(self.spec, user_id, object_id)
        self.store.maybe_reload(reload)
        return self.store.object_exists(self.spec, path)

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
        after (the cursor of the previous page), ``limit`` the most to return.
        Only that user's folder is listed.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        if after is not None and not isinstance(after, str):
            raise TypeError(f"after must be an id string, not {after!r}")
        folder = self.store.user_folder(self.spec, user_id)
        self.store.maybe_reload(reload)
        extensions = self.spec.read_codecs
        found = {
            stem
            for entry in self.store.list_folder(folder)
            if not entry.is_dir and (stem := id_from_file_name(entry.name, extensions)) is not None
        }
        if self.session is not None:
            present, deleted = self.session.pending_ids(self.spec, user_id)
            found = (found | present) - deleted
        ids = sorted(object_id for object_id in found if is_valid_id(object_id))
        if after is not None:
            ids = ids[bisect.bisect_right(ids, after) :]
        if pattern is not None:
            ids = [object_id for object_id in ids if fnmatch.fnmatchcase(object_id, pattern)]
        return ids if limit is None else ids[:limit]

    def iter(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> Iterator[M]:
        """Lazily yield one user's objects in id order; each is read when it is reached.

        The folder is listed once, when iteration starts. An object deleted by
        someone else meanwhile is skipped. See ``list`` for ``on_error``.
        """
        ids = self.ids(user_id, pattern=pattern, after=after, limit=limit, reload=reload)
        for object_id in ids:
            try:
                obj = self.get(user_id, object_id, reload=False)
            except CorruptObjectError as exc:
                handle_corrupt(on_error, exc)
                continue
            if obj is not None:
                yield obj

    def list(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """One user's objects sorted by id (a page of them with ``after`` and ``limit``).

        For the next page pass ``after=page[-1].<id field>``. ``on_error``:
        ``"raise"`` (the default) raises CorruptObjectError for a stored file
        that does not parse or validate; ``"skip"`` leaves it out; a function is
        called with the error, and the file is left out.
        """
        return builtins.list(
            self.iter(
                user_id, pattern=pattern, after=after, limit=limit, reload=reload, on_error=on_error
            )
        )

    def scan_paths(self, *, reload: ReloadArg = None) -> Iterator[str]:
        """Yield the path of every stored object of this type, all users, lazily.

        Walks ``<type>/`` folder by folder (one listing in memory at a time),
        so memory stays flat whatever the store's size. Works for flat and
        time-bucketed layouts. Temporary files and foreign files are skipped.
        """
        self.store.maybe_reload(reload)
        for path in self.store.walk(self.spec.resource_type):
            stem = id_from_file_name(path.rpartition("/")[2], self.spec.read_codecs)
            if stem is not None and is_valid_id(stem):
                yield path

    def scan(self, *, reload: ReloadArg = None, on_error: OnError = "raise") -> Iterator[M]:
        """Yield every stored object of this type, all users, lazily (see ``scan_paths``).

        Reads the store directly, not through a session's pending changes.
        """
        for path in self.scan_paths(reload=reload):
            object_id = id_from_file_name(path.rpartition("/")[2], self.spec.read_codecs) or ""
            try:
                data = self.store.read_bytes(path)
                if data is None:
                    continue  # deleted since it was listed
                yield self.store.decode(self.spec, path, data, object_id)
            except CorruptObjectError as exc:
                handle_corrupt(on_error, exc)

    def count(self, user_id: str, *, pattern: str | None = None, reload: ReloadArg = None) -> int:
        """How many objects the user has (a folder listing; no object is read)."""
        return len(self.ids(user_id, pattern=pattern, reload=reload))

    # -- writes -----------------------------------------------------------------------------

    def put(self, obj: M) -> M:
        """Insert or replace ``obj``; return it (with its generated id, if it had none).

        Outside a session this is a one-write session: one file and one commit.
        """
        if self.session is not None:
            return self.session.add(obj)
        with self.store.session() as session:
            session.add(obj)
        return obj

    add = put

    def put_all(self, objs: Iterable[M]) -> builtins.list[M]:
        """Insert or replace several objects with one commit (outside a session)."""
        if self.session is not None:
            return self.session.add_all(objs)
        with self.store.session() as session:
            return session.add_all(objs)

    def delete(self, user_id: str, object_id: str) -> bool:
        """Delete the object at the key; return whether there was one.

        Outside a session: one delete and one commit, or nothing when absent.
        """
        if not self.exists(user_id, object_id):
            return False
        if self.session is not None:
            self.session.delete(self.model, user_id, object_id)
            return True
        with self.store.session() as session:
            session.delete(self.model, user_id, object_id)
        return True

    def delete_all(self, user_id: str) -> int:
        """Delete every object of this type that the user has; return how many (one commit)."""
        ids = self.ids(user_id)
        if not ids:
            return 0
        if self.session is not None:
            for object_id in ids:
                self.session.delete(self.model, user_id, object_id)
            return len(ids)
        with self.store.session() as session:
            for object_id in ids:
                session.delete(self.model, user_id, object_id)
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

    def get(self, object_id: str, *, reload: ReloadArg = None) -> M | None:
        return self.repository.get(self.user_id, object_id, reload=reload)

    def get_one(self, object_id: str, *, reload: ReloadArg = None) -> M:
        return self.repository.get_one(self.user_id, object_id, reload=reload)

    def exists(self, object_id: str, *, reload: ReloadArg = None) -> bool:
        return self.repository.exists(self.user_id, object_id, reload=reload)

    def ids(self, **kwargs: Any) -> builtins.list[str]:
        return self.repository.ids(self.user_id, **kwargs)

    def list(self, **kwargs: Any) -> builtins.list[M]:
        return self.repository.list(self.user_id, **kwargs)

    def iter(self, **kwargs: Any) -> Iterator[M]:
        return self.repository.iter(self.user_id, **kwargs)

    def count(self, **kwargs: Any) -> int:
        return self.repository.count(self.user_id, **kwargs)

    def put(self, obj: M) -> M:
        return self.repository.put(self._own(obj))

    def put_all(self, objs: Iterable[M]) -> builtins.list[M]:
        return self.repository.put_all([self._own(obj) for obj in objs])

    def delete(self, object_id: str) -> bool:
        return self.repository.delete(self.user_id, object_id)

    def delete_all(self) -> int:
        return self.repository.delete_all(self.user_id)


def handle_corrupt(on_error: OnError, exc: CorruptObjectError) -> None:
    """Apply an ``on_error`` policy to a stored file that does not parse: raise, skip or call."""
    if on_error == "raise":
        raise exc
    if callable(on_error):
        on_error(exc)
