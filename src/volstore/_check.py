"""Store check: walk a store and report what does not belong, optionally repairing it.

``check_store(store)`` visits every file below the root, one folder at a time,
and reports five kinds of findings:

- ``corrupt``: an object file that cannot be read, does not parse or does not
  validate as its model, or anything but an object file where one should be
  (a folder, a symbolic link, a FIFO or other special file, a file over the
  size limit), or a link where a type, bucket or user folder should be;
- ``temporary``: a temporary file left by a write that never finished (a
  killed process, or a background commit that published one on a volume);
- ``mismatch``: an object file whose content does not belong at its path (it
  holds another id, belongs to another user's folder, or to another time bucket);
- ``duplicate``: one key of a time-bucketed model stored in two buckets (a
  move between buckets cut short by a crash): the older copy is reported;
- ``unknown``: a file that matches no registered model (a folder of an
  unregistered resource type, a file not named ``<id><ext>``, a folder where
  the layout has none).

The layout marker ``.volstore.json`` and the quarantine folder are never
findings; other names starting with ``.`` are skipped, as every listing skips them.
No symbolic link is ever followed.

With ``repair=True`` abandoned temporary files are removed (a temporary file
a live writer may still rename is left in place; see ``Backend.remove_temporary``),
and corrupt, mismatched and duplicate files are moved (never deleted) into the
quarantine folder, keeping their path below it; the backend is committed once
at the end. Unknown files are left alone: they may belong to a model this
store did not register. A repair runs safely next to live writers: what a
writer may still be working on (a temporary file it will rename, the copies
of an object it is moving between buckets) is left in place until it is
``temporary_min_age`` seconds old (or, for this machine's temporary files,
until its process is gone).

Memory stays flat whatever the store's size: files are visited as a stream
(one folder listing at a time, never a list of every path), and a report keeps
at most ``max_findings`` findings of each kind (the totals count them all). To
find duplicates, a time-bucketed type costs 8 bytes of digest per object while
it is walked.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ._engine import Engine
from ._errors import CorruptObjectError, InvalidKeyError, short_reason
from ._keys import check_relative_path
from ._layout import MARKER
from ._model import ModelSpec
from ._tracker import version_of
from .backends._base import Entry, is_temporary_name

FindingKind = Literal["corrupt", "temporary", "mismatch", "duplicate", "unknown"]
KINDS: tuple[FindingKind, ...] = ("corrupt", "temporary", "mismatch", "duplicate", "unknown")
DEFAULT_QUARANTINE = ".volstore-quarantine"
DEFAULT_MAX_FINDINGS = 10_000
DEFAULT_TEMPORARY_MIN_AGE = 600.0
"""Seconds before repair removes a temporary file whose writer it cannot see (another
machine or container): a live writer renames its files within a batch's time."""


@dataclass(frozen=True)
class Finding:
    """One thing the check found: its kind, the path (relative to the root), why.

    ``action`` says what repair did with it (``"removed"``, ``"moved to ..."``,
    ``"left in place: ..."``), or is None when the check did not repair.
    """

    kind: FindingKind
    path: str
    reason: str
    action: str | None = None

    def __str__(self) -> str:
        done = f" [{self.action}]" if self.action else ""
        return f"{self.kind}: {self.path}: {self.reason}{done}"


