"""Codecs: turning a model instance into bytes and back.

Every model, pydantic or attrs, is validated and serialized by a pydantic
``TypeAdapter`` (attrs classes get a core schema built from their fields in
``_attrs_schema``), so both kinds share one fast path written in Rust.

Two codecs ship: ``JSON`` (the default: readable, the seed's format, fine
below a megabyte or so) and ``MSGPACK`` (binary, smaller and faster for large
objects; needs the msgpack package: ``pip install msgpack``, or volstore's
``msgpack`` extra, from a clone: ``pip install '/path/to/volstore[msgpack]'``).
A codec also reads and writes plain documents (dicts), which is what schema
upgrades work on.

Both refuse to write what their reader would refuse to read (see the reader
limits below): a value that encodes but never decodes is lost data.
"""

from __future__ import annotations

from typing import Any, Protocol

import pydantic_core
from pydantic import TypeAdapter

from ._errors import SerializationError, VolstoreError, install_hint

# -- the readers' limits -------------------------------------------------------------
# The one home of these figures, measured on pydantic-core 2.50 (its JSON parser,
# jiter) and msgpack 1.2, and pinned by tests/test_model_hardening.py, which probes
# the installed parsers: a new version that moves a limit fails that test.

JSON_MAX_DEPTH = 200
"""At most this many JSON arrays/objects may enclose a value (jiter's recursion limit).

One level deeper, pydantic-core's reader fails with "recursion limit exceeded".
The stored object itself is the first level.
"""

JSON_MAX_INT_DIGITS = 4300
"""Digits of the longest JSON integer literal pydantic-core reads ("number out of range" above).

The figure is jiter's own; ``sys.set_int_max_str_digits`` does not move it.
"""

MSGPACK_MAX_DEPTH = 1024
"""At most this many msgpack arrays/maps may nest (the unpacker's stack; deeper: StackError).

msgpack's packer refuses anything nested deeper, except an empty array or map
one level deeper, which it writes: ``MsgpackCodec`` packs each document inside
a one-element array and drops that array's header byte, so the packer's own
limit covers it. (A scalar inside exactly this many containers is refused too,
though readable: one level stricter than needed, never looser.) Integers
outside 64 bits cannot be packed at all.
"""

# What serializers raise for a value they cannot encode (PydanticSerializationError is a
# ValueError; msgpack's packer overflows on an int outside 64 bits, pydantic's on an int
# too large for a float field).
ENCODE_ERRORS = (ValueError, TypeError, OverflowError)

JSON_SURELY_READABLE_BYTES = 2 * JSON_MAX_DEPTH + 2
"""A JSON text this short is within both limits: nesting too deep takes 201 [ and 201 ]."""

# Digits become 0 and every other byte a space, so that a run of digits too long for
# the reader is found by a substring search (C speed, no regular expression).
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_TOO_MANY_DIGITS = b"0" * (JSON_MAX_INT_DIGITS + 1)


def json_unreadable(data: bytes) -> str | None:
    """Why pydantic-core's JSON reader would refuse ``data``, or None when it would not.

    ``data`` is serializer output (valid JSON). Cheap for ordinary objects:
    a length test, one count of brackets and one digit-run search. Only when
    those bounds are exceeded (more than ``JSON_MAX_DEPTH`` brackets, or a run
    of digits too long, inside strings or not) does the reader itself parse
    ``data``: the check is then exact by construction.
    """
    if len(data) <= JSON_SURELY_READABLE_BYTES:
        return None
    if data.count(b"[") + data.count(b"{") <= JSON_MAX_DEPTH and not _long_digit_run(data):
        return None
    try:
        pydantic_core.from_json(data)
    except ValueError as exc:
        text = str(exc)
        if "recursion limit" in text:
            return (
                f"it nests values more than {JSON_MAX_DEPTH} levels of arrays and objects deep, "
                "deeper than the JSON reader accepts"
            )
        if "number out of range" in text:
            return (
                f"it holds an integer of more than {JSON_MAX_INT_DIGITS} digits, "
                "longer than the JSON reader accepts"
            )
        return f"the JSON reader refuses it: {text[:200]}"
    return None


def _long_digit_run(data: bytes) -> bool:
    return len(data) > JSON_MAX_INT_DIGITS and _TOO_MANY_DIGITS in data.translate(_DIGITS_AS_ZEROS)


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
            data = adapter.serializer.to_json(obj, by_alias=True)
        except ENCODE_ERRORS as exc:
            raise SerializationError(f"cannot encode {type(obj).__name__} as JSON: {exc}") from exc
        reason = json_unreadable(data)
        if reason is not None:
            raise SerializationError(f"cannot store {type(obj).__name__} as JSON: {reason}")
        return data

    def decode(self, adapter: TypeAdapter[Any], data: bytes) -> Any:
        return adapter.validator.validate_json(data)

    def dump_document(self, document: Any) -> bytes:
        try:
            data = pydantic_core.to_json(document)
        except ENCODE_ERRORS as exc:
            raise SerializationError(f"cannot encode document as JSON: {exc}") from exc
        reason = json_unreadable(data)
        if reason is not None:
            raise SerializationError(f"cannot store the document as JSON: {reason}")
        return data

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
                "the msgpack codec needs the msgpack package: " + install_hint("msgpack", "msgpack")
            ) from exc
        return msgpack

    def encode(self, adapter: TypeAdapter[Any], obj: Any) -> bytes:
        try:
            document = adapter.serializer.to_python(obj, mode="json", by_alias=True)
        except ENCODE_ERRORS as exc:
            raise SerializationError(
                f"cannot encode {type(obj).__name__} as msgpack: {exc}"
            ) from exc
        return self.dump_document(document)

    def decode(self, adapter: TypeAdapter[Any], data: bytes) -> Any:
        return adapter.validator.validate_python(self.load_document(data))

    def dump_document(self, document: Any) -> bytes:
        try:
            # Packed one level down (see MSGPACK_MAX_DEPTH): the packer then refuses
            # whatever the unpacker would. The wrapper's header is the first byte.
            packed: bytes = self._msgpack().packb([document], use_bin_type=True)
        except ValueError as exc:
            if "recursion limit" not in str(exc):
                raise SerializationError(f"cannot encode document as msgpack: {exc}") from exc
            raise SerializationError(
                "cannot store the document as msgpack: it nests too deep for the msgpack "
                f"reader (at most {MSGPACK_MAX_DEPTH} levels of arrays and maps)"
            ) from exc
        except ENCODE_ERRORS as exc:
            raise SerializationError(f"cannot encode document as msgpack: {exc}") from exc
        return packed[1:]

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

__all__ = [
    "ENCODE_ERRORS",
    "JSON",
    "JSON_MAX_DEPTH",
    "JSON_MAX_INT_DIGITS",
    "JSON_SURELY_READABLE_BYTES",
    "MSGPACK",
    "MSGPACK_MAX_DEPTH",
    "Codec",
    "CodecUnavailableError",
    "JsonCodec",
    "MsgpackCodec",
    "json_unreadable",
]
