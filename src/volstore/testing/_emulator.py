"""A faithful local emulator of Modal Volumes (stdlib only; never imports ``modal``).

The reference for every behaviour here is ``/work/shared/design/modal-volumes.md``
(cited below as *modal-volumes.md*) and the installed client source
``modal/volume.py`` (modal 1.6.x), cited as *volume.py*.

Model
-----
* :class:`VolumeEmulator` plays the Modal server. It owns a local folder holding the
  committed state of every emulated volume. Any number of OS processes that construct
  ``VolumeEmulator(same_root)`` share those volumes; ``fcntl.flock`` on lock files in
  the root serialises commits, uploads and reads across processes and threads.
* :class:`EmulatedVolume` is a handle with the same public methods and signatures as
  ``modal.Volume``. Its client API (``listdir``, ``read_file``, ``batch_upload``, ...)
  acts on the committed state, like Modal's client API from outside a container.
* :meth:`EmulatedVolume.mount` emulates a container mounting the volume: a real local
  folder holding a private copy of the committed state. ``commit()`` publishes the
  container's changes, per file, last writer wins; ``reload()`` refreshes the copy.
  Background commits and the commit at container exit are emulated; ``Mount.kill()``
  emulates SIGKILL / out-of-memory.

On-disk layout
--------------
::

    <root>/lock                                  flock: volume creation
    <root>/volumes/<environment>/<name>/
        meta.json                                {"version": 1 | 2, ...}
        lock                                     flock: this volume's committed state
        committed/...                            the committed files and folders
        staging/<uuid>/{files/, ops.json}        a write being prepared (under the lock)
        journal/{files/, ops.json}               a write being applied (redo log)
    <root>/containers/<uuid>/                    default mount folders (removed on exit)

Every write to the committed state (commit, upload, copy, remove) is a transaction:
its new file contents and its operation list are staged, then the staging folder is
renamed to ``journal`` (the commit point), then applied, then removed. A process killed
while applying leaves ``journal`` behind, and the next process to take the lock replays
it, so other containers never observe half of a commit. Committed files are only ever
replaced (``os.replace``) or unlinked, never modified in place, so an open file
descriptor on one always reads one consistent version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, ClassVar, Literal, NamedTuple, TypeVar

__all__ = [
    "CommitCost",
    "EmulatedUploadBatch",
    "EmulatedVolume",
    "EmulatorCounters",
    "FileEntry",
    "FileEntryType",
    "InvalidError",
    "Mount",
    "NotFoundError",
    "VolumeEmulator",
]

#: Environment variable naming the emulator root used by the unbound
#: ``EmulatedVolume.from_name`` (``emulator.Volume.from_name`` needs none).
ROOT_ENV_VAR = "VOLSTORE_EMULATOR_ROOT"

# modal/_utils/blob_utils.py: BLOCK_SIZE = 8 MiB; read_file yields blocks of this size.
_BLOCK_SIZE = 8 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024
# A file whose mtime is this close to the moment its snapshot was taken may be
# rewritten with an identical (inode, size, mtime_ns) because file system clocks are
# coarse. Like git's "racily clean" index entries, such files also get a content
# digest, compared at commit time. Two seconds also covers coarse file systems.
_RACY_WINDOW_NS = 2_000_000_000

# Wording copied from volume.py so that callers matching on messages behave the same.
_READ_ONLY_MESSAGE = "Read-only Volume can not be written to"
_OPEN_FILES_MESSAGE = "there are open files preventing the operation"


# --------------------------------------------------------------------------- errors


class InvalidError(Exception):
    """Mirrors ``modal.exception.InvalidError``: the caller did something invalid."""


class NotFoundError(Exception):
    """Mirrors ``modal.exception.NotFoundError``: a volume or path does not exist."""


class _EntryLimitError(Exception):
    """A write would put more entries in one directory than a v2 volume allows."""


# ----------------------------------------------------------------------- file entries


class FileEntryType(enum.IntEnum):
    """Mirrors ``modal.types.FileEntryType``: type of a listed volume entry."""

    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3
    FIFO = 4
    SOCKET = 5


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """Mirrors ``modal.types.FileEntry`` (modal-volumes.md: "FileEntry(path, type, mtime,
    size), path relative with no leading '/', type a FileEntryType IntEnum, mtime epoch
    seconds")."""

    path: str
    type: FileEntryType
    mtime: int
    size: int


@dataclasses.dataclass
class EmulatorCounters:
    """Operation counts of one mount, or summed over every mount of one handle.

    Tests and benchmarks read these to count round trips a real volume would make.
    """

    commits: int = 0
    """Explicit ``commit()`` calls that succeeded."""
    background_commits: int = 0
    """Background commit passes that succeeded (including those with nothing to do)."""
    exit_commits: int = 0
    """Commits made when a mount context exited."""
    reloads: int = 0
    """``reload()`` calls that succeeded."""
    files_published: int = 0
    """Files this container wrote to the committed state."""
    files_deleted: int = 0
    """Files this container deleted from the committed state."""
    files_fetched: int = 0
    """Files copied from the committed state into the container's view."""
    skipped_refreshes: int = 0
    """Commits whose view refresh was skipped because files were open."""
    bytes_published: int = 0
    """Bytes of the files this container published (by any kind of commit)."""
    bytes_fetched: int = 0
    """Bytes copied from the committed state into the container's view (mounting too)."""
    simulated_seconds: float = 0.0
    """Seconds slept by the :class:`CommitCost` model (0 without one)."""


# ------------------------------------------------------------------ simulated cost

_MB = 1_000_000


@dataclasses.dataclass(frozen=True)
class CommitCost:
    """The time a commit or a reload takes on a real volume, simulated by sleeping.

    Off by default (``VolumeEmulator(root)`` costs nothing but local file I/O). With
    ``VolumeEmulator(root, commit_cost=CommitCost())``, every round trip to the
    emulated server sleeps ``latency_s``, plus ``per_mb_s`` per megabyte (10**6 bytes)
    moved:

    * an explicit ``commit()``: the latency (even with nothing to publish: it is a
      round trip), plus the bytes it publishes, slept *before* they reach the committed
      state (an upload), plus the bytes its view refresh fetches;
    * ``reload()``: the latency, plus the bytes it publishes first (``reload_commits``)
      and the bytes it fetches;
    * a background commit or the commit at container exit: the latency plus the bytes,
      only when there is something to publish (a pass that finds no change never
      leaves the container);
    * mounting (container start) is free.

    The defaults, 50 ms per round trip and 20 ms per MB (50 MB/s), are ASSUMPTIONS chosen
    to be plausible for a network file system; they are not measurements of Modal.
    Benchmarks that use them report them next to every figure.

    ``sleep`` is the function called with each amount, ``time.sleep`` by default; tests
    inject a recorder to check the amounts without waiting.
    """

    latency_s: float = 0.050
    per_mb_s: float = 0.020
    sleep: Callable[[float], None] = dataclasses.field(
        default=time.sleep, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not (self.latency_s >= 0 and self.per_mb_s >= 0):
            raise ValueError("CommitCost latency_s and per_mb_s must be >= 0")

    def seconds(self, nbytes: int, *, round_trip: bool = True) -> float:
        """The simulated time of moving ``nbytes`` (plus the latency if ``round_trip``)."""
        return (self.latency_s if round_trip else 0.0) + self.per_mb_s * nbytes / _MB


# ----------------------------------------------------------------------------- paths


def _volume_relpath(path: str | PurePosixPath) -> str:
    """Normalise a path inside a volume to ``a/b/c`` ("" is the volume root).

    A leading "/" is accepted like Modal does (volume.py passes paths such as
    "/remote-path.txt" through). Any ".." component is rejected, even one that would
    stay inside the volume, so no path can ever reach outside the volume's folder.
    """
    text = str(path)
    if "\x00" in text:
        raise InvalidError(f"invalid volume path {text!r}: contains a NUL character")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidError(f"invalid volume path {text!r}: '..' would escape the volume root")
    return "/".join(parts)


def _split_parent(rel: str) -> tuple[str, str]:
    parent, _, name = rel.rpartition("/")
    return parent, name


def _check_glob(path: str) -> None:
    """Reject glob suffixes with the exact rule and wording of ``_Volume.iterdir``."""
    if path.endswith("**"):
        raise InvalidError(
            "Glob patterns in `volume get` and `Volume.listdir()` are deprecated. "
            "Please pass recursive=True instead. For the CLI, just remove the glob suffix."
        )
    if path.endswith("*"):
        raise InvalidError(
            "Glob patterns in `volume get` and `Volume.listdir()` are deprecated. "
            "Please remove the glob `*` suffix."
        )


# modal/_utils/name_utils.py: is_valid_object_name / is_valid_environment_name.
_OBJECT_NAME_RE = re.compile(r"^[a-zA-Z0-9\-_.]+$")
_APP_ID_RE = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
_ENVIRONMENT_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_.]*$")


