"""Queries: conditions, order, pages and cursors over a repository's objects.

``repo.query(user_id)`` (one user's objects) or ``repo.query(all_users=True)``
starts a :class:`Query`; each method returns a new query::

    due = (
        store.repository(Schedule)
        .query(all_users=True)
        .where(lambda s: s.next_run_at < soon, enabled=True)
        .order_by("next_run_at")
        .limit(100)
        .all()
    )

A query sees what ``get`` sees: in a session, the session's pending writes
and deletes, and the objects it returns are the session's own (changed in
place, they are written at commit). Results are sorted by the ``order_by``
fields, ties broken by id (then user id); a cursor names the place after the
last object of a page, so the next page starts exactly there.

Memory holds the matching objects (or, with ``limit``, the best ``limit`` of
them): never the whole store. See docs/queries.md.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import hashlib
import heapq
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar, cast

from ._conditions import (
    EVERYTHING,
    Condition,
    all_of,
    as_condition,
    lookup,
    proxy_field,
    record,
    record_field,
)
from ._conditions import contains as _contains
from ._conditions import is_in as _is_in
from ._engine import Engine, ReloadArg
from ._errors import CorruptObjectError, InvalidKeyError, OnError, QueryError, handle_corrupt
from ._fields import FieldRef, field_ref
from ._index import EntryKey, IndexDef
from ._model import ModelSpec
from ._order import UnorderableError, normalize, sort_key
from ._plan import IndexUse, choose, describe, entries, window_of
from ._time import Window
from ._tracker import read_object
from ._uow import UnitOfWork

M = TypeVar("M")
T = TypeVar("T")


def check_limit(limit: int | None) -> None:
    """Raise ValueError unless ``limit`` is None or a non-negative int."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be a non-negative int, not {limit!r}")


# -- what users write inside a query function ---------------------------------------------------


def is_in(value: T, values: Iterable[T]) -> bool:
    """Inside a query function: the field equals one of ``values`` (``is_in(t.status, [...])``).

    Typed as a bool so the function type-checks; it returns a condition.
    """
    return cast(bool, _is_in(proxy_field(value), values))


def contains(values: Iterable[T], item: T) -> bool:
    """Inside a query function: the list field holds ``item`` (``contains(t.tags, "x")``)."""
    return cast(bool, _contains(proxy_field(values), item))


def not_(condition: bool) -> bool:
    """Inside a query function: the condition does not hold (``~`` reads as an int to mypy)."""
    return cast(bool, ~as_condition(condition))


def any_of(*conditions: bool) -> bool:
    """Inside a query function: at least one condition holds (as ``|``)."""
    if not conditions:
        raise QueryError("any_of() needs at least one condition")
    parts = [as_condition(c) for c in conditions]
    result = parts[0]
    for part in parts[1:]:
        result = result | part
    return cast(bool, result)


def all_of_(*conditions: bool) -> bool:
    """Inside a query function: every condition holds (as ``&``)."""
    return cast(bool, all_of(*(as_condition(c) for c in conditions)))


@dataclasses.dataclass(frozen=True)
class Desc:
    """A sort key in descending order: ``order_by(desc("due"))`` (or ``order_by("-due")``)."""

    key: str | Callable[[Any], object]


def desc(key: str | Callable[[Any], object]) -> Desc:
    """Sort by ``key`` (a field name or a function of the object) in descending order."""
    return Desc(key)


# -- pages and plans ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Page(Generic[M]):
    """One page of a query: its objects, and the cursor of the next page (None: the last one)."""

    items: list[M]
    cursor: str | None


@dataclasses.dataclass(frozen=True)
class QueryPlan:
    """How a query runs: through which index, or by scanning what (``Query.explain``)."""

    scope: str  # "user <id>" or "all users"
    index: str | None  # the index used (None: a scan)
    text: str

    def __str__(self) -> str:
        return self.text


@dataclasses.dataclass(frozen=True)
class _Order:
    field: FieldRef
    descending: bool


