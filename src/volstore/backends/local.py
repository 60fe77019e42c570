"""A backend over a local folder: the embedded default.

Each file is written to a temporary name in its own folder and then renamed
over the target with ``os.replace``, which is atomic on POSIX filesystems: a
reader, a crash or a Modal background commit sees the old file or the new one,
never half of one. A batch writes every temporary file first and renames them
only once all were written, so a failure while writing (a full disk, say)
leaves every stored file as it was.

Nothing below the root is reached through a symbolic link (see ``_fs``), and
only regular files are ever opened for reading. Conditional writes lock the
folders they check with ``flock`` (taken in path order, so two writers never
deadlock), which excludes every other conditional writer on this machine:
threads, and processes.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from .._errors import BackendError
from .._keys import check_relative_path, group_by_folder
from ._base import (
    TEMP_SUFFIX,
    Backend,
    Entry,
    EntryKind,
    FileTooLargeError,
    NotRegularFileError,
    SymlinkError,
    check_expected,
    content_token,
    is_temporary_name,
)
from ._fs import (
    CREATE_FLAGS,
    DIR_FLAGS,
    O_NOFOLLOW,
    READ_FLAGS,
    is_abandoned,
    make_folders_nofollow,
    next_counter,
    open_folder_creating,
    open_nofollow,
    remove_tree_at,
    rename_noreplace,
    temporary_name,
    temporary_prefix,
    write_all,
)

# Folder descriptors one batch holds open at once (well below the usual limit of 1024).
_MAX_FOLDER_FDS = 128
# How often a batch is retried when a folder it writes to is removed under it (a
# cleanup of empty folders running at the same moment).
_VANISHED_FOLDER_RETRIES = 3

__all__ = ["LocalBackend", "is_temporary_name", "temporary_name", "write_all"]


def _read_fd(fd: int, path: str, limit: int | None) -> bytes:
    """Read a whole regular file from ``fd``; refuse anything else, or one over ``limit``."""
    info = os.fstat(fd)
    if info.st_mode & 0o170000 != 0o100000:  # not S_ISREG (the test, without a call)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "a folder stands here", path)
        raise NotRegularFileError(path, _kind_name(info.st_mode))
    os.lseek(fd, 0, os.SEEK_SET)  # after the check: a FIFO or a socket cannot seek
    size = info.st_size
    if limit is not None and size > limit:
        raise FileTooLargeError(path, size, limit)
    data = os.read(fd, size + 1) if size else b""
    if len(data) == size and size:
        return data
    # Short read, a file that grew, or a file that reports size 0 (some FUSE
    # mounts): read to the end, still within the limit.
    chunks = [data]
    total = len(data)
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if limit is not None and total > limit:
            raise FileTooLargeError(path, total, limit)
        chunks.append(chunk)


def _kind_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return "device or special file"


class LocalBackend(Backend):
    """Stores files under ``root``, which is created if missing.

    ``fsync=True`` also flushes each file and its folder to the disk before a
    batch returns, which protects against power loss, not only against a
    crashed process (a killed process never tears a file either way). It costs
    a disk round trip per file, so it is off by default.

    Raises BackendError when ``root`` exists and is not a folder.
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.root = Path(root).absolute()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise BackendError(f"the store root {self.root} is a file, not a folder") from None
        except NotADirectoryError:
            raise BackendError(f"the store root {self.root} is below a file") from None
        # The real path, resolved once: no link is followed below it (see _fs).
        self._root = os.path.realpath(self.root)
        self._prefix = self._root + "/"
        self.fsync = fsync

    # Whether the pid in a temporary file's name tells its writer (false on a
    # volume shared by containers: a repair there goes by age alone).
    _local_pids = True

    def path_of(self, path: str) -> str:
        """The absolute filesystem path of a relative storage path (checked)."""
        check_relative_path(path)
        return f"{self._root}/{path}"

    # -- reads ------------------------------------------------------------------------

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        fd = open_nofollow(self._prefix + check_relative_path(path), READ_FLAGS)
        try:
            # The usual case inline (a whole regular file within the limit, in
            # one read); anything else goes the careful way.
            info = os.fstat(fd)
            size = info.st_size
            if info.st_mode & 0o170000 == 0o100000 and size and (limit is None or size <= limit):
                data = os.read(fd, size + 1)
                if len(data) == size:
                    return data
            return _read_fd(fd, path, limit)
        finally:
            os.close(fd)

    def read_batch(
        self, paths: Sequence[str], *, limit: int | None = None
    ) -> builtins.list[bytes | OSError | None]:
        """Each file of ``paths``: one link-safe open per folder, then the names in it.

        A name is opened relative to its folder's descriptor with O_NOFOLLOW
        (the folder itself was reached without following a link): no link is
        followed, and no path is walked again per file.
        """
        results: builtins.list[bytes | OSError | None] = [None] * len(paths)
        by_folder: dict[str, builtins.list[tuple[int, str]]] = {}
        for index, path in enumerate(paths):
            check_relative_path(path)
            folder, _, name = path.rpartition("/")
            by_folder.setdefault(folder, []).append((index, name))
        flags = READ_FLAGS | O_NOFOLLOW
        for folder, items in by_folder.items():
            try:
                dir_fd = self._open_folder(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue  # nothing stored there: every item stays None
            try:
                for index, name in items:
                    path = f"{folder}/{name}" if folder else name
                    try:
                        fd = os.open(name, flags, dir_fd=dir_fd)
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        if exc.errno == errno.ELOOP:
                            results[index] = SymlinkError(path)
                            continue
                        if isinstance(exc, (NotADirectoryError, PermissionError)) or (
                            exc.errno == errno.ENXIO  # a socket: that file's error, not the batch's
                        ):
                            results[index] = exc
                            continue
                        raise
                    try:
                        info = os.fstat(fd)
                        size = info.st_size
                        if (
                            info.st_mode & 0o170000 == 0o100000
                            and size
                            and (limit is None or size <= limit)
                        ):
                            data = os.read(fd, size + 1)
                            if len(data) == size:
                                results[index] = data
                                continue
                        results[index] = _read_fd(fd, path, limit)
                    except (IsADirectoryError, NotRegularFileError, FileTooLargeError) as exc:
                        results[index] = exc
                    finally:
                        os.close(fd)
            finally:
                os.close(dir_fd)
        return results

    def exists(self, path: str) -> bool:
        try:
            fd = open_nofollow(self.path_of(path), READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if stat.S_ISREG(mode):
            return True
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "a folder stands here", path)
        raise NotRegularFileError(path, _kind_name(mode))

    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        folder = self.path_of(prefix) if prefix else self._root
        try:
            fd = open_nofollow(folder, DIR_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return []
        try:
            return _entries(fd, hidden, details)
        finally:
            os.close(fd)

    def _open_folder(self, folder: str) -> int:
        return open_nofollow(f"{self._root}/{folder}" if folder else self._root, DIR_FLAGS)

    # -- writes -----------------------------------------------------------------------

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        if not files:
            return
        # The paths grouped by folder, as they are (no name string or tuple per
        # file: a batch of 100,000 files should cost a list slot per file here).
        by_folder = group_by_folder(files)
        for attempt in range(_VANISHED_FOLDER_RETRIES + 1):
            try:
                self._write_grouped(files, by_folder)
                return
            except _FolderVanished:
                if attempt == _VANISHED_FOLDER_RETRIES:
                    raise FileNotFoundError(
                        errno.ENOENT, "a folder was removed while it was written to"
                    ) from None

    def _write_grouped(
        self, files: Mapping[str, bytes], by_folder: dict[str, builtins.list[str]]
    ) -> None:
        """Phase one: every temporary file; phase two: rename them all over their targets.

        One folder descriptor per folder (kept for the first ``_MAX_FOLDER_FDS``
        folders, opened again for the rest), names relative to it: the kernel
        walks each folder's path once per batch, not once per file. Any failure
        removes every temporary file and leaves the targets as they were.
        """
        # One counter per batch, not per file: a folder's names are distinct
        # within a batch, so ".<name>.<suffix>" is unique, and it is computed
        # again where needed instead of being held for every file.
        suffix = f"{temporary_prefix()}{next_counter()}{TEMP_SUFFIX}"
        root, fsync = self._root, self.fsync
        # Bound once: the loop below runs once per file of the batch.
        open_, write, close = os.open, os.write, os.close
        done: builtins.list[_Folder] = []
        try:
            for folder, paths in by_folder.items():
                fd, made = open_folder_creating(root, folder)
                group = _Folder(folder, fd if len(done) < _MAX_FOLDER_FDS else None, made, paths)
                done.append(group)
                skip = group.skip
                count = 0  # temporary files made in this folder (kept in the group after)
                try:
                    for path in paths:
                        try:
                            file_fd = open_(
                                f".{path[skip:]}.{suffix}", CREATE_FLAGS, 0o644, dir_fd=fd
                            )
                        except FileNotFoundError:
                            raise _FolderVanished from None
                        count += 1
                        try:
                            data = files[path]
                            written = write(file_fd, data)
                            if written != len(data):  # a short write (rare on files)
                                write_all(file_fd, data[written:])
                            if fsync:
                                os.fsync(file_fd)
                        finally:
                            close(file_fd)
                finally:
                    group.temporaries = count
                    if group.kept is None:
                        close(fd)
            # Every file is written. A folder standing at a target would stop the
            # renames half way: look for one before replacing anything. (``name/``
            # exists only for a folder: one system call, no exception for the
            # usual case; a folder this batch made holds nothing in the way.)
            for group in done:
                if group.made:
                    continue
                skip = group.skip
                with self._descriptor(group.folder, group.kept) as dir_fd:
                    for path in group.paths:
                        if os.access(path[skip:] + "/", os.F_OK, dir_fd=dir_fd):
                            raise IsADirectoryError(
                                errno.EISDIR, "a folder stands where a file goes", path[skip:]
                            )
            replace = os.replace
            for group in done:
                skip = group.skip
                with self._descriptor(group.folder, group.kept) as dir_fd:
                    for path in group.paths:
                        name = path[skip:]
                        replace(f".{name}.{suffix}", name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                    if self.fsync:
                        os.fsync(dir_fd)
                group.temporaries = 0  # renamed: nothing of this folder to clean up
        finally:
            for group in done:
                if group.temporaries:
                    skip = group.skip
                    with (
                        contextlib.suppress(OSError),
                        self._descriptor(group.folder, group.kept) as dir_fd,
                    ):
                        for path in group.paths[: group.temporaries]:
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(f".{path[skip:]}.{suffix}", dir_fd=dir_fd)
                if group.kept is not None:
                    os.close(group.kept)

    @contextlib.contextmanager
    def _descriptor(self, folder: str, fd: int | None) -> Iterator[int]:
        """A folder's kept descriptor, or one opened for the moment (past the cap)."""
        if fd is not None:
            yield fd
            return
        fd = self._open_folder(folder)
        try:
            yield fd
        finally:
            os.close(fd)

    def delete_batch(self, paths: Iterable[str]) -> None:
        by_folder: dict[str, builtins.list[str]] = {}
        for path in paths:
            check_relative_path(path)
            folder, _, name = path.rpartition("/")
            by_folder.setdefault(folder, []).append(name)
        for folder, names in by_folder.items():
            try:
                fd = self._open_folder(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue  # nothing there to delete
            try:
                for name in names:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=fd)
            finally:
                os.close(fd)

    def delete_tree(self, prefix: str) -> int:
        check_relative_path(prefix)
        folder, _, name = prefix.rpartition("/")
        try:
            fd = self._open_folder(folder)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        try:
            return remove_tree_at(fd, name)
        finally:
            os.close(fd)

    def remove_empty_folder(self, path: str) -> bool:
        """Remove the folder if it is empty, in one step (``rmdir``); never loses a file.

        Takes the folder's lock first, so a conditional write in progress there
        finishes before the folder can go.
        """
        check_relative_path(path)
        parent, _, name = path.rpartition("/")
        try:
            parent_fd = self._open_folder(parent)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            try:
                fd = os.open(name, DIR_FLAGS | O_NOFOLLOW, dir_fd=parent_fd)
            except FileNotFoundError:
                return False
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    return False  # a link or a file: not an empty folder
                raise
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    os.rmdir(name, dir_fd=parent_fd)
                except FileNotFoundError:
                    return False
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        return False
                    raise
                return True
            finally:
                os.close(fd)  # also releases the lock
        finally:
            os.close(parent_fd)

    def move(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` (a file or a folder); never over an existing one."""
        check_relative_path(source)
        check_relative_path(target)
        source_folder, _, source_name = source.rpartition("/")
        target_folder, _, target_name = target.rpartition("/")
        if target_folder:
            make_folders_nofollow(self._root, target_folder)
        source_fd = self._open_folder(source_folder)
        try:
            target_fd = self._open_folder(target_folder)
            try:
                os.lstat(source_name, dir_fd=source_fd)  # FileNotFoundError when absent
                rename_noreplace(source_name, source_fd, target_name, target_fd)
            finally:
                os.close(target_fd)
        finally:
            os.close(source_fd)

    def remove_temporary(self, path: str, *, min_age: float) -> bool:
        """Remove a temporary file left by an unfinished write, if it is abandoned.

        Abandoned: made on this machine by a process that is gone, or (made
        elsewhere, by an unknown writer, or on a volume shared by containers)
        older than ``min_age`` seconds.
        Returns whether it was removed.
        """
        check_relative_path(path)
        folder, _, name = path.rpartition("/")
        if not is_temporary_name(name):
            raise ValueError(f"{path} is not a temporary file")
        try:
            fd = self._open_folder(folder)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            try:
                info = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                return False
            if not is_abandoned(info.st_mtime, name, min_age, local_pids=self._local_pids):
                return False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
            return True
        finally:
            os.close(fd)

    # -- compare-and-swap -----------------------------------------------------------------

    def read_token(self, path: str, *, limit: int | None = None) -> tuple[bytes, str]:
        data = self.read(path, limit=limit)
        return data, content_token(data)

    def apply_conditional(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str],
        expected: Mapping[str, str | None],
    ) -> dict[str, str]:
        """Check and apply under ``flock`` of every folder holding an expected path.

        Exclusive across threads and processes of this machine (every
        conditional writer takes the same locks, in path order). Not across
        machines or Modal containers: a mounted volume's backend adds claims.
        """
        deletes = list(deletes)
        folders = sorted({path.rpartition("/")[0] for path in map(check_relative_path, expected)})
        locked: builtins.list[int] = []
        try:
            for folder in folders:
                locked.append(self._lock_folder(folder))
            for path in sorted(expected):
                check_expected(path, expected[path], self._token_or_none(path))
            if writes:
                self.write_batch(writes)
            if deletes:
                self.delete_batch(deletes)
        finally:
            for fd in locked:
                os.close(fd)  # releases the lock
        return {path: content_token(writes[path]) for path in expected if path in writes}

    def _lock_folder(self, folder: str) -> int:
        """Make, open and exclusively lock a folder; return the descriptor (close to unlock)."""
        while True:
            if folder:
                make_folders_nofollow(self._root, folder)
            fd = self._open_folder(folder)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_nlink > 0:
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed while we waited for the lock: make it again

    def _token_or_none(self, path: str) -> str | None:
        try:
            return content_token(self.read(path))
        except FileNotFoundError:
            return None

    def describe(self) -> str:
        return f"local folder {self._root}"


class _Folder:
    """One folder of a batch being written: its paths, and the temporary files made so far."""

    __slots__ = ("folder", "kept", "made", "paths", "skip", "temporaries")

    def __init__(self, folder: str, kept: int | None, made: bool, paths: list[str]) -> None:
        self.folder = folder
        self.kept = kept  # its descriptor, kept open for the batch (None past the cap)
        self.made = made  # created by this batch (so nothing can stand in the way)
        self.paths = paths
        self.skip = len(folder) + 1 if folder else 0  # path[skip:] is the file's name
        self.temporaries = 0  # temporary files made for paths[:temporaries], not yet renamed


class _FolderVanished(Exception):
    """A folder of the batch was removed between its creation and a write into it."""


def _entries(fd: int, hidden: bool, details: bool) -> list[Entry]:
    entries = []
    with os.scandir(fd) as it:
        for entry in it:
            name = entry.name
            if name[0] == "." and not hidden:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    entries.append(Entry(name, True))
                    continue
                kind: EntryKind
                if entry.is_file(follow_symlinks=False):
                    kind = "file"
                elif entry.is_symlink():
                    kind = "symlink"
                else:
                    kind = "other"
                if details:
                    info = entry.stat(follow_symlinks=False)
                    entries.append(Entry(name, False, info.st_size, kind, info.st_mtime))
                else:
                    entries.append(Entry(name, False, None, kind))
            except FileNotFoundError:
                continue  # removed since the folder was read
    return entries
