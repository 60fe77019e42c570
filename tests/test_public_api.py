"""The public names are a contract: adding one is a decision, removing one a breaking change."""

from __future__ import annotations

import ast
from pathlib import Path

import volstore

EXPECTED = {
    "Backend", "BackendError", "BucketedRepository", "BucketedUserRepository", "BulkWriter",
    "CheckReport", "CleanupReport", "Codec", "CodecUnavailableError", "CommitError",
    "ConflictError", "CorruptObjectError",
    "DuplicateResourceTypeError", "Entry", "Finding", "InvalidKeyError", "JSON", "JsonCodec",
    "LayoutMismatchError", "LocalBackend", "MAX_ID_BYTES", "MSGPACK", "MemoryBackend",
    "MigrationReport", "Model", "ModelDefinitionError", "ModelSpec", "MsgpackCodec",
    "ObjectNotFoundError", "ObjectTooLargeError", "OnError", "ReloadError", "ReloadPolicy",
    "Repository", "RetentionReport", "SchemaVersionError", "SerializationError", "Session",
    "SessionError", "SessionStats", "StaleObjectError", "Store", "StoreStats",
    "TenantIsolationError", "UserHasher", "UserRepository", "VolstoreError", "__version__",
    "attrs_id_field", "bucketed", "check_store", "id_field", "iter_check_store", "migrate",
    "new_id", "resource", "spec_of",
    # queries and indexes (docs/queries.md)
    "Desc", "Index", "Page", "Query", "QueryError", "QueryPlan", "ReindexReport",
    "UniqueViolationError", "all_of", "any_of", "contains", "desc", "is_in", "not_", "reindex",
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


def test_benchmarks_and_examples_import_no_private_module() -> None:
    # They show how volstore is meant to be used: through its public names only.
    root = Path(__file__).resolve().parents[1]
    private = []
    for path in sorted([*root.glob("benchmarks/**/*.py"), *root.glob("examples/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] == "volstore" and any(p.startswith("_") for p in parts[1:]):
                    private.append(f"{path.relative_to(root)}:{node.lineno} {module}")
    assert private == []