@dataclass
class CheckReport:
    """What ``check_store`` found.

    Each list keeps the first ``max_findings`` findings of its kind; ``totals``
    counts every finding by kind. ``files_checked`` counts every file visited,
    ``objects_checked`` the object files read and validated. ``temporary_files_visible``
    is False for backends whose writes never leave temporary files (memory).
    ``removed`` and ``quarantined`` count what repair did.
    """

    corrupt: list[Finding] = field(default_factory=list)
    temporary: list[Finding] = field(default_factory=list)
    mismatched: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    unknown: list[Finding] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    files_checked: int = 0
    objects_checked: int = 0
    temporary_files_visible: bool = True
    repaired: bool = False
    removed: int = 0
    quarantined: int = 0
    max_findings: int = DEFAULT_MAX_FINDINGS

    @property
    def ok(self) -> bool:
        """True when nothing at all was found."""
        return not any(self.totals.values())

    @property
    def truncated(self) -> bool:
        """True when some findings were counted but not kept (more than ``max_findings``)."""
        return any(self.totals[kind] > len(self._list(kind)) for kind in KINDS)

    def findings(self) -> list[Finding]:
        """Every kept finding, kind by kind."""
        return [*self.corrupt, *self.temporary, *self.mismatched, *self.duplicates, *self.unknown]

    def add(self, finding: Finding) -> None:
        self.totals[finding.kind] += 1
        kept = self._list(finding.kind)
        if len(kept) < self.max_findings:
            kept.append(finding)
        if finding.action == "removed":
            self.removed += 1
        elif finding.action is not None and finding.action.startswith("moved to "):
            self.quarantined += 1

    def _list(self, kind: str) -> list[Finding]:
        return {
            "corrupt": self.corrupt,
            "temporary": self.temporary,
            "mismatch": self.mismatched,
            "duplicate": self.duplicates,
            "unknown": self.unknown,
        }[kind]

    def summary(self) -> str:
        """One line: how much was checked and found."""
        found = ", ".join(f"{self.totals[kind]} {kind}" for kind in KINDS)
        repaired = f"; removed {self.removed}, quarantined {self.quarantined}"
        return f"checked {self.files_checked} files ({self.objects_checked} objects): {found}" + (
            repaired if self.repaired else ""
        )


def _engine_of(store: Any) -> Engine:
    engine = store if isinstance(store, Engine) else getattr(store, "engine", None)
    if not isinstance(engine, Engine):
        raise TypeError(f"check_store takes a Store, not {store!r}")
    return engine


def check_store(
    store: Any,
    *,
    repair: bool = False,
    quarantine: str = DEFAULT_QUARANTINE,
    max_findings: int = DEFAULT_MAX_FINDINGS,
    temporary_min_age: float = DEFAULT_TEMPORARY_MIN_AGE,
) -> CheckReport:
    """Walk the whole store; report corrupt, temporary, mismatched, duplicate and unknown files.

    With ``repair``: remove abandoned temporary files, move corrupt,
    mismatched and duplicate files into ``quarantine`` (a folder at the root
    whose name starts with ``.``), commit once. Checks what the backend sees
    now: on a mounted volume call ``store.reload()`` first to check the latest
    committed state.

    A repair never breaks a writer running at the same time: a temporary file
    is removed only when no live writer can rename it any more (its process
    is gone, for this machine's files; else it is ``temporary_min_age``
    seconds old, see ``Backend.remove_temporary``), and the copies of a
    duplicate are left alone while one of them is younger than
    ``temporary_min_age`` (a move may be running). Pass 0 when no writer can
    be running (after a crash, with every writer stopped).

    Raises LayoutMismatchError when the store is opened with another user-hash
    layout than the one it was written with, and CorruptObjectError when the
    layout marker itself is unreadable: either must be settled first.
    ValueError for a bad ``quarantine`` or ``max_findings``.
    """
    if max_findings < 0:
        raise ValueError(f"max_findings must not be negative, not {max_findings}")
    engine = _engine_of(store)
    checker = _Checker(engine, repair, quarantine, temporary_min_age)
    report = CheckReport(
        temporary_files_visible=engine.backend.may_hold_temporary_files,
        repaired=repair,
        max_findings=max_findings,
    )
    for finding in checker.run():
        report.add(finding)
    report.files_checked = checker.files_checked
    report.objects_checked = checker.objects_checked
    return report


def iter_check_store(
    store: Any,
    *,
    repair: bool = False,
    quarantine: str = DEFAULT_QUARANTINE,
    temporary_min_age: float = DEFAULT_TEMPORARY_MIN_AGE,
) -> Generator[Finding, None, None]:
    """Like ``check_store``, but yield each finding as it is found (nothing is kept).

    With ``repair`` each finding is repaired before it is yielded; the backend
    is committed once when the iteration ends (also when it is stopped early).
    """
    return _Checker(_engine_of(store), repair, quarantine, temporary_min_age).run()


