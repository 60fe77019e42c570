"""The public names are a contract: adding one is a decision, removing one a breaking change."""

from __future__ import annotations

import volstore

EXPECTED = {
    "JSON", "MAX_ID_BYTES", "Backend", "BackendError", "Codec", "CommitError",
    "CorruptObjectError", "DuplicateResourceTypeError", "Entry", "InvalidKeyError", "JsonCodec", "MSGPACK", "CodecUnavailableError", "MigrationReport", "MsgpackCodec",
    "SchemaVersionError", "migrate", "LayoutMismatchError", "StaleObjectError", "TenantIsolationError", "UserRepository",
    "LocalBackend", "MemoryBackend", "Model", "ModelDefinitionError", "ModelSpec",
    "ObjectNotFoundError", "ObjectTooLargeError", "OnError", "ReloadError", "ReloadPolicy",
    "Repository", "SerializationError", "Session", "SessionError", "SessionStats", "Store",
    "StoreStats", "UserHasher", "VolstoreError", "__version__", "id_field", "new_id", "resource",
    "spec_of",
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
