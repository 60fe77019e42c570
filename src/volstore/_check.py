"""Store check: walk a store and report what does not belong, optionally repairing it.

``check_store(store)`` visits every file below the root, one folder at a time,
and reports four kinds of findings:

- ``corrupt``: an object file that cannot be read, does not parse or does not
  validate as its model (or a folder standing where an object file should be);
- ``temporary``: a temporary file left by a write that never finished (a
  killed process, or a background commit that published one on a volume);
- ``mismatch``: an object file whose content does not belong at its path (it
  holds another id, belongs to another user's folder, or to another time bucket);
- ``unknown``: a file that matches no registered model (a folder of an
  unregistered resource type, a file not named ``<id><ext>``, a folder where
  the layout has none).

The layout marker ``.volstore.json`` and the quarantine folder are never
findings; other names starting with ``.`` are skipped, as every listing skips them.

With ``repair=True`` temporary files are removed, and corrupt and mismatched
files are moved (never deleted) into the quarantine folder, keeping their path
below it; the backend is committed once at the end. Unknown files are left alone:
they may belong to a model this store did not register.

Memory stays flat whatever the store's size: files are visited as a stream
(one folder listing at a time, never a list of every path), and a report keeps
at most ``max_findings`` findings of each kind (the totals count them all).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ._errors import BackendError, CorruptObjectError, InvalidKeyError
from ._keys import (
    check_relative_path,
    id_from_file_name,
    is_user_folder,
    is_valid_id,
    parse_date_folder,
    parse_hour_folder,
)
from ._model import ModelSpec
from .backends.local import LocalBackend, is_temporary_name
from .backends.modal_remote import RemoteVolumeBackend, _is_not_found

if TYPE_CHECKING:
    from ._store import Store

FindingKind = Literal["corrupt", "temporary", "mismatch", "unknown"]
KINDS: tuple[FindingKind, ...] = ("corrupt", "temporary", "mismatch", "unknown")
DEFAULT_QUARANTINE = ".volstore-quarantine"
DEFAULT_MAX_FINDINGS = 10_000

_LAYOUT_MARKER = ".volstore.json"  # _store.LAYOUT_MARKER (not imported: _store imports us lazily)
_DIRECTORY = 2  # modal FileEntryType.DIRECTORY, as the remote backend reads it


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
    is False for backends whose listings cannot show temporary files (memory,
    custom backends): there, writes never leave any. ``removed`` and
    ``quarantined`` count what repair did.
    """

    corrupt: list[Finding] = field(default_factory=list)
    temporary: list[Finding] = field(default_factory=list)
    mismatched: list[Finding] = field(default_factory=list)
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
        return [*self.corrupt, *self.temporary, *self.mismatched, *self.unknown]

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
            "unknown": self.unknown,
        }[kind]

    def summary(self) -> str:
        """One line: how much was checked and found."""
        found = ", ".join(f"{self.totals[kind]} {kind}" for kind in KINDS)
        repaired = f"; removed {self.removed}, quarantined {self.quarantined}"
        return f"checked {self.files_checked} files ({self.objects_checked} objects): {found}" + (
            repaired if self.repaired else ""
        )


def check_store(
    store: Store,
    *,
    repair: bool = False,
    quarantine: str = DEFAULT_QUARANTINE,
    max_findings: int = DEFAULT_MAX_FINDINGS,
) -> CheckReport:
    """Walk the whole store; report corrupt, temporary, mismatched and unknown files.

    With ``repair``: remove temporary files, move corrupt and mismatched files
    into ``quarantine`` (a folder at the root whose name starts with ``.``),
    commit once. Checks what the backend sees now: on a mounted volume call
    ``store.reload()`` first to check the latest committed state.

    Raises LayoutMismatchError when the store is opened with another user-hash
    layout than the one it was written with, and CorruptObjectError when the
    layout marker itself is unreadable: either must be settled first.
    ValueError for a bad ``quarantine`` or ``max_findings``.
    """
    if max_findings < 0:
        raise ValueError(f"max_findings must not be negative, not {max_findings}")
    checker = _Checker(store, repair=repair, quarantine=quarantine)
    report = CheckReport(
        temporary_files_visible=checker.sees_hidden,
        repaired=repair,
        max_findings=max_findings,
    )
    for finding in checker.run():
        report.add(finding)
    report.files_checked = checker.files_checked
    report.objects_checked = checker.objects_checked
    return report


