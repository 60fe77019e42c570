"""Conditions on fields: field references checked against the model, and their tests.

A query's ``where`` builds a tree of :class:`Condition` objects. Fields are
named three ways, all checked against the model when the query is built:

- a function of the object, recorded with a stand-in (``lambda t: t.status ==
  "open"``): mypy checks the field names and the operand types;
- keywords, Django style (``status="open"``, ``due__lt=now``);
- :func:`~volstore._fields.field_ref` and :func:`lookup` (the CLI uses them).

Constants are validated as the field's type (``"2026-01-01"`` for a
datetime field becomes a datetime; ``"opne"`` for a ``Literal["open",
"done"]`` field is a QueryError). Values compare in the total order of
``_order``: ``<``, ``<=``, ``>``, ``>=`` and string prefixes match values of the
constant's kind only (``None`` never matches them); ``==``, ``!=`` and ``in``
compare any values.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from ._errors import QueryError
from ._fields import FieldRef, field_ref
from ._model import ModelSpec
from ._order import (
    BOOL,
    DATETIME,
    NONE,
    NUMBER,
    STRING,
    UnorderableError,
    aware,
    is_nan,
    kind_of,
    normalize,
    sort_key,
)

# -- conditions --------------------------------------------------------------------------------

Test = Callable[[Any], bool]


def _same(value: Any, constant: Any, key: tuple[Any, ...] | None) -> bool:
    """Equality in the total order (``True`` is not ``1``, NaN is NaN, instants are instants)."""
    value = normalize(value)
    if value.__class__ is constant.__class__ and value.__class__ in (str, int):
        return bool(value == constant)
    if key is None:  # a constant without an order: Python's equality
        return bool(value == constant)
    try:
        return sort_key(value) == key
    except UnorderableError:
        return False


def _key_or_none(constant: Any) -> tuple[Any, ...] | None:
    try:
        return sort_key(constant)
    except UnorderableError:
        return None


class Condition:
    """A test of an object's fields. Combine with ``&``, ``|`` and ``~``."""

    is_query_term = True  # not a value (FieldRef.coerce refuses it)

    def test(self) -> Test:
        """A function telling whether an object satisfies this condition."""
        raise NotImplementedError

    def describe(self) -> str:
        """The condition in words: the same text for the same condition."""
        raise NotImplementedError

    def fields(self) -> list[FieldRef]:
        return []

    def __and__(self, other: object) -> Condition:
        return And((self, as_condition(other)))

    def __rand__(self, other: object) -> Condition:
        return And((as_condition(other), self))

    def __or__(self, other: object) -> Condition:
        return Or((self, as_condition(other)))

    def __ror__(self, other: object) -> Condition:
        return Or((as_condition(other), self))

    def __invert__(self) -> Condition:
        return Not(self)

    def __bool__(self) -> bool:
        raise QueryError(
            "a query condition has no truth value: combine conditions with &, | and ~ "
            "(or volstore.any_of/all_of/not_), not with and, or, not; use "
            "volstore.is_in(field, values) instead of `field in values`"
        )

    def __repr__(self) -> str:
        return f"<condition {self.describe()}>"


class Everything(Condition):
    """The condition every object satisfies (a query without ``where``)."""

    def test(self) -> Test:
        return lambda obj: True

    def describe(self) -> str:
        return "everything"


EVERYTHING = Everything()

OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
_RANGE_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Compare(Condition):
    """``field <op> constant``; ``op`` is one of ``OPERATORS``."""

    field: FieldRef
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op in _RANGE_TESTS:
            kind = kind_of(self.value)
            if kind is None or kind == NONE:
                raise QueryError(
                    f"{self.field.label} {self.op} {self.value!r}: only values with an order "
                    "(numbers, strings, datetimes, dates, bools) bound a range"
                )

    @functools.cached_property
    def key(self) -> tuple[Any, ...] | None:
        return _key_or_none(self.value)

    def test(self) -> Test:
        get, constant, key = self.field.get, self.value, self.key
        if self.op == "==":
            return lambda obj: _same(get(obj), constant, key)
        if self.op == "!=":
            return lambda obj: not _same(get(obj), constant, key)
        compare = _RANGE_TESTS[self.op]
        kind = kind_of(constant)
        if kind == DATETIME:
            bound = aware(constant)
            return lambda obj: _datetime_test(get(obj), compare, bound)
        if kind == NUMBER:
            nan = is_nan(constant)
            return lambda obj: _number_test(get(obj), compare, constant, nan)
        return lambda obj: _plain_test(get(obj), compare, constant, kind)

    def describe(self) -> str:
        return f"{self.field.name} {self.op} {_show(self.value)}"

    def fields(self) -> list[FieldRef]:
        return [self.field]


def _datetime_test(value: Any, compare: Callable[[Any, Any], bool], bound: datetime) -> bool:
    return isinstance(value, datetime) and compare(aware(value), bound)


def _number_test(value: Any, compare: Callable[[Any, Any], bool], bound: Any, nan: bool) -> bool:
    value = normalize(value)
    if kind_of(value) != NUMBER:
        return False
    if nan or is_nan(value):  # NaN sorts after every number and equals itself
        return bool(compare(sort_key(value), sort_key(bound)))
    return bool(compare(value, bound))


def _plain_test(
    value: Any, compare: Callable[[Any, Any], bool], bound: Any, kind: int | None
) -> bool:
    value = normalize(value)
    return kind_of(value) == kind and bool(compare(value, bound))


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class In(Condition):
    """``field`` equals one of ``values``."""

    field: FieldRef
    values: tuple[Any, ...]

    def test(self) -> Test:
        get = self.field.get
        pairs = [(value, _key_or_none(value)) for value in self.values]
        return lambda obj: any(_same(get(obj), value, key) for value, key in pairs)

    def describe(self) -> str:
        return f"{self.field.name} in [{', '.join(map(_show, self.values))}]"

    def fields(self) -> list[FieldRef]:
        return [self.field]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Prefix(Condition):
    """``field`` is a string starting with ``prefix``."""

    field: FieldRef
    prefix: str

    def test(self) -> Test:
        get, prefix = self.field.get, self.prefix
        return lambda obj: _starts(get(obj), prefix)

    def describe(self) -> str:
        return f"{self.field.name} startswith {_show(self.prefix)}"

    def fields(self) -> list[FieldRef]:
        return [self.field]


def _starts(value: Any, prefix: str) -> bool:
    value = normalize(value)
    return value.__class__ is str and value.startswith(prefix)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Contains(Condition):
    """``field`` is a list (tuple, set) holding ``item``."""

    field: FieldRef
    item: Any

    def test(self) -> Test:
        get, item = self.field.get, self.item
        key = _key_or_none(item)
        return lambda obj: _holds(get(obj), item, key)

    def describe(self) -> str:
        return f"{self.field.name} contains {_show(self.item)}"

    def fields(self) -> list[FieldRef]:
        return [self.field]


def _holds(value: Any, item: Any, key: tuple[Any, ...] | None) -> bool:
    if not isinstance(value, (list, tuple, set, frozenset)):
        return False
    return any(_same(element, item, key) for element in value)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class And(Condition):
    parts: tuple[Condition, ...]

    def test(self) -> Test:
        tests = [part.test() for part in self.parts]
        if len(tests) == 1:
            return tests[0]
        return lambda obj: all(t(obj) for t in tests)

    def describe(self) -> str:
        return " AND ".join(_grouped(part, Or) for part in self.parts)

    def fields(self) -> list[FieldRef]:
        return [f for part in self.parts for f in part.fields()]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Or(Condition):
    parts: tuple[Condition, ...]

    def test(self) -> Test:
        tests = [part.test() for part in self.parts]
        return lambda obj: any(t(obj) for t in tests)

    def describe(self) -> str:
        return " OR ".join(_grouped(part, And) for part in self.parts)

    def fields(self) -> list[FieldRef]:
        return [f for part in self.parts for f in part.fields()]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Not(Condition):
    part: Condition

    def test(self) -> Test:
        test = self.part.test()
        return lambda obj: not test(obj)

    def describe(self) -> str:
        return f"NOT ({self.part.describe()})"

    def fields(self) -> list[FieldRef]:
        return self.part.fields()


