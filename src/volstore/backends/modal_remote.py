"""A backend for a Modal Volume reached through the client API, outside a container.

From a local script, a notebook or a CLI there is no mount: files are read
with ``read_file``, listed with ``listdir``, written with one
``batch_upload(force=True)`` per flush, and removed with ``remove_file``.

What commit and reload mean here:

- Writes are committed on Modal's side when the upload batch closes, so a
  flush is already durable; ``commit()`` has nothing left to do. Containers
  see the new files after their next ``reload()``.
- The client API always reads the latest committed state, so ``reload()`` has
  nothing to do either. Both are still counted by the store.

Each file of a batch is uploaded whole, so no reader ever sees a torn file.
A batch is not all-or-nothing across files if the upload fails part way;
volstore raises BackendError and the caller may retry the session.

This module does not import ``modal``; any object with the methods of
:class:`RemoteVolume` works (a real ``modal.Volume``, or volstore's emulator).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .._keys import check_relative_path
from ._base import Backend, Entry

_DIRECTORY = 2  # modal.volume.FileEntryType.DIRECTORY


class UploadBatch(Protocol):
    def put_file(self, local_file: Any, remote_path: Any, mode: int | None = None) -> None: ...


class RemoteVolume(Protocol):
    """The part of ``modal.Volume``'s client API the remote backend uses."""

    def read_file(self, path: str) -> Iterator[bytes]: ...

    def listdir(self, path: str, *, recursive: bool = False) -> list[Any]: ...

    def batch_upload(self, force: bool = False) -> AbstractContextManager[UploadBatch]: ...

    def remove_file(self, path: str, recursive: bool = False) -> None: ...


def _is_not_found(exc: BaseException) -> bool:
    # modal.exception.NotFoundError without importing modal here.
    return isinstance(exc, FileNotFoundError) or type(exc).__name__ == "NotFoundError"


class RemoteVolumeBackend(Backend):
    """Reads and writes a Modal Volume through its client API."""

    def __init__(self, volume: RemoteVolume) -> None:
        self.volume = volume

    def read(self, path: str) -> bytes:
        check_relative_path(path)
        try:
            return b"".join(self.volume.read_file(path))
        except Exception as exc:
            if _is_not_found(exc):
                raise FileNotFoundError(path) from exc
            raise

    def exists(self, path: str) -> bool:
        check_relative_path(path)
        try:
            entries = self.volume.listdir(path)
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        # listdir of a file path describes that file alone.
        return (
            len(entries) == 1
            and entries[0].path.strip("/") == path
            and (int(entries[0].type) != _DIRECTORY)
        )

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        if not files:
            return
        for path in files:
            check_relative_path(path)
        with self.volume.batch_upload(force=True) as batch:
            for path, data in files.items():
                batch.put_file(io.BytesIO(data), "/" + path)

    def delete_batch(self, paths: Iterable[str]) -> None:
        for path in paths:
            check_relative_path(path)
            try:
                self.volume.remove_file(path)
            except Exception as exc:
                # Gone already is what a delete wants.
                if not _is_not_found(exc):
                    raise

    def list(self, prefix: str) -> list[Entry]:
        if prefix:
            check_relative_path(prefix)
        try:
            entries = self.volume.listdir(prefix or "/")
        except Exception as exc:
            if _is_not_found(exc):
                return []
            raise
        listed = []
        for entry in entries:
            name = entry.path.rstrip("/").rpartition("/")[2]
            if name and not name.startswith("."):
                listed.append(Entry(name, int(entry.type) == _DIRECTORY))
        return listed

    def delete_tree(self, prefix: str) -> int:
        check_relative_path(prefix)
        count = sum(1 for _ in self.walk(prefix))
        try:
            self.volume.remove_file(prefix, recursive=True)
        except Exception as exc:
            if not _is_not_found(exc):
                raise
        return count

    def describe(self) -> str:
        name = getattr(self.volume, "name", None) or type(self.volume).__name__
        return f"remote volume {name}"
