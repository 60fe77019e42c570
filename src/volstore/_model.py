"""Declaring models: the pydantic base class, the attrs decorator, model specs.

A model carries a ``ModelSpec`` in its ``__volstore__`` class attribute:
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

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

import attrs
import pydantic
from pydantic import TypeAdapter
from pydantic.fields import FieldInfo

from ._attrs_schema import adapter_for_attrs
from ._codec import (
    ENCODE_ERRORS,
    JSON,
    JSON_SURELY_READABLE_BYTES,
    Codec,
    JsonCodec,
    MsgpackCodec,
    json_unreadable,
)
from ._errors import (
    InvalidKeyError,
    ModelDefinitionError,
    SchemaVersionError,
    SerializationError,
    short_reason,
)
from ._ids import new_id
from ._keys import validate_resource_type
from ._time import BUCKETS

M = TypeVar("M")

SCHEMA_KEY = "_schema_version"
"""The key that records an object's schema version in its stored document."""
T = TypeVar("T", bound=type)


INDEX_SHARDS = (16, 256, 4096)


@dataclass(frozen=True)
class Index:
    """A secondary index on one field of a model, declared with it (see docs/queries.md).

    ``Index("status")`` lets queries on ``status`` (``==``, ``in``, ranges,
    string prefixes) read only the objects whose value matches, within one
    user or across users. ``unique=True`` refuses a second object with the
    same value: per user, or ``across_users=True`` across all users
    (UniqueViolationError, nothing written). ``field`` may name a nested
    field (``"notifications.email"``). ``shards`` (16, 256 or 4096) spreads
    the entries of values that share a folder: each folder holds at most
    262,144 entries on a v2 Modal Volume.

    Declared with ``indexes=[...]`` on the model (a plain string is an
    ``Index`` of that field)::

        class Task(volstore.Model, resource_type="tasks",
                   indexes=["status", volstore.Index("slug", unique=True)]):
            ...
    """

    field: str
    unique: bool = False
    across_users: bool = False
    shards: int = 16

    @property
    def name(self) -> str:
        """The index's name: its field path (also its folder name)."""
        return self.field

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))


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
    schema_version: int | None = None  # set when the model declares schema versions
    migrations: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = field(
        default_factory=dict
    )  # from_version -> upgrade of a stored document to from_version + 1
    previous_codecs: tuple[Codec, ...] = ()  # formats still read (a codec change in progress)
    indexes: tuple[Index, ...] = ()  # secondary indexes (see docs/queries.md)

    @functools.cached_property
    def adapter(self) -> TypeAdapter[Any]:
        """Validates and serializes instances (built on first use: forward references resolve)."""
        if self.kind == "attrs":
            return adapter_for_attrs(self.cls)
        return TypeAdapter(self.cls)

    @functools.cached_property
    def flat(self) -> bool:
        """Whether objects live in one folder per user (no time buckets)."""
        return self.time_field is None

    @functools.cached_property
    def extension(self) -> str:
        """The file extension of the model's codec (``.json``)."""
        return self.codec.extension

    @functools.cached_property
    def _dump_json(self) -> Callable[..., bytes] | None:
        """The serializer's own JSON entry point (TypeAdapter.serializer is not free to reach)."""
        if self.schema_version is None and isinstance(self.codec, JsonCodec):
            return self.adapter.serializer.to_json
        return None

    @functools.cached_property
    def unchanged_dump(self) -> Callable[..., bytes] | None:
        """``encode`` without its checks, for a dirty check (pydantic and JSON only), or None.

        Called with ``by_alias=True``. Bytes equal to ones read or written before
        passed every check then (the size limit, the reader's limits), so a
        commit that finds a loaded object unchanged need not pay for them again.
        """
        return self._dump_json if self.kind == "pydantic" else None

    @functools.cached_property
    def plain_validate(self) -> Callable[[bytes], Any] | None:
        """The validator's own JSON entry point, when nothing stands between it and the bytes.

        Then it is all ``decode`` does: the hot read paths call it themselves.
        """
        if self.schema_version is None and isinstance(self.codec, JsonCodec):
            return self.adapter.validator.validate_json
        return None

    @functools.cached_property
    def read_codecs(self) -> dict[str, Codec]:
        """Every format this model reads, by file extension: its codec first."""
        codecs = {self.codec.extension: self.codec}
        for codec in self.previous_codecs:
            codecs.setdefault(codec.extension, codec)
        return codecs

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
        """The stored bytes of ``obj``: its codec's encoding, tagged with the schema version.

        Raises SerializationError, before anything is written, when ``obj``
        cannot be encoded, when the reader would refuse its encoding (an
        integer or a nesting beyond the limits in ``_codec``), or, for an attrs
        model, when the encoding does not validate as the model: attrs checks
        no types, so a ``None`` in a ``str`` field would be written and never
        read back. pydantic models are not validated again here: pydantic
        validated them when they were built (and, with ``validate_assignment``,
        at each assignment); see docs/concepts.md.
        """
        if not isinstance(obj, self.cls):
            raise TypeError(f"expected a {self.cls.__name__}, got {type(obj).__name__}")
        is_attrs = self.kind == "attrs"
        dump_json = self._dump_json
        if dump_json is not None:  # JSON, no schema versions: the common case
            try:
                if is_attrs:  # validated below, where a wrong value gets a clear error
                    data = dump_json(obj, by_alias=True, warnings=False)
                else:
                    data = dump_json(obj, by_alias=True)
            except ENCODE_ERRORS as exc:
                raise SerializationError(
                    f"cannot encode {self.cls.__name__} as JSON: {exc}"
                ) from exc
            # attrs objects are read back below, which applies the reader's limits too.
            if not is_attrs and len(data) > JSON_SURELY_READABLE_BYTES:
                reason = json_unreadable(data)
                if reason is not None:
                    raise SerializationError(f"cannot store {self._describe(obj)}: {reason}")
        elif self.schema_version is None and not isinstance(self.codec, MsgpackCodec):
            data = self.codec.encode(self.adapter, obj)  # a codec of the application's own
        else:
            try:
                document = self.adapter.serializer.to_python(
                    obj, mode="json", by_alias=True, warnings=not is_attrs
                )
            except ENCODE_ERRORS as exc:
                raise SerializationError(f"cannot encode {self.cls.__name__}: {exc}") from exc
            if self.schema_version is not None:
                document = {SCHEMA_KEY: self.schema_version, **document}
            try:
                data = self.codec.dump_document(document)
            except SerializationError as exc:  # the reader would refuse it: say whose it is
                raise SerializationError(f"{self._describe(obj)}: {exc}") from exc
        if is_attrs:
            self._check_reads_back(obj, data)
        return data

    def _check_reads_back(self, obj: Any, data: bytes) -> None:
        """Decode ``data`` as a read would; raise SerializationError if that fails."""
        try:
            self.decode(data)
        except (ValueError, TypeError, KeyError) as exc:  # as a read would fail (CorruptObject)
            reason = json_unreadable(data) if isinstance(self.codec, JsonCodec) else None
            raise SerializationError(
                f"cannot store {self._describe(obj)}: {reason or short_reason(exc)}"
            ) from exc

    def _describe(self, obj: Any) -> str:
        object_id = getattr(obj, self.id_field, None)
        return self.cls.__name__ if object_id is None else f"{self.cls.__name__} {object_id!r}"

    def decode(self, data: bytes, codec: Codec | None = None) -> Any:
        """An instance from stored bytes, upgraded from older schema versions in memory.

        Raises ValueError (a ValidationError, or a SchemaVersionError for an
        object written by newer code) when the bytes hold no valid instance.
        """
        if codec is None and self.plain_validate is not None:
            return self.plain_validate(data)  # JSON, no schema versions: the common case
        codec = codec or self.codec
        if self.schema_version is None:
            return codec.decode(self.adapter, data)
        document = codec.load_document(data)
        if not isinstance(document, dict):
            raise ValueError(f"expected an object, found {type(document).__name__}")
        version = self.stored_schema_version(document)
        document.pop(SCHEMA_KEY, None)
        for step in range(version, self.schema_version):
            document = self.migrations[step](document)
            if not isinstance(document, dict):
                raise TypeError(
                    f"{self.cls.__name__}'s upgrade from schema version {step} returned "
                    f"{type(document).__name__}, not a dict"
                )
        return self.adapter.validator.validate_python(document)

    def stored_schema_version(self, document: dict[str, Any]) -> int:
        """The schema version a stored document was written with (1 when untagged).

        Raises SchemaVersionError for a version newer than this code knows.
        """
        version = document.get(SCHEMA_KEY, 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"invalid schema version {version!r}")
        if self.schema_version is not None and version > self.schema_version:
            raise SchemaVersionError(version, self.schema_version)
        return version