def _grouped(part: Condition, other: type[Condition]) -> str:
    text = part.describe()
    return f"({text})" if isinstance(part, other) else text


def _show(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return repr(normalize(value))


def all_of(*conditions: Condition) -> Condition:
    """Every condition holds (``&``); no condition: everything."""
    parts = [c for c in conditions if c is not EVERYTHING]
    if not parts:
        return EVERYTHING
    flat: list[Condition] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, And) else (part,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


# -- building conditions -----------------------------------------------------------------------


def compare(field: FieldRef, op: str, value: Any) -> Condition:
    """``field <op> value`` with ``value`` validated as the field's type."""
    if op not in OPERATORS:
        raise QueryError(f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    if isinstance(value, _Proxy):
        raise QueryError(f"{field.label} {op} {value!r}: compare a field with a value")
    return Compare(field, op, normalize(field.coerce(value)))


def is_in(field: FieldRef, values: Iterable[Any]) -> Condition:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise QueryError(f"{field.label} in ...: give a list of values, not {values!r}")
    return In(field, tuple(normalize(field.coerce(value)) for value in values))


def starts_with(field: FieldRef, prefix: Any) -> Condition:
    kinds = field.kinds
    if kinds is not None and not kinds <= {STRING, NONE}:
        raise QueryError(f"{field.label} is not a string field: startswith() needs one")
    if not isinstance(prefix, str):
        raise QueryError(f"{field.label} startswith {prefix!r}: the prefix must be a string")
    return Prefix(field, prefix)


def contains(field: FieldRef, item: Any) -> Condition:
    return Contains(field, normalize(field.coerce_item(item)))


LOOKUPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "startswith", "contains")
_LOOKUP_OPERATORS = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def lookup(spec: ModelSpec, name: str, value: Any) -> Condition:
    """A keyword condition: ``status="open"``, ``due__lt=now``, ``tags__contains="x"``.

    ``__`` separates nested fields and the lookup (one of ``LOOKUPS``; none: ``eq``).
    """
    parts = name.split("__")
    op = "eq"
    if len(parts) > 1 and parts[-1] in LOOKUPS:
        op = parts.pop()
    field = field_ref(spec, tuple(parts))
    if op in _LOOKUP_OPERATORS:
        return compare(field, _LOOKUP_OPERATORS[op], value)
    if op == "in":
        return is_in(field, value)
    if op == "startswith":
        return starts_with(field, value)
    return contains(field, value)


def as_condition(value: object) -> Condition:
    if isinstance(value, Condition):
        return value
    if isinstance(value, _Proxy):
        return value._as_condition()
    raise QueryError(f"not a query condition: {value!r}")


# -- recording a function of the object ----------------------------------------------------------


class _Proxy:
    """Stands in for a field while a ``where`` or ``order_by`` function runs once."""

    __slots__ = ("_field", "_spec")
    is_query_term = True

    def __init__(self, spec: ModelSpec, field: FieldRef | None) -> None:
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_field", field)

    def _ref(self) -> FieldRef:
        field = object.__getattribute__(self, "_field")
        if field is None:
            raise QueryError("compare a field of the object, not the object itself")
        return field  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> _Proxy:
        if name.startswith("__"):
            raise AttributeError(name)
        spec = object.__getattribute__(self, "_spec")
        field = object.__getattribute__(self, "_field")
        path = (name,) if field is None else (*field.path, name)
        return _Proxy(spec, field_ref(spec, path))

    def __getitem__(self, key: str) -> _Proxy:
        if not isinstance(key, str):
            raise QueryError(f"only string keys are fields: {key!r}")
        return self.__getattr__(key)

    def __setattr__(self, name: str, value: object) -> None:
        raise QueryError("a query function must not change the object")

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return compare(self._ref(), "==", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return compare(self._ref(), "!=", other)

    def __lt__(self, other: object) -> Condition:
        return compare(self._ref(), "<", other)

    def __le__(self, other: object) -> Condition:
        return compare(self._ref(), "<=", other)

    def __gt__(self, other: object) -> Condition:
        return compare(self._ref(), ">", other)

    def __ge__(self, other: object) -> Condition:
        return compare(self._ref(), ">=", other)

    __hash__ = object.__hash__

    def startswith(self, prefix: str) -> Condition:
        return starts_with(self._ref(), prefix)

    def _as_condition(self) -> Condition:
        """A bare field as a condition: a bool field that is true."""
        field = self._ref()
        kinds = field.kinds
        if kinds is None or not kinds <= {BOOL, NONE}:
            raise QueryError(
                f"{field.label} is not a bool field: compare it with a value "
                "(t.status == 'open'), it is not a condition on its own"
            )
        return compare(field, "==", True)

    def __and__(self, other: object) -> Condition:
        return self._as_condition() & other

    def __rand__(self, other: object) -> Condition:
        return as_condition(other) & self._as_condition()

    def __or__(self, other: object) -> Condition:
        return self._as_condition() | other

    def __ror__(self, other: object) -> Condition:
        return as_condition(other) | self._as_condition()

    def __invert__(self) -> Condition:
        return ~self._as_condition()

    def __bool__(self) -> bool:
        raise QueryError(
            f"{self._ref().label} has no truth value in a query: compare it "
            "(t.field == value), and combine conditions with &, | and ~"
        )

    def __iter__(self) -> Any:
        raise QueryError(
            f"{self._ref().label}: use volstore.contains(t.field, item) to look inside a list"
        )

    def __contains__(self, item: object) -> bool:
        raise QueryError(
            f"{self._ref().label}: `item in t.field` cannot be recorded; "
            "use volstore.contains(t.field, item)"
        )

    def __len__(self) -> int:
        raise QueryError(f"{self._ref().label}: len() cannot be used in a query")

    def __repr__(self) -> str:
        field = object.__getattribute__(self, "_field")
        return "<the object>" if field is None else f"<field {field.label}>"


def record(spec: ModelSpec, function: Callable[[Any], object]) -> Condition:
    """The condition a function of the object states (``lambda t: t.status == "open"``)."""
    if not callable(function):
        raise QueryError(
            f"where() takes conditions, functions of the object or keywords: {function!r}"
        )
    return as_condition(function(_Proxy(spec, None)))


def record_field(spec: ModelSpec, function: Callable[[Any], object]) -> FieldRef:
    """The field a function of the object names (``lambda t: t.due``)."""
    result = function(_Proxy(spec, None))
    if not isinstance(result, _Proxy):
        raise QueryError(
            f"order_by() needs a field of the object (lambda t: t.due), not {result!r}"
        )
    return result._ref()


def proxy_field(value: object) -> FieldRef:
    """The field a recorded stand-in names (for ``volstore.is_in(t.status, ...)``)."""
    if isinstance(value, _Proxy):
        return value._ref()
    raise QueryError(
        f"use this inside a query function, on a field of the object (t.status): not {value!r}"
    )


__all__ = [
    "EVERYTHING",
    "LOOKUPS",
    "OPERATORS",
    "And",
    "Compare",
    "Condition",
    "Contains",
    "Everything",
    "FieldRef",
    "In",
    "Not",
    "Or",
    "Prefix",
    "all_of",
    "as_condition",
    "compare",
    "contains",
    "field_ref",
    "is_in",
    "lookup",
    "proxy_field",
    "record",
    "record_field",
    "starts_with",
]
