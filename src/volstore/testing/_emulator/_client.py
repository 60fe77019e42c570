"""The client API's writes: upload batches, copies and their staging."""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from ._committed import EntryLimitError, Transaction, VolumeStore
from ._errors import error
from ._files import copy_file, walk, write_fileobj
from ._types import split_parent, volume_relpath


class EmulatedUploadBatch:
    """Mirrors modal's ``_AbstractVolumeUploadContextManager`` (what ``batch_upload``
    yields): ``put_file`` and ``put_directory`` only record; the batch uploads when the
    ``with`` block exits without error."""

    def __init__(self) -> None:
        # (source, remote relative path, mode); sources are resolved at exit like Modal's
        # lazy upload generators.
        self._files: list[tuple[Path | IO[bytes], str, int | None]] = []
        self._directories: list[tuple[Path, str, bool]] = []

    def put_file(
        self,
        local_file: Path | str | BinaryIO | IO[bytes],
        remote_path: PurePosixPath | str,
        mode: int | None = None,
    ) -> None:
        """Upload a local file or a binary file object to ``remote_path``.

        Parent folders are created. A file object must stay readable until the batch
        exits; it is read from the start (blob_utils ``seek(0)``). Mirrors
        ``put_file``, including its ``ValueError`` for a remote path ending with "/".
        """
        remote = PurePosixPath(remote_path).as_posix()
        if remote.endswith("/"):
            raise ValueError(f"remote_path ({remote}) must refer to a file - cannot end with /")
        rel = volume_relpath(remote)
        if not rel:
            raise error("InvalidError", f"remote_path ({remote}) must refer to a file")
        source: Path | IO[bytes] = (
            Path(local_file) if isinstance(local_file, (str, Path)) else local_file
        )
        self._files.append((source, rel, mode))

    def put_directory(
        self,
        local_path: Path | str,
        remote_path: PurePosixPath | str,
        recursive: bool = True,
    ) -> None:
        """Upload every file of a local folder (of its subfolders too when ``recursive``)
        under ``remote_path``. Empty folders are not uploaded, as in Modal, which only
        uploads ``is_file()`` entries."""
        local = Path(local_path)
        if not local.is_dir():
            # volume.py does `assert local_path.is_dir()`; keep the same exception type.
            raise AssertionError(f"{local} is not a directory")
        self._directories.append((local, volume_relpath(PurePosixPath(remote_path)), recursive))

    def _resolved(self) -> dict[str, tuple[Path | IO[bytes], int | None]]:
        entries: dict[str, tuple[Path | IO[bytes], int | None]] = {}
        for source, rel, mode in self._files:
            entries[rel] = (source, mode)
        for local, rel_root, recursive in self._directories:
            found = local.rglob("*") if recursive else local.glob("*")
            for sub in sorted(found):
                if sub.is_file():
                    rel = "/".join(p for p in (rel_root, sub.relative_to(local).as_posix()) if p)
                    entries[rel] = (sub, None)
        return entries


def commit_client_transaction(store: VolumeStore, txn: Transaction) -> None:
    """Apply a client write. A v2 folder overflow is InvalidError (guess: the server
    rejects the request; a container commit raises RuntimeError instead); a full v1
    volume is OSError ENOSPC."""
    try:
        store.commit_transaction(txn)
    except EntryLimitError as exc:
        raise error("InvalidError", str(exc)) from None


def stage_copy(
    store: VolumeStore,
    txn: Transaction,
    src: str,
    raw: str,
    dst: str,
    into_folder: bool,
    recursive: bool,
) -> None:
    src_path = store.path_of(src)
    if not os.path.lexists(src_path):
        raise error("NotFoundError", f"No such file or directory: '{raw}'")
    target = "/".join(p for p in (dst, split_parent(src)[1]) if p) if into_folder else dst
    blocking = store.file_in_the_way(target)
    if blocking is not None:
        raise error("InvalidError", f"'{blocking}' exists and is not a directory")
    if not os.path.isdir(src_path):
        if os.path.isdir(store.path_of(target)):
            raise error("InvalidError", f"cannot overwrite directory '{target}' with a file")
        # `cp` without -p: the copy gets a new mtime.
        copy_file(src_path, txn.staged_path_for(target), keep_mtime=False)
        return
    if not recursive:
        raise error("InvalidError", f"'{raw}' is a directory; pass recursive=True to copy it")
    if target == src or target.startswith(src + "/"):
        raise error("InvalidError", f"cannot copy directory '{raw}' into itself")
    if os.path.lexists(store.path_of(target)) and not os.path.isdir(store.path_of(target)):
        raise error("InvalidError", f"cannot overwrite non-directory '{target}' with a directory")
    txn.make_dir(target)
    for rel, info in sorted(walk(src_path).items()):
        dest = f"{target}/{rel}"
        if info.kind == "d":
            txn.make_dir(dest)
        elif info.kind == "f":
            copy_file(store.path_of(f"{src}/{rel}"), txn.staged_path_for(dest), keep_mtime=False)


def upload(
    store: VolumeStore,
    entries: dict[str, tuple[Path | IO[bytes], int | None]],
    force: bool,
) -> None:
    with store.locked(exclusive=True):
        for rel in entries:
            _check_upload_target(store, rel, force)
        txn = store.begin()
        try:
            for rel, (source, mode) in entries.items():
                staged = txn.staged_path_for(rel)
                if isinstance(source, Path):
                    copy_file(str(source), staged, keep_mtime=False, mode=mode)
                else:
                    write_fileobj(source, staged, 0o644 if mode is None else mode)
        except BaseException:
            txn.discard()
            raise
        commit_client_transaction(store, txn)


def _check_upload_target(store: VolumeStore, rel: str, force: bool) -> None:
    blocking = store.file_in_the_way(rel)
    if blocking is not None:
        raise FileExistsError(errno.EEXIST, f"{blocking}: exists and is not a directory", rel)
    target = store.path_of(rel)
    if os.path.isdir(target):
        raise FileExistsError(errno.EEXIST, "a directory exists at the upload target", rel)
    if os.path.lexists(target) and not force:
        # Wording of the modal-client test servicer's AlreadyExists error.
        raise FileExistsError(
            errno.EEXIST, "already exists (disallow_overwrite_existing_files=True)", rel
        )
