"""The order of field values and its encoding in index entry names (volstore._order).

Properties: the encoding is monotone (``a < b`` gives ``encode(a) <= encode(b)``,
``a == b`` gives equal encodings), strictly so for the kinds the docs promise,
agrees with Python's own order within a kind, survives the cuts that entry
names and folder levels make, and uses only characters safe in a file name.
"""

from __future__ import annotations

import enum
import math
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from volstore._index import Found
from volstore._order import (
    KIND_END,
    UnorderableError,
    encode,
    folders_of,
    kind_bounds,
    normalize,
    sort_key,
    string_prefix_bounds,
)
from volstore._plan import Span


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 7


TWO_53 = 2**53
zones = st.sampled_from(
    [timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))]
)
aware = st.datetimes(timezones=zones)
naive = st.datetimes()
small_ints = st.integers(-(2**60), 2**60)
huge_ints = st.integers(-(10**400), 10**400)
floats = st.floats(allow_nan=True, allow_infinity=True)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None) | st.sampled_from(
    [Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN")]
)
texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.text(max_size=3)
surrogates = st.text(st.characters(min_codepoint=0xD700, max_codepoint=0xE100), max_size=3)
numbers = small_ints | huge_ints | floats | decimals | st.sampled_from([2**53 + 1, 2**1030, -0.0])
values: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    texts,
    surrogates,
    aware,
    naive,
    st.dates(),
    st.sampled_from(list(Color)),
    st.sampled_from(list(Level)),
    st.uuids(),
)
# Kinds whose encoding the docs promise to be strictly increasing.
exact_numbers = (
    st.integers(-TWO_53, TWO_53)
    | st.floats(allow_nan=False)
    | st.decimals(
        allow_nan=False, allow_infinity=False, min_value=-TWO_53, max_value=TWO_53, places=0
    )
)
exact_values: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), exact_numbers, texts, aware, naive, st.dates()
)


@settings(max_examples=600)
@given(values, values)
def test_the_encoding_is_monotone(a: Any, b: Any) -> None:
    ka, kb = sort_key(a), sort_key(b)
    ea, eb = encode(a), encode(b)
    if ka == kb:
        assert ea == eb
    elif ka < kb:
        assert ea <= eb
    else:
        assert ea >= eb


@settings(max_examples=600)
@given(exact_values, exact_values)
def test_the_encoding_is_strict_for_the_exact_kinds(a: Any, b: Any) -> None:
    ka, kb = sort_key(a), sort_key(b)
    assume(ka != kb)
    assert (encode(a) < encode(b)) == (ka < kb)


@given(st.lists(exact_values, max_size=20))
def test_sorting_encodings_sorts_values(items: list[Any]) -> None:
    by_key = sorted(items, key=sort_key)
    by_encoding = sorted(items, key=encode)
    assert [sort_key(v) for v in by_encoding] == [sort_key(v) for v in by_key]


@given(numbers, numbers)
def test_numbers_compare_as_python_compares_them(a: Any, b: Any) -> None:
    assume(
        not (isinstance(a, Decimal) and a.is_nan()) and not (isinstance(b, Decimal) and b.is_nan())
    )
    assume(a == a and b == b)  # NaN: its own place, after +inf (below)
    assert (sort_key(a) < sort_key(b)) == (a < b)
    assert (sort_key(a) == sort_key(b)) == (a == b)


def test_nan_equals_nan_and_sorts_after_infinity() -> None:
    assert sort_key(math.nan) == sort_key(float("nan")) == sort_key(Decimal("NaN"))
    assert sort_key(math.inf) < sort_key(math.nan)
    assert encode(math.inf) < encode(math.nan) == encode(Decimal("NaN"))


def test_kinds_sort_in_the_documented_order() -> None:
    ordered = [None, False, True, -math.inf, 0, 10**30, "", "a", datetime(1, 1, 1), date(1, 1, 1)]
    assert sorted(ordered, key=sort_key) == ordered
    assert sorted(ordered, key=encode) == ordered


def test_bools_are_not_numbers_and_enums_are_their_values() -> None:
    assert sort_key(True) != sort_key(1)
    assert encode(True) != encode(1)
    assert encode(Color.RED) == encode("red")
    assert encode(Level.HIGH) == encode(7) == encode(7.0) == encode(Decimal("7.00"))
    assert normalize(uuid.UUID(int=5)) == "00000000-0000-0000-0000-000000000005"


@given(aware, zones)
def test_a_datetime_is_one_instant_in_every_zone(moment: datetime, zone: timezone) -> None:
    try:
        other = moment.astimezone(zone)
    except OverflowError:
        return
    assert encode(other) == encode(moment)
    assert sort_key(other) == sort_key(moment)


def test_a_naive_datetime_is_read_as_utc() -> None:
    assert encode(datetime(2024, 1, 1)) == encode(datetime(2024, 1, 1, tzinfo=timezone.utc))


def test_values_without_an_order_are_refused() -> None:
    for value in ([1], {"a": 1}, b"bytes", object()):
        try:
            encode(value)
        except UnorderableError:
            continue
        raise AssertionError(f"{value!r} was encoded")


@given(values)
def test_encodings_are_safe_in_file_names(value: Any) -> None:
    text = encode(value)
    assert text
    assert set(text) <= set("0123456789abcdef.-")
    first, second = folders_of(text)
    assert text.startswith(second)
    assert second.startswith(first)


@settings(max_examples=400)
@given(values, values, values, st.integers(1, 40))
def test_cut_entries_are_never_missed_by_a_span(a: Any, b: Any, v: Any, cut: int) -> None:
    low, high = sorted([encode(a), encode(b)])
    value = encode(v)
    if low <= value <= high:
        assert Span(low, high).admits(Found("p", value, False, None))
        assert Span(low, high).admits(Found("p", value[:cut], True, None))


@given(values, values)
def test_folder_levels_are_monotone(a: Any, b: Any) -> None:
    ea, eb = encode(a), encode(b)
    if ea[:1] == eb[:1] and ea <= eb:
        fa, fb = folders_of(ea), folders_of(eb)
        assert fa[0] <= fb[0]
        assert fa[1] <= fb[1]


@given(values)
def test_kind_bounds_hold_every_value_of_the_kind(value: Any) -> None:
    text = encode(value)
    low, high = kind_bounds(int(text[0]))
    assert low <= text < high
    assert high.endswith(KIND_END)


@given(texts, texts)
def test_string_prefix_bounds(prefix: str, rest: str) -> None:
    low, high = string_prefix_bounds(prefix)
    assert low <= encode(prefix + rest) < high
