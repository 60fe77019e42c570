"""File-system primitives for the local backends: opens that never follow a symbolic link.

Anything with write access to a volume can plant a symbolic link inside it
(a user folder replaced by a link to ``/etc``, say). volstore never follows
one below a store's root: every path is resolved by the kernel with
``openat2(RESOLVE_NO_SYMLINKS)`` (Linux 5.6 and newer: one system call), or,
where that is missing, one component at a time with ``O_NOFOLLOW``. A link
met on the way raises ``SymlinkError`` naming the path.

Temporary files: a batch writes each file to a temporary name in the target's
folder first. The name is ``.<name>.<process token>-<pid>-<counter>.vstmp``:
hidden from listings, unique per process and call (a batch draws one counter
for all its files: their names differ already), and carrying the writer's
pid so that a repair can tell a live writer's file from an abandoned one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import itertools
import os
import socket
import stat
import sys
import time
from collections.abc import Iterator
from typing import Any

from ._base import TEMP_SUFFIX, SymlinkError, is_temporary_name


def _host_tag() -> str:
    """Four hex digits naming this machine (its name and boot), to recognise our own files."""
    boot = b""
    with contextlib.suppress(OSError), open("/proc/sys/kernel/random/boot_id", "rb") as f:
        boot = f.read()
    return hashlib.sha256(socket.gethostname().encode() + boot).hexdigest()[:4]


_HOST = _host_tag()
_TOKEN = _HOST + os.urandom(2).hex()  # the machine, then a random part per process
_COUNTER = itertools.count()
# A temporary file whose writer is alive on this machine is kept for at most this long.
_MAX_LIVE_AGE = 24 * 3600.0

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# O_NONBLOCK: opening a FIFO for reading must not wait for a writer (it is then
# refused as not a regular file); it changes nothing for regular files.
READ_FLAGS = os.O_RDONLY | O_CLOEXEC | O_NONBLOCK
DIR_FLAGS = os.O_RDONLY | O_CLOEXEC | O_DIRECTORY
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_CLOEXEC | O_NOFOLLOW


def temporary_name(name: str) -> str:
    """A fresh temporary name for writing ``name`` in the same folder."""
    return f".{name}.{_TOKEN}-{os.getpid():x}-{next(_COUNTER)}{TEMP_SUFFIX}"


def temporary_prefix() -> str:
    """The part of this process's temporary names after ``.<name>.`` (batches add a counter)."""
    return f"{_TOKEN}-{os.getpid():x}-"


def next_counter() -> int:
    return next(_COUNTER)


def _local_writer(name: str) -> int | None:
    """The pid that made a temporary file, when it was made on this machine; else None."""
    parts = name[: -len(TEMP_SUFFIX)].rsplit(".", 1)[-1].split("-")
    if len(parts) != 3 or len(parts[0]) != len(_TOKEN) or not parts[0].startswith(_HOST):
        return None
    try:
        return int(parts[1], 16)
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, owned by someone else
    return True


def is_abandoned(mtime: float, name: str, min_age: float, *, local_pids: bool = True) -> bool:
    """Whether repair may remove a temporary file: no live writer can still rename it.

    A file made on this machine is abandoned as soon as its writer's process
    is gone (a live one keeps it for up to a day: a batch may be in progress).
    A file made elsewhere (another machine or container), or by an unknown
    writer, is abandoned once it is ``min_age`` seconds old. Without
    ``local_pids`` (a volume shared by containers, whose pids mean nothing
    here) only the age counts.
    """
    age = time.time() - mtime
    pid = _local_writer(name) if local_pids else None
    if pid is None:
        return age >= min_age
    return age >= _MAX_LIVE_AGE or not _alive(pid)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# -- opening without following links ---------------------------------------------------

_RESOLVE_NO_SYMLINKS = 0x04
_SYS_OPENAT2 = 437  # the same number on every Linux architecture (added in 5.6)
_AT_FDCWD = -100


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


def _load_openat2() -> tuple[Any, dict[int, tuple[_OpenHow, Any]]] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_int
    hows: dict[int, tuple[_OpenHow, Any]] = {}
    for flags in (READ_FLAGS, DIR_FLAGS):
        how = _OpenHow(flags, 0, _RESOLVE_NO_SYMLINKS)
        hows[flags] = (how, ctypes.byref(how))
    return syscall, hows


_OPENAT2 = _load_openat2()
_openat2_works = _OPENAT2 is not None
# Bound once: the hot path of every read makes one foreign call with these.
_SYSCALL: Any = _OPENAT2[0] if _OPENAT2 is not None else None
_HOWS: dict[int, Any] = {k: v[1] for k, v in _OPENAT2[1].items()} if _OPENAT2 is not None else {}
_NR, _AT, _SIZE = ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(_AT_FDCWD), ctypes.c_size_t(24)


def open_nofollow(path: str, flags: int) -> int:
    """Open the absolute ``path`` (``READ_FLAGS`` or ``DIR_FLAGS``) without following a link.

    ``path`` must be the real path of a store root followed by clean
    components. Raises SymlinkError when a link stands on it, and the usual
    OSError (FileNotFoundError, NotADirectoryError...) otherwise.
    """
    if _openat2_works:
        fd: int = _SYSCALL(_NR, _AT, path.encode("utf-8", "surrogateescape"), _HOWS[flags], _SIZE)
        if fd >= 0:
            return fd
        return _openat2_failed(path, flags)
    return _open_walking(path, flags)


