"""Time-bucketed models: range queries over bucket folders, retention, cleanup.

A model declared with ``time_field`` is stored in one folder per time bucket,
in UTC::

    events/2024-02-29/23/<user_hash>/<id>.json      bucket="hour" (the default)
    events/2024-02-29/<user_hash>/<id>.json         bucket="day"

so a time-range query lists only the buckets it overlaps, and old data goes by
removing whole date folders. :class:`BucketedRepository` is the repository of
such a model: ``range``, ``latest``, get and delete by key and timestamp,
``purge_older_than`` (retention) and ``remove_empty_folders`` (cleanup).

What a query costs (``store.stats.lists`` counts folder listings):

- a range of at most ``direct_bucket_limit`` buckets (48 by default: two days
  of hours) lists each of its buckets, and nothing above them: one listing per
  bucket with a user (that user's folder), one plus one per user folder without;
- a longer or open-ended range first lists the type folder once and each date
  folder it overlaps, so that days and hours with no data cost one listing at
  most; then the buckets found, as above.

Every object in a listed folder is read: timestamps live inside the files, and
objects of one bucket are sorted after reading.
"""

from __future__ import annotations

import bisect
import builtins
import errno
import fnmatch
import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import (
    BackendError,
    CorruptObjectError,
    InvalidKeyError,
    ModelDefinitionError,
    ObjectNotFoundError,
    SessionError,
)
from ._keys import (
    check_relative_path,
    is_user_folder,
    is_valid_id,
    parse_date_folder,
    parse_hour_folder,
)
from ._model import spec_of
from ._repository import OnError, Repository, UserRepository, handle_corrupt
from .backends._base import Entry
from .backends.local import LocalBackend

if TYPE_CHECKING:
    from ._session import Session
    from ._store import ReloadArg, Store

M = TypeVar("M")

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionReport:
    """What ``purge_older_than`` removed, and what it left alone.

    ``removed_objects`` counts every file removed; ``removed_folders`` are the
    bucket folders removed whole (date folders, or the hours of the cutoff's
    date); ``trimmed_bucket`` is the bucket holding the cutoff when objects
    were removed from it one by one (``trimmed_paths``), else None. Folders and files whose names
    are not dates or hours are never removed: they are listed in
    ``stray_folders`` and ``stray_files``. ``committed`` says whether the
    backend was committed (once, and only when something was removed).
    """

    cutoff: datetime
    removed_objects: int = 0
    removed_folders: tuple[str, ...] = ()
    trimmed_bucket: str | None = None
    trimmed_paths: tuple[str, ...] = ()
    stray_folders: tuple[str, ...] = ()
    stray_files: tuple[str, ...] = ()
    committed: bool = False


@dataclass(frozen=True)
class CleanupReport:
    """What ``remove_empty_folders`` removed below ``prefix``, and the strays it kept.

    ``removed_folders`` is in removal order (children before parents). A
    folder whose name is not a date, an hour or a user folder where the layout
    expects one is a stray: never removed, listed in ``stray_folders`` (files
    where only folders belong are listed in ``stray_files``).
    """

    prefix: str
    removed_folders: tuple[str, ...] = ()
    stray_folders: tuple[str, ...] = ()
    stray_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Window:
    """The half-open interval ``[start, end)`` in UTC; None is unbounded."""

    start: datetime | None
    end: datetime | None

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


def _utc(at: object, what: str) -> datetime:
    """``at`` in UTC; raises InvalidKeyError unless it is a timezone-aware datetime."""
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


