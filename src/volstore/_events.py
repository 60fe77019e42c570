"""Time-bucketed models: range queries over bucket folders.

A model declared with ``time_field`` is stored in one folder per time bucket,
in UTC::

    events/2024-02-29/23/<user_hash>/<id>.json      bucket="hour" (the default)
    events/2024-02-29/<user_hash>/<id>.json         bucket="day"

so a time-range query lists only the buckets it overlaps, and old data goes by
removing whole date folders. ``BucketedRepository`` is the repository of
such a model: ``range``, ``latest``, get and delete by key and timestamp
(inherited from ``Repository``, with ``at=``), ``purge_older_than``
(retention) and ``remove_empty_folders`` (cleanup; both in ``_retention``).

What a query costs (``store.stats.lists`` counts folder listings):

- a range of at most ``direct_bucket_limit`` buckets (48 by default: two days
  of hours) lists each of its buckets, and nothing above them: one listing per
  bucket with a user (that user's folder), one plus one per user folder without;
- a longer or open-ended range first lists the type folder once and each date
  folder it overlaps, so that days and hours with no data cost one listing at
  most; then the buckets found, as above.

Every object in a listed folder is read: timestamps live inside the files, and
objects of one bucket are sorted after reading. A key found in two buckets (a
crash while an object moved between them) is yielded once, the first copy the
walk meets; ``check`` reports such duplicates and its repair keeps the newer.
To know the keys it yielded, a query keeps one small entry per key (about 100
bytes): memory grows with what a query returns, not with the store.
"""

from __future__ import annotations

import bisect
import builtins
import fnmatch
import itertools
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ._engine import ReloadArg, check_reload_arg
from ._errors import CorruptObjectError, InvalidKeyError, ModelDefinitionError, SessionError
from ._repository import OnError, Repository, Source, UserRepository, check_limit, handle_corrupt
from ._retention import CleanupReport, RetentionReport
from ._retention import purge_older_than as purge_bucketed
from ._retention import remove_empty_folders as remove_empty_bucket_folders
from ._time import (
    DAY,
    EVERYTHING,
    HOUR,
    Window,
    floor,
    parse_date_folder,
    parse_hour_folder,
    step_of,
    to_utc,
)
from ._tracker import read_object
from ._uow import UnitOfWork
from .backends._base import Entry

M = TypeVar("M")


