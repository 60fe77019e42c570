"""The store: the public facade over the engine.

``Store(path_or_backend)`` builds an ``volstore._engine.Engine`` (the
backend, the key layout, the registered models, the reload policy, the
counters) and hands out what users work with: sessions, repositories, the
check, and a bulk writer. Nothing below imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ._bulk import BulkWriter
from ._check import check_store
from ._check_report import DEFAULT_QUARANTINE, DEFAULT_TEMPORARY_MIN_AGE, CheckReport
from ._direct import Direct
from ._engine import DEFAULT_MAX_OBJECT_BYTES, Engine, ReloadPolicy, Stats
from ._engine import Stats as StoreStats  # the counters since the store opened
from ._events import BucketedRepository
from ._keys import DEFAULT_USER_HASH_LENGTH, KeyedUserHasher, UserHasher
from ._model import ModelSpec
from ._repository import Repository
from ._session import Session
from ._uow import UnitOfWork
from .backends._base import Backend
from .backends.local import LocalBackend

M = TypeVar("M")

DEFAULT_ROOT_ENV = "VOLSTORE_ROOT"
DEFAULT_ROOT = "volstore-data"
USER_HASH_KEY_ENV = "VOLSTORE_USER_HASH_KEY"


def open_backend(backend: Backend | str | os.PathLike[str] | None) -> Backend:
    """The backend a store is given: a Backend as it is, a path as a LocalBackend there,
    None as a LocalBackend at ``$VOLSTORE_ROOT`` (else ``./volstore-data``).

    Raises TypeError for anything else, BackendError for a root that is not a folder.
    """
    if backend is None:
        backend = LocalBackend(os.environ.get(DEFAULT_ROOT_ENV) or DEFAULT_ROOT)
    elif isinstance(backend, (str, os.PathLike)):
        backend = LocalBackend(Path(backend))
    if not isinstance(backend, Backend):
        raise TypeError(f"backend must be a volstore Backend or a path, not {backend!r}")
    return backend


class Store:
    """Typed objects stored as files under one root, through one backend.

    ``backend`` is a Backend, a folder path (a LocalBackend there), or None: a
    local folder named by ``$VOLSTORE_ROOT``, else ``./volstore-data``.

    ``user_hash_key`` (or ``$VOLSTORE_USER_HASH_KEY``) switches user folders
    from plain SHA-256 to HMAC-SHA256 under that secret. The layout is
    recorded in a ``.volstore.json`` marker at the root on the first write; a
    store opened with another layout (no key, another key, another hash
    length) raises LayoutMismatchError on first use instead of mixing folders.

    ``max_object_bytes`` (64 MiB by default; None: no limit) bounds the size
    of an object, written or read. ``reload`` is the reload policy of reads.

    The store is safe to share between threads; give each thread its own
    session. Raises TypeError for a backend that is not one, ValueError for a
    bad option, BackendError for a root that is not a folder.
    """

    def __init__(
        self,
        backend: Backend | str | os.PathLike[str] | None = None,
        *,
        user_hash_length: int = DEFAULT_USER_HASH_LENGTH,
        user_hash_key: str | bytes | None = None,
        reload: ReloadPolicy = ReloadPolicy.NEVER,
        max_object_bytes: int | None = DEFAULT_MAX_OBJECT_BYTES,
        models: Iterable[type[Any]] = (),
    ) -> None:
        backend = open_backend(backend)
        if user_hash_key is None:
            user_hash_key = os.environ.get(USER_HASH_KEY_ENV) or None
        hasher: UserHasher = (
            UserHasher(user_hash_length)
            if user_hash_key is None
            else KeyedUserHasher(user_hash_key, user_hash_length)
        )
        self.engine = Engine(backend, hasher, reload=reload, max_object_bytes=max_object_bytes)
        """The engine below the store (advanced): the backend with the key layout, the
        registered models, the reload policy and the counters, which every
        repository, the check and the CLI work through (see the architecture page)."""
        for model in models:
            self.register(model)

    def __repr__(self) -> str:
        return f"Store({self.backend.describe()})"

    def _unit_of_work(self) -> UnitOfWork:
        return Direct(self.engine)

    # -- what the engine holds ------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The storage backend."""
        return self.engine.backend

    @property
    def stats(self) -> Stats:
        """Counters of backend operations since the store opened."""
        return self.engine.stats

    @property
    def hasher(self) -> UserHasher:
        """Maps a user id to its folder name (``store.hasher("ada")``)."""
        return self.engine.hasher

    @property
    def reload_policy(self) -> ReloadPolicy:
        """When reads reload the backend first (see ReloadPolicy); may be changed at any time."""
        return self.engine.reload_policy

    @reload_policy.setter
    def reload_policy(self, policy: ReloadPolicy) -> None:
        self.engine.reload_policy = policy

    @property
    def max_object_bytes(self) -> int | None:
        """The largest object, in bytes, this store writes or reads (None: no limit)."""
        return self.engine.max_object_bytes

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        """The registered models by resource type."""
        return self.engine.models

    def register(self, model: type[Any]) -> ModelSpec:
        """Register a model class; return its spec.

        Registering the same class again is a no-op. Raises
        DuplicateResourceTypeError when another class already holds its resource type.
        """
        return self.engine.register(model)

    # -- entry points ---------------------------------------------------------------------

    def session(self) -> Session:
        """A new unit of work: ``with store.session() as s: ...`` commits once on clean exit."""
        return Session(self.engine)

    def repository(self, model: type[M]) -> Repository[M]:
        """A typed repository for ``model`` (registered on first use).

        Its writes commit at once; inside ``with store.session() as s:`` use
        ``s.repository(model)`` (a write here raises SessionError there).
        For a time-bucketed model use ``store.bucketed(Model)``, typed with its
        range queries and retention (this returns the same repository, typed
        as a plain one).
        """
        if self.engine.register(model).time_field is not None:
            return BucketedRepository(Direct(self.engine), model)
        return Repository(Direct(self.engine), model)

    def bucketed(self, model: type[M], *, cache_listings: bool = False) -> BucketedRepository[M]:
        """The repository of a time-bucketed ``model``: range queries, ``latest``, retention.

        ``cache_listings`` keeps folder listings between queries (see
        BucketedRepository). Raises ModelDefinitionError for a model without
        a ``time_field``.
        """
        return BucketedRepository(Direct(self.engine), model, cache_listings=cache_listings)

    def writer(self, *, batch_size: int = 1000) -> BulkWriter:
        """A bounded-memory bulk writer: ``with store.writer() as w: w.add(obj)``.

        Writes and commits every ``batch_size`` objects, keeping nothing else
        in memory: for imports of millions of objects. See BulkWriter.
        """
        return BulkWriter(self.engine, batch_size=batch_size)

    def check(
        self,
        *,
        repair: bool = False,
        quarantine: str = DEFAULT_QUARANTINE,
        max_findings: int = 10_000,
        temporary_min_age: float = DEFAULT_TEMPORARY_MIN_AGE,
    ) -> CheckReport:
        """Walk the store; report corrupt, temporary, mismatched, duplicate and unknown files.

        With ``repair=True``: remove abandoned temporary files and move corrupt,
        mismatched and duplicate files into ``quarantine`` (never deleting
        them), in one commit. Safe next to live writers: what a writer may
        still be working on is left until it is ``temporary_min_age`` seconds
        old (0: no writer is running). Streams folder by folder, so memory
        stays flat. See ``volstore.check_store``.
        """
        return check_store(
            self.engine,
            repair=repair,
            quarantine=quarantine,
            max_findings=max_findings,
            temporary_min_age=temporary_min_age,
        )

    # -- paths ------------------------------------------------------------------------------

    def path_for(
        self, spec: ModelSpec, user_id: str, object_id: str, at: datetime | None = None
    ) -> str:
        """The storage path of one object (``at``: its timestamp, for time-bucketed models).

        Raises InvalidKeyError for a bad id or user id, or a missing or naive timestamp.
        """
        return self.engine.layout.object_path(spec, user_id, object_id, at)

    def object_path(self, spec: ModelSpec, obj: Any) -> str:
        """The storage path of an object, from its own fields."""
        return self.engine.layout.path_of(spec, obj)

    def user_folder(self, spec: ModelSpec, user_id: str) -> str:
        """The folder holding one user's objects of one (not time-bucketed) type."""
        return self.engine.layout.user_folder(spec, user_id)

    def bucket_folder(self, spec: ModelSpec, at: datetime | None) -> str:
        """The time bucket folder of a time-bucketed model: ``<type>/<YYYY-MM-DD>[/<HH>]``."""
        return self.engine.layout.bucket_folder(spec, at)

    # -- the backend's own commit and reload --------------------------------------------------

    def reload(self) -> None:
        """See what other containers committed (the backend's reload). ReloadError on failure."""
        self.engine.reload()

    def commit(self) -> None:
        """Commit the backend (what sessions do on exit). CommitError on failure."""
        self.engine.commit()

    def close(self) -> None:
        """Release the backend's resources; the store is not used after this."""
        self.backend.close()


__all__ = [
    "DEFAULT_ROOT",
    "DEFAULT_ROOT_ENV",
    "USER_HASH_KEY_ENV",
    "ReloadPolicy",
    "Store",
    "StoreStats",
    "open_backend",
]