def _check_volume_name(name: str) -> None:
    valid = (
        len(name) <= 64
        and _OBJECT_NAME_RE.match(name) is not None
        and _APP_ID_RE.match(name) is None
        # Modal's regex admits "." and ".."; as folder names they would escape the root.
        and name not in (".", "..")
    )
    if not valid:
        raise InvalidError(
            f"Invalid Volume name: '{name}'."
            "\n\nNames may contain only alphanumeric characters, dashes, periods, and underscores,"
            " must be shorter than 64 characters, and cannot conflict with App ID strings."
        )


def _check_environment_name(name: str) -> None:
    if len(name) > 64 or _ENVIRONMENT_NAME_RE.match(name) is None or name.lower().startswith("en-"):
        raise InvalidError(
            f"Invalid Environment name: '{name}'."
            "\n\nEnvironment names must be 1-64 characters, can only start with alphanumeric"
            " characters, may contain only alphanumeric characters, dashes, and underscores,"
            " and cannot start with 'en-'."
        )


# ------------------------------------------------------------------ file system helpers


class _Stat(NamedTuple):
    """What a walk records of one entry."""

    kind: Literal["f", "d", "o"]  # regular file, directory, anything else
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


def _stat_of(st: os.stat_result) -> _Stat:
    if stat.S_ISREG(st.st_mode):
        kind: Literal["f", "d", "o"] = "f"
    elif stat.S_ISDIR(st.st_mode):
        kind = "d"
    else:
        kind = "o"
    return _Stat(kind, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _walk(base: str) -> dict[str, _Stat]:
    """Every entry under ``base`` (relative "a/b" keys), symlinks not followed.

    Entries that vanish while walking (another thread of the container deleting them)
    are skipped: the walk is a best-effort picture, like a real commit's.
    """
    found: dict[str, _Stat] = {}
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(os.path.join(base, rel_dir) if rel_dir else base) as entries:
                for entry in entries:
                    rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                    try:
                        info = _stat_of(entry.stat(follow_symlinks=False))
                    except FileNotFoundError:
                        continue
                    found[rel] = info
                    if info.kind == "d":
                        pending.append(rel)
        except (FileNotFoundError, NotADirectoryError):
            if not rel_dir:
                raise
    return found


def _is_racy(mtime_ns: int, now_ns: int) -> bool:
    return mtime_ns >= now_ns - _RACY_WINDOW_NS


def _digest_file(path: str) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while chunk := os.read(fd, _COPY_CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.digest()


class _Copied(NamedTuple):
    source: _Stat
    digest: bytes | None


def _copy_file(
    src: str, dst: str, *, keep_mtime: bool = True, mode: int | None = None, digest: bool = False
) -> _Copied:
    """Copy the regular file ``src`` to the new file ``dst``; return the source's stat.

    The source is opened with O_NOFOLLOW and checked to be a regular file, so a symlink
    swapped in by user code can never pull a file from outside the volume. The stat is
    taken on the open descriptor before reading: if the file changes during the copy,
    its stat will differ from this one and the next commit publishes it again.
    """
    src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        src_st = os.fstat(src_fd)
        if not stat.S_ISREG(src_st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", src)
        hasher = hashlib.blake2b(digest_size=16) if digest else None
        file_mode = stat.S_IMODE(src_st.st_mode) if mode is None else mode
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while chunk := os.read(src_fd, _COPY_CHUNK):
                if hasher is not None:
                    hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst_fd, view) :]
            os.fchmod(dst_fd, file_mode)
            if keep_mtime:
                os.utime(dst_fd, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    return _Copied(_stat_of(src_st), hasher.digest() if hasher is not None else None)


def _remove_entry(path: str) -> None:
    """Remove a file or a whole folder; missing is fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def _flock(path: str, *, exclusive: bool) -> Iterator[int]:
    """Hold ``flock`` on ``path``; yields the descriptor (for upgrades).

    Each call opens its own descriptor, so two threads of one process exclude each other
    just like two processes do. Never nest two of these in one thread: a shared lock
    held while waiting for an exclusive one on another descriptor would deadlock.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# ------------------------------------------------------------------- the committed store


_OpKind = Literal["del", "rmtree", "rmdir", "mkdir", "put"]


class _Transaction:
    """A write to the committed state being staged. Create it only under the lock."""

    def __init__(self, store: _VolumeStore) -> None:
        self._store = store
        self.folder = os.path.join(store.staging_dir, uuid.uuid4().hex)
        self.files_dir = os.path.join(self.folder, "files")
        os.makedirs(self.files_dir)
        self._deletes: list[tuple[_OpKind, str]] = []
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
        ordered += [["rmdir", rel] for rel in sorted(self._rmdirs, key=_depth, reverse=True)]
        ordered += [["mkdir", rel] for rel in sorted(self._mkdirs, key=_depth)]
        ordered += [["put", rel, name] for rel, name in self._puts.items()]
        return ordered

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _depth(rel: str) -> int:
    return rel.count("/")


class _VolumeStore:
    """The committed state of one volume (the emulated server side)."""

    def __init__(self, emulator: VolumeEmulator, folder: str, version: int) -> None:
        self.emulator = emulator
        self.folder = folder
        self.version = version
        self.committed_dir = os.path.join(folder, "committed")
        self.staging_dir = os.path.join(folder, "staging")
        self.journal_dir = os.path.join(folder, "journal")
        self.lock_path = os.path.join(folder, "lock")

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
                    ops = json.load(f)
            except FileNotFoundError:
                # ops.json is written before the commit point, so only the final
                # clean-up can have removed it: everything was applied already.
                ops = None
            if ops is not None:
                self._apply(ops, os.path.join(self.journal_dir, "files"))
            self._retire_journal()
        volume_folder = os.path.dirname(self.journal_dir)
        for name in os.listdir(volume_folder):
            if name.startswith("retired-"):  # a clean-up cut short by a kill
                shutil.rmtree(os.path.join(volume_folder, name), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.staging_dir):
                shutil.rmtree(os.path.join(self.staging_dir, name), ignore_errors=True)

    def _retire_journal(self) -> None:
        """Remove an applied journal: renamed away first (atomic), then deleted.

        Deleting it in place could be cut short by a kill half way, leaving a
        journal folder without its ops.json.
        """
        retired = os.path.join(os.path.dirname(self.journal_dir), f"retired-{uuid.uuid4().hex}")
        os.rename(self.journal_dir, retired)
        shutil.rmtree(retired, ignore_errors=True)

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        """Hold this volume's lock; a crashed writer's leftovers are cleaned up first."""
        with _flock(self.lock_path, exclusive=exclusive) as fd:
            if self._needs_recovery():
                if not exclusive:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # not atomic, which is fine here
                self._recover()
                if not exclusive:
                    fcntl.flock(fd, fcntl.LOCK_SH)
            yield

    # -- reading

    def path_of(self, rel: str) -> str:
        return os.path.join(self.committed_dir, rel) if rel else self.committed_dir

    def file_in_the_way(self, rel: str) -> str | None:
        """The first parent of ``rel`` that exists but is not a folder, if any."""
        parts = rel.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            path = self.path_of(parent)
            if not os.path.lexists(path):
                return None
            if not os.path.isdir(path):
                return parent
        return None

    # -- writing (callers hold the lock exclusively)

    def begin(self) -> _Transaction:
        os.makedirs(self.staging_dir, exist_ok=True)
        return _Transaction(self)

    def commit_transaction(self, txn: _Transaction) -> dict[str, os.stat_result]:
        """Apply ``txn`` atomically; return the committed stat of every file it put.

        Raises _EntryLimitError (and applies nothing) if a v2 directory would overflow.
        """
        try:
            ops = txn.ops()
            if self.version == 2:
                self._check_entry_limit(ops)
            with open(os.path.join(txn.folder, "ops.json"), "w", encoding="utf-8") as f:
                json.dump(ops, f)
        except BaseException:
            txn.discard()
            raise
        os.rename(txn.folder, self.journal_dir)  # the commit point
        self._apply(ops, os.path.join(self.journal_dir, "files"))
        self._retire_journal()
        put_stats: dict[str, os.stat_result] = {}
        for op in ops:
            if op[0] == "put":
                with contextlib.suppress(FileNotFoundError):
                    put_stats[op[1]] = os.stat(self.path_of(op[1]), follow_symlinks=False)
        return put_stats

    def _check_entry_limit(self, ops: list[list[str]]) -> None:
        """modal-volumes.md: "v2: at most 262,144 files per directory ... A layout that puts
        more than 262,144 entries in one directory fails on v2"."""
        limit = self.emulator.V2_MAX_ENTRIES_PER_DIRECTORY
        added: dict[str, set[str]] = {}
        removed: dict[str, set[str]] = {}
        for op in ops:
            kind, rel = op[0], op[1]
            if kind in ("put", "mkdir"):
                parts = rel.split("/")
                for i, name in enumerate(parts):
                    added.setdefault("/".join(parts[:i]), set()).add(name)
            elif kind in ("del", "rmtree"):
                parent, name = _split_parent(rel)
                removed.setdefault(parent, set()).add(name)
        for parent, names in added.items():
            try:
                existing = set(os.listdir(self.path_of(parent)))
            except (FileNotFoundError, NotADirectoryError):
                existing = set()
            final = (existing - removed.get(parent, set())) | names
            if len(final) > limit and len(final) > len(existing):
                shown = parent or "/"
                raise _EntryLimitError(
                    f"directory '{shown}' would hold {len(final)} entries; "
                    f"v2 volumes allow at most {limit} entries per directory"
                )

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
                _remove_entry(target)
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
                self._ensure_dir(_split_parent(rel)[0])
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                os.replace(staged, target)


# --------------------------------------------------------------------------- emulator


class VolumeEmulator:
    """The emulated Modal server: a local folder holding every emulated volume.

    Processes that construct ``VolumeEmulator(same_root)`` share the volumes. Get a
    handle with ``emulator.Volume.from_name(name, create_if_missing=True)``.

    Args:
        root: folder holding the emulator's state (created if missing).
        reload_commits: default of :meth:`EmulatedVolume.mount`'s ``reload_commits``:
            whether ``reload()`` first commits the container's pending changes.
            volume.py's ``reload`` docstring: "Any uncommitted changes to the volume,
            such as new or modified files, may implicitly be committed when reloading."
        commit_cost: a :class:`CommitCost` to make commits and reloads of every mount
            take simulated time (benchmarks); None (the default) adds no delay. It is
            read at each commit, so assigning ``emulator.commit_cost`` takes effect at once.
    """

    #: modal-volumes.md, v1 and v2 table: "at most 262,144 files per directory" on v2.
    #: Tests may lower it on the class or on one emulator instance.
    V2_MAX_ENTRIES_PER_DIRECTORY: ClassVar[int] = 262_144

    Volume: type[EmulatedVolume]
    """``EmulatedVolume`` subclass bound to this emulator (use like ``modal.Volume``)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        reload_commits: bool = True,
        commit_cost: CommitCost | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.reload_commits = reload_commits
        self.commit_cost = commit_cost
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "volumes").mkdir(exist_ok=True)
        (self.root / "containers").mkdir(exist_ok=True)
        emulator = self

        class Volume(EmulatedVolume):
            """``EmulatedVolume`` bound to this emulator (``Volume.from_name`` needs no root)."""

            _bound_emulator = emulator

        self.Volume = Volume

    def __repr__(self) -> str:
        return f"VolumeEmulator({str(self.root)!r})"

    def _volume_folder(self, environment_name: str, name: str) -> str:
        return os.path.join(self.root, "volumes", environment_name, name)

    def _get_or_create(
        self, name: str, environment_name: str, *, create_if_missing: bool, version: int | None
    ) -> _VolumeStore:
        """Mirrors the server side of ``VolumeGetOrCreate``."""
        folder = self._volume_folder(environment_name, name)
        meta_path = os.path.join(folder, "meta.json")
        with _flock(os.path.join(self.root, "lock"), exclusive=create_if_missing):
            if not os.path.exists(meta_path):
                if not create_if_missing:
                    raise NotFoundError(
                        f"Volume '{name}' not found in environment '{environment_name}'"
                    )
                os.makedirs(os.path.join(folder, "committed"), exist_ok=True)
                os.makedirs(os.path.join(folder, "staging"), exist_ok=True)
                # volume.py _validate_volume_version: an unspecified version means v1.
                meta = {"name": name, "version": version or 1, "created_at": time.time()}
                tmp = f"{meta_path}.{uuid.uuid4().hex}.tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(meta, f)
                os.replace(tmp, meta_path)
            with open(meta_path, encoding="utf-8") as f:
                actual = int(json.load(f)["version"])
        if version is not None and version != actual:
            # Wording of volume.py _validate_volume_version.
            raise InvalidError(
                f"Volume '{name}' exists but has version v{actual}, not v{version} as requested. "
                "To access this Volume, either omit the version parameter or use the correct "
                "version."
            )
        return _VolumeStore(self, folder, actual)


# ---------------------------------------------------------------------- volume handles

_V = TypeVar("_V", bound="EmulatedVolume")


class EmulatedUploadBatch:
    """Mirrors modal's ``_AbstractVolumeUploadContextManager`` (what ``batch_upload``
    yields): ``put_file`` and ``put_directory`` only record; the batch uploads when the
    ``with`` block exits without error."""

    def __init__(self) -> None:
        # (source, remote relative path, mode); sources are resolved at exit like Modal's
        # lazy upload generators.
        self._files: list[tuple[Path | IO[bytes], str, int | None]] = []
        self._directories: list[tuple[Path, str, bool]] = []

    def put_file(
        self,
        local_file: Path | str | BinaryIO | IO[bytes],
        remote_path: PurePosixPath | str,
        mode: int | None = None,
    ) -> None:
        """Upload a local file or a binary file object to ``remote_path``.

        Parent folders are created. A file object must stay readable until the batch
        exits; it is read from the start (blob_utils ``seek(0)``). Mirrors
        ``put_file``, including its ``ValueError`` for a remote path ending with "/".
        """
        remote = PurePosixPath(remote_path).as_posix()
        if remote.endswith("/"):
            raise ValueError(f"remote_path ({remote}) must refer to a file - cannot end with /")
        rel = _volume_relpath(remote)
        if not rel:
            raise InvalidError(f"remote_path ({remote}) must refer to a file")
        source: Path | IO[bytes] = (
            Path(local_file) if isinstance(local_file, (str, Path)) else local_file
        )
        self._files.append((source, rel, mode))

    def put_directory(
        self,
        local_path: Path | str,
        remote_path: PurePosixPath | str,
        recursive: bool = True,
    ) -> None:
        """Upload every file of a local folder (of its subfolders too when ``recursive``)
        under ``remote_path``. Empty folders are not uploaded, as in Modal, which only
        uploads ``is_file()`` entries."""
        local = Path(local_path)
        if not local.is_dir():
            # volume.py does `assert local_path.is_dir()`; keep the same exception type.
            raise AssertionError(f"{local} is not a directory")
        self._directories.append((local, _volume_relpath(PurePosixPath(remote_path)), recursive))

    def _resolved(self) -> dict[str, tuple[Path | IO[bytes], int | None]]:
        entries: dict[str, tuple[Path | IO[bytes], int | None]] = {}
        for source, rel, mode in self._files:
            entries[rel] = (source, mode)
        for local, rel_root, recursive in self._directories:
            found = local.rglob("*") if recursive else local.glob("*")
            for sub in sorted(found):
                if sub.is_file():
                    rel = "/".join(p for p in (rel_root, sub.relative_to(local).as_posix()) if p)
                    entries[rel] = (sub, None)
        return entries


class EmulatedVolume:
    """A handle on an emulated volume, with ``modal.Volume``'s public API.

    Get one with ``emulator.Volume.from_name(...)`` (or, with the environment variable
    ``VOLSTORE_EMULATOR_ROOT`` set, ``EmulatedVolume.from_name(...)``). Like Modal's,
    the handle is lazy: the volume is looked up (or created) on first use.

    One handle is one emulated container: ``with vol.mount() as m:`` mounts the volume
    at ``m.path``, and while that mount is active ``vol.commit()`` and ``vol.reload()``
    act on it. Another container is another ``from_name`` handle with its own mount,
    in this process or another one.
    """

    _bound_emulator: ClassVar[VolumeEmulator | None] = None

    def __init__(
        self,
        emulator: VolumeEmulator,
        name: str,
        *,
        environment_name: str,
        create_if_missing: bool,
        version: int | None,
        read_only: bool = False,
    ) -> None:
        """Internal: use :meth:`from_name`."""
        self._emulator = emulator
        self._name = name
        self._environment_name = environment_name
        self._create_if_missing = create_if_missing
        self._requested_version = version
        self._read_only = read_only
        self._store_cache: _VolumeStore | None = None
        self._active_mount: Mount | None = None
        self._mount_lock = threading.Lock()
        self.counters = EmulatorCounters()
        """Operation counts summed over every mount of this handle."""

    def __repr__(self) -> str:
        suffix = ", read_only" if self._read_only else ""
        return f"EmulatedVolume.from_name({self._name!r}{suffix}) on {self._emulator!r}"

    # -- identity

    @property
    def name(self) -> str:
        """The volume's name (``modal.Volume.name``)."""
        return self._name

    @property
    def version(self) -> int:
        """1 or 2 (looks the volume up, so NotFoundError if it does not exist)."""
        return self._store().version

    @property
    def emulator(self) -> VolumeEmulator:
        """The emulator (server) this handle talks to."""
        return self._emulator

    @property
    def active_mount(self) -> Mount | None:
        """The mount of this handle that is active in this process, if any."""
        return self._active_mount

    def _store(self) -> _VolumeStore:
        # Modal hydrates lazily on first use (from_name docstring: "Hydration is lazy"),
        # so a missing volume raises NotFoundError from the first method call.
        if self._store_cache is None:
            self._store_cache = self._emulator._get_or_create(
                self._name,
                self._environment_name,
                create_if_missing=self._create_if_missing,
                version=self._requested_version,
            )
        return self._store_cache

    def _check_writable(self) -> None:
        if self._read_only:
            raise InvalidError(_READ_ONLY_MESSAGE)

    # -- constructors

    @classmethod
    def from_name(
        cls: type[_V],
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: int | None = None,
        create_options: object | None = None,
        client: object | None = None,
    ) -> _V:
        """Reference a volume by name (mirrors ``modal.Volume.from_name``).

        Lazy like Modal's: the volume is looked up, or created when
        ``create_if_missing``, on first use, which raises :class:`NotFoundError` if it
        does not exist. ``version`` is 1 or 2 (None: v1 on creation, any when it
        exists; a mismatch with an existing volume raises :class:`InvalidError`).
        ``environment_name`` selects a separate namespace (default "main").
        ``create_options`` and ``client`` are accepted and ignored.

        On the unbound ``EmulatedVolume`` the emulator root comes from the environment
        variable ``VOLSTORE_EMULATOR_ROOT``; RuntimeError if it is not set.
        """
        del create_options, client  # accepted for signature parity only
        emulator = cls._bound_emulator
        if emulator is None:
            root = os.environ.get(ROOT_ENV_VAR)
            if not root:
                raise RuntimeError(
                    "EmulatedVolume.from_name needs an emulator: use "
                    "VolumeEmulator(root).Volume.from_name(...), or set the environment "
                    f"variable {ROOT_ENV_VAR} to the emulator's root folder"
                )
            emulator = VolumeEmulator(root)
        _check_volume_name(name)
        environment = "main" if environment_name is None else environment_name
        _check_environment_name(environment)
        if version not in (None, 1, 2):
            # volume.py _get_version_proto.
            raise InvalidError("VolumeFS version must be either 1 or 2")
        return cls(
            emulator,
            name,
            environment_name=environment,
            create_if_missing=create_if_missing,
            version=version,
        )

    def read_only(self: _V) -> _V:
        """A handle on the same volume whose write methods (``remove_file``,
        ``copy_files``, ``batch_upload``) raise ``InvalidError("Read-only Volume can not
        be written to")`` (volume.py). A container mounting it cannot publish changes."""
        view = type(self)(
            self._emulator,
            self._name,
            environment_name=self._environment_name,
            create_if_missing=self._create_if_missing,
            version=self._requested_version,
            read_only=True,
        )
        view._store_cache = self._store_cache
        return view

    # -- container-side API

    def mount(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        background_commit_interval: float | None = 5.0,
        reload_commits: bool | None = None,
    ) -> Mount:
        """Emulate a container that mounts this volume; use as a context manager.

        Args:
            path: local folder to mount at: missing or empty; default a fresh folder
                under the emulator root. Removed (or emptied, if it existed) on exit.
            background_commit_interval: seconds between background commits
                (modal-volumes.md: "Modal also commits every few seconds while the
                function runs"); None turns them off.
            reload_commits: whether ``reload()`` first commits pending changes; None
                takes the emulator's default (True).
        """
        return Mount(
            self,
            path,
            background_commit_interval=background_commit_interval,
            reload_commits=(
                self._emulator.reload_commits if reload_commits is None else reload_commits
            ),
        )

    def _require_mount(self, method: str) -> Mount:
        mount = self._active_mount
        if mount is None:
            # volume.py: commit/reload "Must be called inside a container that mounts the
            # Volume"; modal-volumes.md: "commit() and reload() are for containers only".
            raise RuntimeError(
                f"Volume.{method}() must be called inside a container that mounts the volume "
                f"'{self._name}': no emulated mount of this handle is active "
                "(use `with vol.mount() as mount: ...`)"
            )
        return mount

    def commit(self) -> None:
        """Commit the active mount's changes, then refresh its view (``Volume.commit``).

        RuntimeError outside a mount or when the commit fails. See :meth:`Mount.commit`.
        """
        self._require_mount("commit").commit()

    def reload(self) -> None:
        """Refresh the active mount's view to the latest committed state
        (``Volume.reload``). RuntimeError outside a mount, or when files under the
        mount are open. See :meth:`Mount.reload`."""
        self._require_mount("reload").reload()

    # -- client API (acts on the committed state)

    def _entry(self, rel: str, st: os.stat_result) -> FileEntry:
        if stat.S_ISDIR(st.st_mode):
            # Guess: Modal's listing reports directory sizes the server knows; report 0
            # so listings do not depend on the local file system.
            return FileEntry(rel, FileEntryType.DIRECTORY, int(st.st_mtime), 0)
        if stat.S_ISREG(st.st_mode):
            return FileEntry(rel, FileEntryType.FILE, int(st.st_mtime), st.st_size)
        return FileEntry(rel, FileEntryType.UNSPECIFIED, int(st.st_mtime), st.st_size)

    def _list(self, path: str, recursive: bool) -> list[FileEntry]:
        rel = _volume_relpath(path)
        store = self._store()
        with store.locked(exclusive=False):
            target = store.path_of(rel)
            try:
                top = os.stat(target, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                # Guess, after the modal-client test servicer's VolumeListFiles, which
                # answers NOT_FOUND ("No such file") for a missing path; the client
                # surfaces that as modal.exception.NotFoundError.
                raise NotFoundError(f"No such file or directory: '{path}'") from None
            if not stat.S_ISDIR(top.st_mode):
                # iterdir docstring: "For a file path, return only that file's description."
                return [self._entry(rel, top)]
            entries: list[FileEntry] = []
            self._collect(rel, recursive, entries)
            return entries

    def _collect(self, rel_dir: str, recursive: bool, out: list[FileEntry]) -> None:
        store = self._store()
        with os.scandir(store.path_of(rel_dir)) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            st = child.stat(follow_symlinks=False)
            out.append(self._entry(rel, st))
            if recursive and stat.S_ISDIR(st.st_mode):
                self._collect(rel, recursive, out)

    def iterdir(self, path: str, *, recursive: bool = True) -> Generator[FileEntry, None, None]:
        """Yield the entries under ``path`` (mirrors ``Volume.iterdir``; note the default
        ``recursive=True``, unlike ``listdir``).

        A folder yields its children (all descendants, folders included, when
        ``recursive``), sorted by path; a file yields its own entry. As in Modal (an
        async generator underneath) errors surface on first iteration: InvalidError for
        a glob suffix ("*" or "**") or a path escaping the volume, NotFoundError for a
        missing path. The listing is taken at first iteration, as one snapshot.
        """
        _check_glob(path)
        yield from self._list(path, recursive)

    def listdir(self, path: str, *, recursive: bool = False) -> list[FileEntry]:
        """List the entries under ``path`` (mirrors ``Volume.listdir``; default
        ``recursive=False``). Same entries and errors as :meth:`iterdir`."""
        return list(self.iterdir(path, recursive=recursive))

    def read_file(self, path: str) -> Generator[bytes, None, None]:
        """Yield the committed content of file ``path`` in blocks of up to 8 MiB
        (mirrors ``Volume.read_file``).

        modal-volumes.md: "missing file: FileNotFoundError on first iteration"; a
        folder is also FileNotFoundError (guess: the server has no such *file*). The
        version read is the one committed at first iteration, even if a commit
        replaces the file while reading.
        """
        fd = self._open_committed(path)
        try:
            while block := os.read(fd, _BLOCK_SIZE):
                yield block
        finally:
            os.close(fd)

    def _open_committed(self, path: str) -> int:
        rel = _volume_relpath(path)
        store = self._store()
        with store.locked(exclusive=False):
            try:
                fd = os.open(store.path_of(rel), os.O_RDONLY | os.O_NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError):
                raise FileNotFoundError(errno.ENOENT, "No such file", path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "No such file", path)
        return fd

    def read_file_into_fileobj(
        self,
        path: str,
        fileobj: IO[bytes],
        progress_cb: Callable[..., Any] | None = None,
    ) -> int:
        """Write file ``path`` into ``fileobj`` from its current position; return the
        number of bytes (mirrors ``Volume.read_file_into_fileobj``, which also calls
        ``progress_cb(advance=n)`` as bytes arrive and leaves the position at the end).
        FileNotFoundError for a missing file."""
        start = fileobj.tell()
        total = 0
        for block in self.read_file(path):
            view = memoryview(block)
            while view:
                written = fileobj.write(view)
                if not written:
                    raise OSError("File object write made no progress")  # volume.py wording
                view = view[written:]
            total += len(block)
            if progress_cb is not None:
                progress_cb(advance=len(block))
        fileobj.seek(start + total)
        return total

    def remove_file(self, path: str, recursive: bool = False) -> None:
        """Remove a file, or a folder with ``recursive=True`` (``Volume.remove_file``).

        FileNotFoundError if missing (modal-volumes.md); InvalidError on a read-only
        handle, for the volume root, and (guess: Modal's server rejects it) for a
        folder without ``recursive``.
        """
        self._check_writable()
        rel = _volume_relpath(path)
        if not rel:
            raise InvalidError("cannot remove the root of a volume")
        store = self._store()
        with store.locked(exclusive=True):
            target = store.path_of(rel)
            if not os.path.lexists(target):
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            is_dir = os.path.isdir(target) and not os.path.islink(target)
            if is_dir and not recursive:
                raise InvalidError(f"{path} is a directory; pass recursive=True to remove it")
            txn = store.begin()
            if is_dir:
                txn.remove_tree(rel)
            else:
                txn.delete(rel)
            self._commit_client_transaction(store, txn)

    def _commit_client_transaction(self, store: _VolumeStore, txn: _Transaction) -> None:
        try:
            store.commit_transaction(txn)
        except _EntryLimitError as exc:
            # Guess: the server rejects the request; surface it as the client's
            # InvalidError (a commit from a container raises RuntimeError instead).
            raise InvalidError(str(exc)) from None

    def copy_files(self, src_paths: Sequence[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files inside the volume with ``cp`` semantics (``Volume.copy_files``).

        With several sources, or a ``dst_path`` ending in "/" or naming an existing
        folder, each source is copied into that folder (created if missing); otherwise
        the single source is copied to ``dst_path``. Folders need ``recursive=True``,
        which v1 volumes refuse with ValueError (volume.py). A missing source raises
        NotFoundError (volume.py does not translate the server's NotFoundError here).
        InvalidError on a read-only handle.
        """
        self._check_writable()
        store = self._store()
        if store.version == 1 and recursive:
            raise ValueError("`recursive` is not supported for V1 volumes")
        sources = [_volume_relpath(p) for p in src_paths]
        if not sources:
            raise InvalidError("copy_files needs at least one source path")
        if any(not s for s in sources):
            raise InvalidError("cannot copy the root of a volume")
        dst = _volume_relpath(dst_path)
        with store.locked(exclusive=True):
            dst_is_dir = os.path.isdir(store.path_of(dst))
            into_folder = len(sources) > 1 or dst_path.endswith("/") or dst_is_dir or not dst
            if into_folder and os.path.lexists(store.path_of(dst)) and not dst_is_dir:
                raise InvalidError(f"target '{dst_path}' is not a directory")
            txn = store.begin()
            try:
                for src, raw in zip(sources, src_paths, strict=True):
                    src_path = store.path_of(src)
                    if not os.path.lexists(src_path):
                        raise NotFoundError(f"No such file or directory: '{raw}'")
                    target = "/".join(p for p in (dst, _split_parent(src)[1]) if p)
                    target = target if into_folder else dst
                    blocking = store.file_in_the_way(target)
                    if blocking is not None:
                        raise InvalidError(f"'{blocking}' exists and is not a directory")
                    if os.path.isdir(src_path):
                        self._stage_tree_copy(store, txn, src, target, recursive, raw)
                    else:
                        if os.path.isdir(store.path_of(target)):
                            raise InvalidError(f"cannot overwrite directory '{target}' with a file")
                        # `cp` without -p: the copy gets a new mtime.
                        _copy_file(src_path, txn.staged_path_for(target), keep_mtime=False)
            except BaseException:
                txn.discard()
                raise
            self._commit_client_transaction(store, txn)

    def _stage_tree_copy(
        self,
        store: _VolumeStore,
        txn: _Transaction,
        src: str,
        target: str,
        recursive: bool,
        raw: str,
    ) -> None:
        if not recursive:
            raise InvalidError(f"'{raw}' is a directory; pass recursive=True to copy it")
        if target == src or target.startswith(src + "/"):
            raise InvalidError(f"cannot copy directory '{raw}' into itself")
        if os.path.lexists(store.path_of(target)) and not os.path.isdir(store.path_of(target)):
            raise InvalidError(f"cannot overwrite non-directory '{target}' with a directory")
        txn.make_dir(target)
        for rel, info in sorted(_walk(store.path_of(src)).items()):
            dest = f"{target}/{rel}"
            if info.kind == "d":
                txn.make_dir(dest)
            elif info.kind == "f":
                _copy_file(
                    store.path_of(f"{src}/{rel}"), txn.staged_path_for(dest), keep_mtime=False
                )

    @contextlib.contextmanager
    def batch_upload(self, force: bool = False) -> Iterator[EmulatedUploadBatch]:
        """Upload files atomically (mirrors ``Volume.batch_upload``).

        Yields an :class:`EmulatedUploadBatch`. Everything uploads when the block exits
        without error, nothing when it raises (modal-volumes.md). Parent folders are
        created. Without ``force`` an existing file at a target raises FileExistsError
        and nothing is uploaded; a folder (or a file where a parent folder is needed) is
        never overwritten (FileExistsError, guess after the docstring "you cannot
        overwrite existing directories with uploaded files regardless"). A missing local
        file raises FileNotFoundError. InvalidError on a read-only handle.
        """
        self._check_writable()
        store = self._store()
        batch = EmulatedUploadBatch()
        yield batch
        entries = batch._resolved()
        if not entries:
            return
        with store.locked(exclusive=True):
            for rel in entries:
                self._check_upload_target(store, rel, force)
            txn = store.begin()
            try:
                for rel, (source, mode) in entries.items():
                    staged = txn.staged_path_for(rel)
                    if isinstance(source, Path):
                        _copy_file(str(source), staged, keep_mtime=False, mode=mode)
                    else:
                        _write_fileobj(source, staged, 0o644 if mode is None else mode)
            except BaseException:
                txn.discard()
                raise
            self._commit_client_transaction(store, txn)

    @staticmethod
    def _check_upload_target(store: _VolumeStore, rel: str, force: bool) -> None:
        blocking = store.file_in_the_way(rel)
        if blocking is not None:
            raise FileExistsError(errno.EEXIST, f"{blocking}: exists and is not a directory", rel)
        target = store.path_of(rel)
        if os.path.isdir(target):
            raise FileExistsError(errno.EEXIST, "a directory exists at the upload target", rel)
        if os.path.lexists(target) and not force:
            # Wording of the modal-client test servicer's AlreadyExists error.
            raise FileExistsError(
                errno.EEXIST, "already exists (disallow_overwrite_existing_files=True)", rel
            )


def _write_fileobj(source: IO[bytes], dst: str, mode: int) -> None:
    source.seek(0)  # blob_utils.get_file_upload_spec_from_fileobj reads from the start
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while chunk := source.read(_COPY_CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------- containers


class _Known(NamedTuple):
    """What a container knows of one entry of its view (the snapshot)."""

    kind: Literal["f", "d"]
    local: tuple[int, int, int] | None  # (inode, size, mtime_ns) of the view's copy
    source: tuple[int, int, int, int] | None  # committed file's (ino, size, mtime, ctime)
    digest: bytes | None  # content digest, kept only for racily clean files


def _local_key(info: _Stat) -> tuple[int, int, int]:
    return (info.ino, info.size, info.mtime_ns)


def _source_key(st: os.stat_result | _Stat) -> tuple[int, int, int, int]:
    if isinstance(st, _Stat):
        return (st.ino, st.size, st.mtime_ns, st.ctime_ns)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Changes(NamedTuple):
    puts: list[str]
    deletes: list[str]
    mkdirs: list[str]
    rmdirs: list[str]

    @property
    def empty(self) -> bool:
        return not (self.puts or self.deletes or self.mkdirs or self.rmdirs)


class Mount:
    """An emulated container mounting a volume: a real local folder, ``path``.

    Created by :meth:`EmulatedVolume.mount`; enter it to mount. User code reads and
    writes ``path`` with ordinary file I/O. The folder holds the committed state as of
    mounting or the last refresh; it never changes on its own (modal-volumes.md: "It
    never sees other containers' commits until it reloads, however much time passes").
    """

    def __init__(
        self,
        volume: EmulatedVolume,
        path: str | os.PathLike[str] | None,
        *,
        background_commit_interval: float | None,
        reload_commits: bool,
    ) -> None:
        if background_commit_interval is not None and background_commit_interval <= 0:
            raise ValueError("background_commit_interval must be positive or None")
        self.volume = volume
        self.background_commit_interval = background_commit_interval
        self.reload_commits = reload_commits
        self.counters = EmulatorCounters()
        """Operation counts of this mount."""
        self.errors: list[BaseException] = []
        """Failures of background commits and of an exit commit that could not be raised."""
        self._requested_path = None if path is None else Path(path)
        self._created_folder = False
        self._path: Path | None = None
        self._state: Literal["new", "active", "closed"] = "new"
        self._killed = False
        self._known: dict[str, _Known] = {}
        self._op_lock = threading.Lock()  # serialises commit/reload/background commit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Mount of {self.volume.name!r} at {self._path} ({self._state})>"

    @property
    def path(self) -> Path:
        """The mount folder (resolved). RuntimeError before the mount is entered."""
        if self._path is None:
            raise RuntimeError("the mount is not active yet: enter it with `with`")
        return self._path

    @property
    def active(self) -> bool:
        """True between entering and exiting (or kill)."""
        return self._state == "active"

    @property
    def read_only(self) -> bool:
        """True when mounted through a ``read_only()`` handle."""
        return self.volume._read_only

    # -- lifecycle

    def __enter__(self) -> Mount:
        if self._state != "new":
            raise RuntimeError("a Mount can be entered only once; call vol.mount() again")
        volume = self.volume
        with volume._mount_lock:
            if volume._active_mount is not None:
                raise RuntimeError(
                    "this handle already has an active mount; another container is another "
                    "from_name() handle"
                )
            store = volume._store()  # NotFoundError for a missing volume
            self._path = self._prepare_folder()
            try:
                with store.locked(exclusive=False):
                    self._refresh_view(store)
            except BaseException:
                self._remove_folder()
                raise
            self._state = "active"
            volume._active_mount = self
        if self.background_commit_interval is not None:
            self._thread = threading.Thread(
                target=self._background_loop,
                args=(self.background_commit_interval,),
                name=f"volstore-emulator-commit-{volume.name}",
                daemon=True,
            )
            self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """Stop background commits, commit once more (also when the block raised:
        modal-volumes.md "once more at container shutdown (also when the function
        raised)"), then remove the mount folder. After :meth:`kill`, nothing is
        committed. A failing exit commit raises RuntimeError unless the block already
        raised, in which case the failure is kept in :attr:`errors`."""
        if self._state != "active":
            return
        self._stop_background()
        failure: RuntimeError | None = None
        try:
            with self._op_lock:
                if not self._killed and not self.read_only:
                    try:
                        self._publish(round_trip=False)
                        self._count("exit_commits")
                    except RuntimeError as err:
                        failure = err
        finally:
            self._close()
        if failure is not None:
            if exc is None:
                raise failure
            self.errors.append(failure)

    def kill(self) -> None:
        """Emulate SIGKILL / out-of-memory: stop background commits and drop everything
        not yet committed (modal-volumes.md: uncommitted writes "are lost on SIGKILL /
        out-of-memory after the last periodic commit"). The folder is removed; exiting
        the ``with`` block afterwards commits nothing."""
        if self._state != "active":
            return
        self._stop_background()
        with self._op_lock:
            self._killed = True
        self._close()

    def _close(self) -> None:
        with self.volume._mount_lock:
            if self.volume._active_mount is self:
                self.volume._active_mount = None
        self._state = "closed"
        self._known = {}
        self._remove_folder()

    def _prepare_folder(self) -> Path:
        if self._requested_path is None:
            folder = self.volume._emulator.root / "containers" / uuid.uuid4().hex
            folder.mkdir()
            self._created_folder = True
            return folder.resolve()
        folder = self._requested_path
        if folder.exists():
            if not folder.is_dir() or any(folder.iterdir()):
                raise RuntimeError(f"mount path {folder} must be missing or an empty folder")
        else:
            folder.mkdir(parents=True)
            self._created_folder = True
        return folder.resolve()

    def _remove_folder(self) -> None:
        folder = self._path
        if folder is None:
            return
        if self._created_folder:
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.is_dir():
            for child in folder.iterdir():
                _remove_entry(str(child))

    def _stop_background(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _background_loop(self, interval: float) -> None:
        # modal-volumes.md: "Modal also commits every few seconds while the function
        # runs". A background commit publishes but never refreshes the view: it must not
        # change files under the user's feet.
        while not self._stop.wait(interval):
            with self._op_lock:
                if self._stop.is_set() or self._killed:
                    return
                if self.read_only:
                    continue
                try:
                    self._publish(round_trip=False)
                    self._count("background_commits")
                except Exception as err:  # a daemon thread must never die noisily
                    self.errors.append(err)

    def _count(self, field: str, amount: float = 1) -> None:
        for counters in (self.counters, self.volume.counters):
            setattr(counters, field, getattr(counters, field) + amount)

    def _require_active(self) -> None:
        if self._state != "active":
            raise RuntimeError(
                "the container is gone: the mount was exited or killed"
                if self._state == "closed"
                else "the mount is not active yet: enter it with `with`"
            )

    # -- commit / reload

    def commit(self) -> None:
        """Publish this container's changes, then refresh the view (``Volume.commit``).

        Publishes files created, modified or deleted since the view was last refreshed
        (or last published), per file, last writer wins (modal-volumes.md: "the last
        commit wins per file"); files this container did not change are never reverted.
        Then, like volume.py's commit (which reloads unless the server says
        ``skip_reload``), the view is refreshed to the latest committed state; that
        refresh is skipped when files under the mount are open (guess; counted in
        ``counters.skipped_refreshes``). Errors are RuntimeError (modal-volumes.md:
        "Errors surface as RuntimeError"). On a read-only mount, InvalidError if there
        are changes to publish.
        """
        with self._op_lock:
            self._require_active()
            if self.read_only:
                try:
                    pending = not self._diff(_walk(str(self.path))).empty
                except OSError as err:
                    message = f"committing volume '{self.volume.name}' failed: {err}"
                    raise RuntimeError(message) from err
                if pending:
                    raise InvalidError(_READ_ONLY_MESSAGE)
                self._simulate_cost(0, round_trip=True)
            else:
                self._publish(round_trip=True)
            if _open_files_annotation(str(self.path)) is None:
                self._simulate_cost(self._refresh_locked(), round_trip=False)
            else:
                self._count("skipped_refreshes")
            self._count("commits")

    def reload(self) -> None:
        """Refresh the view to the latest committed state (``Volume.reload``).

        RuntimeError with Modal's wording when a file under the mount is open or a
        process's working directory is inside it (modal-volumes.md: "there are open
        files preventing the operation: path test.txt is open"). Otherwise, with
        ``reload_commits`` (default), pending changes are committed first (volume.py:
        "uncommitted changes ... may implicitly be committed when reloading");
        without it they are discarded.
        """
        with self._op_lock:
            self._require_active()
            annotation = _open_files_annotation(str(self.path))
            if annotation is not None:
                raise RuntimeError(f"{_OPEN_FILES_MESSAGE}: {annotation}")
            if self.reload_commits and not self.read_only:
                self._publish(round_trip=True)
            else:
                self._simulate_cost(0, round_trip=True)
            self._simulate_cost(self._refresh_locked(), round_trip=False)
            self._count("reloads")

    def _refresh_locked(self) -> int:
        """Refresh the view under the volume's shared lock; return the bytes fetched."""
        store = self.volume._store()
        try:
            with store.locked(exclusive=False):
                return self._refresh_view(store)
        except OSError as err:
            raise RuntimeError(f"reloading volume '{self.volume.name}' failed: {err}") from err

    def _diff(self, current: dict[str, _Stat]) -> _Changes:
        """What changed in the view since the snapshot (new, modified, deleted).

        A file changed if its (inode, size, mtime_ns) differs from the snapshot's, or,
        for racily clean files, if its content digest differs.
        """
        changes = _Changes([], [], [], [])
        for rel, info in current.items():
            known = self._known.get(rel)
            if info.kind == "f":
                if known is None or known.kind != "f" or known.local != _local_key(info):
                    changes.puts.append(rel)
                elif known.digest is not None:
                    try:
                        if _digest_file(str(self.path / rel)) != known.digest:
                            changes.puts.append(rel)
                    except FileNotFoundError:
                        pass  # deleted meanwhile; the next commit sees it
            elif info.kind == "d" and (known is None or known.kind != "d"):
                changes.mkdirs.append(rel)
            # Symlinks, FIFOs and sockets are not published (guess: a data layer never
            # makes them; the emulator's committed state holds files and folders only).
        for rel, known in self._known.items():
            now = current.get(rel)
            if known.kind == "f" and (now is None or now.kind != "f"):
                changes.deletes.append(rel)
            elif known.kind == "d" and (now is None or now.kind != "d"):
                changes.rmdirs.append(rel)
        return changes

    def _simulate_cost(self, nbytes: int, *, round_trip: bool) -> None:
        """Sleep what the emulator's CommitCost charges for moving ``nbytes``."""
        cost = self.volume._emulator.commit_cost
        if cost is None:
            return
        seconds = cost.seconds(nbytes, round_trip=round_trip)
        if seconds > 0:
            cost.sleep(seconds)
            self._count("simulated_seconds", seconds)

    def _publish(self, *, round_trip: bool = False) -> None:
        """Publish pending changes without refreshing the view; RuntimeError on failure.

        The snapshot is updated for what was published, so a later commit does not
        publish the same files again (which would revert other containers' newer
        commits of them). With a CommitCost, the upload is slept before the changes
        reach the committed state: always for a ``round_trip`` (an explicit call),
        otherwise only when there is something to publish.
        """
        store = self.volume._store()
        try:
            current = _walk(str(self.path))
            changes = self._diff(current)
            if changes.empty:
                if round_trip:
                    self._simulate_cost(0, round_trip=True)
                return
            self._simulate_cost(sum(current[rel].size for rel in changes.puts), round_trip=True)
            with store.locked(exclusive=True):
                txn = store.begin()
                copied: dict[str, _Copied] = {}
                try:
                    now_ns = time.time_ns()
                    for rel in changes.deletes:
                        txn.delete(rel)
                    for rel in changes.rmdirs:
                        txn.remove_dir_if_empty(rel)
                    for rel in changes.mkdirs:
                        txn.make_dir(rel)
                    for rel in changes.puts:
                        staged = txn.staged_path_for(rel)
                        try:
                            local = str(self.path / rel)
                            racy = _is_racy(
                                os.stat(local, follow_symlinks=False).st_mtime_ns, now_ns
                            )
                            copied[rel] = _copy_file(local, staged, digest=racy)
                        except (FileNotFoundError, IsADirectoryError):
                            # Changed under us (user threads keep running); skip it and
                            # let the next commit pick up whatever is there then.
                            txn.forget_put(rel)
                    put_stats = store.commit_transaction(txn)
                except BaseException:
                    txn.discard()
                    raise
        except _EntryLimitError as err:
            raise RuntimeError(str(err)) from None
        except OSError as err:
            raise RuntimeError(f"committing volume '{self.volume.name}' failed: {err}") from err
        for rel in changes.deletes + changes.rmdirs:
            self._known.pop(rel, None)
        for rel in changes.mkdirs:
            self._known[rel] = _Known("d", None, None, None)
        for rel, result in copied.items():
            committed = put_stats.get(rel)
            self._known[rel] = _Known(
                "f",
                _local_key(result.source),
                None if committed is None else _source_key(committed),
                result.digest,
            )
        self._count("files_published", len(copied))
        self._count("bytes_published", sum(result.source.size for result in copied.values()))
        self._count("files_deleted", len(changes.deletes))

    def _refresh_view(self, store: _VolumeStore) -> int:
        """Make the view equal to the committed state (caller holds the lock shared);
        return the bytes fetched.

        Incremental: a file is copied only if the committed version differs from the
        one the view last fetched or published, or the view's copy was changed locally
        (local changes are overwritten: committing them is the caller's choice).
        """
        base = str(self.path)
        committed = _walk(store.committed_dir)
        current = _walk(base)
        # Remove what the committed state lacks (or holds with another type).
        removed_dirs: set[str] = set()
        for rel in sorted(current, key=lambda r: (_depth(r), r)):
            parts = rel.split("/")
            if any("/".join(parts[:i]) in removed_dirs for i in range(1, len(parts))):
                continue  # went with its folder
            info = current[rel]
            want = committed.get(rel)
            if want is None or want.kind != info.kind or info.kind == "o":
                _remove_entry(os.path.join(base, rel))
                if info.kind == "d":
                    removed_dirs.add(rel)
        known: dict[str, _Known] = {}
        fetched = fetched_bytes = 0
        now_ns = time.time_ns()
        for rel in sorted(committed, key=lambda r: (_depth(r), r)):
            want = committed[rel]
            local_path = os.path.join(base, rel)
            if want.kind == "d":
                with contextlib.suppress(FileExistsError):
                    os.mkdir(local_path)
                known[rel] = _Known("d", None, None, None)
                continue
            if want.kind != "f":
                continue
            previous = self._known.get(rel)
            have = current.get(rel)
            if (
                previous is not None
                and previous.kind == "f"
                and previous.source == _source_key(want)
                and have is not None
                and have.kind == "f"
                and previous.local == _local_key(have)
                and (previous.digest is None or previous.digest == _digest_file(local_path))
            ):
                known[rel] = previous
                continue
            tmp = os.path.join(os.path.dirname(local_path), f".volstore-fetch-{uuid.uuid4().hex}")
            racy = _is_racy(want.mtime_ns, now_ns)
            try:
                _copy_file(store.path_of(rel), tmp)
                os.replace(tmp, local_path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            copy = _stat_of(os.stat(local_path, follow_symlinks=False))
            known[rel] = _Known(
                "f",
                _local_key(copy),
                _source_key(want),
                _digest_file(local_path) if racy else None,
            )
            fetched += 1
            fetched_bytes += copy.size
        self._known = known
        self._count("files_fetched", fetched)
        self._count("bytes_fetched", fetched_bytes)
        return fetched_bytes


# ------------------------------------------------------------------------ open files


def _open_files_annotation(mount_path: str) -> str | None:
    """Which open file or working directory blocks a reload, worded like volume.py's
    ``_open_files_error_annotation``: this process first, then every other process
    whose /proc entry is readable. None when nothing is open (or without /proc)."""
    if not os.path.isdir("/proc/self/fd"):
        return None
    mount = PurePosixPath(mount_path)
    self_pid = str(os.getpid())
    others = sorted((p for p in os.listdir("/proc") if p.isdigit() and p != self_pid), key=int)
    for pid in [self_pid, *others]:
        try:
            annotation = _open_files_of(pid, pid == self_pid, mount)
        except (FileNotFoundError, PermissionError, ProcessLookupError, NotADirectoryError):
            continue
        if annotation is not None:
            return annotation
    return None


def _open_files_of(pid: str, is_self: bool, mount: PurePosixPath) -> str | None:
    def command_line() -> str:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
        return " ".join(part.decode(errors="replace") for part in parts).rstrip(" ")

    cwd = PurePosixPath(os.readlink(f"/proc/{pid}/cwd"))
    if cwd.is_relative_to(mount):
        return "cwd is inside volume" if is_self else f"cwd of '{command_line()}' is inside volume"
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = PurePosixPath(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue  # closed meanwhile
        if target.is_relative_to(mount):
            rel = target.relative_to(mount)
            if is_self:
                return f"path {rel} is open"
            return f"path {rel} is open from '{command_line()}'"
    return None
