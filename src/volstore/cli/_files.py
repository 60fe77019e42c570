"""The command line's ONLY reach around the Backend contract, kept in this one module.

The contract (``volstore.backends._base.Backend``) cannot yet do three things
the CLI needs, so the functions below look at concrete backends directly:

- list a folder with file sizes (``ls`` and ``stats`` count and measure
  without reading every file): ``os.scandir`` under ``LocalBackend.root``,
  ``RemoteVolumeBackend.volume.listdir``;
- remove a folder only while it is empty (``gc``): ``os.rmdir`` on a local
  folder; elsewhere a folder that lists empty is removed whole;
- reach a Modal Volume once when the store opens, so that missing
  credentials, network or volume show up at once, as one line: the volume
  handle under ``RemoteVolumeBackend``.

The lead is adding contract methods (listing with hidden files and sizes,
remove-folder-if-empty, move). After that lands, the body of each function
here becomes a contract call and nothing else in ``volstore.cli`` changes.
No other CLI module may import a concrete backend class, test a backend's
type, or touch ``backend.root`` / ``backend.volume``.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import Any

from .._store import Store
from ..backends.local import LocalBackend
from ..backends.modal_remote import RemoteVolumeBackend

_DIRECTORY = 2  # modal's FileEntryType.DIRECTORY


def files(store: Store, prefix: str, *, sizes: bool) -> Iterator[tuple[str, int]]:
    """``(path, size)`` of every file below ``prefix``, depth first, folder by folder.

    Names starting with ``.`` (temporary files) are left out. Local folders and
    remote volumes give sizes from their listings; another backend reads each
    file when ``sizes`` is asked (else size is 0).
    """
    backend = store.backend
    if isinstance(backend, LocalBackend):
        yield from _local_files(backend, prefix, sizes)
    elif isinstance(backend, RemoteVolumeBackend):
        yield from _remote_files(backend, prefix)
    else:
        for path in store.walk(prefix):
            data = store.read_bytes(path) if sizes else None
            yield path, len(data or b"")


def _local_files(backend: LocalBackend, prefix: str, sizes: bool) -> Iterator[tuple[str, int]]:
    try:
        with os.scandir(backend.path_of(prefix)) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        path = f"{prefix}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _local_files(backend, path, sizes)
        else:
            size = 0
            if sizes:
                with contextlib.suppress(FileNotFoundError):
                    size = entry.stat(follow_symlinks=False).st_size
            yield path, size


def _remote_files(backend: RemoteVolumeBackend, prefix: str) -> Iterator[tuple[str, int]]:
    try:
        listed = backend.volume.listdir(prefix)
    except Exception as exc:
        if isinstance(exc, FileNotFoundError) or type(exc).__name__ == "NotFoundError":
            return
        raise
    entries = []
    for entry in listed:
        name = entry.path.rstrip("/").rpartition("/")[2]
        if name and not name.startswith("."):
            is_dir = int(entry.type) == _DIRECTORY
            entries.append((name, is_dir, int(getattr(entry, "size", 0) or 0)))
    for name, is_dir, size in sorted(entries):
        path = f"{prefix}/{name}"
        if is_dir:
            yield from _remote_files(backend, path)
        else:
            yield path, size


def remove_folder_if_empty(store: Store, path: str) -> bool:
    """Remove the folder ``path`` if it is empty; whether it was removed. Not committed.

    On a local folder ``rmdir`` removes a folder only while it is empty, so a
    concurrent write is never lost. Other backends have no such call: a
    folder that lists empty is removed whole.
    """
    if store.list_folder(path):
        return False
    backend = store.backend
    if isinstance(backend, LocalBackend):
        try:
            os.rmdir(backend.path_of(path))
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise
    else:
        backend.delete_tree(path)
    return True


def volume_handle(store: Store) -> Any:
    """The Modal Volume handle under a store opened on a volume by name (remote backend)."""
    backend = store.backend
    assert isinstance(backend, RemoteVolumeBackend), backend
    return backend.volume


__all__ = ["files", "remove_folder_if_empty", "volume_handle"]
