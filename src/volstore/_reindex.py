"""Rebuilding secondary indexes: write missing entries, remove stale ones; streaming, resumable.

``reindex(store, Model)`` makes a model's indexes equal to what its stored
objects hold, in two passes that each keep one chunk in memory:

1. objects: every object of the type is read (folder by folder, in path
   order), and each entry it should have is written if it is missing
   (a folder of entries is listed once per chunk, not each entry looked up);
2. entries: every entry of each index is listed, and one whose object is
   gone or no longer holds its value is removed (unless it is younger than
   ``min_age`` seconds: a writer may be between its entry and its object).
   Folders of indexes the model no longer declares are removed, and so are
   empty index folders (values no object holds any more).

Each chunk is written, then committed with a checkpoint
(``.volstore-index/<type>/.reindex.json``): a reindex that stops part way
resumes where it stopped when run again (``restart=True`` starts over).

A unique index whose value two stored objects hold (data written before the
index was declared) keeps the entry of the first; the other is reported in
``conflicts``. Unique entries are written conditionally, as a flush writes
them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._engine import Engine
from ._errors import CorruptObjectError, InvalidKeyError, OnError, handle_corrupt
from ._index import EntryKey, IndexDef, walk_entries
from ._layout import INDEX_ROOT
from ._model import ModelSpec
from ._time import step_of
from ._tracker import read_object

Progress = Callable[[str, int], None]
"""Called as ``progress(phase, done)``: phase "objects" or "entries", items done so far."""

CHECKPOINT = ".reindex.json"


@dataclass
class ReindexReport:
    """What a reindex did.

    ``objects`` read, entries ``written`` (they were missing) and ``removed``
    (stale), ``young`` stale-looking entries left alone (younger than
    ``min_age``), ``conflicts`` (a unique value held by two objects: the
    second object's path), ``removed_indexes`` (folders of indexes no longer
    declared), ``removed_folders`` (empty index folders), ``resumed`` whether
    a checkpoint was found.
    """

    resource_type: str
    indexes: list[str]
    objects: int = 0
    written: int = 0
    removed: int = 0
    young: int = 0
    commits: int = 0
    resumed: bool = False
    removed_folders: int = 0
    conflicts: list[str] = field(default_factory=list)
    removed_indexes: list[str] = field(default_factory=list)
    errors: list[CorruptObjectError] = field(default_factory=list)


def reindex(
    store: Any,
    model: type[Any],
    *,
    chunk_size: int = 500,
    progress: Progress | None = None,
    on_error: OnError = "raise",
    restart: bool = False,
    min_age: float = 60.0,
) -> ReindexReport:
    """Make ``model``'s indexes match its stored objects (see the module docstring).

    Raises CorruptObjectError for an object file that does not parse (with
    ``on_error="skip"`` it is reported and left alone), ValueError for a bad
    ``chunk_size``, SessionError when a model with a unique index is reindexed
    on a backend without conditional writes.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
    engine: Engine = store if isinstance(store, Engine) else store.engine
    spec = engine.register(model)
    run = _Run(engine, spec, chunk_size, progress, on_error, min_age)
    return run.go(restart)


