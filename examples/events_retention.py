"""Retention (delete what is older than a cutoff) and cleanup of empty folders.

    PYTHONPATH=. python examples/events_retention.py

Writes only below a temporary folder, removed at the end.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import volstore
from models import Event

NOW = datetime(2024, 3, 10, 12, 30, tzinfo=timezone.utc)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        store = volstore.Store(root)
        events = store.bucketed(Event)
        # ten days of events, one every 20 minutes, for two users
        events.put_all(
            Event(user_id=user, kind="tick", timestamp=NOW - timedelta(minutes=20 * n))
            for n in range(10 * 24 * 3)
            for user in ("ada", "grace")
        )
        # a folder of notes that someone put next to the date folders
        (root / "events" / "notes").mkdir()
        (root / "events" / "notes" / "README.txt").write_text("not an event")

        # Keep a week: whole date folders go at once, the bucket holding the cutoff is
        # trimmed object by object, and everything is committed once.
        commits = store.stats.commits
        report = events.purge_older_than(7, now=NOW)  # or a timedelta, or an aware datetime
        print(f"cutoff {report.cutoff:%Y-%m-%d %H:%M} UTC: removed {report.removed_objects} events")
        print(f"  whole folders: {len(report.removed_folders)}, e.g. {report.removed_folders[0]}")
        print(f"  trimmed {report.trimmed_bucket}: {len(report.trimmed_paths)} events")
        print(f"  strays left alone: {report.stray_folders}")
        print(f"  commits: {store.stats.commits - commits}")
        oldest = next(events.range(None, None))
        assert oldest.timestamp >= report.cutoff
        assert (root / "events" / "notes" / "README.txt").exists()

        # A second run finds nothing to remove, and commits nothing.
        again = events.purge_older_than(7, now=NOW)
        print(f"second run: removed {again.removed_objects}, committed: {again.committed}")

        # Deleting a user's events leaves their folders empty; cleanup removes them,
        # never a folder whose name is not a date, an hour or a user folder.
        events.delete_all("grace")
        (root / "events" / "2024-03-09" / "scratch").mkdir()
        cleanup = events.remove_empty_folders()
        print(f"cleanup removed {len(cleanup.removed_folders)} empty folders")
        print(f"  strays reported, kept: {cleanup.stray_folders}")
        assert (root / "events" / "2024-03-09" / "scratch").is_dir()


if __name__ == "__main__":
    main()
