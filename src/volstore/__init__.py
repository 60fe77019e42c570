"""volstore: typed objects stored as files on shared volumes.

    import volstore

    class Schedule(volstore.Model, resource_type="schedules"):
        id: str = volstore.id_field()
        user_id: str
        cron: str

    store = volstore.Store("data")            # a local folder
    with store.session() as s:                 # one commit on clean exit
        s.add(Schedule(user_id="ada", cron="0 * * * *"))
    store.repository(Schedule).list("ada")

Objects live at ``<resource_type>/<sha256(user_id)[:16]>/<id>.json`` below the root.
"""

from ._bulk import BulkWriter
from ._check import check_store, iter_check_store
from ._check_report import CheckReport, Finding
from ._codec import JSON, MSGPACK, Codec, CodecUnavailableError, JsonCodec, MsgpackCodec
from ._engine import ReloadPolicy
from ._errors import (
    BackendError,
    CommitError,
    ConflictError,
    CorruptObjectError,
    DuplicateResourceTypeError,
    InvalidKeyError,
    LayoutMismatchError,
    ModelDefinitionError,
    ObjectNotFoundError,
    ObjectTooLargeError,
    QueryError,
    ReloadError,
    SchemaVersionError,
    SerializationError,
    SessionError,
    StaleObjectError,
    TenantIsolationError,
    UniqueViolationError,
    VolstoreError,
)
from ._events import (
    BucketedRepository,
    BucketedUserRepository,
    CleanupReport,
    RetentionReport,
    bucketed,
)
from ._ids import new_id
from ._keys import MAX_ID_BYTES, UserHasher
from ._migrate import MigrationReport, migrate
from ._model import Index, Model, ModelSpec, attrs_id_field, id_field, resource, spec_of
from ._query import Desc, Page, Query, QueryPlan, any_of, contains, desc, is_in, not_
from ._query import all_of_ as all_of
from ._reindex import ReindexReport, reindex
from ._repository import OnError, Repository, UserRepository
from ._session import Session, SessionStats
from ._store import Store, StoreStats
from .backends import Backend, Entry, LocalBackend, MemoryBackend

__version__ = "0.1.0"

__all__ = [
    "JSON",
    "MAX_ID_BYTES",
    "MSGPACK",
    "Backend",
    "BackendError",
    "BucketedRepository",
    "BucketedUserRepository",
    "BulkWriter",
    "CheckReport",
    "CleanupReport",
    "Codec",
    "CodecUnavailableError",
    "CommitError",
    "ConflictError",
    "CorruptObjectError",
    "Desc",
    "DuplicateResourceTypeError",
    "Entry",
    "Finding",
    "Index",
    "InvalidKeyError",
    "JsonCodec",
    "LayoutMismatchError",
    "LocalBackend",
    "MemoryBackend",
    "MigrationReport",
    "Model",
    "ModelDefinitionError",
    "ModelSpec",
    "MsgpackCodec",
    "ObjectNotFoundError",
    "ObjectTooLargeError",
    "OnError",
    "Page",
    "Query",
    "QueryError",
    "QueryPlan",
    "ReindexReport",
    "ReloadError",
    "ReloadPolicy",
    "Repository",
    "RetentionReport",
    "SchemaVersionError",
    "SerializationError",
    "Session",
    "SessionError",
    "SessionStats",
    "StaleObjectError",
    "Store",
    "StoreStats",
    "TenantIsolationError",
    "UniqueViolationError",
    "UserHasher",
    "UserRepository",
    "VolstoreError",
    "__version__",
    "all_of",
    "any_of",
    "attrs_id_field",
    "bucketed",
    "check_store",
    "contains",
    "desc",
    "id_field",
    "is_in",
    "iter_check_store",
    "migrate",
    "new_id",
    "not_",
    "reindex",
    "resource",
    "spec_of",
]
