"""Hypothesis strategies for volstore models: valid instances, ids and user ids.

    from hypothesis import given, strategies as st
    from volstore.testing.strategies import instances

    @given(instances(Schedule, user_id=st.just("ada")))
    def test_round_trip(schedule: Schedule) -> None: ...

``instances(Model)`` reads the model's fields (pydantic fields, attrs fields,
or dataclass fields) and draws each from its annotation and constraints: the
id and owner fields of a registered model always hold valid ids, floats are
finite, datetimes of a time-bucketed model's time field are timezone-aware,
and every drawn instance survives a round trip through a store (JSON and
back) unchanged. Hypothesis is needed only by this module: install it with
``pip install hypothesis``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import math
import re
import types
import typing
import unicodedata
import uuid
import weakref
from collections import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import attrs
import pydantic
from pydantic_core import PydanticSerializationError

from .._attrs_schema import adapter_for_attrs, rewrite_attrs_types
from .._errors import InvalidKeyError, ModelDefinitionError
from .._keys import MAX_ID_BYTES, validate_id, validate_user_id
from .._model import spec_of

try:
    from hypothesis import reject
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "volstore.testing.strategies needs Hypothesis: pip install hypothesis"
    ) from exc

M = TypeVar("M")

__all__ = ["ids", "instances", "keys", "user_ids"]

# -- ids ------------------------------------------------------------------------------

# Everything volstore accepts in an id: no separators, no C0 controls or DEL
# (see volstore._keys), no lone surrogates (not encodable as UTF-8).
_KEY_CHARACTERS = st.characters(
    codec="utf-8",
    exclude_characters="/\\" + "".join(map(chr, range(0x20))) + "\x7f",
)
_MAX_USER_ID_CHARS = 64


def _shape_key(text: str, max_bytes: int | None) -> str:
    """Turn drawn text into a valid key: NFC, no leading '.', at most ``max_bytes``."""
    text = unicodedata.normalize("NFC", text)
    if text.startswith("."):
        text = "_" + text[1:]
    if max_bytes is not None:
        # Cut at a character boundary; a cut can leave a combining mark's base
        # behind, so the result is checked again below.
        text = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    return text


def _is_valid(check: Callable[[str], str], text: str) -> bool:
    try:
        check(text)
    except InvalidKeyError:
        return False
    return True


def ids() -> st.SearchStrategy[str]:
    """Valid object ids: 1 to 200 UTF-8 bytes of any Unicode in NFC, without
    ``/``, ``\\`` or control characters, not starting with ``.``."""
    return _IDS


def user_ids() -> st.SearchStrategy[str]:
    """Valid user ids: the rules of ids, without the length limit (up to 64 characters here)."""
    return _USER_IDS


def keys() -> st.SearchStrategy[tuple[str, str]]:
    """Valid ``(user_id, object_id)`` pairs: the key of one stored object."""
    return st.tuples(user_ids(), ids())


# Short ids are the common case; long ones reach the 200-byte limit (and the
# file name limits of the filesystems below it) often enough to matter.
_IDS: st.SearchStrategy[str] = (
    st.one_of(
        st.text(_KEY_CHARACTERS, min_size=1, max_size=24),
        st.text(_KEY_CHARACTERS, min_size=25, max_size=MAX_ID_BYTES),
    )
    .map(functools.partial(_shape_key, max_bytes=MAX_ID_BYTES))
    .filter(functools.partial(_is_valid, validate_id))
)
_USER_IDS: st.SearchStrategy[str] = (
    st.text(_KEY_CHARACTERS, min_size=1, max_size=_MAX_USER_ID_CHARS)
    .map(functools.partial(_shape_key, max_bytes=None))
    .filter(functools.partial(_is_valid, validate_user_id))
)

# -- scalar values ----------------------------------------------------------------------

# Sizes stay small: instances are encoded on every example.
_MAX_TEXT = 40
_MAX_ITEMS = 6
_INT64 = 2**63
_JSON_INT = 2**53  # integers every JSON reader keeps exactly
_DECIMAL_LIMIT = decimal.Decimal(10) ** 15

# Aware datetimes are convertible to UTC without overflow (time buckets are in
# UTC): a day's margin at both ends of datetime's range. Offsets are whole
# minutes, which is what JSON timestamps (and pydantic) keep.
_MIN_DATETIME = dt.datetime(1, 1, 2)
_MAX_DATETIME = dt.datetime(9999, 12, 30, 23, 59, 59, 999999)
_TIMEZONES: st.SearchStrategy[dt.tzinfo] = st.sampled_from(
    [dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30))]
) | st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
# Durations pydantic writes as ISO 8601 and reads back exactly.
_MAX_TIMEDELTA = dt.timedelta(days=10**6)


def _aware_datetimes(
    min_value: dt.datetime = _MIN_DATETIME, max_value: dt.datetime = _MAX_DATETIME
) -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(min_value, max_value, timezones=_TIMEZONES)


def _naive_datetimes(
    min_value: dt.datetime = _MIN_DATETIME, max_value: dt.datetime = _MAX_DATETIME
) -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(min_value, max_value)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-_JSON_INT, _JSON_INT)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(st.characters(codec="utf-8"), max_size=_MAX_TEXT)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), inner, max_size=4)
        ),
        max_leaves=10,
    )


_JSON_VALUES = _json_values()

# -- constraints --------------------------------------------------------------------------


@dataclasses.dataclass
class _Constraints:
    """The constraints that metadata (annotated_types, pydantic's Field) put on one value."""

    ge: Any = None
    gt: Any = None
    le: Any = None
    lt: Any = None
    multiple_of: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    max_digits: int | None = None
    decimal_places: int | None = None
    aware: bool | None = None  # annotated_types.Timezone: None naive, else aware

    @classmethod
    def of(cls, metadata: Iterable[object]) -> _Constraints:
        found = cls()
        for item in _flatten(metadata):
            if isinstance(item, _annotated_types().Timezone):
                found.aware = item.tz is not None
                continue
            for name in ("ge", "gt", "le", "lt", "multiple_of", "min_length", "max_length"):
                value = getattr(item, name, None)
                if value is not None:
                    setattr(found, name, value)
            for name in ("pattern", "max_digits", "decimal_places"):
                value = getattr(item, name, None)
                if value is not None:
                    setattr(found, name, value)
        if isinstance(found.pattern, re.Pattern):
            found.pattern = found.pattern.pattern
        return found

    def sizes(self, default_max: int) -> tuple[int, int]:
        low = self.min_length or 0
        high = self.max_length if self.max_length is not None else low + default_max
        return low, high


@functools.cache
def _annotated_types() -> Any:
    import annotated_types

    return annotated_types


def _flatten(metadata: Iterable[object]) -> Iterable[object]:
    for item in metadata:
        if item is None:
            continue
        if isinstance(item, pydantic.fields.FieldInfo):
            yield from _flatten(item.metadata)
        elif isinstance(item, _annotated_types().GroupedMetadata):
            yield from _flatten(iter(item))  # Interval, StringConstraints
        else:
            yield item


def _integers(c: _Constraints) -> st.SearchStrategy[int]:
    low = -_INT64 if c.ge is None and c.gt is None else _int_bound(c.ge, c.gt, up=True)
    high = _INT64 - 1 if c.le is None and c.lt is None else _int_bound(c.le, c.lt, up=False)
    if c.multiple_of:
        step = int(c.multiple_of)
        return st.integers(-(-low // step), high // step).map(lambda n: n * step)
    return st.integers(low, high)


def _int_bound(inclusive: Any, exclusive: Any, *, up: bool) -> int:
    if inclusive is not None:
        return int(math.ceil(inclusive) if up else math.floor(inclusive))
    return int(math.floor(exclusive) + 1 if up else math.ceil(exclusive) - 1)


def _floats(c: _Constraints) -> st.SearchStrategy[float]:
    low = c.ge if c.ge is not None else c.gt
    high = c.le if c.le is not None else c.lt
    if c.multiple_of:
        step = float(c.multiple_of)
        first = math.ceil(low / step) if low is not None else -(2**40)
        last = math.floor(high / step) if high is not None else 2**40
        return st.integers(first, last).map(lambda n: n * step)
    return st.floats(
        min_value=None if low is None else float(low),
        max_value=None if high is None else float(high),
        exclude_min=c.ge is None and c.gt is not None,
        exclude_max=c.le is None and c.lt is not None,
        allow_nan=False,
        allow_infinity=False,
    )


def _decimals(c: _Constraints) -> st.SearchStrategy[decimal.Decimal]:
    places = c.decimal_places
    if places is None and c.max_digits is not None:
        places = c.max_digits // 2
    limit = _DECIMAL_LIMIT
    if c.max_digits is not None:
        limit = decimal.Decimal(10) ** (c.max_digits - (places or 0)) - decimal.Decimal(10) ** -(
            places or 0
        )
    low = c.ge if c.ge is not None else c.gt
    high = c.le if c.le is not None else c.lt
    low = -limit if low is None else max(decimal.Decimal(str(low)), -limit)
    high = limit if high is None else min(decimal.Decimal(str(high)), limit)
    strategy = st.decimals(low, high, places=places, allow_nan=False, allow_infinity=False)
    if c.gt is not None or c.lt is not None or c.multiple_of is not None:
        strategy = strategy.filter(functools.partial(_within, c))
    return strategy


def _within(c: _Constraints, value: Any) -> bool:
    if c.gt is not None and not value > c.gt:
        return False
    if c.lt is not None and not value < c.lt:
        return False
    return c.multiple_of is None or value % decimal.Decimal(str(c.multiple_of)) == 0


def _text(c: _Constraints) -> st.SearchStrategy[str]:
    low, high = c.sizes(_MAX_TEXT)
    if c.pattern is not None:
        strategy = st.from_regex(c.pattern, fullmatch=True)
        if c.min_length is not None or c.max_length is not None:
            strategy = strategy.filter(lambda s: low <= len(s) <= high)
        return strategy
    return st.text(st.characters(codec="utf-8"), min_size=low, max_size=high)


def _bytes(c: _Constraints) -> st.SearchStrategy[bytes]:
    # ASCII, so that pydantic's default JSON form for bytes (UTF-8 text) and
    # base64 both round-trip, and length limits count bytes and characters alike.
    low, high = c.sizes(_MAX_TEXT)
    return st.text(st.characters(max_codepoint=0x7F), min_size=low, max_size=high).map(str.encode)


def _ranged_datetimes(c: _Constraints, *, aware: bool) -> st.SearchStrategy[dt.datetime]:
    low, high = _MIN_DATETIME, _MAX_DATETIME
    # Bounds on datetimes compare the instant; keep the naive range inside them
    # with a day's margin for the offsets drawn.
    for bound in (c.ge, c.gt):
        if isinstance(bound, dt.datetime):
            low = max(low, _naive(bound) + dt.timedelta(days=1))
    for bound in (c.le, c.lt):
        if isinstance(bound, dt.datetime):
            high = min(high, _naive(bound) - dt.timedelta(days=1))
    return _aware_datetimes(low, high) if aware else _naive_datetimes(low, high)


def _naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _pydantic_special(tp: Any, c: _Constraints) -> st.SearchStrategy[Any] | None:
    """Strategies for pydantic's own types (AwareDatetime, PastDate, HttpUrl, ...)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    margin = dt.timedelta(days=2)
    if tp is pydantic.AwareDatetime:
        return _ranged_datetimes(c, aware=True)
    if tp is pydantic.NaiveDatetime:
        return _ranged_datetimes(c, aware=False)
    if tp is pydantic.PastDatetime:
        return _aware_datetimes(max_value=now - margin) | _naive_datetimes(max_value=now - margin)
    if tp is pydantic.FutureDatetime:
        return _aware_datetimes(min_value=now + margin) | _naive_datetimes(min_value=now + margin)
    if tp is pydantic.PastDate:
        return st.dates(max_value=(now - margin).date())
    if tp is pydantic.FutureDate:
        return st.dates(min_value=(now + margin).date())
    if tp is pydantic.EmailStr:
        return st.emails()
    if isinstance(tp, type) and issubclass(tp, pydantic.AnyUrl):
        return st.from_regex(
            r"https://[a-z]{1,12}\.example\.com(/[a-z0-9_-]{1,8}){0,3}", fullmatch=True
        )
    return None


# -- annotations ------------------------------------------------------------------------------


class _CannotDraw(TypeError):
    """A field type this module has no strategy for."""


_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)
# Not Iterable: pydantic keeps an iterator for it, which equals nothing.
_SEQUENCES = {list, abc.Sequence, abc.MutableSequence}
_SETS = {set, abc.Set, abc.MutableSet}
_MAPPINGS = {dict, abc.Mapping, abc.MutableMapping}


def _for_annotation(annotation: Any, metadata: Sequence[object] = ()) -> st.SearchStrategy[Any]:
    """A strategy for values of ``annotation`` that round-trip through JSON unchanged."""
    if get_origin(annotation) is Annotated:
        return _for_annotation(annotation.__origin__, [*metadata, *annotation.__metadata__])
    c = _Constraints.of(metadata)
    tp = annotation
    supertype = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return _for_annotation(supertype, metadata)
    if tp is Any or tp is object or isinstance(tp, TypeVar):
        return _JSON_VALUES
    if tp is None or tp is type(None):
        return st.none()
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in _UNION_TYPES:
        return _union(tp, args, metadata)
    if origin is not None:
        return _generic(origin, args, c)
    if not isinstance(tp, type):
        raise _CannotDraw(f"volstore cannot draw values of {tp!r}; pass a strategy for this field")
    special = _pydantic_special(tp, c)
    if special is not None:
        return special
    return _plain_type(tp, c)


def _plain_type(tp: type[Any], c: _Constraints) -> st.SearchStrategy[Any]:
    if issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _integers(c)
    if tp is float:
        return _floats(c)
    if tp is str:
        return _text(c)
    if tp is bytes:
        return _bytes(c)
    if tp is decimal.Decimal:
        return _decimals(c)
    if tp is uuid.UUID:
        return st.uuids()
    if tp is dt.datetime:
        if c.aware is not None:
            return _ranged_datetimes(c, aware=c.aware)
        return _ranged_datetimes(c, aware=False) | _ranged_datetimes(c, aware=True)
    if tp is dt.date:
        return st.dates(
            min_value=c.ge if isinstance(c.ge, dt.date) else dt.date.min,
            max_value=c.le if isinstance(c.le, dt.date) else dt.date.max,
        )
    if tp is dt.time:
        return st.times()
    if tp is dt.timedelta:
        return st.timedeltas(-_MAX_TIMEDELTA, _MAX_TIMEDELTA)
    if tp in (list, tuple, set, frozenset, dict):
        return _generic(tp, (), c)
    if _is_model_class(tp):
        return _nested(tp)
    return _checked(tp, st.from_type(tp))


def _generic(origin: Any, args: tuple[Any, ...], c: _Constraints) -> st.SearchStrategy[Any]:
    low, high = c.sizes(_MAX_ITEMS)

    def item(index: int, default: st.SearchStrategy[Any] = _JSON_VALUES) -> st.SearchStrategy[Any]:
        return _for_annotation(args[index]) if len(args) > index else default

    if origin in _SEQUENCES:
        return st.lists(item(0), min_size=low, max_size=high)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(item(0), min_size=low, max_size=high).map(tuple)
        if not args:
            return st.lists(_JSON_VALUES, min_size=low, max_size=high).map(tuple)
        if args == ((),):  # tuple[()]
            return st.just(())
        return st.tuples(*(_for_annotation(arg) for arg in args))
    if origin in _SETS:
        return st.sets(item(0, st.text(max_size=8)), min_size=low, max_size=high)
    if origin is frozenset:
        return st.frozensets(item(0, st.text(max_size=8)), min_size=low, max_size=high)
    if origin in _MAPPINGS:
        return st.dictionaries(item(0, st.text(max_size=8)), item(1), min_size=low, max_size=high)
    raise _CannotDraw(
        f"volstore cannot draw values of {origin!r}{list(args)}; pass a strategy for this field"
    )


def _union(
    annotation: Any, args: tuple[Any, ...], metadata: Sequence[object]
) -> st.SearchStrategy[Any]:
    members = [arg for arg in args if arg is not type(None)]
    optional = len(members) < len(args)
    if len(members) == 1:
        strategy = _for_annotation(members[0], metadata)
    else:
        # Members can share a JSON form (a datetime and a str, a list and a
        # tuple): keep only values that read back as themselves.
        choices = st.one_of(*(_for_annotation(member, metadata) for member in members))
        strategy = _checked(annotation, choices)
    return st.none() | strategy if optional else strategy


def _checked(annotation: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy.filter(functools.partial(_round_trips, _adapter(annotation)))


@functools.lru_cache(maxsize=512)
def _adapter(annotation: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(rewrite_attrs_types(annotation))


def _round_trips(adapter: pydantic.TypeAdapter[Any], value: Any) -> bool:
    try:
        value = adapter.validate_python(value)
        return bool(adapter.validate_json(adapter.dump_json(value)) == value)
    except (ValueError, TypeError, PydanticSerializationError):
        return False


# -- classes ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Declared:
    """One field as the class declares it."""

    name: str  # the attribute name: what overrides are keyed by
    key: str  # the key in the mapping the class is validated from
    annotation: Any
    metadata: Sequence[object]
    has_default: bool


@dataclasses.dataclass(frozen=True)
class _Field:
    key: str
    strategy: st.SearchStrategy[Any]
    required: bool


def _is_model_class(tp: type[Any]) -> bool:
    return issubclass(tp, pydantic.BaseModel) or attrs.has(tp) or dataclasses.is_dataclass(tp)


def _nested(cls: type[Any]) -> st.SearchStrategy[Any]:
    # Deferred, so that a model may contain itself (a tree of comments).
    return st.deferred(lambda: _class_strategy(cls))


# Weak: models defined inside test functions come and go.
_CLASS_STRATEGIES: weakref.WeakKeyDictionary[type[Any], st.SearchStrategy[Any]] = (
    weakref.WeakKeyDictionary()
)


def _class_strategy(cls: type[M]) -> st.SearchStrategy[M]:
    strategy = _CLASS_STRATEGIES.get(cls)
    if strategy is None:
        strategy = _CLASS_STRATEGIES[cls] = _build(cls, _fields(cls, _declared(cls), {}))
    return strategy


def _declared(cls: type[Any]) -> list[_Declared]:
    """The init fields of a pydantic model, an attrs class or a dataclass."""
    if issubclass(cls, pydantic.BaseModel):
        declared = []
        for name, info in cls.model_fields.items():
            if info.exclude and not info.is_required():
                continue  # never written, so it reads back as its default
            alias = info.validation_alias if isinstance(info.validation_alias, str) else None
            key = alias or info.alias or name
            declared.append(
                _Declared(name, key, info.annotation, info.metadata, not info.is_required())
            )
        return declared
    if attrs.has(cls):
        attrs.resolve_types(cls)
        return [
            _Declared(
                field.name,
                field.name,
                Any if field.type is None else field.type,
                (),
                field.default is not attrs.NOTHING,
            )
            for field in attrs.fields(cls)
            if field.init
        ]
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls, include_extras=True)
        return [
            _Declared(
                field.name,
                field.name,
                hints.get(field.name, Any),
                (),
                field.default is not dataclasses.MISSING
                or field.default_factory is not dataclasses.MISSING,
            )
            for field in dataclasses.fields(cls)
            if field.init
        ]
    raise TypeError(
        f"instances() needs a pydantic model, an attrs class or a dataclass, not {cls!r}"
    )


def _fields(
    cls: type[Any], declared: list[_Declared], overrides: Mapping[str, st.SearchStrategy[Any]]
) -> list[_Field]:
    """A strategy for each declared field; overridden and key fields are always given."""
    fixed: dict[str, st.SearchStrategy[Any]] = {}
    time_field: str | None = None
    try:
        spec = spec_of(cls)
    except ModelDefinitionError:
        pass  # a nested or unregistered class: no key fields
    else:
        fixed = {spec.id_field: ids(), spec.owner_field: user_ids()}
        time_field = spec.time_field
    fixed.update(overrides)
    fields = []
    for field in declared:
        strategy = fixed.get(field.name)
        if strategy is None and field.name == time_field:
            strategy = _ranged_datetimes(_Constraints.of(field.metadata), aware=True)
        if strategy is None:
            try:
                strategy = _for_annotation(field.annotation, field.metadata)
            except _CannotDraw as exc:
                raise TypeError(
                    f"{cls.__name__}.{field.name}: {exc} "
                    f"(instances({cls.__name__}, {field.name}=...))"
                ) from None
        required = not field.has_default or field.name in fixed
        fields.append(_Field(field.key, strategy, required))
    return fields


def _build(cls: type[M], fields: list[_Field]) -> st.SearchStrategy[M]:
    required = {field.key: field.strategy for field in fields if field.required}
    optional = {field.key: field.strategy for field in fields if not field.required}
    validate = _validator(cls)
    return st.fixed_dictionaries(required, optional=optional).map(
        functools.partial(_construct, validate)
    )


def _validator(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    if issubclass(cls, pydantic.BaseModel):
        return cls.model_validate
    if attrs.has(cls):
        adapter: pydantic.TypeAdapter[M] = adapter_for_attrs(cls)
    else:
        adapter = pydantic.TypeAdapter(cls)
    return adapter.validate_python


def _construct(validate: Callable[[dict[str, Any]], M], data: dict[str, Any]) -> M:
    # Validators of the model itself (a field that must come after another)
    # can refuse a draw; Hypothesis then draws another one.
    try:
        return validate(data)
    except (pydantic.ValidationError, ValueError):
        reject()


def instances(model: type[M], **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[M]:
    """Valid instances of a volstore model (or of any pydantic model, attrs class, dataclass).

    Each field is drawn from its annotation and constraints; fields with a
    default are sometimes left out. A registered model's id and owner fields
    always hold valid ids (see ``ids()`` and ``user_ids()``) and its time field,
    if it is time-bucketed, a timezone-aware datetime. Every instance encodes
    to JSON and decodes back equal. ``overrides`` replace the strategy of the
    named fields: ``instances(Schedule, user_id=st.just("ada"))``.

    Raises TypeError for an unknown field name in ``overrides``, a value there
    that is not a strategy, or a field type volstore cannot draw (pass a
    strategy for that field).
    """
    if not isinstance(model, type):
        raise TypeError(f"instances() needs a model class, not {model!r}")
    if not overrides:
        return _class_strategy(model)
    for name, strategy in overrides.items():
        if not isinstance(strategy, st.SearchStrategy):
            raise TypeError(
                f"the override for {model.__name__}.{name} must be a strategy, not "
                f"{strategy!r}; use st.just({strategy!r}) for a constant"
            )
    declared = _declared(model)
    names = [field.name for field in declared]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(
            f"{model.__name__} has no field {unknown[0]!r} (fields: {', '.join(names)})"
        )
    return _build(model, _fields(model, declared, overrides))
