"""Query planning: which index (if any) a condition can use, and which of its entries to list.

A condition is planned on the model's indexes:

- ``field == v``, ``field in [...]``: one point of the index per value;
- ``<``, ``<=``, ``>``, ``>=``: a range within the constant's kind (two bounds
  on one field, ANDed, make one range); ``startswith``: the range of the prefix;
- AND: the best-planned part (a point of a unique index, then points, then
  bounded ranges and prefixes, then one-sided ranges); OR: every part must be
  planned (the union of their entries); NOT, ``!=`` and ``contains``: no index.

Without a plan a query lists and reads: one user's folder, every folder of
the type (all users), or, for a time-bucketed model, the buckets a time range
on its timestamp overlaps. With one it lists only the index folders the plan's
ranges overlap, then reads the objects the entries point to. Either way every
object read is tested against the whole condition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

from ._conditions import And, Compare, Condition, In, Or, Prefix
from ._index import Found, IndexDef
from ._order import (
    DATETIME,
    encode,
    folder_cuts,
    folders_of,
    kind_bounds,
    kind_of,
    string_prefix_bounds,
)
from ._time import EVERYTHING, Window, to_utc
from .backends._base import Entry

POINT_UNIQUE, POINT, BOUNDED, ONE_SIDED = range(4)
"""How much of an index a use reads, best first (its ``score``)."""


@dataclasses.dataclass(frozen=True)
class Span:
    """Encoded values from ``low`` to ``high``, both included (a superset of the condition's)."""

    low: str
    high: str

    @property
    def point(self) -> bool:
        return self.low == self.high

    def admits(self, found: Found) -> bool:
        """Whether an entry may hold a value in this span (a cut value: a prefix of it)."""
        value = found.value
        if found.cut:
            return self.low[: len(value)] <= value <= self.high
        return self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class IndexUse:
    """One index and the spans of it a query reads."""

    index: IndexDef
    spans: tuple[Span, ...]
    score: int

    def describe(self) -> str:
        what = {POINT_UNIQUE: "unique lookup", POINT: "lookup", BOUNDED: "range"}.get(
            self.score, "open range"
        )
        return f"index {self.index.name} ({what}, {len(self.spans)} span(s))"


def _use(indexes: Sequence[IndexDef], condition: Condition) -> list[IndexUse] | None:
    """The index uses that find every object satisfying ``condition``; None: none can."""
    if isinstance(condition, And):
        return _and(indexes, condition.parts)
    if isinstance(condition, Or):
        uses: list[IndexUse] = []
        for part in condition.parts:
            found = _use(indexes, part)
            if found is None:
                return None
            uses.extend(found)
        return uses
    single = _leaf(indexes, condition)
    return None if single is None else [single]


def _leaf(indexes: Sequence[IndexDef], condition: Condition) -> IndexUse | None:
    path = getattr(getattr(condition, "field", None), "path", None)
    index = next((i for i in indexes if i.field.path == path), None)
    if index is None:
        return None
    if isinstance(condition, Compare):
        value = encode(condition.value) if kind_of(condition.value) is not None else None
        if value is None or condition.op == "!=":
            return None
        if condition.op == "==":
            if index.unique and condition.value is None:
                return None  # a unique index holds no None (as in SQL)
            score = POINT_UNIQUE if index.unique else POINT
            return IndexUse(index, (Span(value, value),), score)
        low, high = kind_bounds(kind_of(condition.value) or 0)
        span = Span(low, value) if condition.op in ("<", "<=") else Span(value, high)
        return IndexUse(index, (span,), ONE_SIDED)
    if isinstance(condition, In):
        if index.unique and None in condition.values:
            return None
        try:
            points = sorted({encode(value) for value in condition.values})
        except TypeError:
            return None
        score = POINT_UNIQUE if index.unique else POINT
        return IndexUse(index, tuple(Span(p, p) for p in points), score)
    if isinstance(condition, Prefix):
        low, high = string_prefix_bounds(condition.prefix)
        return IndexUse(index, (Span(low, high),), BOUNDED)
    return None


def _and(indexes: Sequence[IndexDef], parts: Sequence[Condition]) -> list[IndexUse] | None:
    # Two bounds on one field make one span: due >= a AND due < b.
    single: dict[str, IndexUse] = {}
    best: list[IndexUse] | None = None
    for part in parts:
        uses = _use(indexes, part)
        if uses is None:
            continue
        if len(uses) == 1 and len(uses[0].spans) == 1:
            use = uses[0]
            other = single.get(use.index.name)
            if other is not None:
                a, b = other.spans[0], use.spans[0]
                span = Span(max(a.low, b.low), min(a.high, b.high))
                score = min(other.score, use.score, BOUNDED)
                use = IndexUse(use.index, (span,) if span.low <= span.high else (), score)
            single[use.index.name] = use
            uses = [use]
        if best is None or _score(uses) < _score(best):
            best = uses
    if best is not None and len(best) == 1 and best[0].index.name in single:
        best = [single[best[0].index.name]]
    return best


def _score(uses: list[IndexUse]) -> tuple[int, int]:
    return (max(use.score for use in uses), sum(len(use.spans) for use in uses))


def choose(
    indexes: Sequence[IndexDef], condition: Condition, *, one_user: bool
) -> list[IndexUse] | None:
    """The index uses of the best plan for ``condition``, or None to scan.

    Within one user only points, prefixes and bounded ranges use an index
    (an open range usually reads most of the user's folder anyway).
    """
    if not indexes:
        return None
    uses = _use(indexes, condition)
    if uses is None:
        return None
    if one_user and max(use.score for use in uses) == ONE_SIDED:
        return None
    return uses


def window_of(condition: Condition, field: str) -> Window:
    """The time window a condition on a time-bucketed model's timestamp confines it to."""
    parts = condition.parts if isinstance(condition, And) else (condition,)
    start = end = None
    for part in parts:
        if not isinstance(part, Compare) or part.field.path != (field,):
            continue
        if kind_of(part.value) != DATETIME:
            continue
        try:
            at = to_utc(part.value, field)
        except ValueError:
            continue
        if part.op in (">", ">=", "=="):
            start = at if start is None else max(start, at)
        if part.op in ("<", "<=", "=="):
            bound = at if part.op == "<" else at + timedelta(microseconds=1)
            end = bound if end is None else min(end, bound)
    if start is None and end is None:
        return EVERYTHING
    return Window(start, end)


# -- reading an index's entries ------------------------------------------------------------------


def entries(
    use: IndexUse, user_hash: str | None, list_folder: Callable[[str], list[Entry]]
) -> Iterator[Found]:
    """The entries of ``use``'s spans (within one user's shard when ``user_hash`` is given)."""
    index = use.index
    spans = use.spans
    # Within one user, names of other users' entries are skipped before they are parsed
    # (a name holds its user's folder name, unless it is a digest of a long key).
    mine = None if user_hash is None or index.across_users else user_hash
    for first, second in _folders(use, list_folder):
        folder = f"{index.folder}/{first}/{second}"
        if mine is not None:
            shards = [index.shard("", mine)]
        elif index.across_users and all(span.point for span in use.spans):
            shards = sorted({index.shard(span.low, "") for span in use.spans})
        else:
            shards = sorted(e.name for e in list_folder(folder) if e.is_dir)
        for shard in shards:
            where = f"{folder}/{shard}"
            for entry in list_folder(where):
                name = entry.name
                if mine is not None and mine not in name and "^" not in name:
                    continue
                found = index.parse(where, name)
                if found is not None and any(span.admits(found) for span in spans):
                    yield found


def _folders(use: IndexUse, list_folder: Callable[[str], list[Entry]]) -> list[tuple[str, str]]:
    """The (level 1, level 2) folders the spans overlap, without listing for points."""
    index = use.index
    pairs: set[tuple[str, str]] = set()
    ranges = [span for span in use.spans if not span.point]
    for span in use.spans:
        if span.point:
            pairs.add(folders_of(span.low))
    if ranges:
        for entry in list_folder(index.folder):
            first = entry.name
            cut = _cut(first, 0)
            if not entry.is_dir or cut is None:
                continue
            if not any(s.low[:cut] <= first <= s.high[:cut] for s in ranges):
                continue
            for child in list_folder(f"{index.folder}/{first}"):
                second = child.name
                cut2 = _cut(second, 1)
                if (
                    child.is_dir
                    and cut2 is not None
                    and second.startswith(first)
                    and any(s.low[:cut2] <= second <= s.high[:cut2] for s in ranges)
                ):
                    pairs.add((first, second))
    return sorted(pairs)


def _cut(name: str, level: int) -> int | None:
    try:
        return folder_cuts(name)[level]
    except KeyError:
        return None  # not a name an index writes


def describe(uses: list[IndexUse] | None, window: Window | None, scope: str) -> str:
    """The plan in words (``Query.explain``)."""
    if uses is not None:
        return f"{scope}: " + " + ".join(use.describe() for use in uses)
    if window is not None and window != EVERYTHING:
        return f"{scope}: scan of the time buckets from {window.start} to {window.end}"
    return f"{scope}: scan (no usable index)"


__all__ = [
    "BOUNDED",
    "ONE_SIDED",
    "POINT",
    "POINT_UNIQUE",
    "IndexUse",
    "Span",
    "choose",
    "describe",
    "entries",
    "window_of",
]