# The keywords a model declaration accepts, with their defaults.
_DECLARATION_DEFAULTS: dict[str, Any] = {
    "id_field": "id",
    "owner_field": "user_id",
    "codec": JSON,
    "time_field": None,
    "bucket": "hour",
    "version_field": None,
    "schema_version": None,
    "migrations": None,
    "previous_codecs": (),
    "indexes": (),
}
DECLARATION_KEYWORDS = ("resource_type", *_DECLARATION_DEFAULTS)


def _unknown_keywords(cls: type[Any], unknown: Iterable[str]) -> ModelDefinitionError:
    """The one error for a misspelt declaration keyword, pydantic or attrs: closest match named."""
    named = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, DECLARATION_KEYWORDS, n=1)
        named.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    return ModelDefinitionError(
        f"{cls.__name__}: unknown declaration keyword(s) {', '.join(named)}; "
        f"known: {', '.join(DECLARATION_KEYWORDS)}"
    )


def _check_schema(cls: type[Any], values: dict[str, Any]) -> None:
    version, migrations = values["schema_version"], values["migrations"]
    if version is None:
        if migrations:
            raise ModelDefinitionError(f"{cls.__name__}: migrations given without schema_version")
        values["migrations"] = {}
    else:
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ModelDefinitionError(
                f"{cls.__name__}: schema_version must be an int >= 1, not {version!r}"
            )
        migrations = dict(migrations or {})
        missing = [v for v in range(1, version) if not callable(migrations.get(v))]
        extra = sorted(set(migrations) - set(range(1, version)))
        if missing or extra:
            raise ModelDefinitionError(
                f"{cls.__name__} is at schema version {version}: it needs an upgrade function "
                f"from each older version (migrations={{1: ..., {version - 1}: ...}}); "
                f"missing {missing}, unexpected {extra}"
            )
        values["migrations"] = migrations
    previous = values["previous_codecs"]
    values["previous_codecs"] = tuple(previous)
    if values["codec"].extension in [c.extension for c in values["previous_codecs"]]:
        raise ModelDefinitionError(f"{cls.__name__}: previous_codecs repeats the model's codec")


