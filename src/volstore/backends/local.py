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
        targets = [(self.path_of(path), data) for path, data in files.items()]
        # One makedirs per folder per batch, not one per object.
        folders = {full.rpartition("/")[0] for full, _ in targets}
        for folder in folders:
            os.makedirs(folder, exist_ok=True)
        written: list[tuple[str, str]] = []
        try:
            for full, data in targets:
                folder, _, name = full.rpartition("/")
                temp = f"{folder}/{temporary_name(name)}"
                fd = os.open(temp, _CREATE_FLAGS, 0o644)
                try:
                    written.append((temp, full))
                    write_all(fd, data)
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
            for temp, full in written:
                os.replace(temp, full)
        except BaseException:
            for temp, _ in written:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
            raise
        if self.fsync:
            for folder in folders:
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

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