def iter_check_store(
    store: Store, *, repair: bool = False, quarantine: str = DEFAULT_QUARANTINE
) -> Generator[Finding, None, None]:
    """Like ``check_store``, but yield each finding as it is found (nothing is kept).

    With ``repair`` each finding is repaired before it is yielded; the backend
    is committed once when the iteration ends (also when it is stopped early).
    """
    return _Checker(store, repair=repair, quarantine=quarantine).run()


class _Checker:
    """One walk over a store. Folders are listed one at a time and never kept."""

    def __init__(self, store: Store, *, repair: bool, quarantine: str) -> None:
        try:
            check_relative_path(quarantine)
        except InvalidKeyError as exc:
            raise ValueError(f"quarantine must be a folder path below the root: {exc}") from None
        if not quarantine.startswith("."):
            raise ValueError(
                f"quarantine folder {quarantine!r} must start with '.', so that listings skip it"
            )
        self.store = store
        self.backend = store.backend
        self.repair = repair
        self.quarantine = quarantine
        self.files_checked = 0
        self.objects_checked = 0
        self._changed = False
        self._local_root = (
            str(self.backend.root) if isinstance(self.backend, LocalBackend) else None
        )
        self.sees_hidden = self._local_root is not None or isinstance(
            self.backend, RemoteVolumeBackend
        )

    # -- the walk ----------------------------------------------------------------------

    def run(self) -> Generator[Finding, None, None]:
        self.store.check_layout()
        try:
            yield from self._walk_root()
        finally:
            if self._changed:
                self.store.commit()

    def _entries(self, prefix: str) -> Iterator[tuple[str, bool]]:
        """(name, is_dir) of each entry of a folder, hidden names included where visible."""
        self.store.stats.lists += 1
        if self._local_root is not None:
            folder = f"{self._local_root}/{prefix}" if prefix else self._local_root
            try:
                with os.scandir(folder) as it:
                    for entry in it:
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            is_dir = False
                        yield entry.name, is_dir
            except (FileNotFoundError, NotADirectoryError):
                return
        elif isinstance(self.backend, RemoteVolumeBackend):
            try:
                listed = self.backend.volume.listdir(prefix or "/")
            except Exception as exc:
                if _is_not_found(exc):
                    return
                raise
            for item in listed:
                name = item.path.rstrip("/").rpartition("/")[2]
                if name:
                    yield name, int(item.type) == _DIRECTORY
        else:
            for listed_entry in self.backend.list(prefix):
                yield listed_entry.name, listed_entry.is_dir

    def _walk_root(self) -> Iterator[Finding]:
        models = self.store.models
        quarantine_top = self.quarantine.partition("/")[0]
        for name, is_dir in self._entries(""):
            if name.startswith("."):
                if name in (_LAYOUT_MARKER, quarantine_top):
                    continue
                yield from self._hidden(name, name, is_dir)
            elif is_dir:
                spec = models.get(name)
                if spec is None:
                    yield from self._unknown_below(
                        name, f"no registered model has resource type {name!r}"
                    )
                elif spec.time_field is None:
                    yield from self._type_folder(spec, name)
                else:
                    yield from self._time_type_folder(spec, name)
            else:
                self.files_checked += 1
                yield self._finding("unknown", name, "a file at the root, outside any type folder")

    def _hidden(self, path: str, name: str, is_dir: bool) -> Iterator[Finding]:
        # Hidden names are skipped like every listing skips them, except
        # volstore's own temporary files, which a crash can leave anywhere.
        if not is_dir and is_temporary_name(name):
            self.files_checked += 1
            yield self._temporary(path)

    def _type_folder(self, spec: ModelSpec, folder: str) -> Iterator[Finding]:
        """``<type>/``: user folders only."""
        yield from self._user_folders(spec, folder, None)

    def _user_folders(self, spec: ModelSpec, folder: str, bucket: str | None) -> Iterator[Finding]:
        """A folder whose entries must be user folders (a type folder or a time bucket)."""
        length = self.store.hasher.length
        for name, is_dir in self._entries(folder):
            path = f"{folder}/{name}"
            if name.startswith("."):
                yield from self._hidden(path, name, is_dir)
            elif not is_dir:
                self.files_checked += 1
                yield self._finding("unknown", path, "a file where only user folders belong")
            elif is_user_folder(name, length):
                yield from self._user_folder(spec, path, name, bucket)
            else:
                yield from self._unknown_below(
                    path, f"not a user folder ({length} hex digits expected)"
                )

    def _time_type_folder(self, spec: ModelSpec, folder: str) -> Iterator[Finding]:
        """``<type>/<YYYY-MM-DD>[/<HH>]/<user_hash>/<id><ext>``."""
        for name, is_dir in self._entries(folder):
            path = f"{folder}/{name}"
            if name.startswith("."):
                yield from self._hidden(path, name, is_dir)
            elif not is_dir:
                self.files_checked += 1
                yield self._finding("unknown", path, "a file where only date folders belong")
            elif parse_date_folder(name) is None:
                yield from self._unknown_below(path, "not a date folder (YYYY-MM-DD expected)")
            elif spec.bucket == "day":
                yield from self._user_folders(spec, path, path)
            else:
                yield from self._date_folder(spec, path)

    def _date_folder(self, spec: ModelSpec, folder: str) -> Iterator[Finding]:
        for name, is_dir in self._entries(folder):
            path = f"{folder}/{name}"
            if name.startswith("."):
                yield from self._hidden(path, name, is_dir)
            elif not is_dir:
                self.files_checked += 1
                yield self._finding("unknown", path, "a file where only hour folders belong")
            elif parse_hour_folder(name) is None:
                yield from self._unknown_below(path, "not an hour folder (00 to 23 expected)")
            else:
                yield from self._user_folders(spec, path, path)

    def _user_folder(
        self, spec: ModelSpec, folder: str, user_hash: str, bucket: str | None
    ) -> Iterator[Finding]:
        extension = spec.extension
        # A model also reads files in its previous codecs' formats, where it declares them.
        extensions = tuple(getattr(spec, "read_codecs", None) or (extension,))
        for name, is_dir in self._entries(folder):
            path = f"{folder}/{name}"
            if name.startswith("."):
                yield from self._hidden(path, name, is_dir)
                continue
            object_id = id_from_file_name(name, extensions)
            if object_id is not None and not is_valid_id(object_id):
                object_id = None
            if is_dir:
                if object_id is None:
                    yield from self._unknown_below(path, "a folder inside a user folder")
                else:
                    self.files_checked += 1
                    yield self._corrupt(path, "a folder stands where an object file should be")
            elif object_id is None:
                self.files_checked += 1
                yield self._finding("unknown", path, f"not named <id>{extension} with a valid id")
            else:
                self.files_checked += 1
                finding = self._check_object(spec, path, object_id, user_hash, bucket)
                if finding is not None:
                    yield finding

    def _unknown_below(self, folder: str, reason: str) -> Iterator[Finding]:
        """Every file below ``folder`` is unknown (temporary files still count as such)."""
        for name, is_dir in self._entries(folder):
            path = f"{folder}/{name}"
            if name.startswith("."):
                yield from self._hidden(path, name, is_dir)
            elif is_dir:
                yield from self._unknown_below(path, reason)
            else:
                self.files_checked += 1
                yield self._finding("unknown", path, reason)

    # -- one object ---------------------------------------------------------------------

    def _check_object(
        self, spec: ModelSpec, path: str, object_id: str, user_hash: str, bucket: str | None
    ) -> Finding | None:
        store = self.store
        self.objects_checked += 1
        try:
            data = store.read_bytes(path)
            if data is None:
                return None  # removed since the folder was listed
            obj = store.decode(spec, path, data, None)
        except CorruptObjectError as exc:
            return self._corrupt(path, _one_line(exc.reason))
        except BackendError as exc:
            # The walk works, so this file alone fails (a symlink, an I/O error): report it.
            return self._corrupt(path, f"the file cannot be read: {exc}")
        found_id = spec.object_id(obj)
        if found_id != object_id:
            return self._mismatch(path, f"holds id {found_id!r}, but its name says {object_id!r}")
        try:
            owner_hash = store.hasher(spec.owner(obj))
        except InvalidKeyError as exc:
            return self._mismatch(path, f"its user id is not valid: {exc}")
        if owner_hash != user_hash:
            return self._mismatch(path, f"belongs in user folder {owner_hash}, not in {user_hash}")
        if bucket is not None:
            try:
                expected = store.bucket_folder(spec, getattr(obj, spec.time_field or ""))
            except InvalidKeyError as exc:
                return self._mismatch(path, f"its timestamp is not valid: {exc}")
            if expected != bucket:
                return self._mismatch(path, f"its timestamp belongs in {expected}, not {bucket}")
        return None

    # -- findings and repairs -------------------------------------------------------------

    def _finding(self, kind: FindingKind, path: str, reason: str) -> Finding:
        return Finding(kind, path, reason)

    def _temporary(self, path: str) -> Finding:
        reason = "a temporary file left by an unfinished write"
        if not self.repair:
            return Finding("temporary", path, reason)
        try:
            self.backend.delete_batch([path])
        except Exception as exc:
            return Finding("temporary", path, reason, f"left in place: removing failed: {exc}")
        self._changed = True
        self.store.stats.deletes += 1
        return Finding("temporary", path, reason, "removed")

    def _corrupt(self, path: str, reason: str) -> Finding:
        return self._quarantined("corrupt", path, reason)

    def _mismatch(self, path: str, reason: str) -> Finding:
        return self._quarantined("mismatch", path, reason)

    def _quarantined(self, kind: FindingKind, path: str, reason: str) -> Finding:
        if not self.repair:
            return Finding(kind, path, reason)
        try:
            target = self._move_to_quarantine(path)
        except Exception as exc:
            return Finding(kind, path, reason, f"left in place: {exc}")
        self._changed = True
        return Finding(kind, path, reason, f"moved to {target}")

    def _move_to_quarantine(self, path: str) -> str:
        """Move ``path`` below the quarantine folder (a free name); return where it went."""
        base = f"{self.quarantine}/{path}"
        if self._local_root is not None:
            # A rename keeps the bytes whatever they are, also when they cannot
            # be read (a file without permissions, or a folder in the way).
            root = self._local_root
            target = base
            counter = 0
            while os.path.lexists(f"{root}/{target}"):
                counter += 1
                target = f"{base}~{counter}"
            os.makedirs(os.path.dirname(f"{root}/{target}"), exist_ok=True)
            os.rename(f"{root}/{path}", f"{root}/{target}")
            return target
        data = self.backend.read(path)  # errors leave the file in place
        target = base
        counter = 0
        while self.backend.exists(target):
            counter += 1
            target = f"{base}~{counter}"
        self.backend.write_batch({target: data})  # copy first: never lose the bytes
        self.backend.delete_batch([path])
        self.store.stats.writes += 1
        self.store.stats.deletes += 1
        return target


def _one_line(reason: str) -> str:
    """A validation error on one line, without pydantic's documentation links."""
    lines = [line.strip() for line in reason.splitlines()]
    kept = [line for line in lines if line and not line.startswith("For further information")]
    return "; ".join(kept)


__all__ = ["CheckReport", "Finding", "FindingKind", "check_store", "iter_check_store"]
