"""The committed state of one emulated volume: the server side, with its transactions.

On-disk layout of one volume folder::

    meta.json                   {"name", "version": 1 | 2, "object_id", "created_at"}
    lock                        flock: this volume's committed state
    head.json                   {"seq": N, "inodes": M | null, "log_start": S}
    committed/...               the committed files and folders
    changes/<seq>.json          the paths transaction <seq> touched (the change log)
    staging/<uuid>/{files/, ops.json}   a write being prepared (under the lock)
    journal/{files/, ops.json}          a write being applied (redo log)

Every write to the committed state (a container's commit, an upload, a copy, a
removal) is a transaction: its new file contents and its operation list are staged,
then the staging folder is renamed to ``journal`` (the commit point), then applied,
then removed. A process killed while applying leaves ``journal`` behind, and the next
process to take the lock replays it (every operation is idempotent), so other
containers never observe half of a commit. Committed files are only ever replaced
(``os.replace``) or unlinked, never modified in place, so an open file descriptor on
one always reads one consistent version.

Each transaction gets the next sequence number and records the paths it touched in
``changes/``. A container remembers the sequence number of its snapshot; its reload
reads the change log since then and refreshes only those paths, so a reload costs what
changed, not what the volume holds. The log keeps the last ``LOG_KEEP`` transactions;
a container further behind refreshes by comparing everything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from ._files import flock, lstat, remove_entry, walk, write_json_atomically
from ._types import ancestors, depth, split_parent

#: How many transactions the change log keeps (older containers reload in full).
LOG_KEEP = 4096

OpKind = Literal["del", "rmtree", "rmdir", "mkdir", "put"]


class EntryLimitError(Exception):
    """A write would put more entries in one directory than a v2 volume allows."""


class VolumeFullError(OSError):
    """A write would take a v1 volume over its inode limit (errno ENOSPC)."""


@dataclasses.dataclass
class Head:
    """The committed state's sequence number, inode count (None: unknown) and log start."""

    seq: int = 0
    inodes: int | None = None
    log_start: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "inodes": self.inodes, "log_start": self.log_start}


class Transaction:
    """A write to the committed state being staged. Create it only under the lock."""

    def __init__(self, store: VolumeStore) -> None:
        self.folder = os.path.join(store.staging_dir, uuid.uuid4().hex)
        self.files_dir = os.path.join(self.folder, "files")
        os.makedirs(self.files_dir)
        self._deletes: list[tuple[OpKind, str]] = []
        self._rmdirs: list[str] = []
        self._mkdirs: list[str] = []
        self._puts: dict[str, str] = {}  # rel -> staged file name

    def staged_path_for(self, rel: str) -> str:
        """A fresh staging file that will become ``rel`` (the last put of a path wins)."""
        name = uuid.uuid4().hex
        self._puts[rel] = name
        return os.path.join(self.files_dir, name)

    def forget_put(self, rel: str) -> None:
        """Drop the put of ``rel`` (its staged file, if any, is discarded with the rest)."""
        self._puts.pop(rel, None)

    def delete(self, rel: str) -> None:
        self._deletes.append(("del", rel))

    def remove_tree(self, rel: str) -> None:
        self._deletes.append(("rmtree", rel))

    def remove_dir_if_empty(self, rel: str) -> None:
        self._rmdirs.append(rel)

    def make_dir(self, rel: str) -> None:
        self._mkdirs.append(rel)

    @property
    def empty(self) -> bool:
        return not (self._deletes or self._rmdirs or self._mkdirs or self._puts)

    def ops(self) -> list[list[str]]:
        """Operations in an order that works for type changes (file <-> folder):
        deletions, then folder removals deepest first, then folders shallowest first,
        then file puts."""
        ordered: list[list[str]] = [[kind, rel] for kind, rel in self._deletes]
        ordered += [["rmdir", rel] for rel in sorted(self._rmdirs, key=depth, reverse=True)]
        ordered += [["mkdir", rel] for rel in sorted(self._mkdirs, key=depth)]
        ordered += [["put", rel, name] for rel, name in self._puts.items()]
        return ordered

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclasses.dataclass
class _DirCounts:
    """Entry counts of committed folders, valid as of ``seq`` (per process and volume)."""

    seq: int = -1
    counts: dict[str, int] = dataclasses.field(default_factory=dict)


_dir_counts: dict[str, _DirCounts] = {}
_dir_counts_lock = threading.Lock()


