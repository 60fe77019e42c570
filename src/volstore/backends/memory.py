"""An in-memory backend: state per instance, for tests and examples."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from .._keys import check_relative_path
from ._base import Backend, Entry


class MemoryBackend(Backend):
    """Keeps files in a dict owned by this instance (two instances share nothing).

    Writes are visible at once, so ``commit`` and ``reload`` do nothing; they are
    still counted by the store, which is what tests of commit behaviour read.
    """

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        # folder -> names of its children; a folder exists while it has children
        self._children: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def read(self, path: str) -> bytes:
        check_relative_path(path)
        try:
            return self._files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def exists(self, path: str) -> bool:
        return check_relative_path(path) in self._files

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        for path in files:
            check_relative_path(path)
            if path in self._children:
                raise IsADirectoryError(f"{path} is a folder")
            parent = path.rpartition("/")[0]
            while parent:
                if parent in self._files:
                    raise NotADirectoryError(f"{parent} is a file, not a folder")
                parent = parent.rpartition("/")[0]
        with self._lock:
            for path, data in files.items():
                self._files[path] = bytes(data)
                self._link(path)

    def delete_batch(self, paths: Iterable[str]) -> None:
        with self._lock:
            for path in paths:
                check_relative_path(path)
                if self._files.pop(path, None) is not None:
                    self._unlink(path)

    def list(self, prefix: str) -> list[Entry]:
        if prefix:
            check_relative_path(prefix)
        with self._lock:
            names = list(self._children.get(prefix, ()))
        base = f"{prefix}/" if prefix else ""
        return [Entry(name, (base + name) in self._children) for name in names if name[0] != "."]

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
