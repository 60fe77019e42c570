"""The order of field values: one total order, and an encoding of it in file names.

Queries compare and sort field values, and secondary indexes store them in
file names that must sort the same way. This module is the one home of that
order. Values of different kinds never compare equal, and sort by kind::

    None  <  False < True  <  numbers  <  strings  <  datetimes  <  dates

- numbers: ``int``, ``float`` and ``Decimal`` compare by value, exactly
  (``1 == 1.0``, ``2**60 + 1 > 2.0**60``); ``-0.0 == 0.0``; NaN equals NaN and
  sorts after ``+inf`` (as in PostgreSQL); ``bool`` is its own kind, not a number;
- strings by code point (Python's order);
- datetimes by instant: aware ones in any time zone, naive ones as if in UTC;
- enums by their value, UUIDs as their canonical string.

Anything else (lists, dicts, nested models) has no order: it can be tested
for equality, never sorted or compared with ``<``.

:func:`encode` turns a value into a string of ``0-9``, ``a-f``, ``.`` and
``-`` that is *monotone*: ``a < b`` gives ``encode(a) <= encode(b)`` and
``a == b`` gives ``encode(a) == encode(b)``. It is strictly increasing
(``a < b`` gives ``encode(a) < encode(b)``) for ``None``, bools, floats,
ints and ``Decimal`` values of at most 2**53 in magnitude, datetimes and
dates; beyond 2**53 ints stay exact and non-integral ``Decimal`` values share
the key of the integer below them. Index entries keep only a prefix of a long
encoding, which truncation keeps monotone; queries read every candidate and
test it again, so a shared key costs a read, never a wrong answer.
"""

from __future__ import annotations

import enum
import math
import struct
import sys
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

NONE, BOOL, NUMBER, STRING, DATETIME, DATE = range(6)
"""The kinds of orderable values, in their order (and the tags that start their encodings)."""

KIND_NAMES = ("None", "bool", "number", "string", "datetime", "date")

_SIGN = 1 << 63
_MASK = (1 << 64) - 1
_TWO_53 = 2**53
_MAX_DOUBLE = sys.float_info.max
_MAX_DOUBLE_INT = int(_MAX_DOUBLE)
_NAN_BITS = 0x7FF8000000000000
_PACK = struct.Struct(">d")
_UNPACK = struct.Struct(">Q")
KIND_END = "~"
"""A character above every character of an encoding: ``tag + KIND_END`` bounds a kind."""


class UnorderableError(TypeError):
    """A value has no place in the order (a list, a dict, a nested model, ...)."""


