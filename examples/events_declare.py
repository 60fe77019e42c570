"""Declaring a time-bucketed model, and where its objects go.

    PYTHONPATH=. python examples/events_declare.py

Writes only below a temporary folder, removed at the end.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
from pydantic import AwareDatetime

import volstore


class Event(volstore.Model, resource_type="events", time_field="timestamp"):
    """Hour buckets (the default): events/<YYYY-MM-DD>/<HH>/<user_hash>/<id>.json."""

    id: str = volstore.id_field()
    user_id: str
    kind: str
    timestamp: AwareDatetime  # pydantic refuses naive datetimes here already


@volstore.resource("heartbeats", time_field="sent_at", bucket="day")
@attrs.define
class Heartbeat:
    """Day buckets, declared on an attrs class: heartbeats/<YYYY-MM-DD>/<user_hash>/<id>.json."""

    id: str
    user_id: str
    sent_at: datetime


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        store = volstore.Store(root)
        events = store.bucketed(Event)
        beats = store.bucketed(Heartbeat)

        # 01:30 in India on 1 March is 20:00 UTC on 29 February: buckets are in UTC.
        india = timezone(timedelta(hours=5, minutes=30))
        click = events.put(
            Event(
                id="e1",
                user_id="ada",
                kind="click",
                timestamp=datetime(2024, 3, 1, 1, 30, tzinfo=india),
            )
        )
        beats.put(Heartbeat("h1", "ada", datetime(2024, 2, 29, 23, 59, tzinfo=timezone.utc)))
        for path in sorted(p.relative_to(root).as_posix() for p in root.rglob("[!.]*.json")):
            print(path)

        # A naive datetime has no place in UTC buckets: refused before anything is written.
        try:
            beats.put(Heartbeat("h2", "ada", datetime(2024, 3, 1, 12, 0)))
        except volstore.InvalidKeyError as exc:
            print("refused:", exc)

        # Reads and deletes by key need the timestamp (any time in the same bucket will do).
        assert events.get("ada", "e1", click.timestamp) == click
        assert events.get("ada", "e1", datetime(2024, 2, 29, 20, 59, tzinfo=timezone.utc)) == click

        # Changing the timestamp moves the file: the new one is written and the old
        # one deleted by the same commit.
        commits = store.stats.commits
        with store.session() as session:
            loaded = session.get_one(Event, "ada", "e1", at=click.timestamp)
            loaded.timestamp = datetime(2024, 3, 2, 9, 15, tzinfo=timezone.utc)
        print(
            f"moved with {store.stats.commits - commits} commit:",
            store.object_path(volstore.spec_of(Event), loaded),
        )
        assert not events.exists("ada", "e1", click.timestamp)
        assert events.exists("ada", "e1", loaded.timestamp)


if __name__ == "__main__":
    main()
