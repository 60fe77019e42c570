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

Every call to the volume goes through ``_bridge`` (``call``, ``iterate``,
``enter``): blocking here, and in the async API (``volstore.aio``, which runs
this backend's calls on the event loop: ``awaits_io``) the awaited ``.aio`` form.

This module does not import ``modal``; any object with the methods of
``RemoteVolume`` works (a real ``modal.Volume``, or volstore's emulator).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, closing
from typing import Any, ClassVar, Protocol

from .._bridge import call, enter, iterate
from .._errors import ConflictError
from .._keys import check_relative_path
from ._base import (
    Backend,
    Entry,
    EntryKind,
    FileTooLargeError,
    NotRegularFileError,
    SymlinkError,
    check_expected,
    content_token,
)
from ._claims import Claims

# modal.volume.FileEntryType: FILE=1, DIRECTORY=2, SYMLINK=3, FIFO=4, SOCKET=5
_KINDS: dict[int, EntryKind] = {1: "file", 2: "dir", 3: "symlink"}


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


def _entry(item: Any) -> tuple[str, Entry]:
    """The path (no leading or trailing ``/``) and the Entry of one ``modal`` FileEntry.

    The one place that reads modal's listing format.
    """
    path = str(item.path).strip("/")
    kind = _KINDS.get(int(item.type), "other")
    size = mtime = None
    if kind != "dir":
        size = int(item.size) if getattr(item, "size", None) is not None else None
        mtime = float(item.mtime) if getattr(item, "mtime", None) is not None else None
    return path, Entry(path.rpartition("/")[2], kind == "dir", size, kind, mtime)


class RemoteVolumeBackend(Backend):
    """Reads and writes a Modal Volume through its client API.

    Every exception of the client is a storage failure (``storage_errors``),
    which volstore turns into a BackendError carrying it.
    """

    storage_errors: ClassVar[tuple[type[BaseException], ...]] = (Exception,)
    # Every call reaches Modal through _bridge: the async API runs them on the loop.
    awaits_io: ClassVar[bool] = True

    def __init__(self, volume: RemoteVolume, *, claims: Claims | None = None) -> None:
        self.volume = volume
        self.claims = claims

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        check_relative_path(path)
        chunks = []
        total = 0
        try:
            with closing(iterate(self.volume.read_file, path)) as blocks:
                for chunk in blocks:
                    total += len(chunk)
                    if limit is not None and total > limit:
                        raise FileTooLargeError(path, total, limit)
                    chunks.append(chunk)
        except FileTooLargeError:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                raise FileNotFoundError(path) from exc
            raise
        return b"".join(chunks)

    def _listing(self, path: str) -> list[tuple[str, Entry]] | None:
        """The listing of ``path`` (None when nothing is there)."""
        try:
            return [_entry(item) for item in call(self.volume.listdir, path or "/")]
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise

    def exists(self, path: str) -> bool:
        check_relative_path(path)
        listed = self._listing(path)
        if listed is None:
            return False
        if len(listed) == 1 and listed[0][0] == path and not listed[0][1].is_dir:
            kind = listed[0][1].kind
            if kind == "file":
                return True
            if kind == "symlink":
                raise SymlinkError(path)
            raise NotRegularFileError(path, kind)
        # listdir of a folder lists what it holds (maybe nothing): a folder stands here.
        raise IsADirectoryError(path)

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        if not files:
            return
        for path in files:
            check_relative_path(path)
        with enter(self.volume.batch_upload, force=True) as batch:
            for path, data in files.items():
                batch.put_file(io.BytesIO(data), "/" + path)

    def delete_batch(self, paths: Iterable[str]) -> None:
        for path in paths:
            check_relative_path(path)
            try:
                call(self.volume.remove_file, path)
            except Exception as exc:
                # Gone already is what a delete wants.
                if not _is_not_found(exc):
                    raise

    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        if prefix:
            check_relative_path(prefix)
        listed = self._listing(prefix)
        if listed is None:
            return []
        if len(listed) == 1 and listed[0][0] == prefix and not listed[0][1].is_dir:
            return []  # the listing of a file names the file itself: no folder here
        return [
            entry
            for _, entry in listed
            if entry.name and (hidden or not entry.name.startswith("."))
        ]

    def delete_tree(self, prefix: str) -> int:
        check_relative_path(prefix)
        count = sum(1 for _ in self.walk(prefix))
        try:
            call(self.volume.remove_file, prefix, recursive=True)
        except Exception as exc:
            if not _is_not_found(exc):
                raise
        return count

    def remove_empty_folder(self, path: str) -> bool:
        """Remove ``path`` if it lists nothing. Checked, then removed: the client API has no
        remove-if-empty, so a file uploaded between the two calls would go too (the folders
        removed are old, emptied ones, which no writer targets)."""
        check_relative_path(path)
        listed = self._listing(path)
        if listed is None or listed or (len(listed) == 1 and listed[0][0] == path):
            return False
        try:
            call(self.volume.remove_file, path, recursive=True)
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def remove_temporary(self, path: str, *, min_age: float) -> bool:
        """Remove an abandoned temporary file: one ``min_age`` seconds old (by its mtime).

        Its writer ran in a container; nothing here can tell whether it is alive.
        """
        check_relative_path(path)
        try:
            items = call(self.volume.listdir, path)
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        if len(items) != 1 or _entry(items[0])[0] != path:
            return False
        mtime = getattr(items[0], "mtime", None)
        if mtime is not None and time.time() - float(mtime) < min_age:
            return False
        self.delete_batch([path])
        return True

    # -- compare-and-swap across containers ------------------------------------------------------

    @property
    def supports_conditional(self) -> bool:
        return self.claims is not None

    def apply_conditional(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str],
        expected: Mapping[str, str | None],
    ) -> dict[str, str]:
        """Claim, compare, upload, release (see ``_claims``).

        The client API reads the latest committed state, so no reload is
        needed; an upload is committed when its batch closes. Raises
        ConflictError (nothing written) when a path no longer holds the
        expected state, or stays claimed by another writer.
        """
        if self.claims is None:
            raise NotImplementedError(
                f"{self.describe()} has no claims map: give the backend claims= "
                "(volstore.modal.volume_store does by default)"
            )
        deletes = list(deletes)
        held = self.claims.acquire([path.rpartition("/")[0] for path in expected])
        try:
            for path in sorted(expected):
                try:
                    found: str | None = content_token(self.read(path))
                except FileNotFoundError:
                    found = None
                check_expected(path, expected[path], found)
            lost = self.claims.still_held(held)
            if lost is not None:
                raise ConflictError(lost, expected.get(lost), None)
            self.write_batch(writes)
            self.delete_batch(deletes)
        finally:
            self.claims.release(held)
        return {path: content_token(writes[path]) for path in expected if path in writes}

    def describe(self) -> str:
        name = getattr(self.volume, "name", None) or type(self.volume).__name__
        return f"remote volume {name}"
