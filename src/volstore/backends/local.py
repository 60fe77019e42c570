"""A backend over a local folder: the embedded default.

Each file is written to a temporary name in its own folder and then renamed
over the target with ``os.replace``, which is atomic on POSIX filesystems: a
reader, a crash or a Modal background commit sees the old file or the new one,
never half of one. A batch writes every temporary file first and renames them
only once all were written, so a failure while writing (a full disk, say)
leaves every stored file as it was.

Temporary names start with ``.``, which no id may, so readers and listings
never take one for an object; ``is_temporary_name`` recognises them for repair.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._keys import check_relative_path
from ._base import Backend, Entry

_TOKEN = os.urandom(4).hex()
_COUNTER = itertools.count()
_TEMP_SUFFIX = ".vstmp"
# Folder descriptors one batch holds open at once (well below the usual limit of 1024).
_MAX_FOLDER_FDS = 128
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
)


def is_temporary_name(name: str) -> bool:
    """Whether a file name is one of volstore's temporary files (left by a crash)."""
    return name.startswith(".") and name.endswith(_TEMP_SUFFIX)


def temporary_name(name: str) -> str:
    """A fresh temporary name for writing ``name`` in the same folder.

    Unique per process (random token, and pid for forks) and per call (counter).
    """
    return f".{name}.{_TOKEN}{os.getpid():x}-{next(_COUNTER)}{_TEMP_SUFFIX}"


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_all(fd: int) -> bytes:
    """Read a whole file from ``fd`` with as few system calls as a regular file allows."""
    size = os.fstat(fd).st_size
    data = os.read(fd, size + 1) if size else b""
    if len(data) == size and size:
        return data
    # Short read, a file that grew, or a file that reports size 0 (some FUSE
    # mounts): read to the end.
    chunks = [data]
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _make_folder(folder: str) -> bool:
    """Make ``folder`` (and its parents); return whether this call created it."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        return False
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)  # parents missing: made now, with the folder
    return True


class LocalBackend(Backend):
    """Stores files under ``root``, which is created if missing.

    ``fsync=True`` also flushes each file and its folder to the disk before a
    batch returns, which protects against power loss, not only against a
    crashed process (a killed process never tears a file either way). It costs
    a disk round trip per file, so it is off by default.
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)
        self.fsync = fsync

    def path_of(self, path: str) -> str:
        """The absolute filesystem path of a relative storage path (checked)."""
        check_relative_path(path)
        return f"{self._root}/{path}"

    def read(self, path: str) -> bytes:
        fd = os.open(self.path_of(path), _READ_FLAGS)
        try:
            return read_all(fd)
        finally:
            os.close(fd)

    def exists(self, path: str) -> bool:
        return os.path.isfile(self.path_of(path))

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        if not files:
            return
        # Group by folder: one makedirs and one folder descriptor per folder per
        # batch, and names relative to that descriptor, which spares the kernel
        # a walk of the whole path for every open and rename.
        by_folder: dict[str, list[tuple[str, bytes]]] = {}
        for path, data in files.items():
            folder, _, name = self.path_of(path).rpartition("/")
            by_folder.setdefault(folder, []).append((name, data))
        token = f"{_TOKEN}{os.getpid():x}-"  # the pid tells forked writers apart
        folder_fds: list[tuple[str, int | None]] = []
        jobs: list[tuple[int | None, str, str, bytes]] = []  # (folder fd, temp, name, data)
        existing: list[tuple[int | None, str]] = []  # targets in folders that existed before
        try:
            for folder, items in by_folder.items():
                created = _make_folder(folder)
                dir_fd: int | None = None
                if len(folder_fds) < _MAX_FOLDER_FDS:
                    dir_fd = os.open(folder, _DIR_FLAGS)
                folder_fds.append((folder, dir_fd))
                prefix = "" if dir_fd is not None else folder + "/"
                for name, data in items:
                    temp = f"{prefix}.{name}.{token}{next(_COUNTER)}{_TEMP_SUFFIX}"
                    jobs.append((dir_fd, temp, prefix + name, data))
                    if not created:
                        existing.append((dir_fd, prefix + name))
            self._write_temporaries(jobs, existing)
            if self.fsync:
                for folder, dir_fd in folder_fds:
                    fd = os.open(folder, os.O_RDONLY) if dir_fd is None else dir_fd
                    try:
                        os.fsync(fd)
                    finally:
                        if dir_fd is None:
                            os.close(fd)
        finally:
            for _, dir_fd in folder_fds:
                if dir_fd is not None:
                    os.close(dir_fd)

    def _write_temporaries(
        self,
        jobs: list[tuple[int | None, str, str, bytes]],
        existing: list[tuple[int | None, str]],
    ) -> None:
        """Phase one: every temporary file; phase two: rename them all over their targets.

        ``existing`` lists the targets in folders that existed before this batch
        (a folder made by the batch holds nothing in the way). Any failure
        removes every temporary file and leaves the targets as they were.
        """
        created: list[tuple[int | None, str]] = []
        try:
            for dir_fd, temp, _, data in jobs:
                fd = os.open(temp, _CREATE_FLAGS, 0o644, dir_fd=dir_fd)
                try:
                    created.append((dir_fd, temp))
                    done = os.write(fd, data)
                    if done != len(data):  # a short write (rare on files): finish it
                        write_all(fd, data[done:])
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            # Every file is written. A folder standing at a target would stop the
            # renames half way: look for one before replacing anything.
            # (``name/`` exists only for a folder: one system call, no exception
            # for the usual case of a new or regular file.)
            for dir_fd, name in existing:
                if os.access(name + "/", os.F_OK, dir_fd=dir_fd):
                    raise IsADirectoryError(errno.EISDIR, "a folder stands where a file goes", name)
            for dir_fd, temp, name, _ in jobs:
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            for dir_fd, temp in created:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=dir_fd)
            raise

    def delete_batch(self, paths: Iterable[str]) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path_of(path))

    def list(self, prefix: str) -> list[Entry]:
        folder = self.path_of(prefix) if prefix else self._root
        try:
            with os.scandir(folder) as it:
                return [
                    Entry(entry.name, entry.is_dir(follow_symlinks=False))
                    for entry in it
                    if entry.name[0] != "."
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def delete_tree(self, prefix: str) -> int:
        top = self.path_of(prefix)
        removed = 0
        for _folder, _dirs, names in os.walk(top):
            removed += sum(1 for name in names if name[0] != ".")
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(top)
        return removed

    def describe(self) -> str:
        return f"local folder {self._root}"