def _openat2_failed(path: str, flags: int) -> int:
    global _openat2_works
    code = ctypes.get_errno()
    if code == errno.ELOOP:
        raise link_error(path)
    if code not in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG):
        raise OSError(code, os.strerror(code), path)
    _openat2_works = False  # seccomp or an old kernel: walk instead, from now on
    return _open_walking(path, flags)


def _open_walking(path: str, flags: int) -> int:
    """``open_nofollow`` one component at a time (no openat2)."""
    parts = path.split("/")
    fd = os.open("/", DIR_FLAGS)
    try:
        for index, part in enumerate(parts[1:], 1):
            last = index == len(parts) - 1
            try:
                next_fd = os.open(part, (flags if last else DIR_FLAGS) | O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and _is_link(part, fd)):
                    raise link_error(path) from None
                raise
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def link_error(path: str) -> SymlinkError:
    """The SymlinkError for a link met on the absolute ``path``: it names the link itself.

    Looks for the first component that is a link (only on this error path, so
    the usual open costs nothing more); names ``path`` when the link is gone
    by the time it looks.
    """
    current = ""
    for part in path.split("/")[1:]:
        current = f"{current}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return SymlinkError(current)
        except OSError:
            break
    return SymlinkError(path)


def open_folder_creating(root: str, relative: str) -> tuple[int, bool]:
    """Open the folder ``relative`` below ``root`` (made first if missing); never follow a link.

    Returns the descriptor (the caller closes it) and whether the folder was
    created by this call. ``relative`` "" is the root itself.
    """
    path = f"{root}/{relative}" if relative else root
    try:
        return open_nofollow(path, DIR_FLAGS), False
    except FileNotFoundError:
        pass
    # Usually only the folder itself is missing (a user's first object): make it
    # in its parent, and open it there (a handful of system calls, not a walk).
    parent, _, name = relative.rpartition("/")
    try:
        parent_fd = open_nofollow(f"{root}/{parent}" if parent else root, DIR_FLAGS)
    except FileNotFoundError:
        created = make_folders_nofollow(root, relative)
        return open_nofollow(path, DIR_FLAGS), created
    try:
        created = True
        try:
            os.mkdir(name, 0o777, dir_fd=parent_fd)
        except FileExistsError:
            created = False
        try:
            return os.open(name, DIR_FLAGS | O_NOFOLLOW, dir_fd=parent_fd), created
        except OSError as exc:
            if exc.errno == errno.ELOOP or _is_link(name, parent_fd):
                raise link_error(path) from None
            raise
    finally:
        os.close(parent_fd)


def make_folders_nofollow(root: str, relative: str) -> bool:
    """Create the folder ``relative`` below ``root`` and any missing parents; never follow a link.

    Returns whether the folder itself was created by this call. Raises
    SymlinkError when a link stands on the way, NotADirectoryError when a
    file does.
    """
    try:
        fd = open_nofollow(f"{root}/{relative}", DIR_FLAGS)
    except FileNotFoundError:
        pass
    else:
        os.close(fd)
        return False
    fd = open_nofollow(root, DIR_FLAGS)
    created = False
    try:
        for part in relative.split("/"):
            created = False
            try:
                os.mkdir(part, 0o777, dir_fd=fd)
                created = True
            except FileExistsError:
                pass
            try:
                next_fd = os.open(part, DIR_FLAGS | O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP or _is_link(part, fd):
                    raise link_error(f"{root}/{relative}") from None
                raise
            os.close(fd)
            fd = next_fd
    finally:
        os.close(fd)
    return created


def remove_tree_at(dir_fd: int, name: str) -> int:
    """Remove ``name`` (a file, link or folder) in ``dir_fd`` and all below; return files removed.

    Works on descriptors all the way down, so a link anywhere is removed, never followed.
    """
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(info.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
        # Only regular files count: a link or a FIFO held no object.
        return 1 if stat.S_ISREG(info.st_mode) and not name.startswith(".") else 0
    fd = os.open(name, DIR_FLAGS | O_NOFOLLOW, dir_fd=dir_fd)
    removed = 0
    try:
        for child in _names(fd):
            removed += remove_tree_at(fd, child)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=dir_fd)
    return removed


def _names(fd: int) -> Iterator[str]:
    with os.scandir(fd) as it:
        return iter([entry.name for entry in it])


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()
_RENAME_NOREPLACE = 1


def rename_noreplace(source: str, source_fd: int, target: str, target_fd: int) -> None:
    """Rename without replacing: FileExistsError when ``target`` exists (files and folders)."""
    if _RENAMEAT2 is not None:
        result = _RENAMEAT2(
            source_fd, os.fsencode(source), target_fd, os.fsencode(target), _RENAME_NOREPLACE
        )
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), target)
    # No renameat2 (or a file system without RENAME_NOREPLACE): check, then rename.
    try:
        os.lstat(target, dir_fd=target_fd)
    except FileNotFoundError:
        os.rename(source, target, src_dir_fd=source_fd, dst_dir_fd=target_fd)
        return
    raise FileExistsError(errno.EEXIST, "already exists", target)


__all__ = [
    "CREATE_FLAGS",
    "DIR_FLAGS",
    "READ_FLAGS",
    "TEMP_SUFFIX",
    "SymlinkError",
    "is_abandoned",
    "is_temporary_name",
    "link_error",
    "make_folders_nofollow",
    "open_folder_creating",
    "open_nofollow",
    "remove_tree_at",
    "rename_noreplace",
    "temporary_name",
    "temporary_prefix",
    "write_all",
]