class _Checker:
    """One walk over a store. Folders are listed one at a time and never kept."""

    def __init__(self, engine: Engine, repair: bool, quarantine: str, min_age: float) -> None:
        try:
            check_relative_path(quarantine)
        except InvalidKeyError as exc:
            raise ValueError(f"quarantine must be a folder path below the root: {exc}") from None
        if not quarantine.startswith("."):
            raise ValueError(
                f"quarantine folder {quarantine!r} must start with '.', so that listings skip it"
            )
        self.engine = engine
        self.repair = repair
        self.quarantine = quarantine
        self.min_age = min_age
        self.files_checked = 0
        self.objects_checked = 0
        self._changed = False

    # -- the walk ----------------------------------------------------------------------

    def run(self) -> Generator[Finding, None, None]:
        self.engine.check_layout()
        try:
            yield from self._walk_root()
        finally:
            if self._changed:
                self.engine.commit()

    def _entries(self, prefix: str) -> list[Entry]:
        return self.engine.list(prefix, hidden=True)

    def _walk_root(self) -> Iterator[Finding]:
        models = self.engine.models
        quarantine_top = self.quarantine.partition("/")[0]
        for entry in self._entries(""):
            name = entry.name
            if name.startswith("."):
                if name in (MARKER, quarantine_top):
                    continue
                yield from self._hidden(name, entry)
            elif entry.kind in ("symlink", "other"):
                yield from self._special(name, entry, models.get(name) is not None)
            elif entry.is_dir:
                spec = models.get(name)
                if spec is None:
                    yield from self._unknown_below(
                        name, f"no registered model has resource type {name!r}"
                    )
                else:
                    yield from self._type_folder(spec, name)
            else:
                self.files_checked += 1
                yield Finding("unknown", name, "a file at the root, outside any type folder")

    def _hidden(self, path: str, entry: Entry) -> Iterator[Finding]:
        # Hidden names are skipped like every listing skips them, except
        # volstore's own temporary files, which a crash can leave anywhere.
        if entry.kind == "file" and is_temporary_name(entry.name):
            self.files_checked += 1
            yield self._temporary(path)

    def _special(self, path: str, entry: Entry, in_layout: bool) -> Iterator[Finding]:
        """A symbolic link or a special file: never followed, never opened."""
        self.files_checked += 1
        what = "a symbolic link" if entry.kind == "symlink" else "a FIFO, socket or device"
        if in_layout:
            yield self._quarantined(
                "corrupt", path, f"{what} stands where the layout has a folder or an object file"
            )
        else:
            yield Finding("unknown", path, f"{what}, outside the layout (never followed)")

    def _type_folder(self, spec: ModelSpec, folder: str) -> Iterator[Finding]:
        """``<type>/``: the levels of the layout down to user folders."""
        levels = self.engine.layout.levels(spec)
        keys: _Keys | None = _Keys() if spec.time_field is not None else None
        yield from self._level(spec, folder, levels, None, keys)
        if keys is not None and keys.maybe:
            yield from self._duplicates(spec, folder, levels, keys)

    def _level(
        self,
        spec: ModelSpec,
        folder: str,
        levels: tuple[str, ...],
        bucket: str | None,
        keys: _Keys | None,
    ) -> Iterator[Finding]:
        """A folder whose entries must be folders of the next level (date, hour or user)."""
        level = levels[0]
        is_level_name = self.engine.layout.is_level_name
        length = self.engine.hasher.length
        plural, singular = {
            "date": ("date folders", "not a date folder (YYYY-MM-DD expected)"),
            "hour": ("hour folders", "not an hour folder (00 to 23 expected)"),
            "user": ("user folders", f"not a user folder ({length} hex digits expected)"),
        }[level]
        for entry in self._entries(folder):
            path = f"{folder}/{entry.name}"
            if entry.name.startswith("."):
                yield from self._hidden(path, entry)
            elif entry.kind in ("symlink", "other"):
                yield from self._special(path, entry, True)
            elif not entry.is_dir:
                self.files_checked += 1
                yield Finding("unknown", path, f"a file where only {plural} belong")
            elif not is_level_name(level, entry.name):  # type: ignore[arg-type]
                yield from self._unknown_below(path, singular)
            elif level == "user":
                yield from self._user_folder(spec, path, entry.name, bucket, keys)
            else:
                below = path if len(levels) == 2 else bucket
                yield from self._level(spec, path, levels[1:], below, keys)

    def _user_folder(
        self,
        spec: ModelSpec,
        folder: str,
        user_hash: str,
        bucket: str | None,
        keys: _Keys | None,
    ) -> Iterator[Finding]:
        object_id_of = self.engine.layout.object_id_of
        for entry in self._entries(folder):
            path = f"{folder}/{entry.name}"
            if entry.name.startswith("."):
                yield from self._hidden(path, entry)
                continue
            object_id = object_id_of(spec, entry.name)
            if entry.kind in ("symlink", "other"):
                yield from self._special(path, entry, object_id is not None)
            elif entry.is_dir:
                if object_id is None:
                    yield from self._unknown_below(path, "a folder inside a user folder")
                else:
                    self.files_checked += 1
                    yield self._quarantined(
                        "corrupt", path, "a folder stands where an object file should be"
                    )
            elif object_id is None:
                self.files_checked += 1
                yield Finding("unknown", path, f"not named <id>{spec.extension} with a valid id")
            else:
                self.files_checked += 1
                finding = self._check_object(spec, path, object_id, user_hash, bucket)
                if finding is not None:
                    yield finding
                elif keys is not None:
                    keys.note(user_hash, object_id)

    def _unknown_below(self, folder: str, reason: str) -> Iterator[Finding]:
        """Every file below ``folder`` is unknown (temporary files still count as such)."""
        for entry in self._entries(folder):
            path = f"{folder}/{entry.name}"
            if entry.name.startswith("."):
                yield from self._hidden(path, entry)
            elif entry.kind in ("symlink", "other"):
                yield from self._special(path, entry, False)
            elif entry.is_dir:
                yield from self._unknown_below(path, reason)
            else:
                self.files_checked += 1
                yield Finding("unknown", path, reason)

    # -- one object ---------------------------------------------------------------------

    def _check_object(
        self, spec: ModelSpec, path: str, object_id: str, user_hash: str, bucket: str | None
    ) -> Finding | None:
        engine = self.engine
        self.objects_checked += 1
        try:
            data = engine.read(path)
            if data is None:
                return None  # removed since the folder was listed
            obj = engine.decode(spec, path, data, None)
        except CorruptObjectError as exc:
            return self._quarantined("corrupt", path, exc.reason)
        found_id = spec.object_id(obj)
        if found_id != object_id:
            return self._quarantined(
                "mismatch", path, f"holds id {found_id!r}, but its name says {object_id!r}"
            )
        try:
            owner_hash = engine.hasher(spec.owner(obj))
        except InvalidKeyError as exc:
            return self._quarantined("mismatch", path, f"its user id is not valid: {exc}")
        if owner_hash != user_hash:
            return self._quarantined(
                "mismatch", path, f"belongs in user folder {owner_hash}, not in {user_hash}"
            )
        if bucket is not None:
            try:
                expected = engine.layout.bucket_folder(spec, getattr(obj, spec.time_field or ""))
            except InvalidKeyError as exc:
                return self._quarantined("mismatch", path, f"its timestamp is not valid: {exc}")
            if expected != bucket:
                return self._quarantined(
                    "mismatch", path, f"its timestamp belongs in {expected}, not {bucket}"
                )
        return None

    # -- duplicates (time-bucketed types) ------------------------------------------------------

    def _duplicates(
        self, spec: ModelSpec, folder: str, levels: tuple[str, ...], keys: _Keys
    ) -> Iterator[Finding]:
        """Second pass over a type whose first pass saw a key digest twice: find real duplicates."""
        copies: dict[tuple[str, str], list[tuple[str, float | None]]] = {}
        for path, entry in self._object_files(spec, folder, levels):
            user_hash = path.rsplit("/", 2)[-2]
            object_id = self.engine.layout.object_id_of(spec, entry.name) or ""
            if keys.digest(user_hash, object_id) in keys.maybe:
                copies.setdefault((user_hash, object_id), []).append((path, entry.mtime))
        now = time.time()
        for (_, object_id), found in sorted(copies.items()):
            if len(found) < 2:
                continue
            ranked = sorted(self._newness(spec, *item) for item in found)
            newest = ranked[-1][2]
            # A move writes the new copy, then deletes the old one: while a copy is
            # younger than min_age, the move may still be running (or have just
            # written a copy whose time ties with the old one's): never touch it.
            settling = any(mtime is None or now - mtime < self.min_age for _, mtime in found)
            for version, mtime, path in ranked[:-1]:
                # The same version and time as the newest: nothing tells which is newer.
                tied = (version, mtime) == ranked[-1][:2]
                if tied:
                    reason = (
                        f"the key {object_id!r} is also stored at {newest}, with the same "
                        "version and time (a move between buckets cut short)"
                    )
                else:
                    reason = (
                        f"the key {object_id!r} is also stored at {newest}, a newer copy "
                        "(a move between buckets cut short)"
                    )
                if not self.repair:
                    yield Finding("duplicate", path, reason)
                elif settling and self.min_age > 0:
                    yield Finding(
                        "duplicate",
                        path,
                        reason,
                        f"left in place: a copy is younger than {self.min_age:g} s (or of "
                        "unknown age), so the move may still be running",
                    )
                elif tied:
                    yield Finding(
                        "duplicate",
                        path,
                        reason,
                        "left in place: nothing tells which copy is newer; delete one by "
                        "its bucket (session.delete(Model, user, id, at=...))",
                    )
                else:
                    yield self._quarantined("duplicate", path, reason)

    def _object_files(
        self, spec: ModelSpec, folder: str, levels: tuple[str, ...]
    ) -> Iterator[tuple[str, Entry]]:
        """Every object file below a type folder (names only: nothing is read)."""
        is_level_name = self.engine.layout.is_level_name
        for entry in self.engine.list(folder, details=True):
            path = f"{folder}/{entry.name}"
            if not entry.is_dir or not is_level_name(levels[0], entry.name):  # type: ignore[arg-type]
                continue
            if len(levels) > 1:
                yield from self._object_files(spec, path, levels[1:])
                continue
            for item in self.engine.list(path, details=True):
                if item.kind == "file" and self.engine.layout.object_id_of(spec, item.name):
                    yield f"{path}/{item.name}", item

    def _newness(self, spec: ModelSpec, path: str, mtime: float | None) -> tuple[int, float, str]:
        """How new a copy is: its version (versioned models), then its time, then its path."""
        version = 0
        if spec.version_field is not None:
            data = self.engine.read(path)
            if data is not None:
                try:
                    version = version_of(spec, self.engine.decode(spec, path, data, None)) or 0
                except (CorruptObjectError, ValueError):
                    version = 0
        return (version, mtime or 0.0, path)

    # -- findings and repairs -------------------------------------------------------------

    def _temporary(self, path: str) -> Finding:
        reason = "a temporary file left by an unfinished write"
        if not self.repair:
            return Finding("temporary", path, reason)
        try:
            removed = self.engine.remove_temporary(path, min_age=self.min_age)
        except Exception as exc:
            return Finding(
                "temporary", path, reason, f"left in place: removing failed: {short_reason(exc)}"
            )
        if not removed:
            return Finding(
                "temporary",
                path,
                reason,
                "left in place: its writer may still be running (younger than "
                f"{self.min_age:g} s, or a live process of this machine)",
            )
        self._changed = True
        return Finding("temporary", path, reason, "removed")

    def _quarantined(self, kind: FindingKind, path: str, reason: str) -> Finding:
        if not self.repair:
            return Finding(kind, path, reason)
        try:
            target = self._move_to_quarantine(path)
        except Exception as exc:
            return Finding(kind, path, reason, f"left in place: {short_reason(exc)}")
        self._changed = True
        return Finding(kind, path, reason, f"moved to {target}")

    def _move_to_quarantine(self, path: str) -> str:
        """Move ``path`` below the quarantine folder (a free name); return where it went."""
        base = f"{self.quarantine}/{path}"
        target = base
        counter = 0
        while True:
            try:
                self.engine.move(path, target)
            except FileExistsError:
                counter += 1
                target = f"{base}~{counter}"
                continue
            return target


class _Keys:
    """The keys of a time-bucketed type seen so far, as 8-byte digests (flat memory per key)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.maybe: set[int] = set()  # digests seen twice: duplicates, or (rarely) collisions

    @staticmethod
    def digest(user_hash: str, object_id: str) -> int:
        data = f"{user_hash}/{object_id}".encode()
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")

    def note(self, user_hash: str, object_id: str) -> None:
        key = self.digest(user_hash, object_id)
        if key in self.seen:
            self.maybe.add(key)
        else:
            self.seen.add(key)


__all__ = [
    "DEFAULT_QUARANTINE",
    "CheckReport",
    "Finding",
    "FindingKind",
    "check_store",
    "iter_check_store",
]
