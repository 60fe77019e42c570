"""A backend for a Modal Volume mounted in a function container.

Inside a container the volume is a folder (``@app.function(volumes={"/data": vol})``)
plus a handle whose ``commit()`` publishes this container's changes and whose
``reload()`` brings in other containers' commits. Files are written exactly as
by ``LocalBackend`` (atomic replace, so a background commit never
publishes half a file); ``commit`` and ``reload`` call the handle.

Compare-and-swap across containers goes through claims in a shared map (a
``modal.Dict``; see ``_claims``): claim the folders, reload, compare, write,
commit, release. Within the container, ``flock`` (inherited from the local
backend) orders threads and processes as well.

``reload()`` fails on Modal while any file on the volume is open: this
backend never keeps one open between calls, and its own threads wait for each
other around a reload (a reload waits until no call of this backend has a file
open, and holds new ones back until it is done).

In the async API (``volstore.aio``) each call runs in a worker thread, under
the same gate (concurrent requests are threads here too), and the volume's
``commit``/``reload`` and the Dict's calls are awaited through their ``.aio``
forms on the event loop (``_bridge.call``), so a reload still never meets a
file that another request holds open, and no blocking Modal call is made.

This module does not import ``modal``: any object with ``commit()`` and
``reload()`` will do (a real ``modal.Volume``, or volstore's emulator).
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ClassVar, Protocol

from .._bridge import call, offload
from .._errors import ConflictError
from ._base import Entry
from ._claims import Claims
from .local import LocalBackend


class VolumeHandle(Protocol):
    """What the mounted backend needs of a volume: ``modal.Volume`` has both."""

    def commit(self) -> None: ...

    def reload(self) -> None: ...


class _Gate:
    """Many calls at once, or one reload alone (a reload is never starved).

    Re-entrant per thread (per task, inside the async API): a call made inside
    another (a conditional write writing its batch) does not wait for a reload
    queued meanwhile. The depth lives in a contextvar, which a plain thread has
    for itself and the async API carries into the worker thread it hands a call to.
    A wait goes through ``_bridge.offload``: on the event loop it waits in a worker
    thread; taking the gate without waiting never leaves the loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._active = 0
        self._reloading = False
        self._waiting = 0
        self._depth: ContextVar[int] = ContextVar(f"volstore_gate_{id(self)}", default=0)

    # -- shared: any number of calls ----------------------------------------------------------

    def _try_shared(self) -> bool:
        with self._lock:
            if self._reloading or self._waiting:
                return False
            self._active += 1
            return True

    def _wait_shared(self) -> None:
        with self._lock:
            while self._reloading or self._waiting:
                self._lock.wait()
            self._active += 1

    def _release_shared(self) -> None:
        with self._lock:
            self._active -= 1
            if not self._active:
                self._lock.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        depth = self._depth.get()
        if not depth:
            self._take(self._try_shared, self._wait_shared, self._release_shared)
        token = self._depth.set(depth + 1)
        try:
            yield
        finally:
            self._depth.reset(token)
            if not depth:
                self._release_shared()

    # -- exclusive: one reload ---------------------------------------------------------------

    def _try_exclusive(self) -> bool:
        with self._lock:
            if self._reloading or self._active or self._waiting:
                return False
            self._reloading = True
            return True

    def _wait_exclusive(self) -> None:
        with self._lock:
            self._waiting += 1
            try:
                while self._reloading or self._active:
                    self._lock.wait()
            finally:
                self._waiting -= 1
            self._reloading = True

    def _release_exclusive(self) -> None:
        with self._lock:
            self._reloading = False
            self._lock.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if self._depth.get():
            raise RuntimeError("a reload inside a call of the same backend would wait forever")
        self._take(self._try_exclusive, self._wait_exclusive, self._release_exclusive)
        try:
            yield
        finally:
            self._release_exclusive()

    @staticmethod
    def _take(
        attempt: Callable[[], bool], wait: Callable[[], None], release: Callable[[], None]
    ) -> None:
        if attempt():
            return
        taken: list[bool] = []

        def wait_and_note() -> None:
            wait()
            taken.append(True)

        try:
            offload(wait_and_note)
        except BaseException:
            # Cancelled on the loop once the thread had the gate: give it back.
            if taken:
                release()
            raise


