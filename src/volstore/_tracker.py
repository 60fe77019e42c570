"""Change tracking: the identity map, dirty checks, the flush plan and versions.

A :class:`Tracker` is the state of one unit of work: every object it read or
was given, keyed by (resource type, user id, object id), with the bytes it
was read as (the snapshot a dirty check compares with) and, for versioned
models, the version and the state token it builds on. ``flush()`` turns that
state into one engine call: the files to write, the files to delete, and, for
versioned objects, the states each must still be in (a compare-and-swap).

``_direct.Direct`` is the unit of work of a repository used outside a session.

Repositories take either; neither knows repositories.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from ._bridge import offload
from ._codec import ENCODE_ERRORS
from ._engine import Engine, ReloadArg, Stats
from ._errors import ConflictError, CorruptObjectError, SessionError, StaleObjectError
from ._model import ModelSpec
from ._owners import check_owners
from .backends._claims import ClaimConflictError

Key = tuple[str, str, str]  # (resource type, user id, object id)


class _State(enum.Enum):
    LOADED = "loaded"  # read from the store; written again only if changed
    NEW = "new"  # added (insert or replace); always written
    DELETED = "deleted"  # to be removed


class _Tracked:
    """One object of a unit of work."""

    __slots__ = ("expected", "obj", "path", "raw", "spec", "state", "stored_path", "token")

    def __init__(
        self,
        spec: ModelSpec,
        state: _State,
        obj: Any,
        path: str,
        stored_path: str | None = None,
        raw: bytes | None = None,
        expected: int | None = None,
        token: str | None = None,
    ) -> None:
        self.spec = spec
        self.state = state
        self.obj = obj
        self.path = path  # where the object belongs now (as of add/get/delete)
        self.stored_path = stored_path  # where the store holds it, as far as we know
        self.raw = raw  # the bytes at stored_path: the snapshot for dirty checks
        self.expected = expected  # versioned models: the version this builds on
        self.token = token  # versioned models: the state token of stored_path


def version_of(spec: ModelSpec, obj: Any) -> int | None:
    """The version an object carries, for versioned models (None for others).

    A missing version (None) reads as 0. Raises SessionError for a value that
    is not a non-negative int.
    """
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


class Tracker:
    """The identity map and pending changes of one unit of work (a session's state).

    Not thread-safe: one tracker per thread.
    """

    buffered = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stats = Stats()
        self._tracked: dict[Key, _Tracked] = {}
        self._specs: dict[type[Any], ModelSpec] = {}

    def spec(self, model: type[Any] | Any) -> ModelSpec:
        """The spec of a model class or instance, registered with the engine on first use."""
        cls = model if isinstance(model, type) else type(model)
        spec = self._specs.get(cls)
        if spec is None:
            spec = self.engine.register(cls)
            self._specs[cls] = spec
        return spec

    def clear(self) -> None:
        """Forget every tracked object and pending change."""
        self._tracked.clear()

    # -- adding and deleting ------------------------------------------------------------------

    def add(self, obj: Any) -> Any:
        """Insert or replace ``obj`` at its key at the next flush; return it.

        A None id is replaced by a generated one. Raises InvalidKeyError for a
        bad id or user id (before anything is written).
        """
        spec = self._specs.get(type(obj)) or self.spec(obj)
        # The hot path of a bulk write: read the key fields once, build the path
        # (which validates them) before using them as a dict key.
        object_id = getattr(obj, spec.id_field)
        if object_id is None:
            object_id = spec.assign_id(obj)
        owner = getattr(obj, spec.owner_field)
        layout = self.engine.layout
        if spec.time_field is None:
            path = layout.object_path(spec, owner, object_id)
        else:
            path = layout.path_of(spec, obj)
        key = (spec.resource_type, owner, object_id)
        previous = self._tracked.get(key)
        if previous is None:
            expected = None if spec.version_field is None else version_of(spec, obj)
            self._tracked[key] = _Tracked(spec, _State.NEW, obj, path, None, None, expected)
            return obj
        if previous.obj is obj and previous.state is not _State.DELETED:
            return obj  # already tracked: changes are found at flush
        stored_path = previous.stored_path
        if stored_path is None and previous.state is _State.DELETED:
            # A delete by key named where the old object is (its bucket, for
            # time-bucketed models): if the new one lands elsewhere, that file goes.
            stored_path = previous.path
        expected = version_of(spec, obj)
        token = previous.token if expected == previous.expected else None
        self._tracked[key] = _Tracked(
            spec, _State.NEW, obj, path, stored_path, previous.raw, expected, token
        )
        return obj

    def add_all(self, objs: Iterable[Any]) -> list[Any]:
        return [self.add(obj) for obj in objs]

    def delete_key(
        self, spec: ModelSpec, user_id: str, object_id: str, at: datetime | None
    ) -> None:
        """Delete the object at a key at the next flush (nothing there is not an error)."""
        path = self.engine.layout.object_path(spec, user_id, object_id, at)
        self._mark_deleted(spec, (spec.resource_type, user_id, object_id), path, None)

    def delete_keys(
        self, spec: ModelSpec, keys: Iterable[tuple[str, str, datetime | None]]
    ) -> None:
        for user_id, object_id, at in keys:
            self.delete_key(spec, user_id, object_id, at)

    def delete_object(self, obj: Any) -> None:
        """Delete ``obj`` (at its key) at the next flush."""
        spec = self.spec(obj)
        object_id = spec.assign_id(obj)
        key = (spec.resource_type, spec.owner(obj), object_id)
        self._mark_deleted(spec, key, self.engine.layout.path_of(spec, obj), obj)

    def _mark_deleted(self, spec: ModelSpec, key: Key, path: str, obj: Any) -> None:
        previous = self._tracked.get(key)
        stored_path = previous.stored_path if previous is not None else None
        token = None
        if previous is not None and previous.state is not _State.DELETED:
            expected = previous.expected
            token = previous.token
        else:
            expected = version_of(spec, obj) if obj is not None else None
        self._tracked[key] = _Tracked(
            spec, _State.DELETED, obj, path, stored_path, None, expected, token
        )

    # -- reading ----------------------------------------------------------------------------

    def get(
        self,
        spec: ModelSpec,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        reload: ReloadArg = None,
    ) -> Any | None:
        """The object at the key, or None; sees this unit of work's pending writes and deletes.

        Raises InvalidKeyError for a bad key, CorruptObjectError (naming the
        file) for a stored file that does not parse or validate.
        """
        engine = self.engine
        path = engine.layout.object_path(spec, user_id, object_id, at)
        key = (spec.resource_type, user_id, object_id)
        tracked = self._tracked.get(key)
        if tracked is not None:
            return None if tracked.state is _State.DELETED else tracked.obj
        engine.maybe_reload(reload)
        self.stats.reads += 1
        found = load(engine, spec, path)
        if found is None:
            return None
        stored_path, data, token = found
        obj = engine.decode(spec, stored_path, data, object_id, user_id)
        self._tracked[key] = _Tracked(
            spec, _State.LOADED, obj, path, stored_path, data, version_of(spec, obj), token
        )
        return obj

    def read_listed(
        self, spec: ModelSpec, user_id: str, items: Sequence[tuple[str, str | None]]
    ) -> list[Any | CorruptObjectError | None]:
        """The objects of listed files, through the identity map, in order.

        ``items`` are ``(object_id, path)`` (path None: the id is only pending
        here). Each result is the object, None (deleted here, or removed since
        the listing), or the CorruptObjectError of its file (not raised).
        Objects read are adopted into the identity map.
        """
        engine = self.engine
        results: list[Any | CorruptObjectError | None] = [None] * len(items)
        to_read: list[tuple[int, str, str]] = []  # (position, id, path)
        for index, (object_id, path) in enumerate(items):
            tracked = self._tracked.get((spec.resource_type, user_id, object_id))
            if tracked is not None:
                results[index] = None if tracked.state is _State.DELETED else tracked.obj
            elif path is not None:
                to_read.append((index, object_id, path))
        if not to_read:
            return results
        if spec.version_field is None:
            datas = engine.read_batch([path for _, _, path in to_read])
            found: list[tuple[bytes, str | None] | CorruptObjectError | None] = [
                data if data is None or isinstance(data, CorruptObjectError) else (data, None)
                for data in datas
            ]
        else:  # a versioned object's token comes with its bytes
            found = []
            for _, _, path in to_read:
                try:
                    found.append(read_object(engine, spec, path))
                except CorruptObjectError as exc:
                    found.append(exc)
        for (index, object_id, path), item in zip(to_read, found, strict=True):
            if item is None or isinstance(item, CorruptObjectError):
                results[index] = item
                continue
            data, token = item
            try:
                obj = engine.decode(spec, path, data, object_id, user_id)
            except CorruptObjectError as exc:
                results[index] = exc
                continue
            home = path
            if not path.endswith(spec.extension):
                home = engine.layout.object_path(spec, user_id, object_id)
            self.adopt(spec, obj, home, path, data, token)
            results[index] = obj
        return results

    def adopt(
        self,
        spec: ModelSpec,
        obj: Any,
        path: str,
        stored_path: str,
        raw: bytes,
        token: str | None = None,
    ) -> None:
        """Put an object a query read from ``stored_path`` into the identity map.

        ``path`` is where it will be written (they differ for a file in a
        previous codec's format), as ``get`` records it; ``token`` the state
        token read with it (versioned models; see ``read_object``). A key
        already held is left alone: the unit of work's own object wins.
        """
        key = (spec.resource_type, getattr(obj, spec.owner_field), getattr(obj, spec.id_field))
        if key not in self._tracked:
            self._tracked[key] = _Tracked(
                spec, _State.LOADED, obj, path, stored_path, raw, version_of(spec, obj), token
            )
            self.stats.reads += 1

    def pending_ids(self, spec: ModelSpec, user_id: str) -> tuple[set[str], set[str]]:
        """Ids of one user's objects of one type that are held here, and those deleted here."""
        present: set[str] = set()
        deleted: set[str] = set()
        for (resource_type, owner, object_id), tracked in self._tracked.items():
            if resource_type != spec.resource_type or owner != user_id:
                continue
            (deleted if tracked.state is _State.DELETED else present).add(object_id)
        return present, deleted

    def pending_objects(self, spec: ModelSpec) -> tuple[list[Any], set[str]]:
        """The objects of ``spec``'s type that a flush will write, and the paths it replaces.

        This mirrors the flush: a stored file at a returned path will be
        overwritten or deleted, so queries skip it and show the unit of work's
        own objects (placed by their current fields) instead.
        """
        objects: list[Any] = []
        hidden: set[str] = set()
        layout = self.engine.layout
        for key, tracked in self._tracked.items():
            if key[0] != spec.resource_type:
                continue
            if tracked.stored_path is not None:
                hidden.add(tracked.stored_path)
            if tracked.state is _State.DELETED:
                hidden.add(tracked.path)
                hidden.update(layout.legacy_paths(spec, tracked.path))
            else:
                objects.append(tracked.obj)
                hidden.add(layout.path_of(spec, tracked.obj))
        return objects, hidden

    @property
    def has_changes(self) -> bool:
        """Whether a flush now would write anything (encodes loaded objects to find out)."""
        encode = self.engine.encode
        for tracked in self._tracked.values():
            if tracked.state is not _State.LOADED:
                return True
            if tracked.raw != encode(tracked.spec, tracked.obj) and not _same_as_stored(
                self.engine, tracked
            ):
                return True
        return False

    # -- flushing ---------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write pending changes through the engine (no commit); return whether anything changed.

        Everything is encoded and checked first (keys, sizes, versions); only
        then is anything written, so a bad object leaves the store untouched.
        Versioned objects are written with a compare-and-swap: if one changed
        since it was read, StaleObjectError is raised and nothing is written.
        On any error the pending changes stay pending.
        """
        # It encodes and checks every object: in an awaited call, a worker thread runs it.
        return offload(self._flush)

    def _flush(self) -> bool:
        plan = _Plan(self.engine, self._tracked)
        if not plan.writes and not plan.deletes:
            return False
        try:
            if plan.blind_paths:
                check_owners(self.engine, plan.blind)
            self._apply(plan)
        except BaseException:
            plan.undo_versions(plan.bumped)  # the objects keep the versions they had
            raise
        stats = self.stats
        stats.writes += len(plan.writes)
        stats.deletes += len(plan.deletes) + len(plan.derived_deletes)
        stats.bytes_written += sum(map(len, plan.writes.values()))
        if plan.rekey:
            self._tracked = plan.settled()
        else:
            plan.settle_in_place()
        return True

    def _apply(self, plan: _Plan) -> None:
        engine = self.engine
        plan.finish_derived()
        deletes = [*sorted(plan.deletes), *plan.derived_deletes]
        if not plan.versioned and not plan.expected:
            engine.apply(plan.writes, deletes)
            return
        # Compare-and-swap: the stored state of each versioned object must still
        # be the one this unit of work read (or none, for a create). The backend
        # compares against the latest committed state (a volume reloads for it).
        plan.prepare_versions()
        try:
            tokens = engine.apply(plan.writes, deletes, plan.expected)
        except ConflictError as exc:
            raise plan.stale(exc) from None
        plan.record_versions(tokens)


class _Plan:
    """What one flush writes, deletes and expects, computed before anything is written."""

    def __init__(self, engine: Engine, tracked: dict[Key, _Tracked]) -> None:
        self.engine = engine
        self.tracked = tracked
        self.writes: dict[str, bytes] = {}
        self.deletes: set[str] = set()
        # The objects written and their paths, side by side (two lists, not a
        # tuple per object: a session of 100,000 objects should not pay for them).
        self.written: list[_Tracked] = []
        self.written_paths: list[str] = []
        self.versioned: list[tuple[_Tracked, str]] = []  # (tracked, path whose state to check)
        self.expected: dict[str, str | None] = {}
        # The files written or deleted without having been read here (objects,
        # paths, owners): their owner is checked before the flush (see _owners).
        self.blind_specs: list[ModelSpec] = []
        self.blind_paths: list[str] = []
        self.blind_owners: list[str] = []
        self.rekey = False  # whether the identity map must be rebuilt after the flush
        self.bumped: list[tuple[_Tracked, int]] = []  # (tracked, old version): to undo
        self.derived = engine.derived_files()  # index entries (None: no model declares any)
        self.derived_deletes: list[str] = []
        try:
            self._build()
        except BaseException:
            self.undo_versions(self.bumped)
            raise

    def _build(self) -> None:
        engine = self.engine
        layout = engine.layout
        encode = engine.encode
        writes, deletes = self.writes, self.deletes
        written, written_paths = self.written, self.written_paths
        blind_specs, blind_paths, blind_owners = (
            self.blind_specs,
            self.blind_paths,
            self.blind_owners,
        )
        deleted, new, loaded = _State.DELETED, _State.NEW, _State.LOADED
        last_spec: ModelSpec | None = None
        id_field = owner_field = ""
        dump: Any = None
        for key, tracked in self.tracked.items():
            spec = tracked.spec
            state = tracked.state
            if state is loaded and spec.flat:
                # The hot path of a commit after reads: unchanged if the key fields
                # and the bytes are; one encode per loaded object, nothing else.
                if spec is not last_spec:  # the spec's fields, once per run of one model
                    last_spec, id_field, owner_field = spec, spec.id_field, spec.owner_field
                    dump = spec.unchanged_dump
                obj = tracked.obj
                if getattr(obj, id_field) == key[2] and getattr(obj, owner_field) == key[1]:
                    if dump is None:
                        if encode(spec, obj) == tracked.raw:
                            continue
                    else:
                        try:
                            if dump(obj, by_alias=True) == tracked.raw:
                                continue
                        except ENCODE_ERRORS:
                            pass  # encoded again below, where the error gets its message
            if state is deleted:
                deletes.add(tracked.path)
                deletes.update(layout.legacy_paths(spec, tracked.path))
                if tracked.stored_path is not None:
                    deletes.add(tracked.stored_path)
                else:
                    blind_specs.append(spec)
                    blind_paths.append(tracked.path)
                    blind_owners.append(key[1])
                if spec.version_field is not None and tracked.expected is not None:
                    self.versioned.append((tracked, tracked.stored_path or tracked.path))
                if self.derived is not None and spec.indexes:
                    self.derived.add(spec, tracked.stored_path or tracked.path, None, None, None)
                self.rekey = True  # deleted entries leave the identity map
                continue
            obj = tracked.obj
            object_id = getattr(obj, spec.id_field)
            if object_id is None:
                object_id = spec.assign_id(obj)
            if (
                object_id == key[2]
                and getattr(obj, spec.owner_field) == key[1]
                and spec.time_field is None
            ):
                path = tracked.path  # same key, same path
            else:
                path = layout.path_of(spec, obj)
                new_key = (key[0], getattr(obj, spec.owner_field), object_id)
                if new_key != key:
                    self.rekey = True
                    other = self.tracked.get(new_key)
                    if other is not None and other.state is not deleted:
                        raise SessionError(
                            f"{spec.cls.__name__} {key[2]!r} was given the key of another "
                            f"object in this session ({new_key[2]!r} of user {new_key[1]!r})"
                        )
            data = encode(spec, obj)
            raw = tracked.raw
            if (
                raw is not None
                and (
                    # loaded and unchanged, or given again with the value already stored
                    (state is not new and path == tracked.path)
                    or (state is new and path == tracked.stored_path)
                )
                and (data == raw or _same_as_stored(engine, tracked))
            ):
                continue
            if path in writes:
                raise SessionError(
                    f"two objects in this session would both be written to {path}; "
                    "was a key field changed in place?"
                )
            if spec.version_field is not None and raw is None:
                # Never read here, so nothing to compare with: bump the version now
                # and encode once (prepare_versions bumps the others after their
                # dirty check). Undone if the flush fails.
                old = tracked.expected or 0
                setattr(obj, spec.version_field, old + 1)
                self.bumped.append((tracked, old))
                data = encode(spec, obj)
            writes[path] = data
            written.append(tracked)
            written_paths.append(path)
            if raw is None:
                blind_specs.append(spec)
                blind_paths.append(path)
                blind_owners.append(key[1])
            if spec.version_field is not None:
                self.versioned.append((tracked, tracked.stored_path or path))
            if tracked.stored_path is not None and tracked.stored_path != path:
                deletes.add(tracked.stored_path)  # the object moved (a key field changed)
            if self.derived is not None and spec.indexes:
                self.derived.add(spec, tracked.stored_path, raw, obj, path)
        deletes.difference_update(writes)

    def finish_derived(self) -> None:  # index entries: written first, deleted last (_index)
        if self.derived is not None:
            self.writes, self.derived_deletes = self.derived.finish(self.writes, self.expected)

    def blind(self) -> Iterator[tuple[ModelSpec, str, str]]:
        """``(spec, path, owner)`` of each file written or deleted without being read here."""
        return zip(self.blind_specs, self.blind_paths, self.blind_owners, strict=True)

    # -- versions -------------------------------------------------------------------------

    def prepare_versions(self) -> None:
        """Fill ``expected`` and bump the version of every versioned object written.

        Each bump is recorded in ``bumped`` (tracked, old version), so a failed
        write can undo it. Raises StaleObjectError at once for an object given
        (not read) with a version the store does not hold.
        """
        engine = self.engine
        for tracked, check_path in self.versioned:
            expected = tracked.expected or 0
            token = tracked.token
            if token is None and tracked.raw is None and expected > 0:
                # Given with a version, never read here: find the state it builds on.
                found = engine.read_token(check_path)
                stored = (
                    0
                    if found is None
                    else _stored_version(engine, tracked.spec, check_path, found[0])
                )
                if stored != expected:
                    raise StaleObjectError(check_path, expected, stored)
                token = None if found is None else found[1]
            self.expected[check_path] = token if expected > 0 else None
        bumped = self.bumped
        done = {id(tracked) for tracked, _ in bumped}
        for tracked, path in zip(self.written, self.written_paths, strict=True):
            spec = tracked.spec
            if spec.version_field is None or id(tracked) in done:
                continue
            old = tracked.expected or 0
            setattr(tracked.obj, spec.version_field, old + 1)
            bumped.append((tracked, old))
            self.writes[path] = engine.encode(spec, tracked.obj)

    @staticmethod
    def undo_versions(bumped: list[tuple[_Tracked, int]]) -> None:
        for tracked, version in bumped:
            setattr(tracked.obj, tracked.spec.version_field or "", version)

    def record_versions(self, tokens: dict[str, str]) -> None:
        for tracked, path in zip(self.written, self.written_paths, strict=True):
            if tracked.spec.version_field is not None:
                tracked.expected = version_of(tracked.spec, tracked.obj)
                tracked.token = tokens.get(path)

    def stale(self, conflict: ConflictError) -> ConflictError:
        """The StaleObjectError for a conflict the backend reported (versions re-read)."""
        named = self.derived.conflict(conflict) if self.derived is not None else None
        if named is not None:
            return named  # a unique index's value taken
        path = conflict.path
        held_elsewhere = isinstance(conflict, ClaimConflictError)
        for tracked, check_path in self.versioned:
            if check_path == path or (held_elsewhere and check_path.rpartition("/")[0] == path):
                found = self.engine.read(check_path)
                stored = (
                    0
                    if found is None
                    else _stored_version(self.engine, tracked.spec, check_path, found)
                )
                detail = str(conflict) if held_elsewhere else None
                return StaleObjectError(check_path, tracked.expected or 0, stored, detail)
        return StaleObjectError(path, 0, 0, str(conflict))

    # -- after the write ---------------------------------------------------------------------

    def settle_in_place(self) -> None:
        """Everything written is now 'loaded' at its path."""
        loaded = _State.LOADED
        writes = self.writes
        for tracked, path in zip(self.written, self.written_paths, strict=True):
            tracked.state = loaded
            tracked.path = tracked.stored_path = path
            tracked.raw = writes[path]

    def settled(self) -> dict[Key, _Tracked]:
        """The identity map after a flush that deleted or moved objects."""
        settled: dict[Key, _Tracked] = {}
        paths = {id(t): path for t, path in zip(self.written, self.written_paths, strict=True)}
        for key, tracked in self.tracked.items():
            if tracked.state is _State.DELETED:
                continue
            path = paths.get(id(tracked))
            if path is not None:
                tracked.state = _State.LOADED
                tracked.path = tracked.stored_path = path
                tracked.raw = self.writes[path]
                spec = tracked.spec
                key = (key[0], getattr(tracked.obj, spec.owner_field), spec.assign_id(tracked.obj))
            settled[key] = tracked
        return settled


def read_object(engine: Engine, spec: ModelSpec, path: str) -> tuple[bytes, str | None] | None:
    """The bytes at ``path`` and, for versioned models, their state token; None if absent."""
    if spec.version_field is None:
        data = engine.read(path)
        return None if data is None else (data, None)
    return engine.read_token(path)


def load(engine: Engine, spec: ModelSpec, path: str) -> tuple[str, bytes, str | None] | None:
    """The stored path, bytes and (for versioned models) state token of an object, or None.

    Looks at ``path``, then where a previous codec would have put it.
    """
    if spec.version_field is None:
        found = engine.locate(spec, path)
        return None if found is None else (found[0], found[1], None)
    for candidate in [path, *engine.layout.legacy_paths(spec, path)]:
        with_token = engine.read_token(candidate)
        if with_token is not None:
            return candidate, with_token[0], with_token[1]
    return None


def _stored_version(engine: Engine, spec: ModelSpec, path: str, data: bytes) -> int:
    return version_of(spec, engine.decode(spec, path, data, None)) or 0


def _same_as_stored(engine: Engine, tracked: _Tracked) -> bool:
    # The stored bytes may differ from our encoding while holding the same
    # value (a file written by hand, an older schema version, a previous
    # codec): compare values before deciding the object changed.
    try:
        stored = engine.decode(
            tracked.spec, tracked.stored_path or tracked.path, tracked.raw or b"", None
        )
    except ValueError:
        return False
    return bool(stored == tracked.obj)


__all__ = ["Key", "Tracker", "load", "read_object", "version_of"]