class BucketedRepository(Repository[M]):
    """The repository of a time-bucketed model (declared with ``time_field``).

    ``BucketedRepository(store, Event)`` reads and writes through the store,
    each write its own commit; ``BucketedRepository(session, Event)`` (or
    ``bucketed(session, Event)``) through a unit of work, whose pending adds
    and deletes queries then see.

    ``cache_listings=True`` keeps folder listings between queries. The cache is
    dropped whenever this store writes, deletes or reloads, so it never hides
    this process's own changes; changes committed elsewhere appear after a
    reload, as with any read. Keep the repository to keep its cache.

    Raises ModelDefinitionError for a model without a ``time_field``.
    """

    direct_bucket_limit: int = 48
    """A range of at most this many buckets lists them directly (see the module docstring)."""

    def __init__(
        self, source: Source | UnitOfWork, model: type[M], *, cache_listings: bool = False
    ) -> None:
        super().__init__(source, model)
        if self.spec.time_field is None:
            raise ModelDefinitionError(
                f"{model.__name__} is not time-bucketed (declare it with time_field=...); "
                f"use store.repository({model.__name__})"
            )
        self.time_field: str = self.spec.time_field
        self.step = step_of(self.spec.bucket)
        self.cache_listings = cache_listings
        self.cache_hits = 0
        self._cache: dict[str, tuple[Entry, ...]] = {}
        self._cache_stamp: tuple[int, ...] | None = None
        self.generation = 0  # bumped by this repository's own removals (drops the cache)
        self._cache_lock = threading.Lock()

    def for_user(self, user_id: str) -> BucketedUserRepository[M]:
        """A view bound to one user: it cannot reach anyone else's objects."""
        self.engine.hasher(user_id)  # validates the user id now
        return BucketedUserRepository(self, user_id)

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

        Raises InvalidKeyError for a naive datetime or a bad user id, TypeError
        for a bad ``reload`` (at once, not at the first ``next``).
        """
        check_reload_arg(reload)
        window = Window.of(start, end)
        if user_id is not None:
            self.engine.hasher(user_id)  # validate now, not at the first next()
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
        check_reload_arg(reload)
        if n < 0:
            raise ValueError(f"n must not be negative, not {n}")
        window = Window.of(None, before)
        self.engine.hasher(user_id)
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
        check_limit(limit)
        check_reload_arg(reload)
        self.engine.hasher(user_id)
        walk: Iterator[M]
        if after is None:
            walk = self._walk(EVERYTHING, user_id, pattern, False, on_error, reload)
        elif isinstance(after, datetime):
            since = to_utc(after, "after")
            walk = itertools.dropwhile(
                lambda obj: getattr(obj, self.time_field) <= since,
                self._walk(Window(since, None), user_id, pattern, False, on_error, reload),
            )
        elif isinstance(after, self.model):
            last = self._order(after)
            since = to_utc(last[0], f"{self.model.__name__}.{self.time_field}")
            walk = itertools.dropwhile(
                lambda obj: self._order(obj) <= last,
                self._walk(Window(since, None), user_id, pattern, False, on_error, reload),
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
        check_limit(limit)
        self.engine.maybe_reload(reload)
        found = {object_id for _, object_id, _ in self.user_files(user_id, None)}
        present, deleted = self._uow.pending_ids(self.spec, user_id)
        ids = sorted((found | present) - deleted)
        if after is not None:
            ids = ids[bisect.bisect_right(ids, after) :]
        if pattern is not None:
            ids = [object_id for object_id in ids if fnmatch.fnmatchcase(object_id, pattern)]
        return ids if limit is None else ids[:limit]

    def _scan_window(self, window: Window, user_id: str | None, on_error: OnError) -> Iterator[M]:
        """The objects in ``window`` (one user's, or everyone's): what an unindexed query reads."""
        return self._walk(window, user_id, None, False, on_error, False)

    # -- writes by key -------------------------------------------------------------------------

    def delete_all(self, user_id: str) -> int:
        """Delete every object the user has in every bucket; return how many (one commit).

        A key found in several buckets (a move cut short by a crash) is
        deleted in each, and counted once.
        """
        spec = self.spec
        keys: dict[tuple[str, datetime], None] = {}
        objects, _ = self._uow.pending_objects(spec)
        _, deleted = self._uow.pending_ids(spec, user_id)
        pending: dict[str, Any] = {}
        for obj in objects:
            if spec.owner(obj) == user_id:
                pending[spec.object_id(obj)] = getattr(obj, self.time_field)
        for bucket, object_id, _ in self.user_files(user_id, None):
            if object_id not in deleted:
                keys[(object_id, bucket)] = None
        for object_id, at in pending.items():
            keys[(object_id, at)] = None
        # One delete per (id, bucket); the unit of work keys objects by id, so a
        # key stored twice is deleted in two steps of one commit.
        by_round: builtins.list[builtins.list[tuple[str, str, datetime | None]]] = []
        seen: dict[str, int] = {}
        for object_id, at in keys:
            index = seen.get(object_id, 0)
            seen[object_id] = index + 1
            while len(by_round) <= index:
                by_round.append([])
            by_round[index].append((user_id, object_id, at))
        for batch in by_round:
            self._uow.delete_keys(spec, batch)
        return len(seen)

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
        the cutoff are deleted one by one (``on_error`` treats a file there
        that does not parse, as in ``list``).

        Folders and files whose names are not dates (or, with hour buckets,
        hours) are never removed, and are reported: a date folder holding one
        is removed hour by hour around it. (With hour buckets each old date
        folder is listed once, to find such strays; a bucket folder removed
        whole takes everything inside it.) Running it again removes nothing
        and commits nothing. A symbolic link is never followed: one where a
        folder should be is a stray.

        Raises SessionError in a session (retention commits on its own),
        InvalidKeyError for a naive cutoff, ValueError for a negative age.
        """
        self._refuse_in_session("purge_older_than")
        report = purge_bucketed(
            self.engine, self.spec, cutoff, now=now, reload=reload, on_error=on_error
        )
        if report.committed:
            self.generation += 1
        return report

    def remove_empty_folders(self, prefix: str | None = None) -> CleanupReport:
        """Remove the empty folders below ``prefix`` (default: the type folder), bottom up.

        ``prefix`` is the type folder or a bucket or user folder below it; it
        is not removed itself. Folders whose names are not what the layout
        expects at their depth (a date, an hour, a user folder) are never
        removed, nor is anything above them; they are reported. A folder is
        removed only if it is still empty at that moment (``remove_empty_folder``
        of the backend), so a write arriving meanwhile is never lost. Commits
        once when something was removed.

        Raises InvalidKeyError for a prefix outside this model's folders,
        SessionError in a session.
        """
        self._refuse_in_session("remove_empty_folders")
        report = remove_empty_bucket_folders(self.engine, self.spec, prefix)
        if report.removed_folders:
            self.generation += 1
        return report

    def clear_listing_cache(self) -> None:
        """Forget every cached listing (the next query lists afresh)."""
        with self._cache_lock:
            self._cache.clear()
            self._cache_stamp = None

    def _refuse_in_session(self, name: str) -> None:
        if self._uow.buffered:
            raise SessionError(
                f"{name} commits on its own; call it on a repository of the store "
                f"(bucketed(store, {self.model.__name__})), not of a session"
            )

    # -- internals: order and listings -----------------------------------------------------------

    def _order(self, obj: Any) -> tuple[Any, Any]:
        return (getattr(obj, self.time_field), self.spec.object_id(obj))

    def _list(self, prefix: str) -> Sequence[Entry]:
        """A folder listing for queries, through the listing cache when it is on."""
        engine = self.engine
        if not self.cache_listings:
            return engine.list(prefix)
        stats = engine.stats
        stamp = (stats.writes, stats.deletes, stats.reloads, self.generation)
        with self._cache_lock:
            if stamp != self._cache_stamp:
                self._cache.clear()
                self._cache_stamp = stamp
            cached = self._cache.get(prefix)
            if cached is not None:
                self.cache_hits += 1
                return cached
        entries = tuple(engine.list(prefix))
        with self._cache_lock:
            if self._cache_stamp == stamp:  # nothing changed while we listed
                self._cache[prefix] = entries
        return entries

    def files_in(
        self, folder: str, pattern: str | None, *, every_format: bool = False
    ) -> builtins.list[tuple[str, str]]:
        """``(id, path)`` of the object files in one user folder, sorted by id.

        Files in a format the model still reads (``previous_codecs``) count too;
        when an id is stored in two formats, the model's own codec wins, unless
        ``every_format`` asks for every file (to delete them all). Whatever
        stands under an object's name counts (reading it reports it).
        """
        extensions = builtins.list(self.spec.read_codecs)  # the model's own first
        object_id_of = self.engine.layout.object_id_of
        files: builtins.list[tuple[str, int, str]] = []
        for entry in self._list(folder):
            name = entry.name
            object_id = object_id_of(self.spec, name)
            if object_id is None:
                continue
            if pattern is not None and not fnmatch.fnmatchcase(object_id, pattern):
                continue
            rank = extensions.index(name[len(object_id) :])
            files.append((object_id, rank, f"{folder}/{name}"))
        files.sort()
        if every_format:
            return [(object_id, path) for object_id, _, path in files]
        chosen: dict[str, str] = {}
        for object_id, _, path in files:
            chosen.setdefault(object_id, path)  # the lowest rank comes first
        return builtins.list(chosen.items())

    def _user_folders(self, bucket_folder: str, user_id: str | None) -> builtins.list[str]:
        if user_id is not None:
            return [f"{bucket_folder}/{self.engine.hasher(user_id)}"]
        is_user = self.engine.layout.is_level_name
        return sorted(
            f"{bucket_folder}/{entry.name}"
            for entry in self._list(bucket_folder)
            if entry.is_dir and is_user("user", entry.name)
        )

    def buckets(self, window: Window, descending: bool, extra: set[datetime]) -> Iterator[datetime]:
        """The starts of the buckets to visit, in order; ``extra`` are buckets that must be."""
        direct = self._direct_buckets(window)
        if direct is not None:
            yield from sorted(set(direct) | extra, reverse=descending)
            return
        root = self.spec.resource_type
        days: dict[datetime, str] = {}
        for entry in self._list(root):
            day = parse_date_folder(entry.name) if entry.is_dir else None
            if day is not None and window.overlaps(day, DAY):
                days[day] = f"{root}/{entry.name}"
        extra_by_day: dict[datetime, set[datetime]] = {}
        for bucket in extra:
            extra_by_day.setdefault(bucket.replace(hour=0), set()).add(bucket)
        for day in sorted(days.keys() | extra_by_day.keys(), reverse=descending):
            if self.step == DAY:
                yield day
                continue
            hours = set(extra_by_day.get(day, ()))
            if day in days:
                for entry in self._list(days[day]):
                    hour = parse_hour_folder(entry.name) if entry.is_dir else None
                    if hour is not None:
                        bucket = day + timedelta(hours=hour)
                        if window.overlaps(bucket, HOUR):
                            hours.add(bucket)
            yield from sorted(hours, reverse=descending)

    def _direct_buckets(self, window: Window) -> builtins.list[datetime] | None:
        """Every bucket of a short bounded window, or None to discover them by listing."""
        if window.start is None or window.end is None:
            return None
        first = floor(window.start, self.spec.bucket)
        if window.end <= window.start:
            return []
        whole, part = divmod(window.end - first, self.step)
        count = whole + (1 if part else 0)
        if count > self.direct_bucket_limit:
            return None
        return [first + i * self.step for i in builtins.range(count)]

    def user_files(
        self, user_id: str, pattern: str | None, *, every_format: bool = False
    ) -> Iterator[tuple[datetime, str, str]]:
        """``(bucket start, id, path)`` of every file of the user, in bucket order."""
        user_hash = self.engine.hasher(user_id)
        bucket_folder = self.engine.layout.bucket_folder
        for bucket in self.buckets(EVERYTHING, False, set()):
            folder = f"{bucket_folder(self.spec, bucket)}/{user_hash}"
            for object_id, path in self.files_in(folder, pattern, every_format=every_format):
                yield bucket, object_id, path

    # -- internals: reading buckets ------------------------------------------------------------

    def _decode_placed(self, path: str, data: bytes, object_id: str) -> tuple[Any, str]:
        """Decode a file found by listing, checking it lies where its content belongs.

        Returns the object and the path it is written to (the file's own path,
        unless the file is in a previous codec's format).
        """
        engine = self.engine
        obj = engine.decode(self.spec, path, data, object_id)
        try:
            expected = engine.layout.path_of(self.spec, obj)
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
        self, window: Window, user_id: str | None, pattern: str | None
    ) -> tuple[dict[datetime, builtins.list[M]], set[str]]:
        """The unit of work's own objects in the window by bucket, and the paths it replaces."""
        objects, hidden = self._uow.pending_objects(self.spec)
        by_bucket: dict[datetime, builtins.list[M]] = {}
        for obj in objects:
            if user_id is not None and self.spec.owner(obj) != user_id:
                continue
            if pattern is not None and not fnmatch.fnmatchcase(self.spec.object_id(obj), pattern):
                continue
            at = to_utc(getattr(obj, self.time_field), f"{self.model.__name__}.{self.time_field}")
            if window.contains(at):
                by_bucket.setdefault(floor(at, self.spec.bucket), []).append(obj)
        return by_bucket, hidden

    def _walk(
        self,
        window: Window,
        user_id: str | None,
        pattern: str | None,
        descending: bool,
        on_error: OnError,
        reload: ReloadArg,
    ) -> Iterator[M]:
        """Yield the objects in the window, one bucket at a time, in (timestamp, id) order.

        A key met in an earlier bucket of the walk is not yielded again.
        """
        engine, spec, uow = self.engine, self.spec, self._uow
        engine.maybe_reload(reload)
        pending, hidden = self._pending(window, user_id, pattern)
        seen: set[tuple[str, str]] = set()  # (owner, id) of every object yielded
        for bucket in self.buckets(window, descending, set(pending)):
            batch: builtins.list[M] = []
            folder = engine.layout.bucket_folder(spec, bucket)
            for user_folder in self._user_folders(folder, user_id):
                for object_id, path in self.files_in(user_folder, pattern):
                    if path in hidden:
                        continue  # the session's commit replaces or deletes this file
                    try:
                        found = read_object(engine, spec, path)
                        if found is None:
                            continue  # deleted since the listing
                        obj, home = self._decode_placed(path, found[0], object_id)
                    except CorruptObjectError as exc:
                        handle_corrupt(on_error, exc)
                        continue
                    if not window.contains(getattr(obj, self.time_field)):
                        continue
                    uow.adopt(spec, obj, home, path, found[0], found[1])
                    batch.append(obj)
            batch.extend(pending.get(bucket, ()))
            batch.sort(key=self._order, reverse=descending)
            for obj in batch:
                key = (spec.owner(obj), spec.object_id(obj))
                if key in seen:
                    continue  # the same key in two buckets: a move cut short by a crash
                seen.add(key)
                yield obj


