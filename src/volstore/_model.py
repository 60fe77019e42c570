"""Declaring models: the pydantic base class, the attrs decorator, model specs.

A model carries a :class:`ModelSpec` in its ``__volstore__`` class attribute:
its resource type, the names of its id and owner fields, its codec and the
TypeAdapter that validates and serializes it. Models know nothing of storage;
the store and the session read the spec.

    class Schedule(volstore.Model, resource_type="schedules"):
        id: str = volstore.id_field()
        user_id: str
        cron: str

    @volstore.resource("profiles")
    @attrs.define
    class Profile:
        id: str
        user_id: str
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import attrs
import pydantic
from pydantic import TypeAdapter

from ._attrs_schema import adapter_for_attrs
from ._codec import JSON, Codec
from ._errors import InvalidKeyError, ModelDefinitionError
from ._ids import new_id
from ._keys import validate_resource_type

M = TypeVar("M")
T = TypeVar("T", bound=type)


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What volstore knows about one model class."""

    cls: type[Any]
    resource_type: str
    kind: str  # "pydantic" or "attrs"
    id_field: str = "id"
    owner_field: str = "user_id"
    codec: Codec = JSON
    time_field: str | None = None  # set for time-bucketed models
    bucket: str = "hour"  # "hour" or "day", for time-bucketed models
    version_field: str | None = None  # set for optimistic concurrency

    @functools.cached_property
    def adapter(self) -> TypeAdapter[Any]:
        """Validates and serializes instances (built on first use: forward references resolve)."""
        if self.kind == "attrs":
            return adapter_for_attrs(self.cls)
        return TypeAdapter(self.cls)

    @property
    def extension(self) -> str:
        return self.codec.extension

    def object_id(self, obj: Any) -> Any:
        return getattr(obj, self.id_field)

    def owner(self, obj: Any) -> Any:
        return getattr(obj, self.owner_field)

    def assign_id(self, obj: Any) -> str:
        """Give ``obj`` a generated id if its id field is None; return the id."""
        value = getattr(obj, self.id_field)
        if value is not None:
            return cast(str, value)
        value = new_id()
        try:
            setattr(obj, self.id_field, value)
        except (attrs.exceptions.FrozenInstanceError, pydantic.ValidationError, TypeError) as exc:
            raise InvalidKeyError(
                f"{self.cls.__name__}.{self.id_field} is None and the instance is frozen; "
                f"give it an id or declare the field with volstore.id_field()"
            ) from exc
        return value

    def encode(self, obj: Any) -> bytes:
        if not isinstance(obj, self.cls):
            raise TypeError(f"expected a {self.cls.__name__}, got {type(obj).__name__}")
        return self.codec.encode(self.adapter, obj)

    def decode(self, data: bytes) -> Any:
        return self.codec.decode(self.adapter, data)


BUCKETS = ("hour", "day")

# The keywords a model declaration accepts, with their defaults.
_DECLARATION_DEFAULTS: dict[str, Any] = {
    "id_field": "id",
    "owner_field": "user_id",
    "codec": JSON,
    "time_field": None,
    "bucket": "hour",
    "version_field": None,
}


def _make_spec(
    cls: type[Any],
    resource_type: object,
    kind: str,
    field_names: list[str],
    options: dict[str, Any],
) -> ModelSpec:
    unknown = set(options) - set(_DECLARATION_DEFAULTS)
    if unknown:
        raise ModelDefinitionError(
            f"{cls.__name__}: unknown declaration keyword(s) {', '.join(sorted(unknown))}; "
            f"known: resource_type, {', '.join(_DECLARATION_DEFAULTS)}"
        )
    values = {**_DECLARATION_DEFAULTS, **options}
    try:
        checked = validate_resource_type(resource_type)
    except InvalidKeyError as exc:
        raise ModelDefinitionError(f"{cls.__name__}: {exc}") from None
    if values["bucket"] not in BUCKETS:
        raise ModelDefinitionError(
            f"{cls.__name__}: bucket must be one of {', '.join(BUCKETS)}, not {values['bucket']!r}"
        )
    spec = ModelSpec(cls=cls, resource_type=checked, kind=kind, **values)
    roles = [("id", spec.id_field), ("owner", spec.owner_field)]
    if spec.time_field is not None:
        roles.append(("timestamp", spec.time_field))
    if spec.version_field is not None:
        roles.append(("version", spec.version_field))
    for role, field in roles:
        if field not in field_names:
            raise ModelDefinitionError(
                f"{cls.__name__} declares {field!r} as its {role} field, but has no such field "
                f"(fields: {', '.join(field_names) or 'none'})"
            )
    if len({field for _, field in roles}) != len(roles):
        raise ModelDefinitionError(
            f"{cls.__name__}: the id, owner, timestamp and version fields must all differ"
        )
    return spec


