"""The storage backend contract.

A backend moves bytes under relative POSIX paths (``schedules/ab12.../x.json``).
It knows nothing about models, users or sessions; the layers above decide what
to write and when to commit, and use nothing but this contract (never a
backend's type or its private attributes).

Required (abstract):

==========================================  ==============================================
``read(path, *, limit=None)``               the bytes of one file; ``FileNotFoundError``
``write_batch(files)``                      write many files, each one atomically
``delete_batch(paths)``                     remove files; absent ones are not an error
``list(prefix, *, hidden=False, details=False)``  the entries directly under a folder
==========================================  ==============================================

Optional, with defaults built on the four above (override where the storage
does it better):

==========================================  ==============================================
``commit()`` / ``reload()``                 publish writes / see others' commits (no-ops)
``exists(path)``                            whether a file is there
``walk(prefix)``                            every file path below a folder
``delete_tree(prefix)``                     remove a folder and everything below it
``remove_empty_folder(path)``               remove a folder only if it is empty
``move(source, target)``                    rename a file, never over an existing one
``remove_temporary(path, *, min_age)``      remove an abandoned temporary file
``read_token(path)``                        the bytes and a token naming this exact state
``apply_conditional(writes, deletes, expected)``
                                            compare-and-swap: apply only if each
                                            expected path still has its token
==========================================  ==============================================

Paths never start with ``/``, never contain ``.``/``..`` components, and are
checked again by each backend with ``volstore._keys.check_relative_path``.
Errors: a backend raises what its storage raises (``OSError`` and friends, or
its client's exceptions, listed in ``storage_errors``); the engine above
translates them into volstore's errors in one place.

The contract is pinned by test mixins that ship in ``volstore.testing.contract``:
a third-party backend passes the suite by subclassing them (see docs/testing.md).
"""

from __future__ import annotations

import abc
import builtins
import errno
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import ClassVar, Literal

from .._errors import ConflictError

EntryKind = Literal["file", "dir", "symlink", "other"]


class Entry:
    """One entry of a folder listing.

    ``name`` is the entry's name (not its path); ``is_dir`` whether it is a
    folder; ``size`` its size in bytes and ``mtime`` its modification time
    (seconds since the epoch), when the listing was asked for details (None
    otherwise, and for folders); ``kind`` what it is: a regular ``"file"``, a
    ``"dir"``, a ``"symlink"`` (never followed), or ``"other"`` (a FIFO, a
    socket, a device: never opened). Without ``kind``, it follows ``is_dir``.
    """

    # A plain class with slots: a listing makes one per entry, so it is cheap to make.
    __slots__ = ("is_dir", "kind", "mtime", "name", "size")

    def __init__(
        self,
        name: str,
        is_dir: bool,
        size: int | None = None,
        kind: EntryKind | None = None,
        mtime: float | None = None,
    ) -> None:
        self.name = name
        self.is_dir = is_dir
        self.size = size
        self.kind: EntryKind = kind if kind is not None else ("dir" if is_dir else "file")
        self.mtime = mtime

    def _key(self) -> tuple[object, ...]:
        return (self.name, self.is_dir, self.size, self.kind, self.mtime)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        details = "".join(
            f", {name}={value!r}"
            for name, value in (("size", self.size), ("mtime", self.mtime))
            if value is not None
        )
        return f"Entry({self.name!r}, is_dir={self.is_dir}, kind={self.kind!r}{details})"


TEMP_SUFFIX = ".vstmp"
"""Backends that write temporary files name them ``.<name>.<unique part>.vstmp``."""


def is_temporary_name(name: str) -> bool:
    """Whether a file name is one of volstore's temporary files (left by a crash)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def content_token(data: bytes) -> str:
    """The state token of stored bytes: a digest of the content (equal bytes, equal token)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def parent_of(path: str) -> str:
    """The folder of a path ("" for a name at the root)."""
    return path.rpartition("/")[0]


