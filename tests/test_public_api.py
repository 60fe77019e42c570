"""The public names are a contract: adding one is a decision, removing one a breaking change."""

from __future__ import annotations

import volstore

EXPECTED = {
    "Backend", "BackendError", "BucketedRepository", "BucketedUserRepository", "CheckReport",
    "CleanupReport", "Codec", "CodecUnavailableError", "CommitError", "CorruptObjectError",
    "DuplicateResourceTypeError", "Entry", "Finding", "InvalidKeyError", "JSON", "JsonCodec",
    "LayoutMismatchError", "LocalBackend", "MAX_ID_BYTES", "MSGPACK", "MemoryBackend",
    "MigrationReport", "Model", "ModelDefinitionError", "ModelSpec", "MsgpackCodec",
    "ObjectNotFoundError", "ObjectTooLargeError", "OnError", "ReloadError", "ReloadPolicy",
    "Repository", "RetentionReport", "SchemaVersionError", "SerializationError", "Session",
    "SessionError", "SessionStats", "StaleObjectError", "Store", "StoreStats",
    "TenantIsolationError", "UserHasher", "UserRepository", "VolstoreError", "__version__",
    "attrs_id_field", "bucketed", "check_store", "id_field", "iter_check_store", "migrate",
    "new_id", "resource", "spec_of",
}  # fmt: skip


def test_exported_names_are_frozen() -> None:
    assert set(volstore.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    for name in volstore.__all__:
        assert hasattr(volstore, name), name


def test_every_error_derives_from_the_base_and_its_builtin() -> None:
    assert issubclass(volstore.ObjectNotFoundError, KeyError)
    assert issubclass(volstore.InvalidKeyError, ValueError)
    assert issubclass(volstore.CorruptObjectError, ValueError)
    assert issubclass(volstore.BackendError, OSError)
    for name in volstore.__all__:
        value = getattr(volstore, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, volstore.VolstoreError), name
