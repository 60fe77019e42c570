"""The engine: one backend, the key layout, the registered models, counted I/O.

Everything above the backends reaches storage through an :class:`Engine`: the
tracker (sessions), the repositories, time-bucketed queries, retention, the
check, migrations and the CLI. It adds to the backend contract what every one
of them needs, in one place:

- the layout marker, checked once before the first backend call;
- the reload policy, applied before reads;
- counters of every backend call (:class:`Stats`);
- encoding and decoding with the size limit and the corruption checks (a
  file must hold the object its name promises, owned by its folder's user);
- the translation of backend failures into volstore's errors (``_fail``: the
  one home of that knowledge).

The engine knows nothing of sessions or repositories; the facades above
(``Store``, ``Session``) build on it.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

from ._bridge import DECODE_INLINE, decoded, task_marked
from ._errors import (
    BackendError,
    CommitError,
    ConflictError,
    CorruptObjectError,
    DuplicateResourceTypeError,
    ObjectTooLargeError,
    ReloadError,
    SchemaVersionError,
    SessionError,
    VolstoreError,
    short_reason,
)
from ._index import IndexChanges, Indexes
from ._keys import UserHasher
from ._layout import MARKER, Layout, with_marker
from ._model import ModelSpec, spec_of
from ._policy import ReloadArg, ReloadPolicy, Stats, check_reload_arg
from .backends._base import (
    Backend,
    Entry,
    FileTooLargeError,
    NotRegularFileError,
    SymlinkError,
    unreadable_reason,
)

DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024
"""The default limit on an object's size, for writes and reads alike (64 MiB)."""

_MARKER_LIMIT = 64 * 1024


