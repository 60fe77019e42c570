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