_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _check_indexes(
    cls: type[Any], declared: object, field_names: list[str], values: dict[str, Any]
) -> tuple[Index, ...]:
    """The declared indexes as ``Index`` objects; ModelDefinitionError for a bad declaration.

    Field types are checked when a store registers the model (forward
    references resolve by then): see ``volstore._index``.
    """
    if isinstance(declared, (str, Index)) or not isinstance(declared, Iterable):
        raise ModelDefinitionError(
            f"{cls.__name__}: indexes takes a list of field names or volstore.Index(...), "
            f"not {declared!r}"
        )
    indexes: list[Index] = []
    reserved = {
        values["id_field"]: "id",
        values["owner_field"]: "owner",
        values["version_field"]: "version",
    }
    for item in declared:
        index = Index(item) if isinstance(item, str) else item
        if not isinstance(index, Index):
            raise ModelDefinitionError(
                f"{cls.__name__}: an index is a field name or volstore.Index(...), not {item!r}"
            )
        where = f"{cls.__name__}: index {index.field!r}"
        if not isinstance(index.field, str) or not _FIELD_PATH.fullmatch(index.field):
            raise ModelDefinitionError(f"{where}: not a field name (or a dotted path of them)")
        top = index.path[0]
        if top not in field_names:
            close = difflib.get_close_matches(top, field_names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ModelDefinitionError(f"{where}: {cls.__name__} has no field {top!r}{hint}")
        if len(index.path) == 1 and reserved.get(top) is not None:
            raise ModelDefinitionError(
                f"{where}: the {reserved[top]} field is part of every object's key and needs "
                "no index"
                if reserved[top] != "version"
                else f"{where}: the version field changes at every write; it cannot be indexed"
            )
        if index.shards not in INDEX_SHARDS:
            raise ModelDefinitionError(
                f"{where}: shards must be one of {', '.join(map(str, INDEX_SHARDS))}, "
                f"not {index.shards!r}"
            )
        if index.across_users and not index.unique:
            raise ModelDefinitionError(f"{where}: across_users applies to unique indexes only")
        if any(other.name == index.name for other in indexes):
            raise ModelDefinitionError(f"{where}: declared twice")
        indexes.append(index)
    return tuple(indexes)


def _make_spec(
    cls: type[Any],
    resource_type: object,
    kind: str,
    field_names: list[str],
    options: dict[str, Any],
) -> ModelSpec:
    unknown = set(options) - set(_DECLARATION_DEFAULTS)
    if unknown:
        raise _unknown_keywords(cls, unknown)
    values = {**_DECLARATION_DEFAULTS, **options}
    try:
        checked = validate_resource_type(resource_type)
    except InvalidKeyError as exc:
        raise ModelDefinitionError(f"{cls.__name__}: {exc}") from None
    _check_schema(cls, values)
    if values["bucket"] not in BUCKETS:
        raise ModelDefinitionError(
            f"{cls.__name__}: bucket must be one of {', '.join(BUCKETS)}, not {values['bucket']!r}"
        )
    values["indexes"] = _check_indexes(cls, values["indexes"], field_names, values)
    spec = ModelSpec(cls=cls, resource_type=checked, kind=kind, **values)
    roles = [("id", spec.id_field), ("owner", spec.owner_field)]
    if spec.time_field is not None:
        roles.append(("timestamp", spec.time_field))
    if spec.version_field is not None:
        roles.append(("version", spec.version_field))
    for role, name in roles:
        if name not in field_names:
            raise ModelDefinitionError(
                f"{cls.__name__} declares {name!r} as its {role} field, but has no such field "
                f"(fields: {', '.join(field_names) or 'none'})"
            )
    if len({name for _, name in roles}) != len(roles):
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
    optimistic concurrency (see the guarantees page of the docs).

    ```python
    class Schedule(volstore.Model, resource_type="schedules"):
        id: str = volstore.id_field()
        user_id: str
    ```

    A subclass without ``resource_type`` is an abstract base: it can hold
    shared fields but cannot be stored. Raises ModelDefinitionError for an
    invalid resource type, an unknown keyword, or a missing field.
    """

    __volstore__: ClassVar[ModelSpec | None] = None

    # NaN and infinities are written as JSON's NaN/Infinity constants (which
    # pydantic reads back), not as null, which would make the object unreadable.
    model_config = pydantic.ConfigDict(ser_json_inf_nan="constants")

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
        if not kwargs:
            super().__init_subclass__()
            return
        try:  # another base class may take keywords of its own
            super().__init_subclass__(**kwargs)
        except TypeError:
            # object.__init_subclass__ says "takes no keyword arguments" without
            # naming them: a misspelt declaration keyword, said as attrs models say it.
            raise _unknown_keywords(cls, kwargs) from None


def resource(resource_type: str, **options: Any) -> Callable[[T], T]:
    """Declare an attrs class as a stored model (put it above ``@attrs.define``).

    Takes the same keywords as ``Model`` (``id_field``, ``owner_field``,
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
        for attribute in attrs.fields(target):
            if isinstance(attribute.default, FieldInfo):
                # volstore.id_field() (a pydantic field) in an attrs class: the
                # FieldInfo itself would become every instance's value.
                raise ModelDefinitionError(
                    f"{cls.__name__}.{attribute.name} is a pydantic field in an attrs class; "
                    f"use volstore.attrs_id_field() (or attrs.field(...)) there"
                )
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
    """A pydantic field whose default is a new time-sortable id (see ``new_id``).

    For attrs classes use ``attrs_id_field``. Keywords go to ``pydantic.Field``.
    """
    return pydantic.Field(default_factory=new_id, **kwargs)


def attrs_id_field(**kwargs: Any) -> str:
    """An attrs field whose default is a new time-sortable id: ``id_field`` for attrs classes.

    The field is keyword-only (``attrs.field(factory=new_id, kw_only=True)``),
    so attrs accepts it before fields without defaults and an id is given as
    ``Profile(id="p1", ...)``. Type checkers see a plain default value: for
    them, declare it after the fields that have no default. Keywords go to
    ``attrs.field``.
    """
    field: str = attrs.field(factory=new_id, kw_only=True, **kwargs)
    return field