class Engine:
    """A backend with the layout, models, reload policy and counters volstore works with.

    Safe to share between threads. Raises nothing at construction but
    ValueError/TypeError for bad arguments; the layout marker is checked
    before the first backend call.
    """

    def __init__(
        self,
        backend: Backend,
        hasher: UserHasher,
        *,
        reload: ReloadPolicy = ReloadPolicy.NEVER,
        max_object_bytes: int | None = DEFAULT_MAX_OBJECT_BYTES,
    ) -> None:
        if not isinstance(backend, Backend):
            raise TypeError(f"backend must be a volstore Backend, not {backend!r}")
        if max_object_bytes is not None and (
            not isinstance(max_object_bytes, int) or max_object_bytes <= 0
        ):
            raise ValueError("max_object_bytes must be a positive int, or None for no limit")
        self.backend = backend
        self.layout = Layout(hasher)
        self.hasher = hasher
        self.max_object_bytes = max_object_bytes
        self.stats = Stats()
        self.reload_policy = reload
        self._models: dict[str, ModelSpec] = {}
        self._specs: dict[type[Any], ModelSpec] = {}
        self.indexes = Indexes(self.layout)  # the models' secondary indexes: indexes(spec)
        self._lock = threading.Lock()
        self._layout_checked = False
        self._marker_pending = False
        self._last_reload = float("-inf")
        self._errors = backend.storage_errors
        # A backend written against the minimal contract may take no ``limit``:
        # then the size is checked after the read.
        self._read_takes_limit = "limit" in inspect.signature(backend.read).parameters
        self._local = threading.local()  # per thread: how many sessions are open here

    def __repr__(self) -> str:
        return f"Engine({self.backend.describe()})"

    # -- settings ---------------------------------------------------------------------

    @property
    def reload_policy(self) -> ReloadPolicy:
        """When reads reload the backend first (see ReloadPolicy); may be changed at any time."""
        return self._reload_policy

    @reload_policy.setter
    def reload_policy(self, policy: ReloadPolicy) -> None:
        if not isinstance(policy, ReloadPolicy):
            raise TypeError(f"reload policy must be a ReloadPolicy, not {policy!r}")
        self._reload_policy = policy
        self.never_reloads = policy.mode == "never"

    # -- models ------------------------------------------------------------------------

    def register(self, model: type[Any]) -> ModelSpec:
        """Register a model class; return its spec.

        Registering the same class again is a no-op. Raises
        DuplicateResourceTypeError when another class already holds its
        resource type, ModelDefinitionError for a class that is not a model.
        """
        spec = self._specs.get(model)
        if spec is not None:
            return spec
        spec = spec_of(model)
        indexes = self.indexes.resolve(spec)
        with self._lock:
            current = self._models.get(spec.resource_type)
            if current is None:
                self._models[spec.resource_type] = spec
            elif current.cls is not spec.cls:
                raise DuplicateResourceTypeError(
                    f"resource type {spec.resource_type!r} is already used by "
                    f"{current.cls.__module__}.{current.cls.__qualname__}; "
                    f"{spec.cls.__module__}.{spec.cls.__qualname__} cannot use it too"
                )
            self._specs[spec.cls] = spec
            self.indexes.keep(spec, indexes)
        return spec

    def derived_files(self) -> IndexChanges | None:
        """A flush's index entries (``_index.IndexChanges``); None when no model has indexes."""
        return IndexChanges(self) if self.indexes else None

    @property
    def models(self) -> dict[str, ModelSpec]:
        """The registered models by resource type (a copy)."""
        return dict(self._models)

    # -- sessions open on this thread -------------------------------------------------------

    def session_opened(self) -> None:
        """Note that a ``with store.session()`` block began on this thread."""
        self._local.open = getattr(self._local, "open", 0) + 1

    def session_closed(self) -> None:
        self._local.open = max(0, getattr(self._local, "open", 0) - 1)

    def in_session(self) -> bool:
        """Whether a session block of this engine is open on this thread (or in this task)."""
        return getattr(self._local, "open", 0) > 0 or task_marked(self)

    # -- the layout marker ---------------------------------------------------------------

    def check_layout(self) -> None:
        """Compare this store's user-hash layout with the one recorded at the root (once).

        Raises LayoutMismatchError when they differ, or when a store holding
        data without a marker (the seed layout) is opened with another layout;
        CorruptObjectError when the marker cannot be read.
        """
        if self._layout_checked:
            return
        # No lock across the backend calls (an async call suspends there, and a
        # lock held meanwhile would block its event loop): two first calls may
        # both read the marker; the first to finish records the outcome.
        backend = self.backend
        try:
            stored: bytes | None = backend.read(MARKER, limit=_MARKER_LIMIT)
        except FileNotFoundError:
            stored = None
        except self._errors as exc:
            if isinstance(exc, VolstoreError):
                raise
            raise CorruptObjectError(
                MARKER, f"the layout marker cannot be read: {short_reason(exc)}"
            ) from exc
        holds_data = False
        if stored is None:
            try:
                holds_data = bool(backend.list(""))
            except self._errors as exc:
                self._fail(exc, "listing the root of")
        pending = self.layout.check_marker(stored, holds_data, backend.describe())
        with self._lock:
            if not self._layout_checked:
                self._marker_pending = pending
                self._layout_checked = True

    # -- backend calls, counted and translated ---------------------------------------------

    def _fail(
        self,
        exc: BaseException,
        action: str,
        path: str | None = None,
        *,
        reading: bool = False,
        error: type[BackendError] = BackendError,
    ) -> NoReturn:
        """Raise the volstore error for a failure of the backend (the one translation).

        A VolstoreError passes unchanged. For a read of ``path``: what stands
        at the path and is not an object file (a folder, a link, a FIFO, a
        file over the size limit, one that cannot be read) is a
        CorruptObjectError naming it; anything else is ``error``
        (BackendError, CommitError, ReloadError) with the original as its cause.
        """
        if isinstance(exc, VolstoreError):
            raise exc
        if path is not None and isinstance(exc, OSError):
            reason = unreadable_reason(exc, reading)
            if reason is not None:
                raise CorruptObjectError(path, reason) from exc
        where = self.backend.describe()
        what = f"{action} {path} on {where}" if path else f"{action} {where}"
        reason = unreadable_reason(exc, False) if isinstance(exc, OSError) else None
        if reason is not None and isinstance(exc, (NotRegularFileError, FileTooLargeError)):
            # Only reads raise these: a conditional write reading a path it expects.
            raise CorruptObjectError(exc.path, reason) from exc
        if reason is not None and not isinstance(exc, SymlinkError):
            named = getattr(exc, "filename", None)
            reason = f"{named}: {reason}" if named else reason
        raise error(f"{what} failed: {reason or short_reason(exc)}") from exc

    def read(self, path: str) -> bytes | None:
        """The bytes at ``path``, or None when nothing is stored there.

        Raises CorruptObjectError when something other than an object file
        stands there, BackendError when the storage fails.
        """
        if not self._layout_checked:
            self.check_layout()
        stats = self.stats
        stats.reads += 1
        limit = self.max_object_bytes
        try:
            if self._read_takes_limit:
                data = self.backend.read(path, limit=limit)
            else:
                data = self.backend.read(path)
                if limit is not None and len(data) > limit:
                    raise FileTooLargeError(path, len(data), limit)
        except FileNotFoundError:
            return None
        except self._errors as exc:
            self._fail(exc, "reading", path, reading=True)
        stats.bytes_read += len(data)
        return data

    def read_batch(self, paths: Sequence[str]) -> list[bytes | CorruptObjectError | None]:
        """The bytes of each path (None: nothing there), in order, in one backend call.

        What stands at a path and is not an object file is a CorruptObjectError
        in its place (returned, not raised: one bad file does not hide the
        others); a failure of the storage raises BackendError.
        """
        if not self._layout_checked:
            self.check_layout()
        stats = self.stats
        stats.reads += len(paths)
        limit = self.max_object_bytes
        takes_limit = self._read_takes_limit
        try:
            found = self.backend.read_batch(paths, limit=limit if takes_limit else None)
        except self._errors as exc:
            self._fail(exc, "reading", paths[0] if len(paths) == 1 else None, reading=True)
        results: list[bytes | CorruptObjectError | None] = []
        for path, item in zip(paths, found, strict=True):
            if isinstance(item, OSError):
                reason = unreadable_reason(item, True)
                if reason is None:
                    self._fail(item, "reading", path, reading=True)
                results.append(CorruptObjectError(path, reason))
                continue
            if item is not None:
                if limit is not None and not takes_limit and len(item) > limit:
                    results.append(
                        CorruptObjectError(
                            path,
                            unreadable_reason(FileTooLargeError(path, len(item), limit), True)
                            or "too large",
                        )
                    )
                    continue
                stats.bytes_read += len(item)
            results.append(item)
        return results

    def read_objects(
        self, spec: ModelSpec, user_id: str, items: Sequence[tuple[str, str]]
    ) -> list[Any | CorruptObjectError | None]:
        """The objects at ``(object_id, path)`` of one user, checked as ``decode`` does.

        Each result is the object, None (nothing there), or the
        CorruptObjectError of that file (returned, not raised).
        """
        datas = self.read_batch([path for _, path in items])
        results: list[Any | CorruptObjectError | None] = []
        for (object_id, path), data in zip(items, datas, strict=True):
            if data is None or isinstance(data, CorruptObjectError):
                results.append(data)
                continue
            try:
                results.append(self.decode(spec, path, data, object_id, user_id))
            except CorruptObjectError as exc:
                results.append(exc)
        return results

    def read_object(self, spec: ModelSpec, path: str, object_id: str, user_id: str) -> Any | None:
        """The object at ``path``, checked as ``decode`` does; None when absent (a get's hot path).

        The model's validator is called here when it is all ``decode`` does (two frames less).
        """
        data = self.read(path)
        if data is None:
            return None
        if path.endswith(spec.extension):
            try:
                validate = spec.plain_validate if len(data) <= DECODE_INLINE else None
                obj = decoded(spec.decode, data) if validate is None else validate(data)
            except SchemaVersionError as exc:
                raise SchemaVersionError(exc.found, exc.known, path) from None
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise CorruptObjectError(path, short_reason(exc)) from exc
            if (
                getattr(obj, spec.id_field) == object_id
                and getattr(obj, spec.owner_field) == user_id
            ):
                return obj
        return self.decode(spec, path, data, object_id, user_id)  # another codec, or a mismatch

    def read_token(self, path: str) -> tuple[bytes, str] | None:
        """The bytes at ``path`` and the token of that state, or None when nothing is there."""
        if not self._layout_checked:
            self.check_layout()
        self.stats.reads += 1
        try:
            data, token = self.backend.read_token(path, limit=self.max_object_bytes)
        except FileNotFoundError:
            return None
        except self._errors as exc:
            self._fail(exc, "reading", path, reading=True)
        self.stats.bytes_read += len(data)
        return data, token

    def exists(self, path: str) -> bool:
        """Whether an object file is stored at ``path``.

        Raises CorruptObjectError when something else stands there (a folder, a link, a FIFO).
        """
        self.check_layout()
        self.stats.reads += 1
        try:
            return self.backend.exists(path)
        except self._errors as exc:
            self._fail(exc, "looking for", path, reading=True)

    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        """The entries of the folder ``prefix`` (counted); see ``Backend.list``."""
        if not self._layout_checked:
            self.check_layout()
        self.stats.lists += 1
        try:
            if hidden or details:
                return self.backend.list(prefix, hidden=hidden, details=details)
            return self.backend.list(prefix)
        except self._errors as exc:
            self._fail(exc, "listing", prefix or "the root")

    def walk(self, prefix: str) -> Iterator[str]:
        """Every object file path below ``prefix``, depth first, in name order (lazily)."""
        for entry in sorted(self.list(prefix), key=lambda e: e.name):
            path = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.is_dir:
                yield from self.walk(path)
            else:
                yield path

    def apply(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str] = (),
        expected: Mapping[str, str | None] | None = None,
    ) -> dict[str, str]:
        """Write then delete, as one flush; conditionally when ``expected`` is given.

        Returns the new tokens of the expected paths written (empty when
        unconditional). Raises ConflictError when an expectation fails
        (nothing applied), BackendError when the storage fails: nothing is
        written when the writes fail, and when the writes succeeded but the
        deletes failed, the error says so (``applied``, ``unapplied``).
        """
        deletes = list(deletes)
        self.check_layout()
        backend = self.backend
        marker = self.layout.marker_bytes() if self._marker_pending else None
        tokens: dict[str, str] = {}
        with with_marker(writes, marker) as files:
            if expected:
                try:
                    tokens = backend.apply_conditional(files, deletes, expected)
                except ConflictError:
                    self.stats.conflicts += 1
                    raise
                except NotImplementedError:
                    raise SessionError(
                        f"{backend.describe()} offers no conditional writes (compare-and-swap); "
                        "versioned models and unique indexes need them"
                    ) from None
                except self._errors as exc:
                    self._fail(exc, "writing to")
            else:
                try:
                    if files:
                        backend.write_batch(files)
                except self._errors as exc:
                    self._fail(exc, "writing to")
        if not expected:
            try:
                if deletes:
                    backend.delete_batch(deletes)
            except self._errors as exc:
                if isinstance(exc, VolstoreError):
                    raise
                error = BackendError(
                    f"deleting from {backend.describe()} failed after {len(writes)} file(s) "
                    f"were written; {len(deletes)} delete(s) not applied: {short_reason(exc)}"
                )
                error.applied = tuple(writes)
                error.unapplied = tuple(deletes)
                raise error from exc
        self._marker_pending = False
        # Whether this thread's last writes are published already (a volume's
        # compare-and-swap commits): its session's commit then has nothing to do.
        self._local.published = bool(expected) and backend.commits_conditional_writes
        stats = self.stats
        stats.writes += len(writes)
        stats.bytes_written += sum(map(len, writes.values()))
        stats.deletes += len(deletes)
        return tokens

    def commit(self) -> None:
        """Commit the backend. Raises CommitError if it fails.

        When this thread's last flush was a compare-and-swap that the backend
        committed itself (a volume), there is nothing left to publish: the
        commit is counted, and no second round trip is made.
        """
        if getattr(self._local, "published", False):
            self._local.published = False
            self.stats.commits += 1
            return
        try:
            self.backend.commit()
        except self._errors as exc:
            self._fail(exc, "commit of", error=CommitError)
        self.stats.commits += 1

    def reload(self) -> None:
        """Reload the backend now. Raises ReloadError if the backend refuses."""
        self.check_layout()
        try:
            self.backend.reload()
        except self._errors as exc:
            self._fail(exc, "reload of", error=ReloadError)
        self._last_reload = time.monotonic()
        self.stats.reloads += 1

    def maybe_reload(self, reload: ReloadArg = None) -> bool:
        """Apply the reload policy (or the per-call override) before a read.

        Raises TypeError for an override that is not a ReloadPolicy, a bool or None.
        """
        if reload is None:
            if self.never_reloads:
                return False
            policy: ReloadPolicy | bool = self._reload_policy
        else:
            check_reload_arg(reload)
            policy = reload
        if policy is False:
            return False
        if isinstance(policy, ReloadPolicy):
            if policy.mode == "never":
                return False
            if policy.mode == "interval" and time.monotonic() - self._last_reload < policy.seconds:
                return False
        self.reload()
        return True

    def delete_tree(self, prefix: str) -> int:
        """Remove a folder and everything below it (counted as deletes); return the files."""
        self.check_layout()
        self._local.published = False
        try:
            count = self.backend.delete_tree(prefix)
        except self._errors as exc:
            self._fail(exc, "removing", prefix)
        self.stats.deletes += count
        return count

    def remove_empty_folder(self, path: str) -> bool:
        """Remove a folder if it is empty; return whether it was removed."""
        self.check_layout()
        try:
            return self.backend.remove_empty_folder(path)
        except self._errors as exc:
            self._fail(exc, "removing the folder", path)

    def move(self, source: str, target: str) -> None:
        """Move a file (never over an existing one); FileExistsError when ``target`` exists."""
        self.check_layout()
        self._local.published = False
        try:
            self.backend.move(source, target)
        except FileExistsError:
            raise
        except self._errors as exc:
            self._fail(exc, f"moving {source} to", target)
        self.stats.writes += 1
        self.stats.deletes += 1

    def remove_temporary(self, path: str, *, min_age: float) -> bool:
        """Remove an abandoned temporary file (see ``Backend.remove_temporary``)."""
        try:
            removed = self.backend.remove_temporary(path, min_age=min_age)
        except self._errors as exc:
            self._fail(exc, "removing", path)
        if removed:
            self.stats.deletes += 1
        return removed

    # -- objects ----------------------------------------------------------------------------

    def encode(self, spec: ModelSpec, obj: Any) -> bytes:
        """The stored bytes of ``obj``. Raises SerializationError (ObjectTooLargeError)."""
        data = spec.encode(obj)
        limit = self.max_object_bytes
        if limit is not None and len(data) > limit:
            raise ObjectTooLargeError(
                f"{spec.cls.__name__} {spec.object_id(obj)!r} encodes to {len(data)} bytes; "
                f"the store allows at most {limit} (max_object_bytes)"
            )
        return data

    def decode(
        self,
        spec: ModelSpec,
        path: str,
        data: bytes,
        object_id: str | None,
        user_id: str | None = None,
    ) -> Any:
        """Decode a stored file, checking that it holds the object its name promises.

        The file's extension picks the codec (a model reads its own format and
        its ``previous_codecs``). Raises CorruptObjectError naming the file when
        it does not parse or validate, or holds another id (or, with
        ``user_id``, another user's object); SchemaVersionError (a
        CorruptObjectError) when newer code wrote it.
        """
        codec = None  # the model's own
        if not path.endswith(spec.extension):
            dot = path.rfind(".")
            codec = spec.read_codecs.get(path[dot:]) if dot >= 0 else None
        try:
            obj = decoded(spec.decode, data, codec)
        except SchemaVersionError as exc:
            raise SchemaVersionError(exc.found, exc.known, path) from None
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise CorruptObjectError(path, short_reason(exc)) from exc
        if object_id is not None and getattr(obj, spec.id_field) != object_id:
            raise CorruptObjectError(
                path, f"holds id {spec.object_id(obj)!r}, but its name says {object_id!r}"
            )
        if user_id is not None and getattr(obj, spec.owner_field) != user_id:
            # A misplaced file (restored into the wrong folder, written by hand,
            # a user hash collision): never hand one user another user's object.
            raise CorruptObjectError(path, f"holds an object of another user, not of {user_id!r}")
        return obj

    def path_for(
        self, spec: ModelSpec, user_id: str, object_id: str, at: datetime | None = None
    ) -> str:
        """The storage path of one object (see ``Layout.object_path``)."""
        return self.layout.object_path(spec, user_id, object_id, at)

    def locate(self, spec: ModelSpec, path: str) -> tuple[str, bytes] | None:
        """The bytes of the object at ``path``, or in a previous codec's format; None if absent."""
        data = self.read(path)
        if data is not None:
            return path, data
        for legacy in self.layout.legacy_paths(spec, path):
            data = self.read(legacy)
            if data is not None:
                return legacy, data
        return None

    def object_exists(self, spec: ModelSpec, path: str) -> bool:
        """Whether an object is stored at ``path`` (or in a previous codec's format)."""
        return any(self.exists(p) for p in [path, *self.layout.legacy_paths(spec, path)])


__all__ = [
    "DEFAULT_MAX_OBJECT_BYTES",
    "Engine",
    "ReloadArg",
    "ReloadPolicy",
    "Stats",
    "check_reload_arg",
]
