"""The time-bucketed path layout at its edges (the range queries live in test_events.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import volstore
from models import Event
from volstore import Store


def test_years_before_1000_are_zero_padded(store: Store) -> None:
    spec = volstore.spec_of(Event)
    at = datetime(999, 5, 1, 7, tzinfo=timezone.utc)
    assert store.bucket_folder(spec, at) == "events/0999-05-01/07"


def test_buckets_are_utc(store: Store) -> None:
    spec = volstore.spec_of(Event)
    at = datetime(2024, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=5)))
    assert store.bucket_folder(spec, at) == "events/2024-02-29/20"


def test_naive_and_out_of_range_timestamps_are_key_errors(store: Store) -> None:
    spec = volstore.spec_of(Event)
    with pytest.raises(volstore.InvalidKeyError, match="naive"):
        store.bucket_folder(spec, datetime(2024, 1, 1))
    edge = datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    with pytest.raises(volstore.InvalidKeyError, match="out of range"):
        store.bucket_folder(spec, edge)


def test_delete_then_add_in_another_bucket_leaves_one_file(store: Store) -> None:
    first = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
    second = datetime(2024, 1, 2, 10, tzinfo=timezone.utc)
    events = volstore.bucketed(store, Event)
    events.put(Event(id="e", user_id="ada", kind="k", timestamp=first))
    with store.session() as s:
        s.delete(Event, "ada", "e", at=first)
        s.add(Event(id="e", user_id="ada", kind="k", timestamp=second))
    assert events.get("ada", "e", first) is None
    assert events.get_one("ada", "e", second).timestamp == second
    assert [e.timestamp for e in events.list("ada")] == [second]