class BucketedRepository(Repository[M]):
    """The repository of a time-bucketed model (declared with ``time_field``).

    ``BucketedRepository(store, Event)`` reads and writes through the store,
    each write its own commit; pass ``session=`` (or use ``bucketed(session,
    Event)``) to go through a unit of work, whose pending adds and deletes
    queries then see.

    ``cache_listings=True`` keeps folder listings between queries. The cache is
    dropped whenever this store writes, deletes or reloads, so it never hides
    this process's own changes; changes committed elsewhere appear after a
    reload, as with any read. Keep the repository to keep its cache.

    Raises ModelDefinitionError for a model without a ``time_field``.
    """

    direct_bucket_limit: int = 48
    """A range of at most this many buckets lists them directly (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        model: type[M],
        *,
        session: Session | None = None,
        cache_listings: bool = False,
    ) -> None:
        spec = spec_of(model)
        if spec.time_field is None:
            raise ModelDefinitionError(
                f"{model.__name__} is not time-bucketed (declare it with time_field=...); "
                f"use store.repository({model.__name__})"
            )
        super().__init__(store, model, session=session)
        self.time_field: str = spec.time_field
        self.step = _HOUR if spec.bucket == "hour" else _DAY
        self.cache_listings = cache_listings
        self.cache_hits = 0
        self._cache: dict[str, tuple[Entry, ...]] = {}
        self._cache_stamp: tuple[int, ...] | None = None
        self._generation = 0  # bumped by this repository's own removals
        self._cache_lock = threading.Lock()

    def __repr__(self) -> str:
        bound = " in a session" if self.session is not None else ""
        return f"BucketedRepository[{self.model.__name__}]({self.store!r}{bound})"

    def for_user(self, user_id: str) -> BucketedUserRepository[M]:
        """A view bound to one user: it cannot reach anyone else's objects."""
        self.store.hasher(user_id)  # validates the user id now
        return BucketedUserRepository(self, user_id)

    # -- reads by key --------------------------------------------------------------------------

    def get(
        self,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        *,
        reload: ReloadArg = None,
    ) -> M | None:
        """The object at ``(user_id, object_id)`` with timestamp ``at``, or None.

        ``at`` may be any time in the object's bucket. Raises InvalidKeyError
        for a bad key or a missing or naive ``at``, CorruptObjectError (naming
        the file) for a stored file that does not parse or validate.
        """
        if self.session is not None:
            return self.session.get(self.model, user_id, object_id, at=at, reload=reload)
        store = self.store
        path = store.path_for(self.spec, user_id, object_id, at)
        store.maybe_reload(reload)
        found = store.locate(self.spec, path)
        if found is None:
            return None
        return store.decode(self.spec, found[0], found[1], object_id, user_id)  # type: ignore[no-any-return]

    def get_one(
        self,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        *,
        reload: ReloadArg = None,
    ) -> M:
        """Like get, but raises ObjectNotFoundError (also a KeyError) when nothing is there."""
        if self.session is not None:
            return self.session.get_one(self.model, user_id, object_id, at=at, reload=reload)
        obj = self.get(user_id, object_id, at, reload=reload)
        if obj is None:
            raise ObjectNotFoundError(self.spec.resource_type, user_id, object_id)
        return obj

    def exists(
        self,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        *,
        reload: ReloadArg = None,
    ) -> bool:
        """Whether an object is stored at the key and timestamp (seen through the session)."""
        path = self.store.path_for(self.spec, user_id, object_id, at)
        if self.session is not None:
            present, deleted = self.session.pending_ids(self.spec, user_id)
            if object_id in present or object_id in deleted:
                return object_id in present
        self.store.maybe_reload(reload)
        return self.store.object_exists(self.spec, path)

    # -- range queries -------------------------------------------------------------------------

    def range(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        user_id: str | None = None,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> Iterator[M]:
        """Lazily yield the objects with ``start <= timestamp < end``, by timestamp then id.

        ``start`` and ``end`` are timezone-aware datetimes (None: unbounded).
        With ``user_id`` only that user's folder of each bucket is listed;
        ``pattern`` is a glob on ids, applied before any file is read. Nothing
        is listed until iteration starts; then one bucket at a time is listed,
        read and sorted. ``on_error`` treats a file that does not parse, or
        that lies in a bucket or user folder its content does not belong to,
        as in ``Repository.list``.

        Raises InvalidKeyError for a naive datetime or a bad user id (at once,
        not at the first ``next``).
        """
        window = self._window(start, end)
        if user_id is not None:
            self.store.hasher(user_id)  # validate now, not at the first next()
        return self._walk(window, user_id, pattern, False, on_error, reload)

    def latest(
        self,
        user_id: str,
        n: int = 10,
        *,
        before: datetime | None = None,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """The user's ``n`` newest objects (before ``before``, if given), newest first.

        Walks the buckets newest first and stops at the bucket that completes
        ``n``: it lists the type folder once, each date folder it visits and
        the user's folder in each hour bucket it visits, and reads the user's
        objects in the visited buckets only.
        """
        if n < 0:
            raise ValueError(f"n must not be negative, not {n}")
        window = self._window(None, before)
        self.store.hasher(user_id)
        if n == 0:
            return []
        walk = self._walk(window, user_id, pattern, True, on_error, reload)
        return builtins.list(itertools.islice(walk, n))

    def iter(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: M | datetime | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> Iterator[M]:
        """Lazily yield all of one user's objects in time order (ties by id).

        ``after`` is the cursor of a page: the last object of the previous page
        (resume right after it), or a datetime (only later objects). Ids are
        not a cursor here, as objects are in time order: a string raises TypeError.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        self.store.hasher(user_id)
        walk: Iterator[M]
        if after is None:
            walk = self._walk(_Window(None, None), user_id, pattern, False, on_error, reload)
        elif isinstance(after, datetime):
            since = _utc(after, "after")
            walk = itertools.dropwhile(
                lambda obj: getattr(obj, self.time_field) <= since,
                self._walk(_Window(since, None), user_id, pattern, False, on_error, reload),
            )
        elif isinstance(after, self.model):
            last = self._order(after)
            since = _utc(last[0], f"{self.model.__name__}.{self.time_field}")
            walk = itertools.dropwhile(
                lambda obj: self._order(obj) <= last,
                self._walk(_Window(since, None), user_id, pattern, False, on_error, reload),
            )
        else:
            raise TypeError(
                f"{self.model.__name__} objects are listed in time order: pass after=<the last "
                f"object of the previous page> or a datetime, not {after!r}"
            )
        return walk if limit is None else itertools.islice(walk, limit)

    def list(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: M | datetime | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """All of one user's objects in time order, ties by id (a page with ``after``/``limit``).

        For the next page pass ``after=page[-1]``. This lists every bucket's
        folder of that user; for a time span, ``range(..., user_id=...)`` lists less.
        """
        return builtins.list(
            self.iter(
                user_id, pattern=pattern, after=after, limit=limit, reload=reload, on_error=on_error
            )
        )

    def ids(
        self,
        user_id: str,
        *,
        pattern: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
    ) -> builtins.list[str]:
        """The user's object ids over all buckets, sorted by id, without reading the objects.

        Lists the type folder, each date folder and the user's folder in every bucket.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must not be negative, not {limit}")
        self.store.maybe_reload(reload)
        found = {object_id for _, object_id, _ in self._user_files(user_id, None)}
        if self.session is not None:
            present, deleted = self.session.pending_ids(self.spec, user_id)
            found = (found | present) - deleted
        ids = sorted(found)
        if after is not None:
            ids = ids[bisect.bisect_right(ids, after) :]
        if pattern is not None:
            ids = [object_id for object_id in ids if fnmatch.fnmatchcase(object_id, pattern)]
        return ids if limit is None else ids[:limit]

    # -- writes by key -------------------------------------------------------------------------

    def delete(self, user_id: str, object_id: str, at: datetime | None = None) -> bool:
        """Delete the object at the key and timestamp; return whether there was one.

        Outside a session: one delete and one commit, or nothing when absent.
        """
        if not self.exists(user_id, object_id, at):
            return False
        if self.session is not None:
            self.session.delete(self.model, user_id, object_id, at=at)
            return True
        with self.store.session() as session:
            session.delete(self.model, user_id, object_id, at=at)
        return True

    def delete_all(self, user_id: str) -> int:
        """Delete every object the user has in every bucket; return how many (one commit)."""
        files = builtins.list(self._user_files(user_id, None, every_format=True))
        session = self.session
        if session is None:
            if not files:
                return 0
            self.store.apply({}, sorted({path for _, _, path in files}))
            self.store.commit()
            return len({(bucket, object_id) for bucket, object_id, _ in files})
        objects, _ = session.pending_objects(self.spec)
        _, deleted = session.pending_ids(self.spec, user_id)
        gone: set[str] = set()
        for obj in objects:
            if self.spec.owner(obj) == user_id:
                session.delete(obj)
                gone.add(self.spec.object_id(obj))
        for bucket, object_id, _ in files:
            if object_id not in gone and object_id not in deleted:
                session.delete(self.model, user_id, object_id, at=bucket)
                gone.add(object_id)
        return len(gone)

    # -- retention and cleanup -----------------------------------------------------------------

    def purge_older_than(
        self,
        cutoff: datetime | timedelta | int,
        *,
        now: datetime | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> RetentionReport:
        """Delete every object older than ``cutoff``, with one commit; report what went.

        ``cutoff`` is an aware datetime, a timedelta or a number of days before
        ``now`` (default: the current time). Date folders wholly before the
        cutoff are removed at once, without reading a file; the bucket
        folders of the cutoff's date that end before it too. The bucket
        holding the cutoff is read, and its objects with a timestamp before
        the cutoff are deleted one by one.

        Folders and files whose names are not dates (or, with hour buckets,
        hours) are never removed, and are reported: a date folder holding one
        is removed hour by hour around it. (With hour buckets each old date
        folder is listed once, to find such strays; a bucket folder removed
        whole takes everything inside it.) Running it again removes nothing
        and commits nothing.

        Raises SessionError in a session (retention commits on its own),
        InvalidKeyError for a naive cutoff, ValueError for a negative age.
        """
        self._refuse_in_session("purge_older_than")
        limit = _cutoff_of(cutoff, now)
        store, spec = self.store, self.spec
        store.maybe_reload(reload)
        root = spec.resource_type
        whole: builtins.list[str] = []
        trimmed_bucket: str | None = None
        trimmed: builtins.list[str] = []
        stray_folders: builtins.list[str] = []
        stray_files: builtins.list[str] = []
        for entry in sorted(store.list_folder(root), key=lambda e: e.name):
            path = f"{root}/{entry.name}"
            day = parse_date_folder(entry.name) if entry.is_dir else None
            if day is None:
                (stray_folders if entry.is_dir else stray_files).append(path)
                continue
            if day >= limit:
                continue
            if spec.bucket == "day":
                if day + _DAY <= limit:
                    whole.append(path)
                else:
                    trimmed_bucket = path
                    trimmed = self._older_in_bucket(path, limit, on_error, stray_folders)
                continue
            hours: builtins.list[tuple[int, str]] = []
            strays_here: builtins.list[tuple[str, bool]] = []
            for child in sorted(store.list_folder(path), key=lambda e: e.name):
                hour = parse_hour_folder(child.name) if child.is_dir else None
                if hour is None:
                    strays_here.append((f"{path}/{child.name}", child.is_dir))
                else:
                    hours.append((hour, f"{path}/{child.name}"))
            if day + _DAY <= limit and not strays_here:
                whole.append(path)
                continue
            for stray, is_dir in strays_here:
                (stray_folders if is_dir else stray_files).append(stray)
            for hour, hour_path in hours:
                begin = day + timedelta(hours=hour)
                if begin + _HOUR <= limit:
                    whole.append(hour_path)
                elif begin < limit:
                    trimmed_bucket = hour_path
                    trimmed = self._older_in_bucket(hour_path, limit, on_error, stray_folders)
        removed = sum(self._delete_tree(folder) for folder in whole)
        if trimmed:
            store.apply({}, trimmed)
            removed += len(trimmed)
        committed = bool(whole or trimmed)
        if committed:
            self._generation += 1
            store.commit()
        return RetentionReport(
            cutoff=limit,
            removed_objects=removed,
            removed_folders=tuple(whole),
            trimmed_bucket=trimmed_bucket if trimmed else None,
            trimmed_paths=tuple(trimmed),
            stray_folders=tuple(stray_folders),
            stray_files=tuple(stray_files),
            committed=committed,
        )

    def remove_empty_folders(self, prefix: str | None = None) -> CleanupReport:
        """Remove the empty folders below ``prefix`` (default: the type folder), bottom up.

        ``prefix`` is the type folder or a bucket or user folder below it; it
        is not removed itself. Folders whose names are not what the layout
        expects at their depth (a date, an hour, a user folder) are never
        removed, nor is anything above them; they are reported. Commits once
        when something was removed.

        Raises InvalidKeyError for a prefix outside this model's folders,
        SessionError in a session.
        """
        self._refuse_in_session("remove_empty_folders")
        root = self.spec.resource_type
        prefix = root if prefix is None else prefix
        check_relative_path(prefix)
        parts = prefix.split("/")
        levels = self._levels()
        if (
            parts[0] != root
            or len(parts) - 1 > len(levels)
            or not all(
                self._is_level_name(level, name)
                for level, name in zip(levels, parts[1:], strict=False)
            )
        ):
            raise InvalidKeyError(
                f"{prefix!r} is not a folder of {self.model.__name__}: give {root!r} or a "
                f"bucket folder below it, such as {self.store.bucket_folder(self.spec, _EPOCH)!r}"
            )
        removed: builtins.list[str] = []
        stray_folders: builtins.list[str] = []
        stray_files: builtins.list[str] = []
        self._clean(prefix, len(parts) - 1, removed, stray_folders, stray_files)
        if removed:
            self._generation += 1
            self.store.commit()
        return CleanupReport(prefix, tuple(removed), tuple(stray_folders), tuple(stray_files))

    def clear_listing_cache(self) -> None:
        """Forget every cached listing (the next query lists afresh)."""
        with self._cache_lock:
            self._cache.clear()
            self._cache_stamp = None

    # -- internals: time -----------------------------------------------------------------------

    def _window(self, start: datetime | None, end: datetime | None) -> _Window:
        return _Window(
            None if start is None else _utc(start, "start"),
            None if end is None else _utc(end, "end"),
        )

    def _floor(self, utc: datetime) -> datetime:
        """The start of the bucket holding ``utc`` (a UTC datetime)."""
        if self.step == _DAY:
            return utc.replace(hour=0, minute=0, second=0, microsecond=0)
        return utc.replace(minute=0, second=0, microsecond=0)

    def _order(self, obj: Any) -> tuple[Any, Any]:
        return (getattr(obj, self.time_field), self.spec.object_id(obj))

    def _levels(self) -> tuple[str, ...]:
        """The folder levels below the type folder."""
        return ("date", "hour", "user") if self.spec.bucket == "hour" else ("date", "user")

    def _is_level_name(self, level: str, name: str) -> bool:
        if level == "date":
            return parse_date_folder(name) is not None
        if level == "hour":
            return parse_hour_folder(name) is not None
        return is_user_folder(name, self.store.hasher.length)

    # -- internals: listings -------------------------------------------------------------------

    def _list(self, prefix: str) -> Sequence[Entry]:
        """A folder listing for queries, through the listing cache when it is on."""
        if not self.cache_listings:
            return self.store.list_folder(prefix)
        stats = self.store.stats
        stamp = (stats.writes, stats.deletes, stats.reloads, self._generation)
        with self._cache_lock:
            if stamp != self._cache_stamp:
                self._cache.clear()
                self._cache_stamp = stamp
            cached = self._cache.get(prefix)
            if cached is not None:
                self.cache_hits += 1
                return cached
        entries = tuple(self.store.list_folder(prefix))
        with self._cache_lock:
            if self._cache_stamp == stamp:  # nothing changed while we listed
                self._cache[prefix] = entries
        return entries

    def _files_in(
        self, folder: str, pattern: str | None, *, every_format: bool = False
    ) -> builtins.list[tuple[str, str]]:
        """``(id, path)`` of the object files in one user folder, sorted by id.

        Files in a format the model still reads (``previous_codecs``) count too;
        when an id is stored in two formats, the model's own codec wins, unless
        ``every_format`` asks for every file (to delete them all).
        """
        extensions = builtins.list(self.spec.read_codecs)  # the model's own first
        files: builtins.list[tuple[str, int, str]] = []
        for entry in self._list(folder):
            name = entry.name
            dot = name.rfind(".")
            if entry.is_dir or dot <= 0 or name[dot:] not in extensions:
                continue
            object_id = name[:dot]
            if not is_valid_id(object_id):
                continue
            if pattern is not None and not fnmatch.fnmatchcase(object_id, pattern):
                continue
            files.append((object_id, extensions.index(name[dot:]), f"{folder}/{name}"))
        files.sort()
        if every_format:
            return [(object_id, path) for object_id, _, path in files]
        chosen: dict[str, str] = {}
        for object_id, _, path in files:
            chosen.setdefault(object_id, path)  # the lowest rank comes first
        return builtins.list(chosen.items())

    def _user_folders(self, bucket_folder: str, user_id: str | None) -> builtins.list[str]:
        if user_id is not None:
            return [f"{bucket_folder}/{self.store.hasher(user_id)}"]
        length = self.store.hasher.length
        return sorted(
            f"{bucket_folder}/{entry.name}"
            for entry in self._list(bucket_folder)
            if entry.is_dir and is_user_folder(entry.name, length)
        )

    def _buckets(
        self, window: _Window, descending: bool, extra: set[datetime]
    ) -> Iterator[datetime]:
        """The starts of the buckets to visit, in order; ``extra`` are buckets that must be."""
        direct = self._direct_buckets(window)
        if direct is not None:
            yield from sorted(set(direct) | extra, reverse=descending)
            return
        root = self.spec.resource_type
        days: dict[datetime, str] = {}
        for entry in self._list(root):
            day = parse_date_folder(entry.name) if entry.is_dir else None
            if day is not None and window.overlaps(day, _DAY):
                days[day] = f"{root}/{entry.name}"
        extra_by_day: dict[datetime, set[datetime]] = {}
        for bucket in extra:
            extra_by_day.setdefault(bucket.replace(hour=0), set()).add(bucket)
        for day in sorted(days.keys() | extra_by_day.keys(), reverse=descending):
            if self.step == _DAY:
                yield day
                continue
            hours = set(extra_by_day.get(day, ()))
            if day in days:
                for entry in self._list(days[day]):
                    hour = parse_hour_folder(entry.name) if entry.is_dir else None
                    if hour is not None:
                        bucket = day + timedelta(hours=hour)
                        if window.overlaps(bucket, _HOUR):
                            hours.add(bucket)
            yield from sorted(hours, reverse=descending)

    def _direct_buckets(self, window: _Window) -> builtins.list[datetime] | None:
        """Every bucket of a short bounded window, or None to discover them by listing."""
        if window.start is None or window.end is None:
            return None
        first = self._floor(window.start)
        if window.end <= window.start:
            return []
        whole, part = divmod(window.end - first, self.step)
        count = whole + (1 if part else 0)
        if count > self.direct_bucket_limit:
            return None
        return [first + i * self.step for i in builtins.range(count)]

    def _user_files(
        self, user_id: str, pattern: str | None, *, every_format: bool = False
    ) -> Iterator[tuple[datetime, str, str]]:
        """``(bucket start, id, path)`` of every file of the user, in bucket order."""
        user_hash = self.store.hasher(user_id)
        for bucket in self._buckets(_Window(None, None), False, set()):
            folder = f"{self.store.bucket_folder(self.spec, bucket)}/{user_hash}"
            for object_id, path in self._files_in(folder, pattern, every_format=every_format):
                yield bucket, object_id, path

    # -- internals: reading buckets ------------------------------------------------------------

    def _decode_placed(self, path: str, data: bytes, object_id: str) -> tuple[Any, str]:
        """Decode a file found by listing, checking it lies where its content belongs.

        Returns the object and the path it is written to (the file's own path,
        unless the file is in a previous codec's format).
        """
        obj = self.store.decode(self.spec, path, data, object_id)
        try:
            expected = self.store.object_path(self.spec, obj)
        except InvalidKeyError as exc:
            raise CorruptObjectError(path, str(exc)) from exc
        if expected.rpartition("/")[0] != path.rpartition("/")[0]:
            raise CorruptObjectError(
                path,
                f"its {self.time_field} ({getattr(obj, self.time_field)}) and owner place it at "
                f"{expected}; range queries would miss it",
            )
        return obj, expected

    def _pending(
        self, window: _Window, user_id: str | None, pattern: str | None
    ) -> tuple[dict[datetime, builtins.list[M]], set[str]]:
        """The session's own objects in the window by bucket, and the paths it replaces."""
        if self.session is None:
            return {}, set()
        objects, hidden = self.session.pending_objects(self.spec)
        by_bucket: dict[datetime, builtins.list[M]] = {}
        for obj in objects:
            if user_id is not None and self.spec.owner(obj) != user_id:
                continue
            if pattern is not None and not fnmatch.fnmatchcase(self.spec.object_id(obj), pattern):
                continue
            at = _utc(getattr(obj, self.time_field), f"{self.model.__name__}.{self.time_field}")
            if window.contains(at):
                by_bucket.setdefault(self._floor(at), []).append(obj)
        return by_bucket, hidden

    def _walk(
        self,
        window: _Window,
        user_id: str | None,
        pattern: str | None,
        descending: bool,
        on_error: OnError,
        reload: ReloadArg,
    ) -> Iterator[M]:
        """Yield the objects in the window, one bucket at a time, in (timestamp, id) order."""
        store, spec, session = self.store, self.spec, self.session
        store.maybe_reload(reload)
        pending, hidden = self._pending(window, user_id, pattern)
        for bucket in self._buckets(window, descending, set(pending)):
            batch: builtins.list[M] = []
            folder = store.bucket_folder(spec, bucket)
            for user_folder in self._user_folders(folder, user_id):
                for object_id, path in self._files_in(user_folder, pattern):
                    if path in hidden:
                        continue  # the session's commit replaces or deletes this file
                    data = store.read_bytes(path)
                    if data is None:
                        continue  # deleted since the listing
                    try:
                        obj, home = self._decode_placed(path, data, object_id)
                    except CorruptObjectError as exc:
                        handle_corrupt(on_error, exc)
                        continue
                    if not window.contains(getattr(obj, self.time_field)):
                        continue
                    if session is not None:
                        session.adopt(spec, obj, home, path, data)
                    batch.append(obj)
            batch.extend(pending.get(bucket, ()))
            batch.sort(key=self._order, reverse=descending)
            yield from batch

    # -- internals: removal --------------------------------------------------------------------

    def _refuse_in_session(self, name: str) -> None:
        if self.session is not None:
            raise SessionError(
                f"{name} commits on its own; call it on a repository of the store "
                f"(bucketed(store, {self.model.__name__})), not of a session"
            )

    def _older_in_bucket(
        self, folder: str, limit: datetime, on_error: OnError, strays: builtins.list[str]
    ) -> builtins.list[str]:
        """The paths of the objects in one bucket whose timestamp is before ``limit``."""
        store = self.store
        older: builtins.list[str] = []
        length = store.hasher.length
        for entry in sorted(store.list_folder(folder), key=lambda e: e.name):
            if not (entry.is_dir and is_user_folder(entry.name, length)):
                if entry.is_dir:
                    strays.append(f"{folder}/{entry.name}")
                continue
            user_folder = f"{folder}/{entry.name}"
            for object_id, path in self._files_in(user_folder, None, every_format=True):
                data = store.read_bytes(path)
                if data is None:
                    continue
                try:
                    obj = store.decode(self.spec, path, data, object_id)
                    at = _utc(getattr(obj, self.time_field), path)
                except (CorruptObjectError, InvalidKeyError) as exc:
                    error = (
                        exc
                        if isinstance(exc, CorruptObjectError)
                        else CorruptObjectError(path, str(exc))
                    )
                    handle_corrupt(on_error, error)
                    continue
                if at < limit:
                    older.append(path)
        return older

    def _delete_tree(self, folder: str) -> int:
        """Remove a folder and everything below it, counted as deletes in the store's stats."""
        self.store.check_layout()
        backend = self.store.backend
        try:
            count = backend.delete_tree(folder)
        except BackendError:
            raise
        except OSError as exc:
            raise BackendError(
                f"removing {folder} from {backend.describe()} failed: {exc}"
            ) from exc
        self.store.stats.deletes += count
        return count

    def _clean(
        self,
        folder: str,
        depth: int,
        removed: builtins.list[str],
        stray_folders: builtins.list[str],
        stray_files: builtins.list[str],
    ) -> bool:
        """Remove the empty folders below ``folder``; return whether it is empty now."""
        levels = self._levels()
        empty = True
        for entry in sorted(self.store.list_folder(folder), key=lambda e: e.name):
            path = f"{folder}/{entry.name}"
            if not entry.is_dir:
                if depth < len(levels):  # only folders belong here
                    stray_files.append(path)
                empty = False
            elif depth >= len(levels) or not self._is_level_name(levels[depth], entry.name):
                stray_folders.append(path)
                empty = False
            elif self._clean(
                path, depth + 1, removed, stray_folders, stray_files
            ) and self._remove_empty_folder(path):
                removed.append(path)
            else:
                empty = False
        return empty

    def _remove_empty_folder(self, path: str) -> bool:
        """Remove one folder if it is still empty; return whether it was removed."""
        backend = self.store.backend
        if isinstance(backend, LocalBackend):
            # rmdir refuses a folder that is not empty (a file written meanwhile,
            # or a temporary file of a write in progress), so nothing is lost.
            try:
                os.rmdir(backend.path_of(path))
            except FileNotFoundError:
                return False
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    return False
                raise BackendError(f"removing the folder {path} failed: {exc}") from exc
            return True
        # Other backends have no "remove if empty": check, then remove. A file
        # written between the two calls would be lost; the folders removed
        # here are old buckets, which nobody writes to.
        if backend.list(path):
            return False
        self._delete_tree(path)
        return True


class BucketedUserRepository(UserRepository[M]):
    """One user's objects of a time-bucketed model (``bucketed(store, Event).for_user(u)``).

    Like UserRepository, with the timestamp where a key needs one, and the
    time queries confined to the bound user's folders.
    """

    def __init__(self, repository: BucketedRepository[M], user_id: str) -> None:
        super().__init__(repository, user_id)
        self.bucketed = repository

    def get(
        self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> M | None:
        return self.bucketed.get(self.user_id, object_id, at, reload=reload)

    def get_one(self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None) -> M:
        return self.bucketed.get_one(self.user_id, object_id, at, reload=reload)

    def exists(
        self, object_id: str, at: datetime | None = None, *, reload: ReloadArg = None
    ) -> bool:
        return self.bucketed.exists(self.user_id, object_id, at, reload=reload)

    def delete(self, object_id: str, at: datetime | None = None) -> bool:
        return self.bucketed.delete(self.user_id, object_id, at)

    def range(self, start: datetime | None, end: datetime | None, **kwargs: Any) -> Iterator[M]:
        """The user's objects with ``start <= timestamp < end`` (see BucketedRepository.range)."""
        return self.bucketed.range(start, end, user_id=self.user_id, **kwargs)

    def latest(self, n: int = 10, **kwargs: Any) -> builtins.list[M]:
        """The user's ``n`` newest objects, newest first (see BucketedRepository.latest)."""
        return self.bucketed.latest(self.user_id, n, **kwargs)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _cutoff_of(cutoff: datetime | timedelta | int, now: datetime | None) -> datetime:
    """The UTC instant before which ``purge_older_than`` deletes."""
    if isinstance(cutoff, datetime):
        return _utc(cutoff, "cutoff")
    reference = datetime.now(timezone.utc) if now is None else _utc(now, "now")
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


def bucketed(
    source: Store | Session, model: type[M], *, cache_listings: bool = False
) -> BucketedRepository[M]:
    """The bucketed repository of ``model`` for a store, or for a session (its unit of work).

    Raises ModelDefinitionError for a model without a ``time_field``.
    """
    from ._session import Session

    if isinstance(source, Session):
        return BucketedRepository(
            source.store, model, session=source, cache_listings=cache_listings
        )
    return BucketedRepository(source, model, cache_listings=cache_listings)