class BucketedUserRepository(UserRepository[M]):
    """One user's objects of a time-bucketed model (``bucketed(store, Event).for_user(u)``).

    Like UserRepository, with the timestamp where a key needs one, and the
    time queries confined to the bound user's folders.
    """

    def __init__(self, repository: BucketedRepository[M], user_id: str) -> None:
        super().__init__(repository, user_id)
        self.bucketed = repository

    def list(
        self,
        *,
        pattern: str | None = None,
        after: M | datetime | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """The bound user's objects in time order (see ``BucketedRepository.list``)."""
        return self.bucketed.list(
            self.user_id,
            pattern=pattern,
            after=after,
            limit=limit,
            reload=reload,
            on_error=on_error,
        )

    def iter(
        self,
        *,
        pattern: str | None = None,
        after: M | datetime | str | None = None,
        limit: int | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> Iterator[M]:
        """The bound user's objects in time order, lazily (see ``BucketedRepository.iter``)."""
        return self.bucketed.iter(
            self.user_id,
            pattern=pattern,
            after=after,
            limit=limit,
            reload=reload,
            on_error=on_error,
        )

    def range(
        self,
        start: datetime | None,
        end: datetime | None,
        *,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> Iterator[M]:
        """The user's objects with ``start <= timestamp < end`` (see BucketedRepository.range)."""
        return self.bucketed.range(
            start, end, user_id=self.user_id, pattern=pattern, reload=reload, on_error=on_error
        )

    def latest(
        self,
        n: int = 10,
        *,
        before: datetime | None = None,
        pattern: str | None = None,
        reload: ReloadArg = None,
        on_error: OnError = "raise",
    ) -> builtins.list[M]:
        """The user's ``n`` newest objects, newest first (see BucketedRepository.latest)."""
        return self.bucketed.latest(
            self.user_id, n, before=before, pattern=pattern, reload=reload, on_error=on_error
        )


def bucketed(
    source: Source | UnitOfWork, model: type[M], *, cache_listings: bool = False
) -> BucketedRepository[M]:
    """The bucketed repository of ``model`` for a store, or for a session (its unit of work).

    Raises ModelDefinitionError for a model without a ``time_field``.
    """
    return BucketedRepository(source, model, cache_listings=cache_listings)


__all__ = [
    "BucketedRepository",
    "BucketedUserRepository",
    "CleanupReport",
    "RetentionReport",
    "bucketed",
]