class _Run:
    def __init__(
        self,
        engine: Engine,
        spec: ModelSpec,
        chunk_size: int,
        progress: Progress | None,
        on_error: OnError,
        min_age: float,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.indexes = engine.indexes(spec)
        self.chunk_size = chunk_size
        self.progress = progress
        self.on_error = on_error
        self.min_age = min_age
        self.root = f"{INDEX_ROOT}/{spec.resource_type}"
        self.checkpoint_path = f"{self.root}/{CHECKPOINT}"
        self.report = ReindexReport(spec.resource_type, [i.name for i in self.indexes])

    # -- checkpoints ------------------------------------------------------------------------

    def _load_checkpoint(self) -> dict[str, Any] | None:
        data = self.engine.read(self.checkpoint_path)
        if data is None:
            return None
        try:
            state = json.loads(data)
        except ValueError:
            return None
        if not isinstance(state, dict) or state.get("indexes") != self.report.indexes:
            return None  # written for other indexes: start over
        return state

    def _commit(
        self,
        writes: dict[str, bytes],
        deletes: list[str],
        expected: dict[str, str | None],
        state: dict[str, Any] | None,
    ) -> None:
        """Apply one chunk and its checkpoint (None: the run is over), then commit."""
        files = dict(writes)
        if state is not None:
            files[self.checkpoint_path] = json.dumps(
                {**state, "indexes": self.report.indexes}
            ).encode()
        else:
            deletes = [*deletes, self.checkpoint_path]
        self.engine.apply(files, deletes, expected or None)
        self.engine.commit()
        self.report.commits += 1

    # -- the run ------------------------------------------------------------------------------

    def go(self, restart: bool) -> ReindexReport:
        state = None if restart else self._load_checkpoint()
        self.report.resumed = state is not None
        phase = state["phase"] if state else "objects"
        after = state["after"] if state else ""
        if self.indexes:
            if phase == "objects":
                self._objects(after)
                phase, after = "entries", ""
            self._entries(after)
        self._unknown_indexes()
        self.report.removed_folders = len(remove_empty_index_folders(self.engine, self.spec))
        self._commit({}, [], {}, None)
        return self.report

    def _objects(self, after: str) -> None:
        """Pass 1: the entries every stored object should have; write the missing ones."""
        wanted: dict[str, tuple[IndexDef, bytes, EntryKey, str]] = {}
        last = after
        for path, obj in self._stored_objects(after):
            self.report.objects += 1
            for index in self.indexes:
                key = index.key_of(obj)
                made = index.entries_of(obj)
                if not made:
                    continue
                entry, content = made[0]
                if entry in wanted and index.unique and wanted[entry][2] != key:
                    self.report.conflicts.append(path)
                    continue
                wanted[entry] = (index, content, key, path)
            last = path
            if len(wanted) >= self.chunk_size:
                self._write_missing(wanted, {"phase": "objects", "after": last})
                wanted = {}
            if self.progress is not None:
                self.progress("objects", self.report.objects)
        self._write_missing(wanted, {"phase": "entries", "after": ""})

    def _stored_objects(self, after: str) -> Iterator[tuple[str, Any]]:
        engine, spec = self.engine, self.spec
        object_id_of = engine.layout.object_id_of
        for path in engine.walk(spec.resource_type):
            if after and path <= after:
                continue
            object_id = object_id_of(spec, path.rpartition("/")[2])
            if object_id is None:
                continue
            found = read_object(engine, spec, path)
            if found is None:
                continue
            try:
                obj = engine.decode(spec, path, found[0], object_id)
                if engine.layout.path_of(spec, obj).rpartition("/")[0] != path.rpartition("/")[0]:
                    raise CorruptObjectError(path, "its owner or timestamp place it elsewhere")
            except (CorruptObjectError, InvalidKeyError) as exc:
                error = (
                    exc
                    if isinstance(exc, CorruptObjectError)
                    else (CorruptObjectError(path, str(exc)))
                )
                handle_corrupt(self.on_error, error)
                self.report.errors.append(error)
                continue
            yield path, obj

    def _write_missing(
        self, wanted: dict[str, tuple[IndexDef, bytes, EntryKey, str]], state: dict[str, Any]
    ) -> None:
        engine = self.engine
        by_folder: dict[str, list[str]] = {}
        for entry in wanted:
            by_folder.setdefault(entry.rpartition("/")[0], []).append(entry)
        writes: dict[str, bytes] = {}
        expected: dict[str, str | None] = {}
        for folder, paths in by_folder.items():
            present = {e.name for e in engine.list(folder)}
            for path in paths:
                index, content, key, object_path = wanted[path]
                if path.rpartition("/")[2] not in present:
                    writes[path] = content
                    if index.unique:
                        expected[path] = None
                elif index.unique:
                    self._check_unique(path, index, content, key, object_path, writes, expected)
        self._commit(writes, [], expected, state)
        self.report.written += len(writes)

    def _check_unique(
        self,
        path: str,
        index: IndexDef,
        content: bytes,
        key: EntryKey,
        object_path: str,
        writes: dict[str, bytes],
        expected: dict[str, str | None],
    ) -> None:
        """A unique entry exists: keep it when it names this object or a live holder."""
        found = self.engine.read_token(path)
        if found is None or found[0] == content:
            return
        holder = EntryKey.parse(found[0])
        if holder is not None and self._holds(index, holder, path):
            self.report.conflicts.append(object_path)
            return
        writes[path] = content  # a stale entry: take it over
        expected[path] = found[1]

    def _holds(self, index: IndexDef, key: EntryKey, entry: str) -> bool:
        """Whether the object ``key`` names exists and has ``entry`` in ``index``."""
        try:
            path = index.object_path(key)
        except (InvalidKeyError, ValueError):
            return False
        found = read_object(self.engine, self.spec, path)
        if found is None:
            return False
        try:
            obj = self.engine.decode(self.spec, path, found[0], key.object_id)
            return index.key_of(obj) == key and entry in [p for p, _ in index.entries_of(obj)]
        except (CorruptObjectError, InvalidKeyError, ValueError):
            return False

    def _entries(self, after: str) -> None:
        """Pass 2: remove entries whose object is gone or holds another value."""
        engine = self.engine
        done = 0
        deletes: list[str] = []
        expected: dict[str, str | None] = {}
        now = time.time()
        last = after
        ages: dict[str, float | None] = {}

        def with_ages(folder: str) -> list[Any]:
            """A listing with details; each entry's time is kept until the walk reaches it."""
            found = engine.list(folder, details=True)
            for entry in found:
                ages[f"{folder}/{entry.name}"] = entry.mtime
            return found

        for index in sorted(self.indexes, key=lambda i: i.folder):  # the checkpoint's order
            start = after if after.startswith(index.folder + "/") else ""
            if after and not start and index.folder < after:
                continue  # this index was finished before the checkpoint

            for path, found in walk_entries(index, with_ages, start):
                done += 1
                last = path
                mtime = ages.pop(path, None)
                if found is None:
                    continue  # a name the index never writes: check reports it
                key = found.key
                token = None
                if key is None:
                    read = engine.read_token(path)
                    if read is None:
                        continue
                    key, token = EntryKey.parse(read[0]), read[1]
                if key is not None and self._holds(index, key, path):
                    continue
                if mtime is not None and now - mtime < self.min_age:
                    self.report.young += 1
                    continue
                deletes.append(path)
                if index.unique and token is not None:
                    expected[path] = token
                if len(deletes) >= self.chunk_size:
                    self._commit({}, deletes, expected, {"phase": "entries", "after": last})
                    self.report.removed += len(deletes)
                    deletes, expected = [], {}
                if self.progress is not None:
                    self.progress("entries", done)
        self._commit({}, deletes, expected, {"phase": "entries", "after": last})
        self.report.removed += len(deletes)

    def _unknown_indexes(self) -> None:
        """Remove the folders of indexes the model no longer declares."""
        declared = {index.name for index in self.indexes}
        for entry in self.engine.list(self.root):
            if entry.is_dir and entry.name not in declared:
                self.engine.delete_tree(f"{self.root}/{entry.name}")
                self.report.removed_indexes.append(entry.name)


def remove_empty_index_folders(engine: Engine, spec: ModelSpec) -> list[str]:
    """Remove the empty folders of a model's indexes, bottom up; return them (no commit).

    Entries that move on (a scheduler's next runs, a status that changes)
    leave the folders of values nobody holds any more; a range query lists
    each folder it overlaps, so they cost listings until they go. A folder is
    removed only if it is empty at that moment (``remove_empty_folder``).
    """
    removed: list[str] = []

    def clean(folder: str, depth: int) -> bool:
        """Whether ``folder`` is empty once its empty children are gone."""
        empty = True
        for entry in engine.list(folder, hidden=True):
            path = f"{folder}/{entry.name}"
            if (
                entry.is_dir
                and depth < 3
                and clean(path, depth + 1)
                and engine.remove_empty_folder(path)
            ):
                removed.append(path)
                continue
            empty = False
        return empty

    for index in engine.indexes(spec):
        clean(index.folder, 0)
    return removed


def prune_purged(engine: Engine, spec: ModelSpec, limit: datetime, chunk_size: int = 1000) -> int:
    """Remove the entries of a time-bucketed model's objects older than ``limit`` (retention).

    Entries of buckets that end before ``limit`` go without a look at their
    object; in the bucket holding ``limit``, those whose object is gone.
    Lists every index of the model (names only). Returns how many went.
    """
    step = step_of(spec.bucket)
    removed = 0
    deletes: list[str] = []
    for index in engine.indexes(spec):
        for path, found in walk_entries(index, engine.list):
            if found is None:
                continue
            key = found.key
            if key is None:
                data = engine.read(path)
                key = EntryKey.parse(data) if data is not None else None
            if key is None:
                continue
            try:
                start = datetime.strptime(key.bucket, index.bucket_format)
                start = start.replace(tzinfo=timezone.utc)
                gone = start + step <= limit or (
                    start < limit and not engine.object_exists(spec, index.object_path(key))
                )
            except (ValueError, CorruptObjectError):
                continue
            if gone:
                deletes.append(path)
            if len(deletes) >= chunk_size:
                engine.apply({}, deletes)
                removed += len(deletes)
                deletes = []
    if deletes:
        engine.apply({}, deletes)
        removed += len(deletes)
    return removed


__all__ = ["ReindexReport", "prune_purged", "reindex", "remove_empty_index_folders"]
