"""Field references: a model's fields by name, checked against it, with their types.

``field_ref(spec, "notifications.email")`` names a (nested) field of a model:
a name the model does not have is a QueryError with the closest match, when
the query is built. A :class:`FieldRef` reads the field from an object,
knows the kinds of values its type holds (``_order``'s kinds; None when some
have no order) and validates constants as the field's type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import functools
import operator
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import attrs
import pydantic
from pydantic import TypeAdapter

from ._attrs_schema import rewrite_attrs_types
from ._errors import QueryError, short_reason
from ._model import ModelSpec
from ._order import BOOL, DATE, DATETIME, NONE, NUMBER, STRING, kind_of, normalize

_SCALARS: dict[type[Any], int] = {
    bool: BOOL,
    int: NUMBER,
    float: NUMBER,
    Decimal: NUMBER,
    str: STRING,
    uuid.UUID: STRING,
    datetime: DATETIME,
    date: DATE,
}


# pydantic's marker classes whose values are plain datetimes, dates or strings.
_PYDANTIC_SCALARS = {
    "AwareDatetime": DATETIME,
    "NaiveDatetime": DATETIME,
    "PastDatetime": DATETIME,
    "FutureDatetime": DATETIME,
    "PastDate": DATE,
    "FutureDate": DATE,
    "EmailStr": STRING,
}


# -- what a field's annotation allows ---------------------------------------------------


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    supertype = getattr(annotation, "__supertype__", None)  # typing.NewType
    return _strip(supertype) if supertype is not None else annotation


def _members(annotation: Any) -> list[Any]:
    """The members of a union (Optional included), each stripped of Annotated."""
    annotation = _strip(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def kinds_of(annotation: Any) -> set[int] | None:
    """The kinds of values a field of this annotation holds, or None when some have no order."""
    found: set[int] = set()
    for member in _members(annotation):
        if member is type(None) or member is None:
            found.add(NONE)
        elif get_origin(member) is Literal:
            for value in get_args(member):
                kind = kind_of(normalize(value))
                if kind is None:
                    return None
                found.add(kind)
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            for item in member:
                kind = kind_of(normalize(item))
                if kind is None:
                    return None
                found.add(kind)
        elif (
            isinstance(member, type)
            and member.__module__.startswith("pydantic.")
            and member.__name__ in _PYDANTIC_SCALARS
        ):
            found.add(_PYDANTIC_SCALARS[member.__name__])
        elif isinstance(member, type):
            kind = next((k for t, k in _SCALARS.items() if issubclass(member, t)), None)
            if kind is None:
                return None
            if kind == NUMBER and issubclass(member, bool):
                kind = BOOL
            found.add(kind)
        else:
            return None
    return found


def _item_annotation(annotation: Any) -> Any | None:
    """The item type of a list, tuple, set or frozenset field (``contains``), else None."""
    for member in _members(annotation):
        origin = get_origin(member) or member
        if origin in (list, tuple, set, frozenset):
            args = [a for a in get_args(member) if a is not Ellipsis]
            return args[0] if len(args) == 1 else Any
    return None


def _type_hints(cls: type[Any]) -> dict[str, Any]:
    """Field annotations of a pydantic model or an attrs class (Any where unresolvable)."""
    fields = getattr(cls, "model_fields", None)
    if isinstance(fields, dict):
        return {name: info.annotation for name, info in fields.items()}
    if attrs.has(cls):
        with contextlib.suppress(NameError, TypeError):  # unresolvable names read as Any
            attrs.resolve_types(cls)
        return {
            f.name: (f.type if f.type is not None and not isinstance(f.type, str) else Any)
            for f in attrs.fields(cls)
        }
    return {}


def _nested_fields(annotation: Any) -> dict[str, Any] | None:
    """The fields reachable below a value of ``annotation``; None when any key may follow."""
    for member in _members(annotation):
        if member is type(None):
            continue
        if member is Any:
            return None
        origin = get_origin(member) or member
        if origin in (dict, Mapping, typing.Mapping):
            args = get_args(member)
            return {"*": args[1] if len(args) == 2 else Any}
        if isinstance(member, type) and (
            issubclass(member, pydantic.BaseModel) or attrs.has(member)
        ):
            return _type_hints(member)
    return {}


# -- field references ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class FieldRef:
    """A field of a model, by path (``("notifications", "email")``), checked against it."""

    model: str
    path: tuple[str, ...]
    annotation: Any

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def label(self) -> str:
        return f"{self.model}.{self.name}"

    @functools.cached_property
    def get(self) -> Callable[[Any], Any]:
        """The value of this field in an object (None where a step holds nothing)."""
        if len(self.path) == 1:
            return operator.attrgetter(self.path[0])
        path = self.path

        def get(obj: Any) -> Any:
            value = obj
            for step in path:
                if value is None:
                    return None
                if isinstance(value, Mapping):
                    value = value.get(step)
                else:
                    value = getattr(value, step, None)
            return value

        return get

    @functools.cached_property
    def kinds(self) -> set[int] | None:
        return kinds_of(self.annotation)

    @functools.cached_property
    def _adapter(self) -> TypeAdapter[Any] | None:
        if self.annotation is Any:
            return None
        try:
            return TypeAdapter(rewrite_attrs_types(self.annotation))
        except (pydantic.PydanticSchemaGenerationError, TypeError, NameError):
            return None

    def coerce(self, value: Any, what: str = "value") -> Any:
        """``value`` validated as this field's type (lax: ``"2026-01-01"`` for a datetime).

        Raises QueryError naming the field when it is not a value of the field.
        """
        return _coerce(self._adapter, self.label, value, what)

    def coerce_item(self, value: Any) -> Any:
        item = _item_annotation(self.annotation)
        if item is None:
            raise QueryError(f"{self.label} is not a list: contains() needs one")
        adapter = None if item is Any else TypeAdapter(rewrite_attrs_types(item))
        return _coerce(adapter, self.label, value, "item")

    def __repr__(self) -> str:
        return f"FieldRef({self.label})"


def _coerce(adapter: TypeAdapter[Any] | None, label: str, value: Any, what: str) -> Any:
    if getattr(value, "is_query_term", False):
        raise QueryError(f"{label}: compare a field with a value, not with {value!r}")
    if value is None or adapter is None:
        return value
    try:
        return adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        raise QueryError(
            f"{label}: {value!r} is not a {what} of this field: {short_reason(exc)}"
        ) from None


_REFS: dict[tuple[type[Any], tuple[str, ...]], FieldRef] = {}


def field_ref(spec: ModelSpec, path: str | tuple[str, ...]) -> FieldRef:
    """The field at ``path`` (``"status"``, ``"notifications.email"``) of a model.

    Raises QueryError for a name the model does not have, with the closest match.
    """
    steps = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
    found = _REFS.get((spec.cls, steps))
    if found is not None:
        return found
    model = spec.cls.__name__
    fields: dict[str, Any] | None = _type_hints(spec.cls)
    annotation: Any = Any
    for depth, step in enumerate(steps):
        where = ".".join((model, *steps[:depth]))
        if fields is None:
            annotation = Any
        elif "*" in fields:
            annotation = fields["*"]
        elif step in fields:
            annotation = fields[step]
        else:
            if not fields:
                raise QueryError(f"{where} has no fields: {step!r} cannot follow it")
            close = difflib.get_close_matches(step, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise QueryError(f"{where} has no field {step!r}{hint} (fields: {', '.join(fields)})")
        fields = _nested_fields(annotation) if depth + 1 < len(steps) else fields
    ref = FieldRef(model, steps, annotation)
    if len(_REFS) < 4096:
        _REFS[(spec.cls, steps)] = ref
    return ref


__all__ = ["FieldRef", "field_ref", "kinds_of"]
