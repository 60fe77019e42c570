"""The unit of work: buffer, identity map, dirty tracking, one commit.

``with store.session() as s:`` buffers every add and delete in memory. On a
clean exit it encodes everything (so a bad key or an unencodable object fails
before any byte is written), writes the files in one backend batch, applies
the deletes, and commits the backend once. If the block raises, nothing is
written and nothing is committed. A session that changed nothing commits
nothing.

A session is not thread-safe: use one per thread (the store may be shared).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._errors import ObjectNotFoundError, SessionError, StaleObjectError
from ._model import ModelSpec, spec_of

if TYPE_CHECKING:
    from ._repository import Repository
    from ._store import ReloadArg, Store

M = TypeVar("M")
Key = tuple[str, str, str]  # (resource type, user id, object id)


def _version_of(spec: ModelSpec, obj: Any) -> int | None:
    """The version an object carries, for versioned models (None for others)."""
    if spec.version_field is None:
        return None
    value = getattr(obj, spec.version_field)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SessionError(
            f"{spec.cls.__name__}.{spec.version_field} must be a non-negative int, not {value!r}"
        )
    return value


class _State(enum.Enum):
    LOADED = "loaded"  # read from the store; written again only if changed
    NEW = "new"  # added (insert or replace); always written
    DELETED = "deleted"  # to be removed


@dataclass(slots=True)
class _Tracked:
    spec: ModelSpec
    state: _State
    obj: Any
    path: str  # where the object belongs now (as of add/get/delete)
    stored_path: str | None = None  # where the store holds it, as far as this session knows
    raw: bytes | None = None  # the bytes at stored_path: the snapshot for dirty checks
    expected_version: int | None = None  # versioned models: the version this session builds on


@dataclass
class SessionStats:
    """What one session did to the backend (tests and benchmarks read these)."""

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    commits: int = 0
    bytes_written: int = 0


class Session:
    """A unit of work over a store. Create it with ``store.session()``.

    Inside a session the same key always gives the same object (identity map),
    reads see the session's own pending writes and deletes, and objects loaded
    in the session and changed in place (nested lists and dicts included) are
    written at commit; unchanged ones are not.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stats = SessionStats()
        self._tracked: dict[Key, _Tracked] = {}
        self._closed = False
        self._uncommitted = False  # flushed to the backend, not yet committed
        self._specs: dict[type[Any], ModelSpec] = {}  # classes already registered

    # -- context manager ----------------------------------------------------------

    def __enter__(self) -> Session:
        self._check_open()
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
        self._tracked.clear()
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise SessionError("this session is closed; open a new one with store.session()")

    # -- identity -------------------------------------------------------------------

    def _spec(self, model: type[Any] | Any) -> ModelSpec:
        cls = model if isinstance(model, type) else type(model)
        spec = self._specs.get(cls)
        if spec is None:
            spec = self.store.register(cls)
            self._specs[cls] = spec
        return spec

    def _key_of(self, spec: ModelSpec, obj: Any) -> Key:
        object_id = spec.assign_id(obj)
        return (spec.resource_type, spec.owner(obj), object_id)

    # -- public operations ---------------------------------------------------------------

    def add(self, obj: M) -> M:
        """Insert or replace ``obj`` at its key when the session commits; return it.

        A None id is replaced by a generated one. Raises InvalidKeyError for a
        bad id or user id (before anything is written).
        """
        if self._closed:
            self._check_open()
        spec = self._specs.get(type(obj)) or self._spec(obj)
        # The hot path of a bulk write: read the key fields once, build the path
        # (which validates them) before using them as a dict key.
        object_id = getattr(obj, spec.id_field)
        if object_id is None:
            object_id = spec.assign_id(obj)
        owner = getattr(obj, spec.owner_field)
        if spec.time_field is None:
            path = self.store.path_for(spec, owner, object_id)
        else:
            path = self.store.object_path(spec, obj)
        key = (spec.resource_type, owner, object_id)
        previous = self._tracked.get(key)
        if previous is None:
            expected = None if spec.version_field is None else _version_of(spec, obj)
            self._tracked[key] = _Tracked(spec, _State.NEW, obj, path, None, None, expected)
            return obj
        if previous.obj is obj and previous.state is not _State.DELETED:
            return obj  # already tracked: changes are found at flush
        stored_path = previous.stored_path
        if stored_path is None and previous.state is _State.DELETED:
            # A delete by key named where the old object is (its bucket, for
            # time-bucketed models): if the new one lands elsewhere, that file goes.
            stored_path = previous.path
        raw = previous.raw if previous is not None else None
        expected = _version_of(spec, obj)
        self._tracked[key] = _Tracked(spec, _State.NEW, obj, path, stored_path, raw, expected)
        return obj

    put = add

    def add_all(self, objs: Iterable[M]) -> list[M]:
        """Add several objects; return them."""
        return [self.add(obj) for obj in objs]

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
        for a stored file that does not parse or validate.
        """
        self._check_open()
        spec = self._spec(model)
        path = self.store.path_for(spec, user_id, object_id, at)
        key = (spec.resource_type, user_id, object_id)
        tracked = self._tracked.get(key)
        if tracked is not None:
            return None if tracked.state is _State.DELETED else tracked.obj
        self.store.maybe_reload(reload)
        self.stats.reads += 1
        found = self.store.locate(spec, path)
        if found is None:
            return None
        stored_path, data = found
        obj = self.store.decode(spec, stored_path, data, object_id, user_id)
        expected = _version_of(spec, obj)
        self._tracked[key] = _Tracked(spec, _State.LOADED, obj, path, stored_path, data, expected)
        return obj  # type: ignore[no-any-return]

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
            raise ObjectNotFoundError(spec_of(model).resource_type, user_id, object_id)
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
        if isinstance(target, type):
            if user_id is None or object_id is None:
                raise TypeError("delete(Model, user_id, id) needs the user id and the id")
            spec = self._spec(target)
            path = self.store.path_for(spec, user_id, object_id, at)
            key: Key = (spec.resource_type, user_id, object_id)
            obj = None
        else:
            if user_id is not None or object_id is not None or at is not None:
                raise TypeError("delete(obj) takes the object alone")
            spec = self._spec(target)
            key = self._key_of(spec, target)
            path = self.store.object_path(spec, target)
            obj = target
        previous = self._tracked.get(key)
        stored_path = previous.stored_path if previous is not None else None
        if previous is not None and previous.state is not _State.DELETED:
            expected = previous.expected_version
        else:
            expected = _version_of(spec, obj) if obj is not None else None
        self._tracked[key] = _Tracked(
            spec, _State.DELETED, obj, path, stored_path, expected_version=expected
        )

    def repository(self, model: type[M]) -> Repository[M]:
        """A repository for ``model`` whose reads and writes go through this session."""
        from ._repository import Repository

        if spec_of(model).time_field is not None:
            from ._events import BucketedRepository

            return BucketedRepository(self.store, model, session=self)
        return Repository(self.store, model, session=self)

    # -- flush and commit ------------------------------------------------------------------

    def _flush(self) -> bool:
        """Write pending changes to the backend (no commit). Return whether anything changed.

        Everything is encoded and checked first (keys, sizes, versions); only
        then is anything written, so a bad object or a stale version leaves
        the store untouched.
        """
        writes: dict[str, bytes] = {}
        deletes: set[str] = set()
        written: dict[Key, tuple[_Tracked, str, bytes]] = {}
        versioned: list[tuple[_Tracked, str]] = []  # (tracked, path whose version to check)
        rekey = False  # whether the identity map must be rebuilt after the flush
        encode = self.store.encode
        for key, tracked in self._tracked.items():
            spec = tracked.spec
            if tracked.state is _State.DELETED:
                deletes.add(tracked.path)
                deletes.update(self.store.legacy_paths(spec, tracked.path))
                if tracked.stored_path is not None:
                    deletes.add(tracked.stored_path)
                if spec.version_field is not None and tracked.expected_version is not None:
                    versioned.append((tracked, tracked.stored_path or tracked.path))
                rekey = True  # deleted entries leave the identity map
                continue
            obj = tracked.obj
            object_id = getattr(obj, spec.id_field)
            if object_id is None:
                object_id = spec.assign_id(obj)
            new_key = (key[0], getattr(obj, spec.owner_field), object_id)
            if new_key == key and spec.time_field is None:
                path = tracked.path  # same key, same path
            else:
                path = self.store.object_path(spec, obj)
            if new_key != key:
                rekey = True
                other = self._tracked.get(new_key)
                if other is not None and other.state is not _State.DELETED:
                    raise SessionError(
                        f"{spec.cls.__name__} {key[2]!r} was given the key of another object "
                        f"in this session ({new_key[2]!r} of user {new_key[1]!r})"
                    )
            data = encode(spec, obj)
            if (
                tracked.state is _State.LOADED
                and path == tracked.path
                and tracked.raw is not None
                and (data == tracked.raw or self._same_as_stored(tracked))
            ):
                continue
            if path in writes:
                raise SessionError(
                    f"two objects in this session would both be written to {path}; "
                    "was a key field changed in place?"
                )
            writes[path] = data
            written[key] = (tracked, path, data)
            if spec.version_field is not None:
                versioned.append((tracked, tracked.stored_path or path))
            if tracked.stored_path is not None and tracked.stored_path != path:
                deletes.add(tracked.stored_path)  # the object moved (a key field changed)
        deletes.difference_update(writes)
        if not writes and not deletes:
            return False
        bumped = self._check_and_bump_versions(versioned, writes, written)
        try:
            self.store.apply(writes, sorted(deletes))
        except BaseException:
            for tracked, version in bumped:
                setattr(tracked.obj, tracked.spec.version_field or "", version)
            raise
        for tracked, _ in bumped:
            tracked.expected_version = _version_of(tracked.spec, tracked.obj)
        self.stats.writes += len(writes)
        self.stats.deletes += len(deletes)
        self.stats.bytes_written += sum(map(len, writes.values()))
        if rekey:
            self._settle(written)
        else:
            for tracked, path, data in written.values():
                tracked.state, tracked.path, tracked.stored_path, tracked.raw = (
                    _State.LOADED,
                    path,
                    path,
                    data,
                )
        return True

    def _check_and_bump_versions(
        self,
        versioned: list[tuple[_Tracked, str]],
        writes: dict[str, bytes],
        written: dict[Key, tuple[_Tracked, str, bytes]],
    ) -> list[tuple[_Tracked, int]]:
        """Optimistic concurrency: compare stored versions with expected ones, then bump.

        Reloads first (on a volume, to see other containers' commits), checks
        every versioned object before anything is written, and raises
        StaleObjectError for the first mismatch. Returns (tracked, old version)
        for each object whose version was bumped, so a failed write can undo it.
        """
        if not versioned:
            return []
        self.store.reload()
        for tracked, check_path in versioned:
            found = self._stored_version(tracked.spec, check_path)
            expected = tracked.expected_version or 0
            if found != expected:
                raise StaleObjectError(check_path, expected, found)
        bumped: list[tuple[_Tracked, int]] = []
        for key, (tracked, path, _) in list(written.items()):
            spec = tracked.spec
            if spec.version_field is None:
                continue
            old = tracked.expected_version or 0
            setattr(tracked.obj, spec.version_field, old + 1)
            bumped.append((tracked, old))
            data = self.store.encode(spec, tracked.obj)
            writes[path] = data
            written[key] = (tracked, path, data)
        return bumped

    def _stored_version(self, spec: ModelSpec, path: str) -> int:
        data = self.store.read_bytes(path)
        if data is None:
            return 0
        return _version_of(spec, self.store.decode(spec, path, data, None)) or 0

    def _same_as_stored(self, tracked: _Tracked) -> bool:
        # The stored bytes may differ from our encoding while holding the same
        # value (a file written by hand, an older schema version, a previous
        # codec): compare values before deciding the object changed.
        try:
            stored = self.store.decode(
                tracked.spec, tracked.stored_path or tracked.path, tracked.raw or b"", None
            )
        except ValueError:
            return False
        return bool(stored == tracked.obj)

    def _settle(self, written: dict[Key, tuple[_Tracked, str, bytes]]) -> None:
        """After a flush: everything written is now 'loaded' at its path; deletes are done."""
        settled: dict[Key, _Tracked] = {}
        for key, tracked in self._tracked.items():
            if tracked.state is _State.DELETED:
                continue
            if key in written:
                _, path, data = written[key]
                tracked.state, tracked.path, tracked.stored_path, tracked.raw = (
                    _State.LOADED,
                    path,
                    path,
                    data,
                )
                key = self._key_of(tracked.spec, tracked.obj)
            settled[key] = tracked
        self._tracked = settled

    def commit(self) -> None:
        """Write every pending change and commit the backend once; the session goes on.

        Does nothing when nothing changed. If encoding or writing fails, nothing
        is committed and the pending changes stay pending. If the backend's commit
        itself fails, the files are written but not committed; calling commit()
        again retries the commit.
        """
        self._check_open()
        if self._flush():
            self._uncommitted = True
        if self._uncommitted:
            self.store.commit()
            self._uncommitted = False
            self.stats.commits += 1

    def rollback(self) -> None:
        """Discard every pending change; the session goes on with an empty identity map."""
        self._check_open()
        self._tracked.clear()

    # -- introspection for repositories ------------------------------------------------------

    def pending_ids(self, spec: ModelSpec, user_id: str) -> tuple[set[str], set[str]]:
        """Ids of one user's objects of one type that this session holds, and that it deletes."""
        present: set[str] = set()
        deleted: set[str] = set()
        for (resource_type, owner, object_id), tracked in self._tracked.items():
            if resource_type != spec.resource_type or owner != user_id:
                continue
            (deleted if tracked.state is _State.DELETED else present).add(object_id)
        return present, deleted

    def pending_objects(self, spec: ModelSpec) -> tuple[list[Any], set[str]]:
        """The objects of ``spec``'s type this session will write, and the paths it replaces.

        This mirrors the flush: a stored file at a returned path will be
        overwritten or deleted by the commit, so queries skip it and show the
        session's own objects (placed by their current fields) instead.
        """
        self._check_open()
        objects: list[Any] = []
        hidden: set[str] = set()
        for key, tracked in self._tracked.items():
            if key[0] != spec.resource_type:
                continue
            if tracked.stored_path is not None:
                hidden.add(tracked.stored_path)
            if tracked.state is _State.DELETED:
                hidden.add(tracked.path)
                hidden.update(self.store.legacy_paths(spec, tracked.path))
            else:
                objects.append(tracked.obj)
                hidden.add(self.store.object_path(spec, tracked.obj))
        return objects, hidden

    def adopt(self, spec: ModelSpec, obj: Any, path: str, stored_path: str, raw: bytes) -> None:
        """Put an object a query read from ``stored_path`` into the identity map.

        ``path`` is where it will be written (they differ for a file in a
        previous codec's format), as ``get`` records it. A key the session
        already holds is left alone: the session's own object wins.
        """
        key = (spec.resource_type, spec.owner(obj), spec.object_id(obj))
        if key not in self._tracked:
            version = _version_of(spec, obj)
            self._tracked[key] = _Tracked(spec, _State.LOADED, obj, path, stored_path, raw, version)
            self.stats.reads += 1

    @property
    def has_changes(self) -> bool:
        """Whether a commit now would write anything (encodes loaded objects to find out)."""
        for tracked in self._tracked.values():
            if tracked.state is not _State.LOADED:
                return True
            if tracked.raw != self.store.encode(tracked.spec, tracked.obj) and not (
                self._same_as_stored(tracked)
            ):
                return True
        return False
