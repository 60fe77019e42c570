"""Secondary indexes: where their entries live, how they are named, how a flush keeps them.

An index is one small file per object and value, never a file that several
writers rewrite (a volume is last-writer-wins per file)::

    .volstore-index/<type>/<index>/<level 1>/<level 2>/<shard>/<entry>

- the two levels are prefixes of the value's order-preserving encoding
  (``_order.folders_of``): a range query lists only the folders its range
  overlaps, and each level holds a bounded number of names;
- the shard is the first 1, 2 or 3 hex digits of the owner's user folder name
  (``Index(shards=16 | 256 | 4096)``), so a query within one user lists one
  shard; each shard folder holds at most 262,144 entries on a v2 volume;
- an entry is named ``<value><flag><user folder>~[<bucket>~]<id>`` and is
  empty: a listing is all a query reads of the index. The flag says whether
  the value is whole (``~``) or cut (``+``) to keep the name within 255
  bytes; when the key alone is too long the entry is
  ``<value prefix>^<digest of the key>`` and holds the key.

A unique index names its entry by the value alone (``<value>`` or, cut,
``<value prefix>#<digest of the value>``; per user, followed by
``~<user folder>``), holds the key of the object that owns the value, and is
created with a conditional write (no file may be there): two writers of one
value cannot both succeed.

A flush writes new entries before the objects and deletes old entries after
them, all in the same engine call: a crash or a background commit that
publishes part of it leaves an entry whose object does not (yet, or any
more) hold its value, never an object without its entry. Queries read every
candidate object and test it again, so such an entry costs a read, never a
wrong result; ``volstore.reindex`` removes them and ``check`` reports them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Protocol

from ._errors import (
    ConflictError,
    CorruptObjectError,
    ModelDefinitionError,
    QueryError,
    SerializationError,
    UniqueViolationError,
    VolstoreError,
)
from ._fields import FieldRef, field_ref
from ._keys import UserHasher
from ._layout import Layout
from ._model import Index, ModelSpec
from ._order import KIND_NAMES, UnorderableError, encode, folders_of, normalize
from ._time import floor, to_utc

NONE_ENCODING = encode(None)
MAX_NAME_BYTES = 255
"""The longest file name most file systems (and Modal Volumes) take."""
MAX_VALUE_CHARS = 96
"""Values whose encoding is longer are cut in entry names (queries test the objects again)."""
MIN_VALUE_CHARS = 16
EXACT, CUT, DIGEST, UNIQUE_CUT = "~", "+", "^", "#"
_SHARD_CHARS = {16: 1, 256: 2, 4096: 3}
_FLAG = re.compile(r"[~+^]")
_BUCKET_FORMATS = {"hour": "%Y%m%d%H", "day": "%Y%m%d"}


@dataclasses.dataclass(frozen=True)
class EntryKey:
    """The object an entry points to: its user folder, its bucket (time-bucketed), its id."""

    user_hash: str
    bucket: str
    object_id: str

    def content(self) -> bytes:
        return json.dumps({"b": self.bucket, "i": self.object_id, "u": self.user_hash}).encode()

    @classmethod
    def parse(cls, data: bytes) -> EntryKey | None:
        try:
            document = json.loads(data)
            key = cls(document["u"], document["b"], document["i"])
        except (ValueError, KeyError, TypeError):
            return None
        fields = (key.user_hash, key.bucket, key.object_id)
        return key if all(isinstance(part, str) for part in fields) else None


@dataclasses.dataclass(frozen=True)
class Found:
    """An entry read from a listing: its path, the value it names, and its key if named."""

    path: str
    value: str
    cut: bool  # the name holds a prefix of the value's encoding
    key: EntryKey | None  # None: the key is in the file (read it)


def _digest(text: str, size: int = 16) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


class IndexDef:
    """One index of one model, resolved against a store's layout.

    Raises ModelDefinitionError when the field's type has no order (a list,
    a dict, ``Any``): such values cannot be indexed.
    """

    def __init__(self, spec: ModelSpec, index: Index, layout: Layout) -> None:
        self.spec = spec
        self.index = index
        self.name = index.name
        self.unique = index.unique
        self.across_users = index.across_users
        try:
            self.field: FieldRef = field_ref(spec, index.path)
        except QueryError as exc:
            raise ModelDefinitionError(
                f"{spec.cls.__name__}: index {index.name!r}: {exc}"
            ) from None
        if self.field.kinds is None:
            raise ModelDefinitionError(
                f"{spec.cls.__name__}: index {index.name!r}: the field's type has no order "
                f"({self.field.annotation!r}); index fields of types "
                f"{', '.join(KIND_NAMES)}, enums, Literal or UUID"
            )
        self.layout = layout
        self.hasher: UserHasher = layout.hasher
        self.folder = layout.index_folder(spec, index.name)
        self.chars = _SHARD_CHARS[index.shards]
        self.bucket_format = _BUCKET_FORMATS[spec.bucket] if spec.time_field else ""
        self.bucket_chars = len(datetime(2000, 1, 1).strftime(self.bucket_format))
        self._get = self.field.get

    def __repr__(self) -> str:
        return f"IndexDef({self.spec.cls.__name__}.{self.name})"

    # -- values and keys ----------------------------------------------------------------------

    def value_of(self, obj: Any) -> str:
        """The encoded value of ``obj`` in this index. SerializationError when it has no order."""
        try:
            return encode(self._get(obj))
        except (UnorderableError, OverflowError) as exc:
            raise SerializationError(
                f"{self.spec.cls.__name__}.{self.name} of {self.spec.object_id(obj)!r} cannot be "
                f"indexed: {exc}"
            ) from None

    def key_of(self, obj: Any) -> EntryKey:
        spec = self.spec
        bucket = ""
        if spec.time_field is not None:
            at = to_utc(getattr(obj, spec.time_field), f"{spec.cls.__name__}.{spec.time_field}")
            bucket = floor(at, spec.bucket).strftime(self.bucket_format)
        return EntryKey(self.hasher(spec.owner(obj)), bucket, spec.assign_id(obj))

    def object_path(self, key: EntryKey) -> str:
        """The path of the object an entry points to. InvalidKeyError for a bad stored name."""
        bucket = None
        if self.bucket_format:
            bucket = datetime.strptime(key.bucket, self.bucket_format).replace(tzinfo=timezone.utc)
        return self.layout.path_in(self.spec, key.user_hash, key.object_id, bucket)

    # -- entries --------------------------------------------------------------------------------

    def shard(self, value: str, user_hash: str) -> str:
        if self.across_users:
            return _digest(value)[: self.chars]
        return user_hash[: self.chars]

    def entry(self, value: str, key: EntryKey) -> tuple[str, bytes]:
        """The path and content of the entry of ``value`` for the object at ``key``."""
        first, second = folders_of(value)
        folder = f"{self.folder}/{first}/{second}/{self.shard(value, key.user_hash)}"
        if self.unique:
            name = (
                value
                if len(value) <= MAX_VALUE_CHARS
                else (f"{value[: MAX_VALUE_CHARS - 33]}{UNIQUE_CUT}{_digest(value)}")
            )
            if not self.across_users:
                name = f"{name}~{key.user_hash}"
            return f"{folder}/{name}", key.content()
        tail = (
            f"{key.user_hash}~{key.bucket}~{key.object_id}"
            if key.bucket
            else (f"{key.user_hash}~{key.object_id}")
        )
        room = MAX_NAME_BYTES - 1 - len(tail.encode("utf-8"))
        if len(value) <= min(room, MAX_VALUE_CHARS):
            return f"{folder}/{value}{EXACT}{tail}", b""
        if room >= MIN_VALUE_CHARS:
            return f"{folder}/{value[: min(room, MAX_VALUE_CHARS)]}{CUT}{tail}", b""
        return f"{folder}/{value[:MIN_VALUE_CHARS]}{DIGEST}{_digest(tail)}", key.content()

    def entry_of(self, obj: Any) -> tuple[str, bytes]:
        return self.entry(self.value_of(obj), self.key_of(obj))

    def entries_of(self, obj: Any) -> list[tuple[str, bytes]]:
        """The entries ``obj`` has in this index: none for None in a unique index (as in SQL,
        any number of objects may hold no value)."""
        value = self.value_of(obj)
        if self.unique and value == NONE_ENCODING:
            return []
        return [self.entry(value, self.key_of(obj))]

    def unique_path(self, value: str, user_hash: str) -> str:
        """Where a unique index keeps ``value`` (for ``user_hash``, when per user)."""
        return self.entry(value, EntryKey(user_hash, "", ""))[0]

    def parse(self, folder: str, name: str) -> Found | None:
        """An entry of this index from its folder and name; None for a name it never writes."""
        if self.unique:
            value, _, user_hash = name.partition("~")
            value, cut, _ = value.partition(UNIQUE_CUT)
            if not value or (not self.across_users and len(user_hash) != self.hasher.length):
                return None
            return Found(f"{folder}/{name}", value, bool(cut), None)
        flagged = _FLAG.search(name)
        if flagged is None:
            return None
        position = flagged.start()
        value, flag, rest = name[:position], name[position], name[position + 1 :]
        if not value:
            return None
        if flag == DIGEST:
            return Found(f"{folder}/{name}", value, True, None)
        length = self.hasher.length
        user_hash, rest = rest[:length], rest[length:]
        if not rest.startswith("~"):
            return None
        rest = rest[1:]
        bucket = ""
        if self.bucket_format:
            size = self.bucket_chars
            bucket, rest = rest[:size], rest[size:]
            if not rest.startswith("~"):
                return None
            rest = rest[1:]
        if not rest:
            return None
        return Found(f"{folder}/{name}", value, flag == CUT, EntryKey(user_hash, bucket, rest))


class Indexes:
    """The secondary indexes of a store's registered models (the engine's ``indexes``).

    ``indexes(spec)`` is the tuple of a model's indexes (empty without any);
    a registry is true when some model has indexes.
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._by_type: dict[str, tuple[IndexDef, ...]] = {}

    def resolve(self, spec: ModelSpec) -> tuple[IndexDef, ...]:
        """A model's indexes on this layout. ModelDefinitionError for a field without order."""
        return tuple(IndexDef(spec, index, self.layout) for index in spec.indexes)

    def keep(self, spec: ModelSpec, indexes: tuple[IndexDef, ...]) -> None:
        if indexes:
            self._by_type[spec.resource_type] = indexes

    def __call__(self, spec: ModelSpec) -> tuple[IndexDef, ...]:
        return self._by_type.get(spec.resource_type, ())

    def __bool__(self) -> bool:
        return bool(self._by_type)


