"""The store: a backend, the key layout, the registered models, reload policy, counters."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ._errors import (
    BackendError,
    CommitError,
    CorruptObjectError,
    DuplicateResourceTypeError,
    InvalidKeyError,
    LayoutMismatchError,
    ObjectTooLargeError,
    ReloadError,
    SchemaVersionError,
)
from ._keys import DEFAULT_USER_HASH_LENGTH, KeyedUserHasher, UserHasher, check_id
from ._model import ModelSpec, spec_of
from .backends._base import Backend, Entry
from .backends.local import LocalBackend

if TYPE_CHECKING:
    from ._check import CheckReport
    from ._repository import Repository
    from ._session import Session

M = TypeVar("M")

DEFAULT_ROOT_ENV = "VOLSTORE_ROOT"
DEFAULT_ROOT = "volstore-data"
USER_HASH_KEY_ENV = "VOLSTORE_USER_HASH_KEY"
LAYOUT_MARKER = ".volstore.json"
SEED_LAYOUT: dict[str, object] = {"user_hash": "sha256", "length": DEFAULT_USER_HASH_LENGTH}


@dataclass(frozen=True)
class ReloadPolicy:
    """When reads call the backend's ``reload()`` first.

    - ``ReloadPolicy.NEVER``: never (the default; a container sees its own writes
      and the state at its start or last reload).
    - ``ReloadPolicy.ALWAYS``: before every read (see others' commits at once;
      on Modal a reload costs a round trip).
    - ``ReloadPolicy.every(seconds)``: at most once per ``seconds``.
    """

    mode: str
    seconds: float = 0.0

    NEVER: ClassVar[ReloadPolicy]
    ALWAYS: ClassVar[ReloadPolicy]

    @classmethod
    def every(cls, seconds: float) -> ReloadPolicy:
        """Reload before a read when the last reload is at least ``seconds`` old."""
        if not seconds > 0:
            raise ValueError(f"reload interval must be positive, not {seconds!r}")
        return cls("interval", float(seconds))

    def __str__(self) -> str:
        return f"every {self.seconds:g}s" if self.mode == "interval" else self.mode


ReloadPolicy.NEVER = ReloadPolicy("never")
ReloadPolicy.ALWAYS = ReloadPolicy("always")

ReloadArg = ReloadPolicy | bool | None
"""A per-call override: a policy, True (reload now), False (do not), None (the store's)."""


@dataclass
class StoreStats:
    """Counters of backend operations since the store opened (tests and benchmarks read them)."""

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    commits: int = 0
    reloads: int = 0
    lists: int = 0
    bytes_read: int = 0
    bytes_written: int = 0

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Store:
    """Typed objects stored as files under one root, through one backend.

    ``backend`` is a Backend, a folder path (a LocalBackend there), or None: a
    local folder named by ``$VOLSTORE_ROOT``, else ``./volstore-data``.

    ``user_hash_key`` (or ``$VOLSTORE_USER_HASH_KEY``) switches user folders
    from plain SHA-256 to HMAC-SHA256 under that secret. The layout is
    recorded in a ``.volstore.json`` marker at the root on the first write; a
    store opened with another layout (no key, another key, another hash
    length) raises LayoutMismatchError on first use instead of mixing folders.

    The store is safe to share between threads; give each thread its own session.
    """

    def __init__(
        self,
        backend: Backend | str | os.PathLike[str] | None = None,
        *,
        user_hash_length: int = DEFAULT_USER_HASH_LENGTH,
        user_hash_key: str | bytes | None = None,
        reload: ReloadPolicy = ReloadPolicy.NEVER,
        max_object_bytes: int | None = None,
        models: Iterable[type[Any]] = (),
    ) -> None:
        if backend is None:
            backend = LocalBackend(os.environ.get(DEFAULT_ROOT_ENV) or DEFAULT_ROOT)
        elif isinstance(backend, (str, os.PathLike)):
            backend = LocalBackend(Path(backend))
        if not isinstance(backend, Backend):
            raise TypeError(f"backend must be a volstore Backend or a path, not {backend!r}")
        if max_object_bytes is not None and max_object_bytes <= 0:
            raise ValueError("max_object_bytes must be positive")
        self.backend = backend
        if user_hash_key is None:
            user_hash_key = os.environ.get(USER_HASH_KEY_ENV) or None
        self.hasher: UserHasher = (
            UserHasher(user_hash_length)
            if user_hash_key is None
            else KeyedUserHasher(user_hash_key, user_hash_length)
        )
        self._layout_checked = False
        self._marker_pending = False
        self.reload_policy = reload
        self.max_object_bytes = max_object_bytes
        self.stats = StoreStats()
        self._models: dict[str, ModelSpec] = {}
        self._lock = threading.Lock()
        self._last_reload = float("-inf")
        for model in models:
            self.register(model)

    def __repr__(self) -> str:
        return f"Store({self.backend.describe()})"

    @property
    def reload_policy(self) -> ReloadPolicy:
        """When reads reload the backend first (see ReloadPolicy); may be changed at any time."""
        return self._reload_policy

    @reload_policy.setter
    def reload_policy(self, policy: ReloadPolicy) -> None:
        if not isinstance(policy, ReloadPolicy):
            raise TypeError(f"reload policy must be a ReloadPolicy, not {policy!r}")
        self._reload_policy = policy
        self._never_reload = policy.mode == "never"

    # -- models ---------------------------------------------------------------

    def register(self, model: type[Any]) -> ModelSpec:
        """Register a model class; return its spec.

        Registering the same class again is a no-op. Raises
        DuplicateResourceTypeError when another class already holds its resource type.
        """
        spec = spec_of(model)
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
        return spec

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        """The registered models by resource type."""
        return dict(self._models)

    # -- entry points -----------------------------------------------------------

    def session(self) -> Session:
        """A new unit of work: ``with store.session() as s: ...`` commits once on clean exit."""
        from ._session import Session

        return Session(self)

    def repository(self, model: type[M]) -> Repository[M]:
        """A typed repository for ``model`` (registered on first use).

        Time-bucketed models get a BucketedRepository (range queries,
        retention); ``volstore.bucketed(store, Model)`` gives it the precise type.
        """
        from ._repository import Repository

        if spec_of(model).time_field is not None:
            from ._events import BucketedRepository

            return BucketedRepository(self, model)
        return Repository(self, model)

    def check(
        self,
        *,
        repair: bool = False,
        quarantine: str = ".volstore-quarantine",
        max_findings: int = 10_000,
    ) -> CheckReport:
        """Walk the store; report corrupt, temporary, mismatched and unknown files.

        With ``repair=True``: remove leftover temporary files and move corrupt and
        mismatched files into ``quarantine`` (never deleting them), in one commit.
        Streams folder by folder, so memory stays flat. See ``volstore.check_store``.
        """
        from ._check import check_store

        return check_store(self, repair=repair, quarantine=quarantine, max_findings=max_findings)

    # -- layout -------------------------------------------------------------------

    def user_folder(self, spec: ModelSpec, user_id: str) -> str:
        """The folder holding one user's objects of one (not time-bucketed) type."""
        if spec.time_field is not None:
            raise InvalidKeyError(
                f"{spec.cls.__name__} is stored in time buckets: a user's objects are spread "
                "over one folder per bucket; query them by time range"
            )
        return f"{spec.resource_type}/{self.hasher(user_id)}"

    def path_for(
        self,
        spec: ModelSpec,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        extension: str | None = None,
    ) -> str:
        """The storage path of one object.

        ``at`` is the object's timestamp, needed (only) for time-bucketed models.
        Raises InvalidKeyError for a bad id or user id, or a missing or naive timestamp.
        """
        ext = spec.extension if extension is None else extension
        if spec.time_field is None:
            return f"{spec.resource_type}/{self.hasher(user_id)}/{check_id(object_id)}{ext}"
        folder = self.bucket_folder(spec, at)
        return f"{folder}/{self.hasher(user_id)}/{check_id(object_id)}{ext}"

    def legacy_paths(self, spec: ModelSpec, path: str) -> list[str]:
        """Where an object at ``path`` may still be stored in a previous codec's format."""
        if not spec.previous_codecs:
            return []
        stem = path[: -len(spec.extension)]
        return [stem + codec.extension for codec in spec.previous_codecs]

    def object_exists(self, spec: ModelSpec, path: str) -> bool:
        """Whether an object is stored at ``path`` (or in a previous codec's format)."""
        return any(self.exists(candidate) for candidate in [path, *self.legacy_paths(spec, path)])

    def locate(self, spec: ModelSpec, path: str) -> tuple[str, bytes] | None:
        """The bytes of the object at ``path``, or in a previous codec's format; None if absent."""
        data = self.read_bytes(path)
        if data is not None:
            return path, data
        for legacy in self.legacy_paths(spec, path):
            data = self.read_bytes(legacy)
            if data is not None:
                return legacy, data
        return None

    def object_path(self, spec: ModelSpec, obj: Any) -> str:
        """The storage path of an object, from its own fields."""
        at = getattr(obj, spec.time_field) if spec.time_field is not None else None
        return self.path_for(spec, spec.owner(obj), spec.object_id(obj), at)

    def bucket_folder(self, spec: ModelSpec, at: datetime | None) -> str:
        """The time bucket folder of a time-bucketed model: ``<type>/<YYYY-MM-DD>[/<HH>]``."""
        if not isinstance(at, datetime):
            raise InvalidKeyError(
                f"{spec.cls.__name__} is stored in time buckets: give its timestamp "
                f"({spec.time_field}) as a timezone-aware datetime, not {at!r}"
            )
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidKeyError(
                f"{spec.cls.__name__}.{spec.time_field} is a naive datetime ({at.isoformat()}); "
                "use a timezone-aware one, e.g. datetime.now(timezone.utc)"
            )
        try:
            utc = at.astimezone(timezone.utc)
        except OverflowError:
            raise InvalidKeyError(
                f"{spec.cls.__name__}.{spec.time_field} {at.isoformat()} is out of range in UTC"
            ) from None
        # Zero-padded by hand: strftime's %Y does not pad years before 1000 on Linux.
        day = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        if spec.bucket == "day":
            return f"{spec.resource_type}/{day}"
        return f"{spec.resource_type}/{day}/{utc.hour:02d}"

    # -- the layout marker -------------------------------------------------------------

    def check_layout(self) -> None:
        """Compare this store's user-hash layout with the one recorded at the root.

        Runs once per Store, before its first backend call. Raises
        LayoutMismatchError when they differ, or when a store holding data
        without a marker (the seed layout: plain SHA-256, 16 digits) is opened
        with another layout.
        """
        if self._layout_checked:
            return
        with self._lock:
            if self._layout_checked:
                return
            mine = self.hasher.layout()
            try:
                stored_bytes: bytes | None = self.backend.read(LAYOUT_MARKER)
            except FileNotFoundError:
                stored_bytes = None
            except OSError as exc:
                raise CorruptObjectError(
                    LAYOUT_MARKER, f"the layout marker cannot be read: {exc}"
                ) from exc
            if stored_bytes is None:
                if mine != SEED_LAYOUT and self.backend.list(""):
                    raise LayoutMismatchError(
                        f"{self.backend.describe()} holds data but no {LAYOUT_MARKER}: it was "
                        f"written with plain SHA-256 user folders of {DEFAULT_USER_HASH_LENGTH} "
                        f"digits, but is opened with {_describe_layout(mine)}"
                    )
                self._marker_pending = True
            else:
                try:
                    stored = json.loads(stored_bytes)
                    if not isinstance(stored, dict) or "user_hash" not in stored:
                        raise ValueError("no user_hash entry")
                except ValueError as exc:
                    raise CorruptObjectError(
                        LAYOUT_MARKER, f"unreadable layout marker: {exc}"
                    ) from exc
                recorded = {k: v for k, v in stored.items() if k != "volstore"}
                if recorded != mine:
                    raise LayoutMismatchError(_mismatch_message(recorded, mine))
            self._layout_checked = True

    def _marker_files(self) -> dict[str, bytes]:
        if not self._marker_pending:
            return {}
        marker = {"volstore": 1, **self.hasher.layout()}
        return {LAYOUT_MARKER: json.dumps(marker, sort_keys=True).encode() + b"\n"}

    # -- backend calls, counted ------------------------------------------------------

    def maybe_reload(self, reload: ReloadArg = None) -> bool:
        """Apply the reload policy (or the per-call override) before a read."""
        if reload is None and self._never_reload:
            return False
        policy = self.reload_policy if reload is None else reload
        if policy is False:
            return False
        if isinstance(policy, ReloadPolicy):
            if policy.mode == "never":
                return False
            if policy.mode == "interval" and time.monotonic() - self._last_reload < policy.seconds:
                return False
        self.reload()
        return True

    def reload(self) -> None:
        """Reload the backend now. Raises ReloadError if the backend refuses."""
        self.check_layout()
        try:
            self.backend.reload()
        except ReloadError:
            raise
        except (RuntimeError, OSError) as exc:
            raise ReloadError(f"reload of {self.backend.describe()} failed: {exc}") from exc
        self._last_reload = time.monotonic()
        self.stats.reloads += 1

    def read_bytes(self, path: str) -> bytes | None:
        """The bytes at ``path``, or None when nothing is stored there."""
        if not self._layout_checked:
            self.check_layout()
        self.stats.reads += 1
        try:
            data = self.backend.read(path)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise CorruptObjectError(
                path, "a folder stands where an object file should be"
            ) from None
        except NotADirectoryError:
            raise CorruptObjectError(
                path, "a file stands where a folder of this path should be"
            ) from None
        except PermissionError as exc:
            raise CorruptObjectError(path, f"the file cannot be read: {exc.strerror}") from exc
        except BackendError:
            raise
        except OSError as exc:
            raise BackendError(f"reading {path} failed: {exc}") from exc
        self.stats.bytes_read += len(data)
        return data

    def exists(self, path: str) -> bool:
        self.check_layout()
        self.stats.reads += 1
        return self.backend.exists(path)

    def walk(self, prefix: str) -> Iterator[str]:
        """Every file path below ``prefix``, depth first, in name order; counts each listing."""
        for entry in sorted(self.list_folder(prefix), key=lambda e: e.name):
            path = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.is_dir:
                yield from self.walk(path)
            else:
                yield path

    def list_folder(self, prefix: str) -> list[Entry]:
        self.check_layout()
        self.stats.lists += 1
        return self.backend.list(prefix)

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
        it does not parse or validate, or holds another id (or, with ``user_id``,
        another user's object); SchemaVersionError
        (a CorruptObjectError) when newer code wrote it.
        """
        codec = None  # the model's own
        if not path.endswith(spec.extension):
            dot = path.rfind(".")
            codec = spec.read_codecs.get(path[dot:]) if dot >= 0 else None
        try:
            obj = spec.decode(data, codec)
        except SchemaVersionError as exc:
            raise SchemaVersionError(exc.found, exc.known, path) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptObjectError(path, _short_reason(exc)) from exc
        if object_id is not None and spec.object_id(obj) != object_id:
            raise CorruptObjectError(
                path, f"holds id {spec.object_id(obj)!r}, but its name says {object_id!r}"
            )
        if user_id is not None and spec.owner(obj) != user_id:
            # A misplaced file (restored into the wrong folder, written by hand,
            # a user hash collision): never hand one user another user's object.
            raise CorruptObjectError(path, f"holds an object of another user, not of {user_id!r}")
        return obj

    def encode(self, spec: ModelSpec, obj: Any) -> bytes:
        data = spec.encode(obj)
        if self.max_object_bytes is not None and len(data) > self.max_object_bytes:
            raise ObjectTooLargeError(
                f"{spec.cls.__name__} {spec.object_id(obj)!r} encodes to {len(data)} bytes; "
                f"the store allows at most {self.max_object_bytes}"
            )
        return data

    def apply(self, writes: Mapping[str, bytes], deletes: Iterable[str]) -> None:
        """Write then delete, as one flush. Backend failures become BackendError."""
        deletes = list(deletes)
        self.check_layout()
        marker = self._marker_files()
        try:
            if writes or marker:
                self.backend.write_batch({**writes, **marker} if marker else writes)
            if deletes:
                self.backend.delete_batch(deletes)
        except BackendError:
            raise
        except OSError as exc:
            raise BackendError(f"writing to {self.backend.describe()} failed: {exc}") from exc
        self._marker_pending = False
        self.stats.writes += len(writes)
        self.stats.bytes_written += sum(map(len, writes.values()))
        self.stats.deletes += len(deletes)

    def commit(self) -> None:
        """Commit the backend. Raises CommitError if it fails."""
        try:
            self.backend.commit()
        except CommitError:
            raise
        except (RuntimeError, OSError) as exc:
            raise CommitError(f"commit of {self.backend.describe()} failed: {exc}") from exc
        self.stats.commits += 1


def _describe_layout(layout: dict[str, object]) -> str:
    if layout.get("user_hash") == "hmac-sha256":
        return f"keyed user folders (HMAC-SHA256, {layout.get('length')} digits)"
    return f"plain SHA-256 user folders ({layout.get('length')} digits)"


def _mismatch_message(stored: dict[str, object], mine: dict[str, object]) -> str:
    written = _describe_layout(stored)
    if stored.get("user_hash") == mine.get("user_hash") == "hmac-sha256" and stored.get(
        "length"
    ) == mine.get("length"):
        return (
            f"this store was written with a different user hash key ({written}); "
            f"open it with the key it was written with"
        )
    hint = (
        f" (set user_hash_key= or ${USER_HASH_KEY_ENV})"
        if stored.get("user_hash") == "hmac-sha256"
        else ""
    )
    return (
        f"this store was written with {written}, but is opened with {_describe_layout(mine)}{hint}"
    )


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 500 else text[:500] + " ..."
