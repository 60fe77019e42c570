"""An in-memory backend: state per instance, for tests and examples."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

from .._keys import check_relative_path
from ._base import Backend, Entry, FileTooLargeError, check_expected, content_token


class MemoryBackend(Backend):
    """Keeps files in a dict owned by this instance (two instances share nothing).

    Writes are visible at once, so ``commit`` and ``reload`` do nothing; they are
    still counted by the store, which is what tests of commit behaviour read.
    Conditional writes are atomic across the threads of the process (one lock).
    """

    may_hold_temporary_files = False  # writes are atomic in memory: no temporaries

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._mtimes: dict[str, float] = {}  # when each file was written (listings' details)
        # folder -> names of its children; a folder exists while it has children
        self._children: dict[str, set[str]] = {}
        self._lock = threading.RLock()  # reentrant: a conditional write calls write_batch

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        check_relative_path(path)
        try:
            data = self._files[path]
        except KeyError:
            if path in self._children:
                raise IsADirectoryError(path) from None
            raise FileNotFoundError(path) from None
        if limit is not None and len(data) > limit:
            raise FileTooLargeError(path, len(data), limit)
        return data

    def exists(self, path: str) -> bool:
        if check_relative_path(path) in self._files:
            return True
        if path in self._children:
            raise IsADirectoryError(path)
        return False

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        for path in files:
            check_relative_path(path)
        with self._lock:
            self._write_locked(files)

    def _write_locked(self, files: Mapping[str, bytes]) -> None:
        # Every check before any change: a batch applies whole or not at all.
        for path in files:
            if path in self._children:
                raise IsADirectoryError(f"{path} is a folder")
            parent = path.rpartition("/")[0]
            while parent:
                if parent in self._files:
                    raise NotADirectoryError(f"{parent} is a file, not a folder")
                parent = parent.rpartition("/")[0]
        now = time.time()
        for path, data in files.items():
            self._files[path] = bytes(data)
            self._mtimes[path] = now
            self._link(path)

    def delete_batch(self, paths: Iterable[str]) -> None:
        paths = [check_relative_path(path) for path in paths]
        with self._lock:
            self._delete_locked(paths)

    def _delete_locked(self, paths: Iterable[str]) -> None:
        for path in paths:
            if self._files.pop(path, None) is not None:
                del self._mtimes[path]
                self._unlink(path)

    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        if prefix:
            check_relative_path(prefix)
        with self._lock:
            names = list(self._children.get(prefix, ()))
            base = f"{prefix}/" if prefix else ""
            entries = []
            for name in names:
                if name[0] == "." and not hidden:
                    continue
                path = base + name
                if path in self._children:
                    entries.append(Entry(name, True))
                else:
                    if details:
                        entries.append(
                            Entry(name, False, len(self._files[path]), mtime=self._mtimes[path])
                        )
                    else:
                        entries.append(Entry(name, False))
        return entries

    def remove_empty_folder(self, path: str) -> bool:
        """Folders exist here only while they hold something: there is never an empty one."""
        check_relative_path(path)
        return False

    def apply_conditional(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str],
        expected: Mapping[str, str | None],
    ) -> dict[str, str]:
        """Check every expectation and apply, under the backend's one lock."""
        for path in writes:
            check_relative_path(path)
        deletes = [check_relative_path(path) for path in deletes]
        with self._lock:
            for path in sorted(expected):
                stored = self._files.get(check_relative_path(path))
                check_expected(
                    path, expected[path], None if stored is None else content_token(stored)
                )
            self.write_batch(writes)
            self.delete_batch(deletes)
        return {path: content_token(writes[path]) for path in expected if path in writes}

    def _link(self, path: str) -> None:
        child = path
        while True:
            parent, _, name = child.rpartition("/")
            siblings = self._children.setdefault(parent, set())
            if name in siblings:
                return
            siblings.add(name)
            if not parent:
                return
            child = parent

    def _unlink(self, path: str) -> None:
        child = path
        while True:
            parent, _, name = child.rpartition("/")
            siblings = self._children.get(parent)
            if siblings is None:
                return
            siblings.discard(name)
            if siblings or not parent:
                return
            del self._children[parent]
            child = parent

    def describe(self) -> str:
        return f"memory ({len(self._files)} files)"