def normalize(value: Any) -> Any:
    """``value`` as queries compare it: enums by value, UUIDs as strings, plain builtins.

    Naive datetimes stay naive (``sort_key`` and ``encode`` read them as UTC).
    Values without an order are returned unchanged.
    """
    cls = value.__class__
    if cls is str or cls is int or cls is float or value is None or cls is bool:
        return value
    if isinstance(value, enum.Enum):
        return normalize(value.value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def kind_of(value: Any) -> int | None:
    """The kind of a normalized value (``NONE`` ... ``DATE``), or None when it has no order."""
    if value is None:
        return NONE
    cls = value.__class__
    if cls is str:
        return STRING
    if cls is bool:
        return BOOL
    if cls is int or cls is float or cls is Decimal:
        return NUMBER
    if isinstance(value, datetime):
        return DATETIME
    if isinstance(value, date):
        return DATE
    if isinstance(value, Decimal):
        return NUMBER
    return None


def is_nan(value: Any) -> bool:
    if value.__class__ is float:
        return bool(value != value)
    return isinstance(value, Decimal) and value.is_nan()


def aware(value: datetime) -> datetime:
    """A datetime that compares by instant: a naive one is read as UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def sort_key(value: Any) -> tuple[Any, ...]:
    """The key of a value in the total order (normalize first; see the module docstring).

    Raises UnorderableError for a value without an order.
    """
    value = normalize(value)
    kind = kind_of(value)
    if kind is None:
        raise UnorderableError(f"{type(value).__name__} values have no order")
    if kind == NUMBER:
        return (NUMBER, 1) if is_nan(value) else (NUMBER, 0, value)
    if kind == DATETIME:
        return (DATETIME, aware(value))
    if kind == NONE:
        return (NONE,)
    return (kind, value)


# -- the encoding ---------------------------------------------------------------------------


def _double_key(number: float) -> str:
    """16 hex digits that sort as the double does (NaN last, -0.0 as 0.0)."""
    # + 0.0 turns -0.0 into 0.0; every NaN gets one key
    bits = _NAN_BITS if number != number else _UNPACK.unpack(_PACK.pack(number + 0.0))[0]
    bits = (~bits & _MASK) if bits & _SIGN else (bits | _SIGN)
    return f"{bits:016x}"


def _floor_double(number: int | Decimal) -> float:
    """The largest double not above ``number`` (which is within the doubles' range)."""
    result = float(number)
    if (int(result) if isinstance(number, int) else Decimal(result)) > number:
        result = math.nextafter(result, -math.inf)
    return result


def _encode_int(number: int) -> str:
    if -_TWO_53 <= number <= _TWO_53:
        return f"{NUMBER}{_double_key(float(number))}"
    if number < -_MAX_DOUBLE_INT:
        return f"{NUMBER}{_double_key(-math.inf)}"  # beyond every double: one key (monotone)
    floor = _MAX_DOUBLE if number > _MAX_DOUBLE_INT else _floor_double(number)
    delta = number - int(floor)  # >= 0: the int is the double below it plus delta
    key = f"{NUMBER}{_double_key(floor)}"
    if delta == 0:
        return key
    digits = format(delta, "x")  # hex: no limit on the digits of a conversion
    if len(digits) > 99_999:
        raise OverflowError("an integer of more than 400,000 bits has no key")
    return f"{key}.{len(digits):05d}{digits}"


def _encode_decimal(number: Decimal) -> str:
    if number.is_nan():
        return f"{NUMBER}{_double_key(math.nan)}"
    if number.is_infinite():
        return f"{NUMBER}{_double_key(math.inf if number > 0 else -math.inf)}"
    if number == number.to_integral_value():
        return _encode_int(int(number))
    if abs(number) < _TWO_53:
        return f"{NUMBER}{_double_key(_floor_double(number))}"
    below = math.floor(number)
    if below < -_MAX_DOUBLE_INT:
        return f"{NUMBER}{_double_key(-math.inf)}"
    # Between ``below`` and ``below + 1``, whose keys differ after the key of
    # ``below``: "-" sorts below the "." of a delta and above nothing.
    return _encode_int(below) + "-"


_CLAMP_LOW = "0" * 20
_CLAMP_HIGH = "9" * 20


def _encode_datetime(value: datetime) -> str:
    offset = value.utcoffset() if value.tzinfo is not None else None
    if offset:
        try:
            value = value.replace(tzinfo=None) - offset
        except OverflowError:
            # Beyond year 1 or 9999 once in UTC: one key for each end (monotone).
            return f"{DATETIME}{_CLAMP_LOW if offset.total_seconds() > 0 else _CLAMP_HIGH}"
    return (
        f"{DATETIME}{value.year:04d}{value.month:02d}{value.day:02d}"
        f"{value.hour:02d}{value.minute:02d}{value.second:02d}{value.microsecond:06d}"
    )


def encode(value: Any) -> str:
    """The order-preserving encoding of a value (see the module docstring).

    Raises UnorderableError for a value without an order.
    """
    value = normalize(value)
    cls = value.__class__
    if cls is str:
        return f"{STRING}{value.encode('utf-8', 'surrogatepass').hex()}"
    if value is None:
        return f"{NONE}"
    if cls is bool:
        return f"{BOOL}{int(value)}"
    if cls is int:
        return _encode_int(value)
    if cls is float:
        return f"{NUMBER}{_double_key(value)}"
    if isinstance(value, Decimal):
        return _encode_decimal(value)
    if isinstance(value, datetime):
        return _encode_datetime(value)
    if isinstance(value, date):
        return f"{DATE}{value.year:04d}{value.month:02d}{value.day:02d}"
    raise UnorderableError(f"{type(value).__name__} values have no order")


def kind_bounds(kind: int) -> tuple[str, str]:
    """The lowest and a bound above every encoding of a kind."""
    return f"{kind}", f"{kind}{KIND_END}"


def string_prefix_bounds(prefix: str) -> tuple[str, str]:
    """Encodings of every string starting with ``prefix`` lie in ``[low, high)``."""
    low = encode(prefix)
    return low, low + "g"  # "g" is above every hex digit


# The folder levels of an index: cumulative prefixes of an encoding, by kind.
# Each level has a bounded number of names (see docs/queries.md): numbers by
# sign and binary exponent, then 1/256 of it; strings by first byte, then two;
# datetimes by UTC month, then hour; dates by month, then day.
_CUTS: dict[str, tuple[int, int]] = {
    str(NONE): (1, 1),
    str(BOOL): (1, 2),
    str(NUMBER): (4, 6),
    str(STRING): (3, 5),
    str(DATETIME): (7, 11),
    str(DATE): (7, 9),
}


def folder_cuts(encoded: str) -> tuple[int, int]:
    """How many characters of an encoding name its two index folder levels."""
    return _CUTS[encoded[:1]]


def folders_of(encoded: str) -> tuple[str, str]:
    """The two index folder names of an encoded value (prefixes of it)."""
    first, second = _CUTS[encoded[:1]]
    return encoded[:first], encoded[:second]


__all__ = [
    "BOOL",
    "DATE",
    "DATETIME",
    "KIND_END",
    "KIND_NAMES",
    "NONE",
    "NUMBER",
    "STRING",
    "UnorderableError",
    "aware",
    "encode",
    "folder_cuts",
    "folders_of",
    "is_nan",
    "kind_bounds",
    "kind_of",
    "normalize",
    "sort_key",
    "string_prefix_bounds",
]