class MountedVolumeBackend(LocalBackend):
    """Files under the mount path; ``commit``/``reload`` go to the volume handle.

    ``claims`` makes compare-and-swap (versioned objects) safe across
    containers; ``volstore.modal.volume_store`` gives one by default (a
    ``modal.Dict`` named after the volume). Without it, versioned writes are
    refused: a lock inside one container does not exclude the others.

    Every exception the handle raises is a storage failure (``storage_errors``):
    volstore turns it into CommitError or ReloadError, with the original as
    ``__cause__`` (modal's client raises RuntimeError for conflicts and its own
    ``modal.exception`` errors for the rest).
    """

    storage_errors: ClassVar[tuple[type[BaseException], ...]] = (Exception,)
    commits_conditional_writes = True
    # A temporary file may come from another container (published by its
    # background commit): its pid says nothing here, so repair goes by age.
    _local_pids = False

    def __init__(
        self,
        mount_path: str | os.PathLike[str],
        volume: VolumeHandle,
        *,
        claims: Claims | None = None,
        fsync: bool = False,
    ) -> None:
        if not os.path.isdir(mount_path):
            raise FileNotFoundError(
                f"volume mount path {os.fspath(mount_path)!r} is not a folder; "
                "is the volume mounted there (volumes={path: volume})?"
            )
        super().__init__(mount_path, fsync=fsync)
        self.volume = volume
        self.claims = claims
        self._gate = _Gate()

    def commit(self) -> None:
        with self._gate.shared():
            call(self.volume.commit)  # ``await volume.commit.aio()`` in the async API

    def reload(self) -> None:
        with self._gate.exclusive():
            call(self.volume.reload)

    # -- calls that hold a file open for a moment: never during a reload ---------------------

    def read(self, path: str, *, limit: int | None = None) -> bytes:
        with self._gate.shared():
            return super().read(path, limit=limit)

    def read_batch(
        self, paths: Sequence[str], *, limit: int | None = None
    ) -> builtins.list[bytes | OSError | None]:
        with self._gate.shared():
            return super().read_batch(paths, limit=limit)

    def exists(self, path: str) -> bool:
        with self._gate.shared():
            return super().exists(path)

    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        with self._gate.shared():
            return super().list(prefix, hidden=hidden, details=details)

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        with self._gate.shared():
            super().write_batch(files)

    def delete_batch(self, paths: Iterable[str]) -> None:
        with self._gate.shared():
            super().delete_batch(paths)

    def delete_tree(self, prefix: str) -> int:
        with self._gate.shared():
            return super().delete_tree(prefix)

    def remove_empty_folder(self, path: str) -> bool:
        with self._gate.shared():
            return super().remove_empty_folder(path)

    def move(self, source: str, target: str) -> None:
        with self._gate.shared():
            super().move(source, target)

    def remove_temporary(self, path: str, *, min_age: float) -> bool:
        with self._gate.shared():
            return super().remove_temporary(path, min_age=min_age)

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
        """Claim, reload, compare, write, commit, release (see ``_claims``).

        Commits the volume itself: the claims are released only once the
        change is published, so that the next claimant's reload sees it.
        Raises ConflictError (nothing written) when a path no longer holds
        the expected state, or stays claimed by another writer.
        """
        if self.claims is None:
            raise NotImplementedError(
                f"{self.describe()} has no claims map: give the backend claims= "
                "(volstore.modal.volume_store does by default)"
            )
        deletes = list(deletes)
        held = self.claims.acquire([path.rpartition("/")[0] for path in expected])
        try:
            self.reload()  # the latest committed state, under the claims
            with self._gate.shared():
                # Checked last just before writing: a writer whose claim was
                # broken (it paused past the lease) must not write.
                lost = self.claims.still_held(held)
                if lost is not None:
                    raise ConflictError(lost, expected.get(lost), None)
                tokens = offload(LocalBackend.apply_conditional, self, writes, deletes, expected)
            self.commit()
        finally:
            self.claims.release(held)
        return tokens

    def describe(self) -> str:
        return f"mounted volume at {self.root}"
