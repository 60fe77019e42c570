"""A scheduler's tick: every job due in the next minute, across all users, through an index.

    PYTHONPATH=. python examples/scheduler.py

The job a scheduler on Modal runs every minute (``@app.function(schedule=
modal.Period(minutes=1))``): find what is due, run it, move its next run on.
Without an index that is a scan of every user's folder; with ``next_run_at``
indexed it lists the index folders of the coming minute and reads the due jobs
only. Writes only below a temporary folder, removed at the end.
"""

from __future__ import annotations

import random
import tempfile
from datetime import datetime, timedelta, timezone

import volstore


class Job(
    volstore.Model,
    resource_type="jobs",
    indexes=["next_run_at", volstore.Index("name", unique=True)],  # one name per user
):
    """A user's recurring job: run every ``every_minutes`` minutes from ``next_run_at``."""

    id: str = volstore.id_field()
    user_id: str
    name: str
    every_minutes: int
    next_run_at: datetime
    enabled: bool = True
    runs: int = 0


def due_jobs(repo: volstore.Repository[Job], now: datetime) -> volstore.Query[Job]:
    """Enabled jobs of every user due before the end of the coming minute, soonest first."""
    soon = now + timedelta(minutes=1)
    return (
        repo.query(all_users=True)
        .where(lambda job: job.next_run_at < soon, enabled=True)
        .order_by("next_run_at")
    )


def tick(store: volstore.Store, now: datetime) -> int:
    """One scheduler tick: run every due job and schedule its next run, in one commit."""
    reads = store.stats.reads
    with store.session() as session:
        due = due_jobs(session.repository(Job), now)
        ran = 0
        for page in due.pages(100):  # memory holds one page of jobs at a time
            for job in page.items:
                job.runs += 1  # "run" it
                job.next_run_at += timedelta(minutes=job.every_minutes)
                ran += 1
    print(f"{now:%H:%M} ran {ran:>2} jobs; {due.explain()}; {store.stats.reads - reads} files read")
    return ran


def main() -> None:
    rng = random.Random(14)
    start = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        store = volstore.Store(tmp)
        with store.session() as session:
            for user in range(200):
                for n in range(10):
                    session.add(
                        Job(
                            user_id=f"user-{user:03d}",
                            name=f"job-{n}",
                            every_minutes=rng.choice([5, 15, 60, 24 * 60]),
                            next_run_at=start + timedelta(seconds=rng.randrange(6 * 3600)),
                            enabled=rng.random() > 0.1,
                        )
                    )
        print(f"stored {store.repository(Job).query(all_users=True).count()} jobs of 200 users")

        total = sum(tick(store, start + timedelta(minutes=m)) for m in range(5))
        ran = store.repository(Job).query(all_users=True).where(runs__gt=0).count()
        assert ran <= total

        # What an index saves: the same question answered by a scan of everything.
        reads = store.stats.reads
        everything = store.repository(Job).scan()
        soon = start + timedelta(minutes=6)
        by_scan = sorted(j.id for j in everything if j.enabled and j.next_run_at < soon)
        scan_reads = store.stats.reads - reads
        reads = store.stats.reads
        due = due_jobs(store.repository(Job), start + timedelta(minutes=5))
        by_index = sorted(j.id for j in due.all())
        print(
            f"due by 09:06: {len(by_index)} jobs; the index read {store.stats.reads - reads} "
            f"files, a scan {scan_reads}"
        )
        assert by_index == by_scan

        # A unique index per user: a second "job-0" for a user is refused, nothing written.
        try:
            store.repository(Job).put(
                Job(user_id="user-007", name="job-0", every_minutes=5, next_run_at=start)
            )
        except volstore.UniqueViolationError as error:
            print(f"refused: {error}")
        assert store.check().ok


if __name__ == "__main__":
    main()