class Backend(abc.ABC):
    """Base class of storage backends. Subclasses implement the abstract methods.

    Backends must be safe to call from several threads at once (sessions in
    different threads share one backend), and must never keep a file open
    between calls: a Modal Volume cannot reload while a file is open.
    """

    may_hold_temporary_files: ClassVar[bool] = True
    """Whether listings may show temporary files of unfinished writes (False: writes
    never leave any, as in memory)."""

    commits_conditional_writes: ClassVar[bool] = False
    """Whether ``apply_conditional`` commits what it wrote (a volume's compare-and-swap
    must publish before it lets the next writer in): a commit right after has
    nothing left to do."""

    awaits_io: ClassVar[bool] = False
    """Whether every call this backend makes to its storage can be awaited.

    False (files, and any backend written as blocking code): the async API
    (``volstore.aio``) runs each of its calls whole in one of the async store's
    worker threads. True: the backend makes every such call through
    the async API's bridge (its ``call``, ``iterate`` and ``enter`` on Modal-style
    methods that have an ``.aio`` form), and the async API runs its calls on the event
    loop, in greenlets, awaiting those forms: no thread waits on the network.
    Either way the Modal calls a backend makes through ``_bridge`` are awaited
    on the loop, and its waits go through the bridge's ``pause``.
    """

    storage_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError, RuntimeError)
    """The exceptions this backend's storage raises for a failure of the storage.

    The engine turns these into BackendError (CommitError, ReloadError)
    carrying the original as ``__cause__``; anything else is a bug and propagates.
    """

    @abc.abstractmethod
    def read(self, path: str, *, limit: int | None = None) -> bytes:
        """Return the whole content of the file at ``path``.

        Raises FileNotFoundError if there is no file there (IsADirectoryError
        when a folder stands there; NotADirectoryError when a file stands where
        a folder of the path should be). With ``limit``, raises
        ``FileTooLargeError`` instead of reading a file larger than
        ``limit`` bytes. Never opens anything but a regular file (a FIFO
        would block): raises ``NotRegularFileError`` for one, and
        ``SymlinkError`` for a symbolic link on the path (never followed).
        """

    @abc.abstractmethod
    def write_batch(self, files: Mapping[str, bytes]) -> None:
        """Write every ``path -> bytes`` of ``files``, creating parent folders.

        Each file is replaced atomically: a reader, a crash or a background
        commit sees either the old or the new content, never a torn file, and
        never a temporary file under a name a reader would take for an object.
        If the batch fails part way, the backend tries to leave no file changed;
        where it cannot (a remote store), every file is still whole.
        """

    @abc.abstractmethod
    def delete_batch(self, paths: Iterable[str]) -> None:
        """Remove the files at ``paths``. A path with no file is skipped silently."""

    @abc.abstractmethod
    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        """The entries directly inside the folder ``prefix`` ("" is the root).

        Returns ``[]`` when there is no folder at ``prefix`` (nothing, or a
        file). Names starting with ``.`` (temporary files of an unfinished
        write, the layout marker) are left out unless ``hidden``; with
        ``details`` each file's ``size`` and ``mtime`` are filled in (where the
        storage keeps a time). Order is unspecified.
        """

    def read_batch(
        self, paths: Sequence[str], *, limit: int | None = None
    ) -> builtins.list[bytes | OSError | None]:
        """The content of each file of ``paths``, in order: a listing read whole.

        Each item is the bytes, None when no file is there, or the OSError
        ``read`` would have raised for that path (a folder, a link, a FIFO, a
        file over ``limit``): one bad file does not stop the others. A failure
        of the storage itself is raised. The default reads one path at a
        time; the local backend opens each folder once. Never keeps anything
        open after it returns.
        """
        results: builtins.list[bytes | OSError | None] = []
        for path in paths:
            try:
                results.append(self.read(path) if limit is None else self.read(path, limit=limit))
            except FileNotFoundError:
                results.append(None)
            except (
                IsADirectoryError,
                NotADirectoryError,
                NotRegularFileError,
                SymlinkError,
            ) as exc:
                results.append(exc)
            except FileTooLargeError as exc:
                results.append(exc)
        return results

    def commit(self) -> None:
        """Make everything written so far durable and visible to other readers.

        A no-op for backends where writes are visible at once (local, memory).
        """

    def reload(self) -> None:
        """Make changes that others committed visible to this backend's reads.

        A no-op for backends that always read the latest state.
        """

    def exists(self, path: str) -> bool:
        """Whether a regular file is stored at ``path``; False when nothing is there.

        Raises IsADirectoryError when a folder stands there, and
        NotRegularFileError or SymlinkError for anything else that is not a
        file: what stands at an object's path and is not an object is an error
        to report, never "no object". Backends override this when cheaper.
        """
        try:
            self.read(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def walk(self, prefix: str) -> Iterator[str]:
        """Yield the path of every file below ``prefix``, depth first, in name order."""
        for entry in sorted(self.list(prefix), key=lambda e: e.name):
            path = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.is_dir:
                yield from self.walk(path)
            elif entry.kind == "file":
                yield path

    def delete_tree(self, prefix: str) -> int:
        """Remove the folder ``prefix`` and everything below it; return the files removed.

        Never follows a symbolic link: a link is removed, not what it points to.
        """
        files = list(self.walk(prefix))
        self.delete_batch(files)
        return len(files)

    def remove_empty_folder(self, path: str) -> bool:
        """Remove the folder ``path`` if it holds nothing (hidden files count); return whether.

        The default checks, then removes: a file written between the two would
        be lost, so backends that can remove a folder only-if-empty in one
        step override it (the local backend does).
        """
        if self.list(path, hidden=True):
            return False
        self.delete_tree(path)
        return True

    def move(self, source: str, target: str) -> None:
        """Move the file ``source`` to ``target``, which must not exist.

        Raises FileNotFoundError when ``source`` is absent and FileExistsError
        when ``target`` exists. The default copies, then deletes (never losing
        the bytes: a failure leaves ``source`` in place).
        """
        if self.exists(target):
            raise FileExistsError(target)
        data = self.read(source)
        self.write_batch({target: data})
        self.delete_batch([source])

    def remove_temporary(self, path: str, *, min_age: float) -> bool:
        """Remove a temporary file an unfinished write left at ``path``, if it is abandoned.

        Never removes one that a live writer may still rename: a backend that
        writes temporary files knows its writers (the local backend recognises
        its own machine's processes) and otherwise waits until the file is
        ``min_age`` seconds old. Returns whether the file was removed. The
        default cannot tell a file's age, so it removes only with ``min_age <= 0``.
        """
        if min_age > 0:
            return False
        self.delete_batch([path])
        return True

    def read_token(self, path: str, *, limit: int | None = None) -> tuple[bytes, str]:
        """The bytes of the file at ``path`` and the token of this state of it.

        The token is what ``apply_conditional`` compares; the default is a
        digest of the content. Raises as ``read`` does.
        """
        data = self.read(path, limit=limit)
        return data, content_token(data)

    @property
    def supports_conditional(self) -> bool:
        """Whether ``apply_conditional`` is implemented (compare-and-swap is available)."""
        return type(self).apply_conditional is not Backend.apply_conditional

    def apply_conditional(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str],
        expected: Mapping[str, str | None],
    ) -> dict[str, str]:
        """Write ``writes`` and delete ``deletes`` only if every expectation still holds.

        ``expected`` maps paths to the token read with ``read_token`` (None:
        "no file there"). Every expectation is checked first; if one fails,
        ConflictError is raised for it and nothing of the call is applied.
        Returns the new token of each expected path that was written. The
        check and the writes are one atomic step with respect to every other
        ``apply_conditional`` on the same storage, as far as the backend
        reaches (its docstring says how far: threads, processes, containers).

        Backends without compare-and-swap do not override this; it raises
        NotImplementedError, and volstore refuses versioned writes to them.
        """
        raise NotImplementedError(f"{self.describe()} offers no conditional writes")

    def close(self) -> None:
        """Release any resources. The backend is not used after this."""

    def describe(self) -> str:
        """A one-line human description (shown by the CLI and in errors)."""
        return type(self).__name__


