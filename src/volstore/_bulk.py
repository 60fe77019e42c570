"""A bounded-memory bulk writer, for imports of millions of objects.

A session keeps every object it was given until it commits: right for a unit
of work, wrong for an import of a million objects. ``store.writer()`` encodes
each object as it is added and writes and commits every ``batch_size``
objects, keeping nothing else: memory holds one batch of encoded bytes.

    with store.writer(batch_size=1000) as w:
        for row in rows:
            w.add(Schedule(**row))

It is not one unit of work: each batch is committed on its own, so an error
in the middle leaves the batches before it committed (and the current one
unwritten). Run the import again to finish it: objects are written at their
keys, so a second run replaces rather than duplicates.

A model with secondary indexes gets its entries in the same batch; the
stored object each one replaces is read first (one read per object), so the
entries of its old values go.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

from ._engine import Engine
from ._errors import ConflictError, SessionError
from ._index import IndexChanges
from ._model import ModelSpec
from ._tracker import version_of

M = TypeVar("M")


class BulkWriter:
    """Writes objects in batches of ``batch_size``, one backend batch and commit each.

    Versioned objects are created (version 1), never overwritten: a key that
    exists raises StaleObjectError for its batch. Raises SessionError when
    used after it closed, and what a session's commit raises.
    """

    def __init__(self, engine: Engine, *, batch_size: int = 1000) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, not {batch_size!r}")
        self.engine = engine
        self.batch_size = batch_size
        self.written = 0  # objects written and committed so far
        self.commits = 0
        self._writes: dict[str, bytes] = {}
        self._expected: dict[str, str | None] = {}
        self._specs: dict[type[Any], ModelSpec] = {}
        self._derived: IndexChanges | None = None  # the batch's index entries
        self._closed = False

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self._writes.clear()
            self._expected.clear()
            self._derived = None
            self._closed = True

    def add(self, obj: M) -> M:
        """Encode ``obj`` and queue it; write and commit when the batch is full. Returns it.

        Raises InvalidKeyError or SerializationError for a bad object (nothing
        of the current batch is written then either).
        """
        if self._closed:
            raise SessionError("this bulk writer is closed; open a new one with store.writer()")
        spec = self._specs.get(type(obj))
        if spec is None:
            spec = self._specs[type(obj)] = self.engine.register(type(obj))
        spec.assign_id(obj)
        path = self.engine.layout.path_of(spec, obj)
        if spec.version_field is not None:
            if version_of(spec, obj):
                raise SessionError(
                    f"{spec.cls.__name__} {spec.object_id(obj)!r} already has a version: the "
                    "bulk writer only creates versioned objects; update them in a session"
                )
            setattr(obj, spec.version_field, 1)
            self._expected[path] = None
        self._writes[path] = self.engine.encode(spec, obj)
        if spec.indexes:
            if self._derived is None:
                self._derived = self.engine.derived_files()
            if self._derived is not None:
                self._derived.add(spec, path, None, obj, path)
        if len(self._writes) >= self.batch_size:
            self.flush()
        return obj

    def flush(self) -> None:
        """Write and commit the objects queued so far (nothing when none are)."""
        if not self._writes:
            return
        writes, derived = self._writes, self._derived
        deletes: list[str] = []
        if derived is not None:
            writes, deletes = derived.finish(self._writes, self._expected)
        try:
            self.engine.apply(writes, deletes, self._expected or None)
        except ConflictError as exc:
            named = derived.conflict(exc) if derived is not None else None
            raise (named or exc) from None
        self._derived = None
        self.engine.commit()
        self.written += len(self._writes)
        self.commits += 1
        self._writes.clear()
        self._expected.clear()


__all__ = ["BulkWriter"]
