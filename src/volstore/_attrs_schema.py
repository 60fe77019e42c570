"""Pydantic core schemas for attrs classes.

pydantic does not know attrs classes. ``adapter_for_attrs(cls)`` builds a
``TypeAdapter`` whose schema validates a mapping of the class's init fields
(with each field's own type, nested attrs classes included) and calls the class,
and serializes an instance as that mapping. Datetimes, enums, nested models and
containers therefore round-trip exactly as they do for pydantic models.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import attrs
from pydantic import ConfigDict, GetCoreSchemaHandler, TypeAdapter
from pydantic_core import core_schema

# Annotated subscripted at run time with computed arguments (mypy reads
# Annotated[...] as a type expression, which these are not).
_ANNOTATED: Any = Annotated


class AttrsClass:
    """An ``Annotated`` marker that gives pydantic a schema for one attrs class."""

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        cls = self.cls
        attrs.resolve_types(cls)
        fields: dict[str, core_schema.TypedDictField] = {}
        init_name: dict[str, str] = {}
        for field in attrs.fields(cls):
            if not field.init:
                continue
            annotation = rewrite_attrs_types(field.type if field.type is not None else Any)
            fields[field.name] = core_schema.typed_dict_field(
                handler.generate_schema(annotation),
                required=field.default is attrs.NOTHING,
            )
            init_name[field.name] = field.alias or field.name
        mapping = core_schema.typed_dict_schema(fields, extra_behavior="ignore")
        names = tuple(fields)

        def build(values: dict[str, Any]) -> Any:
            return cls(**{init_name[k]: v for k, v in values.items()})

        def as_mapping(obj: Any) -> dict[str, Any]:
            return {name: getattr(obj, name) for name in names}

        def instance_or_mapping(
            value: Any, handler: core_schema.ValidatorFunctionWrapHandler
        ) -> Any:
            # An instance passes as it is; anything else validates as the mapping, and
            # its errors name the fields (a union would add a failed is-instance branch).
            return value if isinstance(value, cls) else handler(value)

        from_mapping = core_schema.no_info_after_validator_function(build, mapping)
        return core_schema.json_or_python_schema(
            json_schema=from_mapping,
            python_schema=core_schema.no_info_wrap_validator_function(
                instance_or_mapping, from_mapping
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                as_mapping, return_schema=mapping
            ),
        )


def rewrite_attrs_types(annotation: Any) -> Any:
    """Wrap every attrs class inside ``annotation`` (``list[X]``, ``X | None``...) in a marker."""
    if isinstance(annotation, type) and attrs.has(annotation):
        return _ANNOTATED[annotation, AttrsClass(annotation)]
    origin = get_origin(annotation)
    if origin is None or origin is Literal:
        return annotation
    args = get_args(annotation)
    if origin is Annotated:
        params = (rewrite_attrs_types(args[0]), *annotation.__metadata__)
        return _ANNOTATED[params]
    new_args = tuple(rewrite_attrs_types(arg) for arg in args)
    if new_args == args:
        return annotation
    if origin is Union or origin is types.UnionType:
        return Union[new_args]  # noqa: UP007 - building a union from a tuple at runtime
    if isinstance(origin, type) and hasattr(annotation, "copy_with"):
        return annotation.copy_with(new_args)  # typing.List[X] and friends
    return origin[new_args]


def adapter_for_attrs(cls: type[Any]) -> TypeAdapter[Any]:
    """A TypeAdapter that validates and serializes instances of the attrs class ``cls``."""
    adapter: TypeAdapter[Any] = TypeAdapter(
        _ANNOTATED[cls, AttrsClass(cls)], config=ConfigDict(ser_json_inf_nan="constants")
    )
    return adapter


__all__ = ["AttrsClass", "adapter_for_attrs", "rewrite_attrs_types"]
