"""Codecs: turning a model instance into bytes and back.

Every model, pydantic or attrs, is validated and serialized by a pydantic
``TypeAdapter`` (attrs classes get a core schema built from their fields in
``_attrs_schema``), so both kinds share one fast path written in Rust.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from ._errors import SerializationError


class Codec(Protocol):
    """Encodes model instances to bytes and decodes them back.

    ``encode`` raises SerializationError for an object it cannot encode;
    ``decode`` raises ValueError (pydantic's ValidationError is one) for bytes
    that do not hold a valid instance. The session turns that into a
    CorruptObjectError naming the file.
    """

    name: str
    extension: str

    def encode(self, adapter: TypeAdapter[Any], obj: Any) -> bytes: ...

    def decode(self, adapter: TypeAdapter[Any], data: bytes) -> Any: ...


class JsonCodec:
    """JSON through pydantic's serializer: readable, and the seed's format."""

    name = "json"
    extension = ".json"

    def encode(self, adapter: TypeAdapter[Any], obj: Any) -> bytes:
        try:
            # The serializer itself: TypeAdapter.dump_json adds argument handling per call.
            return adapter.serializer.to_json(obj, by_alias=True)
        except (PydanticSerializationError, ValueError, TypeError) as exc:
            raise SerializationError(f"cannot encode {type(obj).__name__} as JSON: {exc}") from exc

    def decode(self, adapter: TypeAdapter[Any], data: bytes) -> Any:
        return adapter.validator.validate_json(data)


JSON = JsonCodec()

__all__ = ["JSON", "Codec", "JsonCodec", "ValidationError"]
