"""Bulk migration: rewrite every object of a type in its current schema version and codec.

Objects written by an older schema version are upgraded on read anyway; a
migration makes the upgrade permanent (and moves files of a previous codec to
the current one) so that old upgrade code can be retired. It streams: one
folder listing and one chunk of objects in memory at a time, one commit per
chunk. A migration that is killed part way is simply run again: objects
already in the current form are recognised and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._errors import CorruptObjectError, SchemaVersionError
from ._model import ModelSpec
from ._repository import OnError, handle_corrupt
from ._store import ReloadArg, Store

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each chunk (and once at the start)."""


@dataclass
class MigrationReport:
    """What a migration did."""

    resource_type: str
    total: int = 0  # objects found
    rewritten: int = 0  # objects written in the current form
    already_current: int = 0  # objects skipped: already in the current form
    commits: int = 0
    errors: list[CorruptObjectError] = field(default_factory=list)  # with on_error="skip"


def migrate(
    store: Store,
    model: type[Any],
    *,
    chunk_size: int = 500,
    progress: Progress | None = None,
    on_error: OnError = "raise",
    reload: ReloadArg = True,
) -> MigrationReport:
    """Rewrite every stored object of ``model`` in its current schema version and codec.

    One commit per ``chunk_size`` rewritten objects; memory holds one chunk.
    A file that does not parse raises CorruptObjectError naming it (nothing of
    its chunk is written), or with ``on_error="skip"`` is left alone and
    reported. Versioned objects keep their version number: a migration does
    not change their content, only its form.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    repo = store.repository(model)
    spec = repo.spec
    report = MigrationReport(spec.resource_type)
    store.maybe_reload(reload)
    report.total = sum(1 for _ in repo.scan_paths(reload=False))
    if progress is not None:
        progress(0, report.total)
    done = 0
    writes: dict[str, bytes] = {}
    deletes: list[str] = []

    def flush() -> None:
        if writes or deletes:
            store.apply(writes, deletes)
            store.commit()
            report.commits += 1
            report.rewritten += len(writes)
            writes.clear()
            deletes.clear()

    for path, data in _read_all(store, repo.scan_paths(reload=False)):
        done += 1
        try:
            if _is_current(spec, path, data):
                report.already_current += 1
            else:
                obj = store.decode(spec, path, data, None)
                target = store.object_path(spec, obj)
                writes[target] = store.encode(spec, obj)
                if target != path:
                    deletes.append(path)
        except CorruptObjectError as exc:
            handle_corrupt(on_error, exc)
            report.errors.append(exc)
        if len(writes) >= chunk_size:
            flush()
            if progress is not None:
                progress(done, report.total)
    flush()
    if progress is not None:
        progress(done, report.total)
    return report


def _read_all(store: Store, paths: Iterator[str]) -> Iterator[tuple[str, bytes]]:
    for path in paths:
        data = store.read_bytes(path)
        if data is not None:  # deleted since it was listed
            yield path, data


def _is_current(spec: ModelSpec, path: str, data: bytes) -> bool:
    """Whether a stored file is already in the model's codec and schema version."""
    if not path.endswith(spec.extension):
        return False
    if spec.schema_version is None:
        return True
    try:
        document = spec.codec.load_document(data)
    except ValueError as exc:
        raise CorruptObjectError(path, str(exc)) from exc
    if not isinstance(document, dict):
        raise CorruptObjectError(path, f"expected an object, found {type(document).__name__}")
    try:
        return spec.stored_schema_version(document) == spec.schema_version
    except SchemaVersionError as exc:  # written by newer code: never downgraded
        raise SchemaVersionError(exc.found, exc.known, path) from None
    except ValueError as exc:
        raise CorruptObjectError(path, str(exc)) from exc