class _Reversed:
    """A key that sorts in reverse (for descending fields among ascending ones)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.key < self.key)

    def __gt__(self, other: _Reversed) -> bool:
        return bool(other.key > self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(self.key == other.key)

    def __le__(self, other: _Reversed) -> bool:
        return not self > other

    def __ge__(self, other: _Reversed) -> bool:
        return not self < other

    __hash__ = None  # type: ignore[assignment]


class Source(Protocol[M]):
    """What a query needs of its repository."""

    engine: Engine
    spec: ModelSpec
    model: type[M]

    def _unit_of_work_for_queries(self) -> UnitOfWork: ...

    def _scan_user(self, user_id: str, on_error: OnError) -> Iterator[M]: ...

    def _scan_window(
        self, window: Window, user_id: str | None, on_error: OnError
    ) -> Iterator[M]: ...


# -- the query ----------------------------------------------------------------------------------


class Query(Generic[M]):
    """A query over one model's objects: immutable, each method returns a new query.

    Build it with ``repository.query(user_id)`` or ``repository.query(all_users=True)``.
    Raises QueryError (when built) for an unknown field, a value the field
    cannot hold, an unorderable sort key or a cursor of another query.
    """

    def __init__(
        self,
        source: Source[M],
        user_id: str | None,
        *,
        condition: Condition = EVERYTHING,
        order: tuple[_Order, ...] = (),
        limit: int | None = None,
        cursor: str | None = None,
        on_error: OnError = "raise",
        reload: ReloadArg = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._source = source
        self._user_id = user_id
        self._condition = condition
        self._order = order
        self._limit = limit
        self._cursor = cursor
        self._on_error = on_error
        self._reload = reload
        self._progress = progress

    def _with(self, **changes: Any) -> Query[M]:
        values: dict[str, Any] = {
            "condition": self._condition,
            "order": self._order,
            "limit": self._limit,
            "cursor": self._cursor,
            "on_error": self._on_error,
            "reload": self._reload,
            "progress": self._progress,
        }
        values.update(changes)
        return Query(self._source, self._user_id, **values)

    def __repr__(self) -> str:
        return f"<Query {self.explain()} where {self._condition.describe()}>"

    @property
    def spec(self) -> ModelSpec:
        return self._source.spec

    # -- building -------------------------------------------------------------------------------

    def where(self, *conditions: Condition | Callable[[M], object], **equals: Any) -> Query[M]:
        """Objects that also satisfy every condition (ANDed with the query's).

        A condition is a function of the object (``lambda t: t.due < now``,
        combined with ``&``, ``|``, ``~``, ``volstore.is_in``, ``contains``,
        ``not_``, ``any_of``), or a keyword: ``status="open"``,
        ``due__lt=now``, ``status__in=[...]``, ``name__startswith="a"``,
        ``tags__contains="x"`` (also ``ne``, ``lte``, ``gt``, ``gte``).
        Raises QueryError for a field the model does not have or a value it
        cannot hold.
        """
        spec = self.spec
        parts = [self._condition]
        for condition in conditions:
            if isinstance(condition, Condition):
                parts.append(condition)
            else:
                parts.append(record(spec, condition))
        parts.extend(lookup(spec, name, value) for name, value in equals.items())
        return self._with(condition=all_of(*parts), cursor=None)

    def order_by(self, *keys: str | Callable[[M], object] | Desc) -> Query[M]:
        """Sort by these fields (replacing any earlier order); ties are broken by id.

        A key is a field name (``"-due"``: descending), a function of the object
        (``lambda t: t.due``) or ``volstore.desc(key)``. Raises QueryError for
        an unknown field, or one whose values have no order (a list, a dict).
        """
        order = []
        for key in keys:
            descending = isinstance(key, Desc)
            target = key.key if isinstance(key, Desc) else key
            if isinstance(target, str):
                if target.startswith("-"):
                    descending, target = not descending, target[1:]
                field = field_ref(self.spec, target)
            else:
                field = record_field(self.spec, target)
            if field.kinds is None:
                raise QueryError(f"{field.label} has no order (its values are not scalars)")
            order.append(_Order(field, descending))
        return self._with(order=tuple(order), cursor=None)

    def limit(self, count: int | None) -> Query[M]:
        """At most ``count`` objects (None: no limit)."""
        check_limit(count)
        return self._with(limit=count)

    def after(self, cursor: str | None) -> Query[M]:
        """Resume after the object a cursor names (``Page.cursor``, ``cursor_after``).

        Raises QueryError for a cursor of another query (another model, user,
        condition or order) or one that is not a cursor.
        """
        if cursor is not None:
            self._cursor_key(cursor)  # checked now, not at the first read
        return self._with(cursor=cursor)

    def on_error(self, policy: OnError) -> Query[M]:
        """What to do with a stored file that does not parse: raise (default), skip, or call."""
        return self._with(on_error=policy)

    def reload(self, reload: ReloadArg) -> Query[M]:
        """The reload policy of this query's reads (as ``get``'s ``reload=``)."""
        return self._with(reload=reload)

    def progress(self, report: Callable[[int], None] | None) -> Query[M]:
        """Call ``report(files_read)`` as stored objects are read (for progress bars)."""
        return self._with(progress=report)

    # -- running --------------------------------------------------------------------------------

    def all(self) -> builtins.list[M]:
        """Every matching object, in order (after the cursor, at most ``limit``)."""
        if self._limit == 0:
            return []
        key = self._key()
        matches = self._matches(key)
        if self._limit is not None:
            return heapq.nsmallest(self._limit, matches, key=key)
        return sorted(matches, key=key)

    def __iter__(self) -> Iterator[M]:
        return iter(self.all())

    def first(self) -> M | None:
        """The first matching object in order, or None."""
        found = self.limit(1).all()
        return found[0] if found else None

    def count(self) -> int:
        """How many objects match (after the cursor, at most ``limit``); every candidate is read."""
        total = sum(1 for _ in self._matches(self._key()))
        return total if self._limit is None else min(total, self._limit)

    def exists(self) -> bool:
        """Whether any object matches; stops at the first one."""
        return next(iter(self._matches(self._key())), None) is not None

    def page(self, size: int, cursor: str | None = None) -> Page[M]:
        """``size`` objects after ``cursor`` (default: the query's), and the next page's cursor."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"a page size must be a positive int, not {size!r}")
        query = self if cursor is None else self.after(cursor)
        found = query.limit(size + 1).all()
        items = found[:size]
        more = len(found) > size
        return Page(items, self.cursor_after(items[-1]) if more and items else None)

    def pages(self, size: int) -> Iterator[Page[M]]:
        """Every page of ``size`` objects: one query per page, each seeing the store as it is."""
        cursor = self._cursor
        while True:
            page = self.page(size, cursor)
            yield page
            if page.cursor is None:
                return
            cursor = page.cursor

    def explain(self) -> QueryPlan:
        """How this query would run: the index it uses, or what it scans."""
        uses, window = self._plan()
        scope = "all users" if self._user_id is None else f"user {self._user_id!r}"
        index = None if uses is None else ", ".join(use.index.name for use in uses)
        return QueryPlan(scope, index, describe(uses, window, scope))

    # -- cursors --------------------------------------------------------------------------------

    def _fingerprint(self) -> str:
        text = json.dumps(
            [
                self.spec.resource_type,
                self._user_id,
                self._condition.describe(),
                [(o.field.name, o.descending) for o in self._order],
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def cursor_after(self, obj: M) -> str:
        """The cursor of the place right after ``obj`` in this query's order."""
        spec = self.spec
        values = [_tag(order.field.get(obj)) for order in self._order]
        values += [spec.object_id(obj), spec.owner(obj)]
        payload = json.dumps({"q": self._fingerprint(), "k": values}, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    def _cursor_key(self, cursor: str) -> tuple[Any, ...]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
            fingerprint, values = payload["q"], payload["k"]
            if not isinstance(values, list) or len(values) != len(self._order) + 2:
                raise ValueError("wrong length")
            decoded = [_untag(value) for value in values]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise QueryError(f"not a cursor of a volstore query: {cursor[:40]!r} ({exc})") from None
        if fingerprint != self._fingerprint():
            raise QueryError(
                "this cursor belongs to another query (another model, user, condition or order)"
            )
        parts: list[Any] = []
        for order, value in zip(self._order, decoded, strict=False):
            parts.append(_Reversed(sort_key(value)) if order.descending else sort_key(value))
        return (*parts, decoded[-2], decoded[-1])

    def _key(self) -> Callable[[M], tuple[Any, ...]]:
        spec = self.spec
        id_field, owner_field = spec.id_field, spec.owner_field
        if not self._order:
            return lambda obj: (getattr(obj, id_field), getattr(obj, owner_field))
        orders = [(o.field.get, o.descending, o.field.label) for o in self._order]

        def key(obj: M) -> tuple[Any, ...]:
            parts: list[Any] = []
            for get, descending, label in orders:
                try:
                    k = sort_key(get(obj))
                except UnorderableError:
                    raise QueryError(
                        f"{label} of {getattr(obj, id_field)!r} holds a value without an order"
                    ) from None
                parts.append(_Reversed(k) if descending else k)
            return (*parts, getattr(obj, id_field), getattr(obj, owner_field))

        return key

    # -- planning and reading --------------------------------------------------------------------

    def _plan(self) -> tuple[list[IndexUse] | None, Window | None]:
        spec, engine = self.spec, self._source.engine
        uses = choose(engine.indexes(spec), self._condition, one_user=self._user_id is not None)
        window = None
        if spec.time_field is not None:
            window = window_of(self._condition, spec.time_field)
        return uses, window

    def _matches(self, key: Callable[[M], tuple[Any, ...]]) -> Iterator[M]:
        test = self._condition.test()
        after = None if self._cursor is None else self._cursor_key(self._cursor)
        for obj in self._candidates():
            if test(obj) and (after is None or key(obj) > after):
                yield obj

    def _candidates(self) -> Iterator[M]:
        source, user_id, on_error = self._source, self._user_id, self._on_error
        source.engine.maybe_reload(self._reload)
        uses, window = self._plan()
        if uses is not None:
            objects = self._from_index(uses)
        elif window is not None:
            objects = source._scan_window(window, user_id, on_error)
        elif user_id is not None:
            objects = source._scan_user(user_id, on_error)
        else:
            objects = self._scan_all()
        progress = self._progress
        if progress is None:
            yield from objects
            return
        stats = source.engine.stats
        start = stats.reads
        for obj in objects:
            progress(stats.reads - start)
            yield obj

    def _pending(self) -> tuple[builtins.list[M], set[str]]:
        uow = self._source._unit_of_work_for_queries()
        objects, hidden = uow.pending_objects(self.spec)
        if self._user_id is not None:
            owner = self.spec.owner_field
            objects = [obj for obj in objects if getattr(obj, owner) == self._user_id]
        return objects, hidden

    def _scan_all(self) -> Iterator[M]:
        """Every object of every user: the type folder walked one folder at a time."""
        objects, hidden = self._pending()
        yield from objects
        engine, spec = self._source.engine, self._source.spec
        object_id_of = engine.layout.object_id_of

        def listed() -> Iterator[tuple[str, EntryKey, IndexDef | None]]:
            for path in engine.walk(spec.resource_type):
                object_id = object_id_of(spec, path.rpartition("/")[2])
                if object_id is not None and path not in hidden:
                    yield path, EntryKey(path.rsplit("/", 2)[-2], "", object_id), None

        yield from self._read_all(listed())

    def _from_index(self, uses: list[IndexUse]) -> Iterator[M]:
        objects, hidden = self._pending()
        yield from objects
        yield from self._read_all(self._targets(uses, hidden))

    def _read_all(self, targets: Iterable[tuple[str, EntryKey, IndexDef | None]]) -> Iterator[M]:
        """The objects at ``targets``, read in growing batches (one backend call each).

        Batches grow from one file (``exists`` and ``first`` read little) to
        64; nothing is held open between them.
        """
        spec = self._source.spec
        batched = spec.version_field is None and not spec.previous_codecs
        size, chunk = 1, []
        for target in targets:
            chunk.append(target)
            if len(chunk) >= size:
                yield from self._read_chunk(chunk, batched)
                chunk, size = [], min(size * 4, 64)
        if chunk:
            yield from self._read_chunk(chunk, batched)

    def _read_chunk(
        self, chunk: list[tuple[str, EntryKey, IndexDef | None]], batched: bool
    ) -> Iterator[M]:
        source = self._source
        engine, spec = source.engine, source.spec
        uow = source._unit_of_work_for_queries()
        if self._user_id is not None and spec.time_field is None and batched:
            # One user's flat folder: read as a listing is, owner and id checked.
            items = [(key.object_id, path) for path, key, _ in chunk]
            for obj in uow.read_listed(spec, self._user_id, items):
                if isinstance(obj, CorruptObjectError):
                    handle_corrupt(self._on_error, obj)
                elif obj is not None:
                    yield obj
            return
        if batched:
            datas = engine.read_batch([path for path, _, _ in chunk])
            for (path, key, index), data in zip(chunk, datas, strict=True):
                found = (
                    data if data is None or isinstance(data, CorruptObjectError) else (data, None)
                )
                obj = self._checked(path, path, found, key, index)
                if obj is not None:
                    yield obj
            return
        for path, key, index in chunk:
            obj = self._read(path, key, index)
            if obj is not None:
                yield obj

    def _targets(
        self, uses: list[IndexUse], hidden: set[str]
    ) -> Iterator[tuple[str, EntryKey, IndexDef]]:
        """The objects the index entries of ``uses`` point to (once each), as paths and keys."""
        engine = self._source.engine
        user_hash = None if self._user_id is None else engine.hasher(self._user_id)
        seen: set[str] = set()
        for use in uses:
            index = use.index
            for found in entries(use, user_hash, engine.list):
                key = found.key if found.key is not None else self._entry_key(found.path)
                if key is None or (user_hash is not None and key.user_hash != user_hash):
                    continue
                try:
                    path = index.object_path(key)
                except (InvalidKeyError, ValueError):
                    continue  # not a name the index writes
                if path in seen or path in hidden:
                    continue
                seen.add(path)
                yield path, key, index

    def _entry_key(self, path: str) -> EntryKey | None:
        data = self._source.engine.read(path)
        return None if data is None else EntryKey.parse(data)

    def _read(self, path: str, key: EntryKey, index: IndexDef | None) -> M | None:
        """The object at ``path`` (or in a previous codec's format), one read at a time."""
        engine, spec = self._source.engine, self._source.spec
        stored = path
        try:
            found = read_object(engine, spec, path)
            if found is None and spec.previous_codecs:
                for legacy in engine.layout.legacy_paths(spec, path):
                    found = read_object(engine, spec, legacy)
                    if found is not None:
                        stored = legacy
                        break
        except CorruptObjectError as exc:
            handle_corrupt(self._on_error, exc)
            return None
        return self._checked(path, stored, found, key, index)

    def _checked(
        self,
        path: str,
        stored: str,
        found: tuple[bytes, str | None] | CorruptObjectError | None,
        key: EntryKey,
        index: IndexDef | None,
    ) -> M | None:
        """A read file as an object of the query's scope, checked and adopted; None if gone.

        It must hold the id and owner its path (or entry) names, in the user
        folder (and bucket) they belong in.
        """
        engine, spec = self._source.engine, self._source.spec
        if found is None:
            return None  # deleted since it was listed (or a stale index entry)
        try:
            if isinstance(found, CorruptObjectError):
                raise found
            obj = engine.decode(spec, stored, found[0], key.object_id)
            owner = spec.owner(obj)
            if engine.hasher(owner) != key.user_hash:
                raise CorruptObjectError(
                    stored, "holds an object of a user whose folder is not this one"
                )
            if self._user_id is not None and owner != self._user_id:
                return None  # another user whose folder name is the same (a hash collision)
            if spec.time_field is not None and index is not None:
                expected = engine.layout.path_of(spec, obj)
                if expected.rpartition("/")[0] != path.rpartition("/")[0]:
                    raise CorruptObjectError(
                        stored, f"its {spec.time_field} places it at {expected}"
                    )
        except CorruptObjectError as exc:
            handle_corrupt(self._on_error, exc)
            return None
        self._source._unit_of_work_for_queries().adopt(spec, obj, path, stored, found[0], found[1])
        return cast(M, obj)


def _tag(value: Any) -> Any:
    """A value in a cursor: JSON, with its type kept."""
    value = normalize(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"D": value.isoformat()}
    raise QueryError(f"a {type(value).__name__} value cannot be part of a cursor")


def _untag(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if isinstance(text, str):
            converters: dict[str, Callable[[str], Any]] = {
                "i": int,
                "f": float,
                "d": Decimal,
                "t": datetime.fromisoformat,
                "D": date.fromisoformat,
            }
            if tag in converters:
                return converters[tag](text)
    raise ValueError(f"not a cursor value: {value!r}")


__all__ = [
    "Desc",
    "Page",
    "Query",
    "QueryPlan",
    "Source",
    "all_of_",
    "any_of",
    "check_limit",
    "contains",
    "desc",
    "is_in",
    "not_",
]
