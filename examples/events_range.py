"""Range queries over hour buckets, what they list, latest events, the listing cache.

    PYTHONPATH=. python examples/events_range.py

Writes only below a temporary folder, removed at the end.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

import volstore
from models import Event

START = datetime(2024, 2, 28, tzinfo=timezone.utc)
USERS = ["ada", "grace", "linus"]
HOUR = timedelta(hours=1)


def show(store: volstore.Store, label: str, query: Callable[[], Iterable[Event]]) -> list[Event]:
    """Run a query; print how many events it found and how many folders it listed."""
    before = store.stats.lists
    found = list(query())
    listed = store.stats.lists - before
    print(f"{label:<40} {len(found):>5} events {listed:>5} folders listed")
    return found


def main() -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        store = volstore.Store(tmp)
        events = store.bucketed(Event)
        # three days of events, about 20 an hour, in one session (one commit)
        with store.session() as session:
            for minute in range(0, 3 * 24 * 60, 3):
                session.add(
                    Event(
                        user_id=rng.choice(USERS),
                        kind=rng.choice(["view", "click"]),
                        timestamp=START + timedelta(minutes=minute, seconds=rng.randrange(60)),
                    )
                )
        one = datetime(2024, 2, 29, 13, tzinfo=timezone.utc)
        half = timedelta(minutes=30)

        # One hour, every user: the hour's bucket, then each user folder in it.
        show(store, "13:00-14:00, everyone", lambda: events.range(one, one + HOUR))
        # Not aligned on the hour: two buckets.
        show(store, "13:30-14:30, everyone", lambda: events.range(one + half, one + half + HOUR))
        # One user: only that user's folder in each bucket.
        show(
            store,
            "13:30-14:30, grace only",
            lambda: events.range(one + half, one + half + HOUR, user_id="grace"),
        )
        # A long range lists the type folder and the date folders first (days with no
        # data cost nothing more), then the buckets it found.
        february = datetime(2024, 2, 1, tzinfo=timezone.utc)
        march = datetime(2024, 3, 1, tzinfo=timezone.utc)
        show(
            store, "all of February, ada only", lambda: events.range(february, march, user_id="ada")
        )
        # The iterator is lazy: it lists and reads one bucket at a time.
        show(
            store,
            "the first event of linus",
            lambda: [next(events.range(START, None, user_id="linus"))],
        )
        # The latest events: buckets newest first, stopping when there are enough.
        latest = show(store, "the latest 5 of ada", lambda: events.latest("ada", 5))
        assert latest == sorted(latest, key=lambda e: e.timestamp, reverse=True)

        # Filters on ids are globs, applied to the listing before any file is read.
        audit = events.put(Event(id="audit-1", user_id="ada", kind="audit", timestamp=one))
        found = show(
            store,
            "13:00-14:00, ids audit-*",
            lambda: events.range(one, one + HOUR, pattern="audit-*"),
        )
        assert found == [audit]

        # With the listing cache a repeated query lists nothing; a write or a reload
        # through this store drops the cache.
        cached = store.bucketed(Event, cache_listings=True)
        show(store, "13:00-14:00, cache empty", lambda: cached.range(one, one + HOUR))
        show(store, "13:00-14:00, again: cached", lambda: cached.range(one, one + HOUR))
        cached.put(Event(user_id="grace", kind="click", timestamp=one + timedelta(minutes=1)))
        show(store, "13:00-14:00, after a write", lambda: cached.range(one, one + HOUR))

        # A naive datetime is refused at the call.
        try:
            events.range(datetime(2024, 2, 29), None)
        except volstore.InvalidKeyError as exc:
            print("refused:", exc)


if __name__ == "__main__":
    main()
