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

from ._direct import Direct
from ._engine import Engine, ReloadArg
from ._errors import CorruptObjectError, SchemaVersionError
from ._model import ModelSpec
from ._repository import OnError, Repository, handle_corrupt
from ._tracker import read_object

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
    store: Any,
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
    not change their content, only its form; each is rewritten only if it is
    still the state that was read (a compare-and-swap), so a concurrent update
    is never overwritten (ConflictError: run the migration again).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    engine: Engine = store if isinstance(store, Engine) else store.engine
    repo = Repository(Direct(engine), model)
    spec = repo.spec
    report = MigrationReport(spec.resource_type)
    engine.maybe_reload(reload)
    report.total = sum(1 for _ in repo.scan_paths(reload=False))
    if progress is not None:
        progress(0, report.total)
    done = 0
    writes: dict[str, bytes] = {}
    deletes: list[str] = []
    expected: dict[str, str | None] = {}

    def flush() -> None:
        if writes or deletes:
            engine.apply(writes, deletes, expected or None)
            engine.commit()
            report.commits += 1
            report.rewritten += len(writes)
            writes.clear()
            deletes.clear()
            expected.clear()

    for path, data, token in _read_all(engine, spec, repo.scan_paths(reload=False)):
        done += 1
        try:
            if _is_current(spec, path, data):
                report.already_current += 1
            else:
                obj = engine.decode(spec, path, data, None)
                target = engine.layout.path_of(spec, obj)
                writes[target] = engine.encode(spec, obj)
                if spec.version_field is not None:
                    expected[path] = token
                    if target != path:
                        expected[target] = None  # nothing may stand at the new place
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


def _read_all(
    engine: Engine, spec: ModelSpec, paths: Iterator[str]
) -> Iterator[tuple[str, bytes, str | None]]:
    for path in paths:
        found = read_object(engine, spec, path)
        if found is not None:  # deleted since it was listed
            yield path, found[0], found[1]


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
