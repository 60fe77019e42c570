"""Time in volstore: UTC instants, time buckets and half-open windows.

Time-bucketed models are stored in one folder per UTC hour or day. This module
is the one home of what that takes: turning a user's datetime into UTC (a
naive one is refused: a bucket is a UTC interval), the start of the bucket
holding an instant, the names of bucket folders and their parsing, and the
half-open windows that range queries and retention work with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from ._errors import InvalidKeyError

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BUCKETS = ("hour", "day")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_DATE_NAME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HOUR_NAME = re.compile(r"[0-9]{2}")


def to_utc(at: object, what: str) -> datetime:
    """``at`` in UTC.

    Raises InvalidKeyError naming ``what`` unless ``at`` is a timezone-aware
    datetime that exists in UTC (a naive one is ambiguous: buckets are UTC).
    """
    if not isinstance(at, datetime):
        raise InvalidKeyError(f"{what} must be a timezone-aware datetime, not {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidKeyError(
            f"{what} is a naive datetime ({at.isoformat()}); time buckets are in UTC, so "
            "give a timezone-aware one, e.g. datetime.now(timezone.utc)"
        )
    try:
        return at.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidKeyError(f"{what} {at.isoformat()} is out of range in UTC") from None


def step_of(bucket: str) -> timedelta:
    """The length of one bucket: an hour or a day."""
    return HOUR if bucket == "hour" else DAY


def floor(utc: datetime, bucket: str) -> datetime:
    """The start of the bucket holding ``utc`` (a UTC datetime)."""
    if bucket == "day":
        return utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return utc.replace(minute=0, second=0, microsecond=0)


def bucket_names(utc: datetime, bucket: str) -> str:
    """The folder names of the bucket holding ``utc``: ``YYYY-MM-DD`` or ``YYYY-MM-DD/HH``."""
    # Zero-padded by hand: strftime's %Y does not pad years before 1000 on Linux.
    day = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
    return day if bucket == "day" else f"{day}/{utc.hour:02d}"


def parse_date_folder(name: str) -> datetime | None:
    """The UTC midnight a date folder name stands for, or None if it is not ``YYYY-MM-DD``."""
    if not _DATE_NAME.fullmatch(name):
        return None
    try:
        day = date.fromisoformat(name)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def parse_hour_folder(name: str) -> int | None:
    """The hour an hour folder name stands for, or None if it is not ``00`` to ``23``."""
    if not _HOUR_NAME.fullmatch(name):
        return None
    hour = int(name)
    return hour if hour < 24 else None


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start, end)`` in UTC; None is unbounded."""

    start: datetime | None
    end: datetime | None

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None) -> Window:
        """A window from user datetimes. Raises InvalidKeyError for a naive one."""
        return cls(
            None if start is None else to_utc(start, "start"),
            None if end is None else to_utc(end, "end"),
        )

    def contains(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    def overlaps(self, begin: datetime, length: timedelta) -> bool:
        """Whether the interval ``[begin, begin + length)`` meets the window."""
        if self.end is not None and begin >= self.end:
            return False
        if self.start is None:
            return True
        try:
            return begin + length > self.start
        except OverflowError:  # a bucket at the very end of time
            return True


EVERYTHING = Window(None, None)


def cutoff_of(cutoff: datetime | timedelta | int, now: datetime | None) -> datetime:
    """The UTC instant before which retention deletes.

    ``cutoff`` is an aware datetime, a timedelta or a number of days before
    ``now`` (default: the current time). Raises InvalidKeyError for a naive
    datetime, TypeError for another type, ValueError for a negative age or one
    that reaches before the year 1.
    """
    if isinstance(cutoff, datetime):
        return to_utc(cutoff, "cutoff")
    reference = datetime.now(timezone.utc) if now is None else to_utc(now, "now")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (timedelta, int)):
        raise TypeError(
            f"cutoff must be a datetime, a timedelta or a number of days, not {cutoff!r}"
        )
    age = cutoff if isinstance(cutoff, timedelta) else timedelta(days=cutoff)
    if age < timedelta(0):
        raise ValueError(f"the age to keep must not be negative, not {cutoff!r}")
    try:
        return reference - age
    except OverflowError:
        raise ValueError(f"an age of {cutoff!r} reaches before the year 1") from None


__all__ = [
    "BUCKETS",
    "DAY",
    "EPOCH",
    "EVERYTHING",
    "HOUR",
    "Window",
    "bucket_names",
    "cutoff_of",
    "floor",
    "parse_date_folder",
    "parse_hour_folder",
    "step_of",
    "to_utc",
]