# -- keeping indexes in a flush -----------------------------------------------------------------


STALE_ENTRY_AGE = 60.0
"""Seconds before a unique entry whose object is missing counts as abandoned (a writer
between its entry and its object finishes well within it; reindex waits as long)."""


class Storage(Protocol):
    """What a flush's index changes need of the engine."""

    layout: Layout
    indexes: Indexes

    def read(self, path: str) -> bytes | None: ...

    def read_token(self, path: str) -> tuple[bytes, str] | None: ...

    def locate(self, spec: ModelSpec, path: str) -> tuple[str, bytes] | None: ...

    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Any]: ...

    def decode(
        self,
        spec: ModelSpec,
        path: str,
        data: bytes,
        object_id: str | None,
        user_id: str | None = None,
    ) -> Any: ...


@dataclasses.dataclass
class _Claim:
    """A unique entry a flush writes: for whom, of which index and value."""

    index: IndexDef
    key: EntryKey
    content: bytes
    obj: Any


class IndexChanges:
    """The index entries one flush writes, deletes and expects (the tracker's derived files).

    ``add`` is called for each object the flush writes or deletes, with what
    the unit of work knows of its stored state; ``finish`` returns the entry
    writes (to go before the objects), deletes (after them) and the
    expectations of unique entries (conditional creates). Raises
    UniqueViolationError when a value is taken, SerializationError for a
    value that cannot be indexed, before anything is written.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.writes: dict[str, bytes] = {}
        self.deletes: set[str] = set()
        self.claims: dict[str, _Claim] = {}
        self.releases: dict[str, EntryKey] = {}
        self.unique_paths: set[str] = set()

    def add(
        self,
        spec: ModelSpec,
        old_path: str | None,
        old_raw: bytes | None,
        new: Any | None,
        new_path: str | None,
    ) -> None:
        """Note one object: its stored bytes (None: unknown, read here) and its new state.

        ``new`` None means the object is deleted.
        """
        indexes = self.storage.indexes(spec)
        if not indexes:
            return
        old = self._old(spec, old_path or new_path, old_raw)
        before = self._entries(indexes, old) if old is not None else {}
        after = self._entries(indexes, new) if new is not None else {}
        for path, (index, content, key, obj) in after.items():
            if index.unique:
                if path in before and before[path][2] == key:
                    continue  # unchanged: nothing to claim
                if path in self.claims and self.claims[path].key != key:
                    raise self._taken_here(index, path, obj, self.claims[path].obj)
                self.claims[path] = _Claim(index, key, content, obj)
                self.unique_paths.add(path)
            elif path not in before:
                self.writes[path] = content
        for path, (index, _, key, _) in before.items():
            if path in after:
                continue
            if index.unique:
                self.releases[path] = key
                self.unique_paths.add(path)
            else:
                self.deletes.add(path)

    def _old(self, spec: ModelSpec, path: str | None, raw: bytes | None) -> Any | None:
        storage = self.storage
        if path is None:
            return None
        if raw is None:
            found = storage.locate(spec, path)
            if found is None:
                return None
            path, raw = found
        try:
            return storage.decode(spec, path, raw, None)
        except CorruptObjectError:
            return None  # unreadable: its entries are unknown (reindex finds strays)

    @staticmethod
    def _entries(
        indexes: tuple[IndexDef, ...], obj: Any
    ) -> dict[str, tuple[IndexDef, bytes, EntryKey, Any]]:
        entries = {}
        key = indexes[0].key_of(obj)  # the same for every index of the model
        for index in indexes:
            value = index.value_of(obj)
            if index.unique and value == NONE_ENCODING:
                continue  # see entries_of
            path, content = index.entry(value, key)
            entries[path] = (index, content, key, obj)
        return entries

    def finish(
        self, objects: dict[str, bytes], expected: dict[str, str | None]
    ) -> tuple[dict[str, bytes], list[str]]:
        """The flush's writes with the entries first, and the entry deletes (to go last).

        Adds the expectations of unique entries to ``expected``. Raises
        UniqueViolationError for a value another object holds.
        """
        storage = self.storage
        writes: dict[str, bytes] = {}
        for path, claim in self.claims.items():
            found = storage.read_token(path)
            released = self.releases.pop(path, None)
            if found is None:
                expected[path] = None
            else:
                data, token = found
                holder = EntryKey.parse(data)
                if (
                    holder != claim.key
                    and holder != released
                    and (self._holds(claim, holder, path) or not self._abandoned(path))
                ):
                    # Taken; or its object is not there yet, and the entry is young:
                    # its writer may be between its entry and its object (a batch
                    # that is not atomic, as on S3). Only an old one is taken over.
                    raise self._taken(claim.index, path, claim.obj, holder)
                if data == claim.content:
                    continue  # already ours: nothing to write
                expected[path] = token
            writes[path] = claim.content
        for path, key in self.releases.items():
            found = storage.read_token(path)
            if found is not None and EntryKey.parse(found[0]) == key:
                expected[path] = found[1]  # still ours: remove it, unless someone took it
                self.deletes.add(path)
        writes.update(self.writes)
        deletes = sorted(self.deletes - writes.keys())
        if writes:
            writes.update(objects)
            return writes, deletes
        return objects, deletes

    def _abandoned(self, path: str) -> bool:
        """Whether a unique entry whose object is missing is old enough to be taken over."""
        folder, _, name = path.rpartition("/")
        for entry in self.storage.list(folder, details=True):
            if entry.name == name:
                return entry.mtime is not None and time.time() - entry.mtime >= STALE_ENTRY_AGE
        return True  # gone meanwhile: nothing to wait for

    def _holds(self, claim: _Claim, holder: EntryKey | None, path: str) -> bool:
        """Whether the object an entry names still holds its value (else the entry is stale)."""
        if holder is None:
            return False  # an unreadable entry holds nothing
        index = claim.index
        try:
            found = self.storage.locate(index.spec, index.object_path(holder))
            if found is None:
                return False
            obj = self.storage.decode(index.spec, found[0], found[1], holder.object_id)
            return [path] == [p for p, _ in index.entries_of(obj)] and index.key_of(obj) == holder
        except (VolstoreError, ValueError):
            return False

    def conflict(self, exc: ConflictError) -> ConflictError | None:
        """The error for a conditional write of this flush that failed, if it was an entry's."""
        path = exc.path
        claim = self.claims.get(path)
        if claim is None:
            if path in self.unique_paths or any(
                p.rpartition("/")[0] == path for p in self.unique_paths
            ):
                # A released entry changed meanwhile, or another writer holds the claim on
                # an entry's folder (it is writing a value there): retry the flush.
                return exc
            return None
        found = self.storage.read(path)
        holder = EntryKey.parse(found) if found is not None else None
        return self._taken(claim.index, path, claim.obj, holder, " (taken meanwhile)")

    def _taken(
        self, index: IndexDef, path: str, obj: Any, holder: EntryKey | None, detail: str = ""
    ) -> UniqueViolationError:
        spec = index.spec
        key: tuple[str, str] | None = None
        same_user = False
        if holder is not None:
            owner = self._owner(index, holder)
            same_user = holder.user_hash == index.key_of(obj).user_hash
            key = (owner, holder.object_id) if owner is not None else None
        return UniqueViolationError(
            path,
            spec.cls.__name__,
            index.name,
            normalize(index.field.get(obj)),
            key,
            same_user,
            detail,
        )

    def _taken_here(self, index: IndexDef, path: str, obj: Any, other: Any) -> UniqueViolationError:
        spec = index.spec
        return UniqueViolationError(
            path,
            spec.cls.__name__,
            index.name,
            normalize(index.field.get(obj)),
            (spec.owner(other), spec.object_id(other)),
            index.key_of(other).user_hash == index.key_of(obj).user_hash,
            " (by another object of the same flush)",
        )

    def _owner(self, index: IndexDef, holder: EntryKey) -> str | None:
        try:
            found = self.storage.locate(index.spec, index.object_path(holder))
            if found is None:
                return None
            obj = self.storage.decode(index.spec, found[0], found[1], holder.object_id)
            return str(index.spec.owner(obj))
        except (VolstoreError, ValueError):
            return None


def walk_entries(
    index: IndexDef, list_folder: Any, start: str = ""
) -> Iterator[tuple[str, Found | None]]:
    """Every entry file of an index as ``(path, parsed or None)``, in path order.

    ``list_folder(path)`` lists a folder (the engine's ``list``); names it
    never writes parse as None. ``start`` skips paths up to and including it.
    """

    def below(folder: str, depth: int) -> Iterator[tuple[str, Found | None]]:
        for entry in sorted(list_folder(folder), key=lambda e: e.name):
            path = f"{folder}/{entry.name}"
            if start and path <= start and not start.startswith(path + "/"):
                continue
            if depth < 3:
                if entry.is_dir:
                    yield from below(path, depth + 1)
                else:
                    yield path, None
            elif entry.is_dir:
                yield path, None
            else:
                yield path, index.parse(folder, entry.name)

    yield from below(index.folder, 0)


__all__ = [
    "EntryKey",
    "Found",
    "IndexChanges",
    "IndexDef",
    "Indexes",
    "Storage",
    "walk_entries",
]
