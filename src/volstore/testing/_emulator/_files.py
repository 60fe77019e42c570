"""File tree helpers of the emulator: walking, copying, hashing, locking, open files."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import IO, Literal, NamedTuple

COPY_CHUNK = 1024 * 1024
# A file whose mtime is this close to the moment its snapshot was taken may be
# rewritten with an identical (inode, size, mtime_ns, ctime_ns) because file system
# clocks are coarse. Like git's "racily clean" index entries, such files also get a
# content digest, compared at commit time. Two seconds also covers coarse file systems.
RACY_WINDOW_NS = 2_000_000_000

# Wording copied from volume.py so that callers matching on messages behave the same.
OPEN_FILES_MESSAGE = "there are open files preventing the operation"

Kind = Literal["f", "d", "o"]


class Stat(NamedTuple):
    """What a walk records of one entry."""

    kind: Kind  # regular file, directory, anything else
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


def stat_of(st: os.stat_result) -> Stat:
    if stat.S_ISREG(st.st_mode):
        kind: Kind = "f"
    elif stat.S_ISDIR(st.st_mode):
        kind = "d"
    else:
        kind = "o"
    return Stat(kind, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def lstat(path: str) -> Stat | None:
    """The entry at ``path`` (symlinks not followed), or None if there is none."""
    try:
        return stat_of(os.stat(path, follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return None


def walk(base: str, on_directory: Callable[[str], object] | None = None) -> dict[str, Stat]:
    """Every entry under ``base`` (relative "a/b" keys), symlinks not followed.

    ``on_directory(rel)`` is called for each folder ("" for ``base``) before it is
    listed (change tracking adds its watch there, so nothing created later is missed).
    Entries that vanish while walking (another thread of the container deleting them)
    are skipped: the walk is a best-effort picture, like a real commit's.
    """
    found: dict[str, Stat] = {}
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        if on_directory is not None:
            on_directory(rel_dir)
        try:
            with os.scandir(os.path.join(base, rel_dir) if rel_dir else base) as entries:
                for entry in entries:
                    rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                    try:
                        info = stat_of(entry.stat(follow_symlinks=False))
                    except FileNotFoundError:
                        continue
                    found[rel] = info
                    if info.kind == "d":
                        pending.append(rel)
        except (FileNotFoundError, NotADirectoryError):
            if not rel_dir:
                raise
    return found


def is_racy(mtime_ns: int, now_ns: int) -> bool:
    return mtime_ns >= now_ns - RACY_WINDOW_NS


def digest_file(path: str) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while chunk := os.read(fd, COPY_CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.digest()


class Copied(NamedTuple):
    source: Stat
    digest: bytes | None


def open_beneath(base: str, rel: str) -> int:
    """Open file ``rel`` under ``base`` for reading without following any symlink, in
    the folders on the way too (component by component, ``O_NOFOLLOW`` and
    ``dir_fd``): a symlink swapped in by user code can never lead outside ``base``.
    OSError (ELOOP, ENOTDIR, ENOENT) when the path is not a plain file path."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    parts = rel.split("/")
    fd = os.open(base, flags | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        # O_NONBLOCK: a FIFO swapped in must not block the commit (no effect on files).
        return os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)


def copy_file(
    src: str | int,
    dst: str,
    *,
    keep_mtime: bool = True,
    mode: int | None = None,
    digest: bool = False,
) -> Copied:
    """Copy the regular file ``src`` (a path, or a descriptor this call closes) to the
    new file ``dst``; return the source's stat.

    A path is opened with O_NOFOLLOW, and the source is checked to be a regular file,
    so a symlink swapped in by user code can never pull a file from outside the
    volume. The stat is taken on the open descriptor before reading: if the file
    changes during the copy, its stat will differ from this one and the next commit
    publishes it again.
    """
    src_fd = src if isinstance(src, int) else os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        src_st = os.fstat(src_fd)
        if not stat.S_ISREG(src_st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", str(src))
        hasher = hashlib.blake2b(digest_size=16) if digest else None
        file_mode = stat.S_IMODE(src_st.st_mode) if mode is None else mode
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while chunk := os.read(src_fd, COPY_CHUNK):
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
    return Copied(stat_of(src_st), hasher.digest() if hasher is not None else None)


def write_fileobj(source: IO[bytes], dst: str, mode: int) -> None:
    source.seek(0)  # blob_utils.get_file_upload_spec_from_fileobj reads from the start
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while chunk := source.read(COPY_CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def remove_entry(path: str) -> None:
    """Remove a file or a whole folder; missing is fine."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


def write_json_atomically(path: str, text: str) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def flock(path: str, *, exclusive: bool) -> Iterator[int]:
    """Hold ``flock`` on ``path``; yields the descriptor (for upgrades).

    Each call opens its own descriptor, so two threads of one process exclude each other
    just like two processes do. Never nest two of these in one thread: a shared lock
    held while waiting for an exclusive one on another descriptor would deadlock.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# ------------------------------------------------------------------------ open files


def open_files_annotation(mount_path: str) -> str | None:
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