class Model(pydantic.BaseModel):
    """Base class of pydantic models stored by volstore.

    Declare the resource type (the top-level folder) in the class statement;
    ``id_field`` and ``owner_field`` name the fields that hold the object id and
    the owning user's id (defaults ``id`` and ``user_id``). ``time_field``
    names a timezone-aware datetime field and makes the model time-bucketed:
    stored at ``<type>/<YYYY-MM-DD>/<HH>/<user_hash>/<id>.json`` (``bucket="day"``
    drops the hour folder). ``version_field`` names an int field and turns on
    optimistic concurrency (see docs/guarantees.md)::

        class Schedule(volstore.Model, resource_type="schedules"):
            id: str = volstore.id_field()
            user_id: str

    A subclass without ``resource_type`` is an abstract base: it can hold
    shared fields but cannot be stored. Raises ModelDefinitionError for an
    invalid resource type, an unknown keyword, or a missing field.
    """

    __volstore__: ClassVar[ModelSpec | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        resource_type = kwargs.pop("resource_type", None)
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in _DECLARATION_DEFAULTS}
        super().__pydantic_init_subclass__(**kwargs)
        if resource_type is None:
            if options:
                raise ModelDefinitionError(
                    f"{cls.__name__}: {', '.join(options)} given without resource_type"
                )
            cls.__volstore__ = None
            return
        cls.__volstore__ = _make_spec(
            cls, resource_type, "pydantic", list(cls.model_fields), options
        )

    @classmethod
    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The class keywords are read by __pydantic_init_subclass__ above, which
        # pydantic calls once the fields exist; keep them away from object.
        kwargs.pop("resource_type", None)
        for name in _DECLARATION_DEFAULTS:
            kwargs.pop(name, None)
        super().__init_subclass__(**kwargs)


def resource(resource_type: str, **options: Any) -> Callable[[T], T]:
    """Declare an attrs class as a stored model (put it above ``@attrs.define``).

    Takes the same keywords as :class:`Model` (``id_field``, ``owner_field``,
    ``time_field``, ``bucket``, ``version_field``, ``codec``). Raises
    ModelDefinitionError when the class is not an attrs class, the resource
    type is invalid, a keyword is unknown, or a named field is missing.
    """

    def declare(cls: T) -> T:
        target: Any = cls  # attrs.has() narrows its argument; keep cls a T
        if not attrs.has(target):
            raise ModelDefinitionError(
                f"@volstore.resource needs an attrs class; put it above @attrs.define on "
                f"{cls.__name__}"
            )
        names = [f.name for f in attrs.fields(target)]
        spec = _make_spec(cls, resource_type, "attrs", names, options)
        setattr(cls, "__volstore__", spec)  # noqa: B010 - a class attribute attrs does not know
        return cls

    return declare


def spec_of(model: type[Any] | Any) -> ModelSpec:
    """The spec of a model class (or of an instance's class).

    Raises ModelDefinitionError when the class was not declared as a volstore model.
    """
    cls = model if isinstance(model, type) else type(model)
    spec = cls.__dict__.get("__volstore__")
    if not isinstance(spec, ModelSpec):
        raise ModelDefinitionError(
            f"{cls.__name__} is not a volstore model: subclass volstore.Model with "
            "resource_type=..., or decorate an attrs class with @volstore.resource(...)"
        )
    return spec


def id_field(**kwargs: Any) -> Any:
    """A pydantic field whose default is a new time-sortable id (see ``new_id``)."""
    return pydantic.Field(default_factory=new_id, **kwargs)