class _Plan:
    """A dry run of a transaction's operations: how many entries each folder gains or
    loses, and how many inodes the volume gains, computed before the commit point."""

    def __init__(self, store: VolumeStore) -> None:
        self._store = store
        # rel -> "f" (file), "D" (folder made by this transaction), None (removed)
        self._overlay: dict[str, Literal["f", "D"] | None] = {}
        self.deltas: dict[str, int] = {}
        self.inodes = 0
        self.removed_dirs: list[str] = []

    def kind(self, rel: str) -> Literal["f", "d"] | None:
        if rel in self._overlay:
            value = self._overlay[rel]
            return "d" if value == "D" else value
        if any(parent in self._overlay for parent in ancestors(rel)):
            return None  # under something this transaction removed, replaced or made new
        found = lstat(self._store.path_of(rel))
        if found is None:
            return None
        return "d" if found.kind == "d" else "f"

    def _count_below(self, rel: str) -> int:
        if self._overlay.get(rel) == "D":
            prefix = rel + "/"
            return sum(1 for k, v in self._overlay.items() if k.startswith(prefix) and v)
        return len(walk(self._store.path_of(rel)))

    def _add(self, rel: str, kind: Literal["f", "D"]) -> None:
        parent = split_parent(rel)[0]
        self.deltas[parent] = self.deltas.get(parent, 0) + 1
        self.inodes += 1
        self._overlay[rel] = kind

    def _remove(self, rel: str) -> None:
        if self.kind(rel) == "d":
            self.inodes -= self._count_below(rel)
            self.removed_dirs.append(rel)
        parent = split_parent(rel)[0]
        self.deltas[parent] = self.deltas.get(parent, 0) - 1
        self.inodes -= 1
        self._overlay[rel] = None

    def _ensure_dir(self, rel: str) -> None:
        for component in [*ancestors(rel), rel] if rel else []:
            found = self.kind(component)
            if found == "d":
                continue
            if found == "f":  # a file in the way becomes a folder: one inode for another
                self._overlay[component] = "D"
            else:
                self._add(component, "D")

    def _is_empty(self, rel: str) -> bool:
        prefix = rel + "/"
        if any(
            k.startswith(prefix) and "/" not in k[len(prefix) :] and v is not None
            for k, v in self._overlay.items()
        ):
            return False
        if self._overlay.get(rel) == "D":
            return True
        try:
            names = os.listdir(self._store.path_of(rel))
        except (FileNotFoundError, NotADirectoryError):
            return True
        return all(self.kind(f"{rel}/{name}") is None for name in names)

    def run(self, ops: list[list[str]]) -> None:
        for op in ops:
            kind, rel = op[0], op[1]
            if kind == "del":
                if self.kind(rel) == "f":
                    self._remove(rel)
            elif kind == "rmtree":
                if self.kind(rel) is not None:
                    self._remove(rel)
            elif kind == "rmdir":
                if self.kind(rel) == "d" and self._is_empty(rel):
                    self._remove(rel)
            elif kind == "mkdir":
                self._ensure_dir(rel)
            elif kind == "put":
                self._ensure_dir(split_parent(rel)[0])
                found = self.kind(rel)
                if found == "d":
                    self._remove(rel)
                if found != "f":
                    self._add(rel, "f")


class Limits(Protocol):
    """The limits a volume enforces (the emulator's, which tests may lower)."""

    @property
    def v1_max_inodes(self) -> int: ...

    @property
    def V2_MAX_ENTRIES_PER_DIRECTORY(self) -> int: ...


