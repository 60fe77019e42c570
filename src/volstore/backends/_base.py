"""The storage backend contract.

A backend moves bytes under relative POSIX paths (``schedules/ab12.../x.json``).
It knows nothing about models, users or sessions; the session decides what to
write and when to commit. A backend implements six methods:

========================  ======================================================
``read(path)``            the bytes of one file; ``FileNotFoundError`` if absent
``write_batch(files)``    write many files, each one atomically
``delete_batch(paths)``   remove files; absent ones are not an error
``list(prefix)``          the entries directly under a folder; ``[]`` if absent
``commit()``              make written changes durable and visible to others
``reload()``              make others' committed changes visible here
========================  ======================================================

Paths never start with ``/``, never contain ``.``/``..`` components, and are
checked again by each backend with :func:`volstore._keys.check_relative_path`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a folder listing: its name (not its path) and whether it is a folder."""

    name: str
    is_dir: bool


class Backend(abc.ABC):
    """Base class of storage backends. Subclasses implement the abstract methods.

    Backends must be safe to call from several threads at once (sessions in
    different threads share one backend), and must never keep a file open
    between calls: a Modal Volume cannot reload while a file is open.
    """

    @abc.abstractmethod
    def read(self, path: str) -> bytes:
        """Return the whole content of the file at ``path``.

        Raises FileNotFoundError if there is no file there (also when ``path``
        is a folder: IsADirectoryError, a subclass of OSError, is acceptable too).
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
    def list(self, prefix: str) -> list[Entry]:
        """The entries directly inside the folder ``prefix`` ("" is the root).

        Returns ``[]`` when the folder does not exist. Temporary files of an
        unfinished write (names starting with ``.``) are not listed. Order is
        unspecified.
        """

    def commit(self) -> None:
        """Make everything written so far durable and visible to other readers.

        A no-op for backends where writes are visible at once (local, memory).
        """

    def reload(self) -> None:
        """Make changes that others committed visible to this backend's reads.

        A no-op for backends that always read the latest state.
        """

    def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``. Backends override this when cheaper."""
        try:
            self.read(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return False
        return True

    def delete_tree(self, prefix: str) -> int:
        """Remove the folder ``prefix`` and everything below it; return the files removed."""
        files = list(self.walk(prefix))
        self.delete_batch(files)
        return len(files)

    def walk(self, prefix: str) -> Iterator[str]:
        """Yield the path of every file below ``prefix``, depth first, in name order."""
        for entry in sorted(self.list(prefix), key=lambda e: e.name):
            path = f"{prefix}/{entry.name}" if prefix else entry.name
            if entry.is_dir:
                yield from self.walk(path)
            else:
                yield path

    def close(self) -> None:
        """Release any resources. The backend is not used after this."""

    def describe(self) -> str:
        """A one-line human description (shown by the CLI and in errors)."""
        return type(self).__name__