class FileTooLargeError(OSError):
    """A stored file is larger than the limit a read was given (nothing was read)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(f"{path} is {size} bytes, more than the limit of {limit}")
        self.path = path
        self.size = size
        self.limit = limit


class NotRegularFileError(OSError):
    """A path names something other than a regular file or folder (a FIFO, a socket, a link)."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is a {kind}, not a regular file")
        self.path = path
        self.kind = kind


class SymlinkError(OSError):
    """A symbolic link stands on a path below the root; backends never follow one.

    ``path`` names the link itself where the backend can tell (the local
    backends give its absolute path), else the path that met it.
    """

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, "a symbolic link (never followed below the root)", path)
        self.path = path


def unreadable_reason(exc: OSError, reading: bool) -> str | None:
    """Why a path holds no readable object file, when that is what a backend's error says.

    None when the error is a failure of the storage instead. ``reading``: the
    error came from a read (a permission error then means this file cannot
    be read, not that the storage failed).
    """
    if isinstance(exc, SymlinkError):
        return f"a symbolic link stands at {exc.path}; volstore never follows one below the root"
    if isinstance(exc, NotRegularFileError):
        return f"a {exc.kind} stands where an object file should be; it is never opened"
    if isinstance(exc, FileTooLargeError):
        return (
            f"the file is {exc.size} bytes, more than the store's limit of {exc.limit} "
            "(max_object_bytes); it was not read"
        )
    if isinstance(exc, IsADirectoryError):
        return "a folder stands where an object file should be"
    if isinstance(exc, NotADirectoryError):
        return "a file stands where a folder of this path should be"
    if exc.errno == errno.ENXIO:  # opening a socket, or a device with no driver
        return "a socket or device stands where an object file should be; it is never read"
    if exc.errno == errno.ELOOP:
        return "a symbolic link stands on this path; volstore never follows one below the root"
    if reading and isinstance(exc, PermissionError):
        return f"the file cannot be read: {exc.strerror}"
    return None


def check_expected(path: str, expected: str | None, found: str | None) -> None:
    """Raise ConflictError unless ``found`` is the ``expected`` token (None: no file)."""
    if found != expected:
        raise ConflictError(path, expected, found)


__all__ = [
    "TEMP_SUFFIX",
    "Backend",
    "Entry",
    "EntryKind",
    "FileTooLargeError",
    "NotRegularFileError",
    "SymlinkError",
    "check_expected",
    "content_token",
    "is_temporary_name",
    "parent_of",
    "unreadable_reason",
]
