"""An emulated container mounting a volume: a real local folder, commit and reload."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Literal, Protocol

from ._committed import EntryLimitError, Transaction, VolumeFullError, VolumeStore
from ._errors import error
from ._faults import FaultPoint, Faults
from ._files import (
    OPEN_FILES_MESSAGE,
    Stat,
    copy_file,
    is_racy,
    open_beneath,
    open_files_annotation,
)
from ._protocols import Server
from ._readonly import ReadOnlyGuard, ReadOnlyMode
from ._sync import Changes, View
from ._types import EmulatorCounters

_READ_ONLY_FS = "Read-only file system"


class Handle(Protocol):
    """What a mount needs of its volume handle (``EmulatedVolume`` has it)."""

    _mount_lock: threading.Lock
    _active_mount: Mount | None
    counters: EmulatorCounters

    @property
    def name(self) -> str | None: ...

    @property
    def emulator(self) -> Server: ...

    @property
    def _mount_read_only(self) -> bool: ...

    @property
    def _mount_sub_path(self) -> str: ...

    def _store(self) -> VolumeStore: ...

    def _fault_sources(self) -> tuple[Faults, ...]: ...


class Mount:
    """An emulated container mounting a volume: a real local folder, ``path``.

    Created by :meth:`EmulatedVolume.mount`; enter it to mount. User code reads and
    writes ``path`` with ordinary file I/O. The folder holds the committed state as of
    mounting or the last ``reload()``, plus this container's own changes; it never
    takes in other containers' commits on its own, not even at ``commit()``
    (modal-volumes.md: "It never sees other containers' commits until it reloads,
    however much time passes"; "Only reload() brings in others' commits").

    Mounted through ``volume.with_mount_options(read_only=True)`` (or the deprecated
    ``read_only()``), the folder refuses writes at write time (see ``read_only_mode``);
    with ``sub_path=`` it shows one folder of the volume.
    """

    def __init__(
        self,
        volume: Handle,
        path: str | os.PathLike[str] | None,
        *,
        background_commit_interval: float | None,
        reload_commits: bool,
        commit_refreshes: bool,
    ) -> None:
        if background_commit_interval is not None and background_commit_interval <= 0:
            raise ValueError("background_commit_interval must be positive or None")
        self.volume = volume
        self.background_commit_interval = background_commit_interval
        self.reload_commits = reload_commits
        self.commit_refreshes = commit_refreshes
        self.counters = EmulatorCounters()
        """Operation counts of this mount."""
        self.errors: list[BaseException] = []
        """Failures of background commits and of an exit commit that could not be raised."""
        self._requested_path = None if path is None else Path(path)
        self._created_folder = False
        self._path: Path | None = None
        self._state: Literal["new", "active", "closed"] = "new"
        self._killed = False
        self._view: View | None = None
        self._guard: ReadOnlyGuard | None = None
        self._op_lock = threading.Lock()  # serialises commit/reload/background commit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Mount of {self.volume.name!r} at {self._path} ({self._state})>"

    @property
    def path(self) -> Path:
        """The mount folder (resolved). RuntimeError before the mount is entered."""
        if self._path is None:
            raise RuntimeError("the mount is not active yet: enter it with `with`")
        return self._path

    @property
    def active(self) -> bool:
        """True between entering and exiting (or kill)."""
        return self._state == "active"

    @property
    def read_only(self) -> bool:
        """True when mounted read-only (``with_mount_options(read_only=True)`` or
        ``read_only()``)."""
        return self.volume._mount_read_only

    @property
    def read_only_mode(self) -> ReadOnlyMode | None:
        """How a read-only mount refuses writes (None for a writable mount):

        * "bind-mount": the kernel refuses them with ``OSError`` EROFS, as on Modal;
        * "permissions": this process may not mount; permission bits refuse them
          with ``PermissionError`` (EACCES);
        * "commit": neither works (a privileged process that may not mount):
          ``commit()`` raises ``OSError`` EROFS if anything was written.
        """
        return None if self._guard is None else self._guard.mode

    @property
    def sub_path(self) -> str:
        """The volume folder this mount shows ("" for the whole volume)."""
        return self.volume._mount_sub_path

    # -- lifecycle

    def __enter__(self) -> Mount:
        if self._state != "new":
            raise RuntimeError("a Mount can be entered only once; call vol.mount() again")
        volume = self.volume
        with volume._mount_lock:
            if volume._active_mount is not None:
                raise RuntimeError(
                    "this handle already has an active mount; another container is another "
                    "from_name() handle"
                )
            store = volume._store()  # NotFoundError for a missing volume
            if self.sub_path:
                self._make_sub_path(store)
            self._path = self._prepare_folder()
            try:
                data = self._path
                if self.read_only:
                    self._guard = ReadOnlyGuard.create(self._path, volume.emulator._containers)
                    data = self._guard.data
                self._view = View(str(data), self.sub_path, self._count)
                with store.locked(exclusive=False):
                    self._view.refresh(store, set())
                if self._guard is not None:
                    self._guard.lock_down()
                elif volume.emulator.change_tracking:
                    self._view.start_tracking()
            except BaseException:
                self._teardown()
                raise
            self._state = "active"
            volume._active_mount = self
        if self.background_commit_interval is not None and not self.read_only:
            self._thread = threading.Thread(
                target=self._background_loop,
                args=(self.background_commit_interval,),
                name=f"volstore-emulator-commit-{volume.name}",
                daemon=True,
            )
            self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """Stop background commits, commit once more (also when the block raised:
        modal-volumes.md "once more at container shutdown (also when the function
        raised)"), then unmount and remove the mount folder. After :meth:`kill`,
        nothing is committed. A failing exit commit raises (RuntimeError, or OSError
        ENOSPC) unless the block already raised; then it is kept in :attr:`errors`."""
        if self._state != "active":
            return
        self._stop_background()
        failure: Exception | None = None
        try:
            with self._op_lock:
                if not self._killed and not self.read_only:
                    try:
                        self._publish(round_trip=False)
                        self._count("exit_commits")
                    except (RuntimeError, OSError) as err:
                        failure = err
        finally:
            self._close()
        if failure is not None:
            if exc is None:
                raise failure
            self.errors.append(failure)

    def kill(self) -> None:
        """Emulate SIGKILL / out-of-memory: stop background commits and drop everything
        not yet committed (modal-volumes.md: uncommitted writes "are lost on SIGKILL /
        out-of-memory after the last periodic commit"). The folder is removed (and
        unmounted); exiting the ``with`` block afterwards commits nothing."""
        if self._state != "active":
            return
        self._stop_background()
        with self._op_lock:
            self._killed = True
        self._close()

    def _close(self) -> None:
        with self.volume._mount_lock:
            if self.volume._active_mount is self:
                self.volume._active_mount = None
        self._state = "closed"
        self._teardown()

    def _teardown(self) -> None:
        if self._view is not None:
            self._view.stop_tracking()
            self._view.known = {}
        if self._guard is not None:
            self._guard.release()
        self._remove_folder()

    def _make_sub_path(self, store: VolumeStore) -> None:
        """volume.py ``with_mount_options``: "If the directory doesn't exist in the
        Volume, it will be created when the container starts up"."""
        with store.locked(exclusive=True):
            if os.path.isdir(store.path_of(self.sub_path)):
                return
            in_the_way = store.file_in_the_way(self.sub_path)
            if in_the_way is not None or os.path.lexists(store.path_of(self.sub_path)):
                # Guess: Modal cannot mount a file as a folder either.
                raise error(
                    "InvalidError",
                    f"sub_path '{self.sub_path}' of volume '{self.volume.name}' is not a folder",
                )
            txn = store.begin()
            txn.make_dir(self.sub_path)
            store.commit_transaction(txn)

    def _prepare_folder(self) -> Path:
        if self._requested_path is None:
            folder = self.volume.emulator._containers / uuid.uuid4().hex
            folder.mkdir()
            self._created_folder = True
            return folder.resolve()
        folder = self._requested_path
        if folder.exists():
            if not folder.is_dir() or any(folder.iterdir()):
                raise RuntimeError(f"mount path {folder} must be missing or an empty folder")
        else:
            folder.mkdir(parents=True)
            self._created_folder = True
        return folder.resolve()

    def _remove_folder(self) -> None:
        folder = self._path
        if folder is None:
            return
        if self._created_folder:
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)

    def _stop_background(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _background_loop(self, interval: float) -> None:
        # modal-volumes.md: "Modal also commits every few seconds while the function
        # runs". A background commit publishes but never refreshes the view: it must not
        # change files under the user's feet.
        while not self._stop.wait(interval):
            with self._op_lock:
                if self._stop.is_set() or self._killed:
                    return
                try:
                    point = FaultPoint("background_commit", self.volume._fault_sources())
                    point.before()
                    self._publish(round_trip=False)
                    point.after()
                    self._count("background_commits")
                except Exception as err:  # a daemon thread must never die noisily
                    self.errors.append(err)

    def _count(self, field: str, amount: float = 1) -> None:
        for counters in (self.counters, self.volume.counters):
            setattr(counters, field, getattr(counters, field) + amount)

    def _require_active(self) -> View:
        if self._state != "active" or self._view is None:
            raise RuntimeError(
                "the container is gone: the mount was exited or killed"
                if self._state == "closed"
                else "the mount is not active yet: enter it with `with`"
            )
        return self._view

    # -- commit / reload

    def commit(self) -> None:
        """Publish this container's changes (``Volume.commit``); never refresh the view.

        Publishes files created, modified or deleted since the view was last refreshed
        (or last published), per file, last writer wins (modal-volumes.md: "the last
        commit wins per file"); files this container did not change are never reverted.
        The view does not take in other containers' commits: in modal's client a
        commit reloads only when the server's answer lacks ``skip_reload``, which
        exists because reloading on commit makes no sense where background commits are
        on, and every mount allows them (modal-volumes.md). ``commit_refreshes=True``
        (on the emulator or the mount) restores the refresh, skipped when files under
        the mount are open (counted in ``counters.skipped_refreshes``).

        Errors: RuntimeError when the commit fails; OSError ENOSPC when a v1 volume
        would exceed its inode limit; OSError EROFS on a read-only mount that could not
        refuse writes when they happened ("commit" ``read_only_mode``). This method is
        the emulator's own: it skips fault injection and the AsyncUsageWarning, which
        ``volume.commit()`` applies.
        """
        with self._op_lock:
            view = self._require_active()
            if self.read_only:
                if self.read_only_mode == "commit":
                    self._refuse_read_only_changes(view)
                self._simulate_cost(0, round_trip=True)
            else:
                self._publish(round_trip=True)
            if self.commit_refreshes:
                if open_files_annotation(str(self.path)) is None:
                    self._simulate_cost(self._refresh(view, keep=set()), round_trip=False)
                else:
                    self._count("skipped_refreshes")
            self._count("commits")

    def _refuse_read_only_changes(self, view: View) -> None:
        if not view.diff(None).empty:
            raise OSError(
                errno.EROFS,
                f"{_READ_ONLY_FS}: volume '{self.volume.name}' is mounted read-only "
                "(this process could not make the mount refuse the writes when they happened)",
            )

    def reload(self) -> None:
        """Bring the view to the latest committed state (``Volume.reload``).

        RuntimeError with Modal's wording when a file under the mount is open or a
        process's working directory is inside it (modal-volumes.md: "there are open
        files preventing the operation: path test.txt is open"). Pending changes are
        never discarded (volume.py: "Any uncommitted changes to the volume, such as new
        or modified files, may implicitly be committed when reloading"): with
        ``reload_commits`` (default) they are committed first; without it they stay in
        the view, uncommitted, for the next commit. Reading only what other
        transactions touched since the last refresh, a reload costs what changed.
        """
        with self._op_lock:
            view = self._require_active()
            annotation = open_files_annotation(str(self.path))
            if annotation is not None:
                raise RuntimeError(f"{OPEN_FILES_MESSAGE}: {annotation}")
            keep: set[str] = set()
            if self.read_only:
                self._simulate_cost(0, round_trip=True)
            elif self.reload_commits:
                self._publish(round_trip=True)
            else:
                candidates = view.candidates()
                keep = view.diff(candidates).paths()
                view.give_back(candidates)
                self._simulate_cost(0, round_trip=True)
            self._simulate_cost(self._refresh(view, keep=keep), round_trip=False)
            self._count("reloads")

    def _refresh(self, view: View, *, keep: set[str]) -> int:
        """Refresh the view under the volume's shared lock; return the bytes fetched."""
        store = self.volume._store()
        try:
            if self._guard is not None:
                self._guard.open_up()
            try:
                with store.locked(exclusive=False):
                    return view.refresh(store, keep)
            finally:
                if self._guard is not None:
                    self._guard.lock_down()
        except OSError as err:
            raise RuntimeError(f"reloading volume '{self.volume.name}' failed: {err}") from err

    def _simulate_cost(self, nbytes: int, *, round_trip: bool) -> None:
        """Sleep what the emulator's CommitCost charges for moving ``nbytes``."""
        cost = self.volume.emulator.commit_cost
        if cost is None:
            return
        seconds = cost.seconds(nbytes, round_trip=round_trip)
        if seconds > 0:
            cost.sleep(seconds)
            self._count("simulated_seconds", seconds)

    def _publish(self, *, round_trip: bool = False) -> None:
        """Publish pending changes without refreshing the view.

        RuntimeError on failure (OSError ENOSPC for a full v1 volume); the changes then
        stay pending, so the commit can be retried. With a CommitCost, the upload is
        slept before the changes reach the committed state: always for a
        ``round_trip`` (an explicit call), otherwise only when there is something to
        publish.
        """
        view = self._view
        if view is None:
            return
        store = self.volume._store()
        candidates = view.candidates()
        try:
            try:
                changes = view.diff(candidates)
            except OSError as err:
                raise RuntimeError(f"committing volume '{self.volume.name}' failed: {err}") from err
            if changes.empty:
                if round_trip:
                    self._simulate_cost(0, round_trip=True)
                return
            self._simulate_cost(sum(changes.sizes.values()), round_trip=True)
            copied, put_stats = self._write_transaction(store, view, changes)
        except BaseException:
            view.give_back(candidates)
            raise
        view.record_published(changes, copied, put_stats)
        self._count("files_published", len(copied))
        self._count("bytes_published", sum(source.size for source, _ in copied.values()))
        self._count("files_deleted", len(changes.deletes))

    def _write_transaction(
        self, store: VolumeStore, view: View, changes: Changes
    ) -> tuple[dict[str, tuple[Stat, bytes | None]], dict[str, os.stat_result]]:
        copied: dict[str, tuple[Stat, bytes | None]] = {}
        try:
            with store.locked(exclusive=True):
                if not store.exists():
                    raise error("NotFoundError", f"Volume '{self.volume.name}' was deleted")
                txn: Transaction = store.begin()
                try:
                    now_ns = time.time_ns()
                    for rel in changes.deletes:
                        txn.delete(view.to_volume(rel))
                    for rel in changes.rmdirs:
                        txn.remove_dir_if_empty(view.to_volume(rel))
                    for rel in changes.mkdirs:
                        txn.make_dir(view.to_volume(rel))
                    for rel in changes.puts:
                        staged = txn.staged_path_for(view.to_volume(rel))
                        try:
                            source = open_beneath(view.base, rel)
                        except OSError:
                            # Gone, or reached through a symlink (user code keeps
                            # running): skip it; the next commit sees what is there then.
                            txn.forget_put(view.to_volume(rel))
                            continue
                        try:
                            racy = is_racy(os.fstat(source).st_mtime_ns, now_ns)
                            result = copy_file(source, staged, digest=racy)
                            copied[rel] = (result.source, result.digest)
                        except IsADirectoryError:
                            txn.forget_put(view.to_volume(rel))
                    put_stats = store.commit_transaction(txn)
                except BaseException:
                    txn.discard()
                    raise
        except EntryLimitError as err:
            raise RuntimeError(str(err)) from None
        except VolumeFullError:
            raise
        except OSError as err:
            raise RuntimeError(f"committing volume '{self.volume.name}' failed: {err}") from err
        except Exception as err:
            if type(err).__name__ == "NotFoundError":
                raise RuntimeError(str(err)) from None  # volume.py commit: NotFound -> Runtime
            raise
        return copied, put_stats
