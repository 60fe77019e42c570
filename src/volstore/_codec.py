"""Codecs: turning a model instance into bytes and back.

Every model, pydantic or attrs, is validated and serialized by a pydantic
``TypeAdapter`` (attrs classes get a core schema built from their fields in
``_attrs_schema``), so both kinds share one fast path written in Rust.

Two codecs ship: ``JSON`` (the default: readable, the seed's format, fine
below a megabyte or so) and ``MSGPACK`` (binary, smaller and faster for large
objects; needs ``pip install 'volstore[msgpack]'``). A codec also reads and
writes plain documents (dicts), which is what schema upgrades work on.
"""

from __future__ import annotations

from typing import Any, Protocol

import pydantic_core
from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError

from ._errors import SerializationError, VolstoreError


class Codec(Protocol):
    """Encodes model instances to bytes and decodes them back.

    ``encode`` raises SerializationError for an object it cannot encode;
    ``decode`` and ``load_document`` raise ValueError (pydantic's
    ValidationError is one) for bytes that do not hold a valid instance. The
    store turns that into a CorruptObjectError naming the file.
    """

    name: str
    extension: str

    def encode(self, adapter: TypeAdapter[Any], obj: Any) -> bytes: ...

    def decode(self, adapter: TypeAdapter[Any], data: bytes) -> Any: ...

    def dump_document(self, document: Any) -> bytes: ...

    def load_document(self, data: bytes) -> Any: ...


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

    def dump_document(self, document: Any) -> bytes:
        try:
            return pydantic_core.to_json(document)
        except (PydanticSerializationError, ValueError, TypeError) as exc:
            raise SerializationError(f"cannot encode document as JSON: {exc}") from exc

    def load_document(self, data: bytes) -> Any:
        return pydantic_core.from_json(data)

    def __repr__(self) -> str:
        return "JSON"


class CodecUnavailableError(VolstoreError, ImportError):
    """A codec's optional dependency is not installed."""


class MsgpackCodec:
    """MessagePack: binary, compact and fast for large objects (``.msgpack`` files).

    Values are stored as their JSON-compatible form (datetimes as ISO strings),
    so a model reads back the same whichever codec wrote it.
    """

    name = "msgpack"
    extension = ".msgpack"

    def _msgpack(self) -> Any:
        try:
            import msgpack
        except ImportError as exc:
            raise CodecUnavailableError(
                "the msgpack codec needs the msgpack package: pip install 'volstore[msgpack]'"
            ) from exc
        return msgpack

    def encode(self, adapter: TypeAdapter[Any], obj: Any) -> bytes:
        try:
            document = adapter.serializer.to_python(obj, mode="json", by_alias=True)
        except (PydanticSerializationError, ValueError, TypeError) as exc:
            raise SerializationError(
                f"cannot encode {type(obj).__name__} as msgpack: {exc}"
            ) from exc
        return self.dump_document(document)

    def decode(self, adapter: TypeAdapter[Any], data: bytes) -> Any:
        return adapter.validator.validate_python(self.load_document(data))

    def dump_document(self, document: Any) -> bytes:
        try:
            packed: bytes = self._msgpack().packb(document, use_bin_type=True)
        except (ValueError, TypeError, OverflowError) as exc:
            raise SerializationError(f"cannot encode document as msgpack: {exc}") from exc
        return packed

    def load_document(self, data: bytes) -> Any:
        msgpack = self._msgpack()
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError) as exc:
            raise ValueError(f"not valid msgpack: {exc}") from exc
        except (msgpack.exceptions.StackError, UnicodeDecodeError) as exc:
            raise ValueError(f"not valid msgpack: {exc}") from exc

    def __repr__(self) -> str:
        return "MSGPACK"


JSON = JsonCodec()
MSGPACK = MsgpackCodec()

__all__ = ["JSON", "MSGPACK", "Codec", "CodecUnavailableError", "JsonCodec", "MsgpackCodec"]
