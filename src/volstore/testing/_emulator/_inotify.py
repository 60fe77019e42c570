"""Which entries of a mount folder changed: Linux inotify, through ctypes.

A commit must publish what the container changed. Walking the whole mount at every
commit costs what the mount holds (26-29 us per file); with inotify a commit looks
only at the entries that had an event since the last commit. Every folder of the
mount is watched; a new folder gets its watch when its creation event is read, and is
then listed (so files made in it before the watch existed are seen). In-place writes
are seen too (``IN_MODIFY``), not only renames.

When the events cannot be trusted the tracker says so and the caller walks the whole
mount once, which also re-arms the watches: the kernel queue overflowed
(``IN_Q_OVERFLOW``), a folder was moved (its watches would name the wrong paths), the
mount folder itself moved or vanished, or a watch could not be added (the per-user
watch limit). Where inotify is unavailable (not Linux, or the per-user limit of
inotify instances, ``/proc/sys/fs/inotify/max_user_instances``, is reached),
``ChangeTracker.open`` returns None and the caller walks at every commit. The
descriptor is closed when the mount ends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
import threading
from collections.abc import Iterable

# <sys/inotify.h>
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len
_READ_SIZE = 256 * 1024

_libc: ctypes.CDLL | None = None
_libc_lock = threading.Lock()


def _load_libc() -> ctypes.CDLL | None:
    global _libc
    with _libc_lock:
        if _libc is None and sys.platform.startswith("linux"):
            name = ctypes.util.find_library("c") or "libc.so.6"
            try:
                libc = ctypes.CDLL(name, use_errno=True)
                libc.inotify_init1.argtypes = [ctypes.c_int]
                libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
                libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
                _libc = libc
            except (OSError, AttributeError):
                _libc = None
        return _libc


class ChangeTracker:
    """Candidate changed entries (relative paths) of one folder tree, from inotify.

    Not thread-safe: the mount calls it under its operation lock.
    """

    def __init__(self, libc: ctypes.CDLL, fd: int, base: str) -> None:
        self._libc = libc
        self._fd = fd
        self._base = base
        self._paths: dict[int, str] = {}  # watch descriptor -> folder (relative)
        self._watched: dict[str, int] = {}  # folder -> watch descriptor
        self._dirty: set[str] = set()
        self._lost = False  # events were lost: the caller must walk everything

    @classmethod
    def open(cls, base: str) -> ChangeTracker | None:
        """A tracker on ``base`` (no watch yet), or None without inotify (not Linux,
        or too many inotify instances)."""
        libc = _load_libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return None  # EMFILE: max_user_instances reached; ENOSYS
        return cls(libc, fd, base)

    @property
    def lost(self) -> bool:
        """True when events were lost since the last full walk."""
        return self._lost

    def watch(self, rel: str) -> bool:
        """Watch folder ``rel`` (again, after a full walk). False if it could not be
        watched (then the events are marked lost)."""
        if self._fd < 0:
            return False
        path = os.path.join(self._base, rel) if rel else self._base
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), _MASK)
        if wd < 0:
            code = ctypes.get_errno()
            if code not in (errno.ENOENT, errno.ENOTDIR):
                self._lost = True  # ENOSPC: max_user_watches reached
            return False
        old = self._paths.get(wd)
        if old is not None and old != rel:
            self._watched.pop(old, None)
        self._paths[wd] = rel
        self._watched[rel] = wd
        return True

    def reset(self) -> None:
        """Forget every watch and event before a full walk, which then watches each
        folder (``walk(base, on_directory=tracker.watch)``) before listing it."""
        for wd in list(self._paths):
            self._libc.inotify_rm_watch(self._fd, wd)
        self._paths.clear()
        self._watched.clear()
        self.drain()
        self._dirty.clear()
        self._lost = False

    def drain(self) -> None:
        """Read every queued event into the candidate set."""
        while self._fd >= 0:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        offset = 0
        new_folders: list[str] = []
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                self._lost = True
                continue
            folder = self._paths.get(wd)
            if mask & IN_IGNORED:
                if folder is not None and self._watched.get(folder) == wd:
                    del self._watched[folder]
                self._paths.pop(wd, None)
                continue
            if folder is None:
                continue
            if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT):
                if folder == "" or mask & IN_MOVE_SELF:
                    self._lost = True  # the mount folder, or a folder moved away
                continue
            if not name:
                continue
            rel = f"{folder}/{os.fsdecode(name)}" if folder else os.fsdecode(name)
            self._dirty.add(rel)
            if mask & IN_ISDIR:
                if mask & IN_MOVED_FROM:
                    self._lost = True  # its descendants moved too; their watches now lie
                elif mask & (IN_CREATE | IN_MOVED_TO):
                    new_folders.append(rel)
        for rel in new_folders:
            self._scan_new_folder(rel)

    def _scan_new_folder(self, rel: str) -> None:
        """Watch a new folder, then list it: what was made in it before the watch
        existed is a candidate too (recursively, for folders moved in whole)."""
        pending = [rel]
        while pending:
            current = pending.pop()
            if not self.watch(current):
                continue
            try:
                with os.scandir(os.path.join(self._base, current)) as entries:
                    for entry in entries:
                        child = f"{current}/{entry.name}"
                        self._dirty.add(child)
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(child)
            except (FileNotFoundError, NotADirectoryError):
                continue

    def take(self) -> set[str] | None:
        """The candidates since the last call (after draining), or None when events
        were lost and the caller must walk the whole tree (after :meth:`reset`)."""
        self.drain()
        if self._lost:
            return None
        dirty, self._dirty = self._dirty, set()
        return dirty

    def mark_lost(self) -> None:
        """Make the next :meth:`take` ask for a full walk (after a failed one)."""
        self._lost = True

    def give_back(self, candidates: Iterable[str]) -> None:
        """Return candidates a failed commit did not publish, for the next one."""
        self._dirty.update(candidates)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._paths.clear()
        self._watched.clear()
        self._dirty.clear()
