"""Retention and cleanup of time-bucketed models: old data goes by whole folders.

``purge_older_than`` removes every object older than a cutoff, whole date
and hour folders at a time where it can (no file is read), and object by
object in the one bucket that holds the cutoff. ``remove_empty_folders``
removes the folders a retention or deletes left empty. Both work over the
engine and the backend contract alone, commit once when they removed
something, and never remove a folder or file whose name the layout does not
expect at its place (a stray): they report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ._engine import Engine, ReloadArg
from ._errors import CorruptObjectError, InvalidKeyError
from ._keys import check_relative_path
from ._layout import Level
from ._model import ModelSpec
from ._repository import OnError, handle_corrupt
from ._time import DAY, EPOCH, HOUR, cutoff_of, parse_date_folder, parse_hour_folder, to_utc


@dataclass(frozen=True)
class RetentionReport:
    """What ``purge_older_than`` removed, and what it left alone.

    ``removed_objects`` counts every file removed; ``removed_folders`` are the
    bucket folders removed whole (date folders, or the hours of the cutoff's
    date); ``trimmed_bucket`` is the bucket holding the cutoff when objects
    were removed from it one by one (``trimmed_paths``), else None. Folders
    and files whose names are not dates or hours, and anything but a user
    folder inside a bucket, are never removed: they are listed in
    ``stray_folders`` and ``stray_files`` (a symbolic link, never followed,
    is a stray file). ``committed`` says whether the backend was committed
    (once, and only when something was removed).
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


def purge_older_than(
    engine: Engine,
    spec: ModelSpec,
    cutoff: datetime | timedelta | int,
    *,
    now: datetime | None = None,
    reload: ReloadArg = None,
    on_error: OnError = "raise",
) -> RetentionReport:
    """The work of ``BucketedRepository.purge_older_than``, whose docstring is the contract."""
    limit = cutoff_of(cutoff, now)
    engine.maybe_reload(reload)
    root = spec.resource_type
    whole: list[str] = []
    trimmed_bucket: str | None = None
    trimmed: list[str] = []
    stray_folders: list[str] = []
    stray_files: list[str] = []
    strays = (stray_folders, stray_files)
    for entry in sorted(engine.list(root), key=lambda e: e.name):
        path = f"{root}/{entry.name}"
        day = parse_date_folder(entry.name) if entry.is_dir else None
        if day is None:
            (stray_folders if entry.is_dir else stray_files).append(path)
            continue
        if day >= limit:
            continue
        if spec.bucket == "day":
            if day + DAY <= limit:
                whole.append(path)
            else:
                trimmed_bucket = path
                trimmed = _older_in_bucket(engine, spec, path, limit, on_error, strays)
            continue
        hours: list[tuple[int, str]] = []
        strays_here: list[tuple[str, bool]] = []
        for child in sorted(engine.list(path), key=lambda e: e.name):
            hour = parse_hour_folder(child.name) if child.is_dir else None
            if hour is None:
                strays_here.append((f"{path}/{child.name}", child.is_dir))
            else:
                hours.append((hour, f"{path}/{child.name}"))
        if day + DAY <= limit and not strays_here:
            whole.append(path)
            continue
        for stray, is_dir in strays_here:
            (stray_folders if is_dir else stray_files).append(stray)
        for hour, hour_path in hours:
            begin = day + timedelta(hours=hour)
            if begin + HOUR <= limit:
                whole.append(hour_path)
            elif begin < limit:
                trimmed_bucket = hour_path
                trimmed = _older_in_bucket(engine, spec, hour_path, limit, on_error, strays)
    removed = sum(engine.delete_tree(folder) for folder in whole)
    if trimmed:
        engine.apply({}, trimmed)
        removed += len(trimmed)
    committed = bool(whole or trimmed)
    if committed:
        engine.commit()
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


def _older_in_bucket(
    engine: Engine,
    spec: ModelSpec,
    folder: str,
    limit: datetime,
    on_error: OnError,
    strays: tuple[list[str], list[str]],
) -> list[str]:
    """The paths of the objects in one bucket whose timestamp is before ``limit``.

    ``strays`` (folders, files) gets what stands in the bucket and is not a
    user folder (a link counts as a file: it is never followed).
    """
    older: list[str] = []
    layout = engine.layout
    time_field = spec.time_field or ""
    for entry in sorted(engine.list(folder), key=lambda e: e.name):
        if not (entry.is_dir and layout.is_level_name("user", entry.name)):
            strays[0 if entry.is_dir else 1].append(f"{folder}/{entry.name}")
            continue
        user_folder = f"{folder}/{entry.name}"
        for name in sorted(e.name for e in engine.list(user_folder)):
            object_id = layout.object_id_of(spec, name)
            if object_id is None:
                continue
            path = f"{user_folder}/{name}"
            try:
                data = engine.read(path)
                if data is None:
                    continue
                obj = engine.decode(spec, path, data, object_id)
                at = to_utc(getattr(obj, time_field), path)
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


def remove_empty_folders(
    engine: Engine, spec: ModelSpec, prefix: str | None = None
) -> CleanupReport:
    """The work of ``BucketedRepository.remove_empty_folders``, whose docstring is the contract."""
    root = spec.resource_type
    prefix = root if prefix is None else prefix
    check_relative_path(prefix)
    parts = prefix.split("/")
    layout = engine.layout
    levels = layout.levels(spec)
    if (
        parts[0] != root
        or len(parts) - 1 > len(levels)
        or not all(
            layout.is_level_name(level, name)
            for level, name in zip(levels, parts[1:], strict=False)
        )
    ):
        example = layout.bucket_folder(spec, EPOCH) if spec.time_field else root
        raise InvalidKeyError(
            f"{prefix!r} is not a folder of {spec.cls.__name__}: give {root!r} or a "
            f"folder below it, such as {example!r}"
        )
    removed: list[str] = []
    stray_folders: list[str] = []
    stray_files: list[str] = []
    _clean(engine, levels, prefix, len(parts) - 1, removed, stray_folders, stray_files)
    if removed:
        engine.commit()
    return CleanupReport(prefix, tuple(removed), tuple(stray_folders), tuple(stray_files))


def _clean(
    engine: Engine,
    levels: tuple[Level, ...],
    folder: str,
    depth: int,
    removed: list[str],
    stray_folders: list[str],
    stray_files: list[str],
) -> bool:
    """Remove the empty folders below ``folder``; return whether it is empty now."""
    empty = True
    for entry in sorted(engine.list(folder, hidden=True), key=lambda e: e.name):
        path = f"{folder}/{entry.name}"
        if entry.name.startswith("."):
            empty = False  # a temporary file of a write in progress, say
        elif not entry.is_dir:
            if depth < len(levels):  # only folders belong here
                stray_files.append(path)
            empty = False
        elif depth >= len(levels) or not engine.layout.is_level_name(levels[depth], entry.name):
            stray_folders.append(path)
            empty = False
        elif _clean(
            engine, levels, path, depth + 1, removed, stray_folders, stray_files
        ) and engine.remove_empty_folder(path):
            removed.append(path)
        else:
            empty = False
    return empty


__all__ = ["CleanupReport", "RetentionReport", "purge_older_than", "remove_empty_folders"]