class VolumeStore:
    """The committed state of one volume (the emulated server side)."""

    def __init__(self, limits: Limits, folder: str, version: int, meta: dict[str, Any]) -> None:
        self.limits = limits
        self.folder = folder
        self.version = version
        self.meta = meta
        self.committed_dir = os.path.join(folder, "committed")
        self.staging_dir = os.path.join(folder, "staging")
        self.journal_dir = os.path.join(folder, "journal")
        self.changes_dir = os.path.join(folder, "changes")
        self.head_path = os.path.join(folder, "head.json")
        self.lock_path = os.path.join(folder, "lock")

    @property
    def object_id(self) -> str:
        return str(self.meta["object_id"])

    def exists(self) -> bool:
        return os.path.exists(os.path.join(self.folder, "meta.json"))

    # -- locking and crash recovery

    def _needs_recovery(self) -> bool:
        if os.path.exists(self.journal_dir):
            return True
        try:
            return bool(os.listdir(self.staging_dir))
        except FileNotFoundError:
            return False

    def _recover(self) -> None:
        """Finish a write whose process died (must hold the lock exclusively).

        A journal is a write past its commit point: replay it (every operation is
        idempotent). A staging folder is a write that never reached it: drop it.
        """
        if os.path.exists(self.journal_dir):
            try:
                with open(os.path.join(self.journal_dir, "ops.json"), encoding="utf-8") as f:
                    record = json.load(f)
            except FileNotFoundError:
                # ops.json is written before the commit point, so only the final
                # clean-up can have removed it: everything was applied already.
                record = None
            if record is not None:
                self._apply_record(record, os.path.join(self.journal_dir, "files"))
            self._retire_journal()
        for name in os.listdir(self.folder):
            if name.startswith("retired-"):  # a clean-up cut short by a kill
                shutil.rmtree(os.path.join(self.folder, name), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.staging_dir):
                shutil.rmtree(os.path.join(self.staging_dir, name), ignore_errors=True)

    def _retire_journal(self) -> None:
        """Remove an applied journal: renamed away first (atomic), then deleted.

        Deleting it in place could be cut short by a kill half way, leaving a
        journal folder without its ops.json.
        """
        retired = os.path.join(self.folder, f"retired-{uuid.uuid4().hex}")
        os.rename(self.journal_dir, retired)
        shutil.rmtree(retired, ignore_errors=True)

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        """Hold this volume's lock; a crashed writer's leftovers are cleaned up first."""
        with flock(self.lock_path, exclusive=exclusive) as fd:
            if self._needs_recovery():
                if not exclusive:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # not atomic, which is fine here
                self._recover()
                if not exclusive:
                    fcntl.flock(fd, fcntl.LOCK_SH)
            yield

    # -- reading (callers hold the lock)

    def path_of(self, rel: str) -> str:
        return os.path.join(self.committed_dir, rel) if rel else self.committed_dir

    def head(self) -> Head:
        try:
            with open(self.head_path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return Head()  # a volume made by an older emulator: no change log yet
        return Head(int(data["seq"]), data.get("inodes"), int(data.get("log_start", 1)))

    def touched_since(self, seq: int, head: Head) -> set[str] | None:
        """The paths transactions after ``seq`` touched; None if the log no longer
        reaches back that far (the caller then compares everything)."""
        if seq >= head.seq:
            return set()
        if seq + 1 < head.log_start:
            return None
        touched: set[str] = set()
        for number in range(seq + 1, head.seq + 1):
            try:
                with open(self._change_path(number), encoding="utf-8") as f:
                    touched.update(json.load(f))
            except FileNotFoundError:
                return None
        return touched

    def _change_path(self, seq: int) -> str:
        return os.path.join(self.changes_dir, f"{seq:012d}.json")

    def file_in_the_way(self, rel: str) -> str | None:
        """The first parent of ``rel`` that exists but is not a folder, if any."""
        for parent in ancestors(rel):
            path = self.path_of(parent)
            if not os.path.lexists(path):
                return None
            if not os.path.isdir(path):
                return parent
        return None

    # -- writing (callers hold the lock exclusively)

    def begin(self) -> Transaction:
        os.makedirs(self.staging_dir, exist_ok=True)
        return Transaction(self)

    def commit_transaction(self, txn: Transaction) -> dict[str, os.stat_result]:
        """Apply ``txn`` atomically; return the committed stat of every file it put.

        Raises EntryLimitError (v2: a folder would overflow) or VolumeFullError (v1:
        the volume would hold too many inodes); either way nothing is applied.
        """
        try:
            ops = txn.ops()
            head = self.head()
            plan = _Plan(self)
            plan.run(ops)
            if self.version == 2:
                self._check_entry_limit(plan, head)
            inodes = self._check_inode_limit(plan, head)
            seq = head.seq + 1
            new_head = Head(seq, inodes, max(head.log_start, seq - LOG_KEEP + 1))
            record = {
                "ops": ops,
                "head": new_head.to_json(),
                "touched": sorted({op[1] for op in ops}),
            }
            with open(os.path.join(txn.folder, "ops.json"), "w", encoding="utf-8") as f:
                json.dump(record, f)
        except BaseException:
            txn.discard()
            raise
        os.rename(txn.folder, self.journal_dir)  # the commit point
        self._apply_record(record, os.path.join(self.journal_dir, "files"))
        self._retire_journal()
        self._update_dir_counts(plan, head.seq, seq)
        put_stats: dict[str, os.stat_result] = {}
        for op in ops:
            if op[0] == "put":
                with contextlib.suppress(FileNotFoundError):
                    put_stats[op[1]] = os.stat(self.path_of(op[1]), follow_symlinks=False)
        return put_stats

    def _check_inode_limit(self, plan: _Plan, head: Head) -> int | None:
        """modal-volumes.md: v1 "hard limit 500,000 inodes"; ENOSPC when creating."""
        inodes = head.inodes
        if inodes is None and self.version == 1:
            inodes = len(walk(self.committed_dir))  # once, for a volume without a count
        if inodes is None:
            return None
        after = inodes + plan.inodes
        limit = self.limits.v1_max_inodes
        if self.version == 1 and plan.inodes > 0 and after > limit:
            raise VolumeFullError(
                errno.ENOSPC,
                f"No space left on device: v1 volume '{self.meta.get('name')}' would hold "
                f"{after} files and folders; v1 volumes hold at most {limit}",
            )
        return after

    def _check_entry_limit(self, plan: _Plan, head: Head) -> None:
        """modal-volumes.md: "v2: at most 262,144 files per directory ... A layout that puts
        more than 262,144 entries in one directory fails on v2"."""
        limit = self.limits.V2_MAX_ENTRIES_PER_DIRECTORY
        growing = {d: n for d, n in plan.deltas.items() if n > 0}
        if not growing:
            return
        counts = self._synced_dir_counts(head)
        for parent, added in growing.items():
            before = counts.counts.get(parent)
            if before is None:
                try:
                    before = len(os.listdir(self.path_of(parent)))
                except (FileNotFoundError, NotADirectoryError):
                    before = 0
                counts.counts[parent] = before
            if before + added > limit:
                shown = parent or "/"
                raise EntryLimitError(
                    f"directory '{shown}' would hold {before + added} entries; "
                    f"v2 volumes allow at most {limit} entries per directory"
                )

    def _synced_dir_counts(self, head: Head) -> _DirCounts:
        """This process's cached folder entry counts, brought up to ``head`` by the
        change log (entries of folders others changed are dropped and recounted)."""
        with _dir_counts_lock:
            counts = _dir_counts.setdefault(self.folder, _DirCounts())
        if counts.seq != head.seq:
            touched = self.touched_since(counts.seq, head) if counts.seq >= 0 else None
            if touched is None:
                counts.counts.clear()
            else:
                for rel in touched:
                    for parent in ["", *ancestors(rel), rel]:
                        counts.counts.pop(parent, None)
            counts.seq = head.seq
        return counts

    def _update_dir_counts(self, plan: _Plan, before: int, after: int) -> None:
        with _dir_counts_lock:
            counts = _dir_counts.get(self.folder)
        if counts is None or counts.seq != before:
            return
        for removed in plan.removed_dirs:
            prefix = removed + "/"
            for rel in [r for r in counts.counts if r == removed or r.startswith(prefix)]:
                del counts.counts[rel]
        for parent, delta in plan.deltas.items():
            if parent in counts.counts:
                counts.counts[parent] += delta
        counts.seq = after

    def _apply_record(self, record: Any, files_dir: str) -> None:
        """Apply a journal record (idempotent): its operations, then its change log
        entry and new head. A record of an older emulator is a bare list of ops."""
        if isinstance(record, list):
            self._apply(record, files_dir)
            return
        self._apply(record["ops"], files_dir)
        head = Head(**record["head"])
        os.makedirs(self.changes_dir, exist_ok=True)
        write_json_atomically(self._change_path(head.seq), json.dumps(record["touched"]))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._change_path(head.seq - LOG_KEEP))
        write_json_atomically(self.head_path, json.dumps(head.to_json()))

    def _ensure_dir(self, rel: str) -> None:
        """Create folder ``rel`` and its parents; a file in the way is replaced (the last
        writer wins, modal-volumes.md)."""
        current = self.committed_dir
        for part in rel.split("/") if rel else []:
            current = os.path.join(current, part)
            if os.path.isdir(current) and not os.path.islink(current):
                continue
            if os.path.lexists(current):
                os.unlink(current)
            os.mkdir(current)

    def _apply(self, ops: list[list[str]], files_dir: str) -> None:
        """Apply operations; every one is idempotent so a journal can be replayed."""
        for op in ops:
            kind, rel = op[0], op[1]
            target = self.path_of(rel)
            if kind == "del":
                # Only a file: if another container turned the path into a folder since,
                # that folder holds files this container never saw.
                if os.path.lexists(target) and not os.path.isdir(target):
                    os.unlink(target)
            elif kind == "rmtree":
                remove_entry(target)
            elif kind == "rmdir":
                # Only if empty: other containers may have added files to it meanwhile.
                with contextlib.suppress(OSError):
                    os.rmdir(target)
            elif kind == "mkdir":
                self._ensure_dir(rel)
            elif kind == "put":
                staged = os.path.join(files_dir, op[2])
                if not os.path.exists(staged):
                    continue  # already moved into place before a crash
                self._ensure_dir(split_parent(rel)[0])
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                os.replace(staged, target)
