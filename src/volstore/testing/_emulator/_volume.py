"""The emulated ``modal.Volume`` handle: identity, mount options and the client API."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import IO, Any, ClassVar, NamedTuple, TypeVar

from ._aio import emulated, emulated_class_context, emulated_context, emulated_generator
from ._client import EmulatedUploadBatch, commit_client_transaction, stage_copy, upload
from ._committed import VolumeStore
from ._errors import error
from ._faults import VOLUME_OPERATIONS, FaultPoint, Faults
from ._mount import Mount
from ._protocols import Server, ServerFactory
from ._types import (
    BLOCK_SIZE,
    EmulatorCounters,
    FileEntry,
    FileEntryType,
    VolumeInfo,
    check_environment_name,
    check_glob,
    check_object_name,
    created_at,
    volume_relpath,
)

_V = TypeVar("_V", bound="EmulatedVolume")

#: Environment variable naming the emulator root used by the unbound
#: ``EmulatedVolume.from_name`` (``emulator.Volume.from_name`` needs none).
ROOT_ENV_VAR = "VOLSTORE_EMULATOR_ROOT"

_server_factory: ServerFactory | None = None


def set_server_factory(factory: ServerFactory) -> None:
    """Called by ``_server``: how an unbound ``EmulatedVolume`` makes its emulator."""
    global _server_factory
    _server_factory = factory


# Wording copied from volume.py so that callers matching on messages behave the same.
_READ_ONLY_MESSAGE = "Read-only Volume can not be written to"


class _MountOptions(NamedTuple):
    read_only: bool = False
    sub_path: str | None = None


class _Default:
    """The default of ``mount(background_commit_interval=)``: the emulator's interval."""

    def __repr__(self) -> str:
        return "<the emulator's background_commit_interval>"


EMULATOR_DEFAULT = _Default()


@contextlib.contextmanager
def _ephemeral(
    cls: type[EmulatedVolume],
    client: object | None = None,
    environment_name: str | None = None,
    version: int | None = None,
    create_options: object | None = None,
    _heartbeat_sleep: float = 300,
) -> Iterator[EmulatedVolume]:
    """A volume without a name that exists for the duration of the ``with`` (or
    ``async with``) block (mirrors ``modal.Volume.ephemeral``); deleted after.
    Mounts still active then lose their volume: their commits fail."""
    del client, create_options, _heartbeat_sleep
    emulator = cls._emulator_for()
    if environment_name is not None:
        check_environment_name(environment_name)
    if version not in (None, 1, 2):
        raise error("InvalidError", "VolumeFS version must be either 1 or 2")
    store = emulator._create_ephemeral_volume(version)
    handle = cls(emulator, None, lookup=lambda: emulator._volume_by_id(store.object_id))
    handle._store_cache = store
    try:
        yield handle
    finally:
        emulator._delete_ephemeral(store)


class EmulatedVolume:
    """A handle on an emulated volume, with ``modal.Volume``'s public API.

    Get one with ``emulator.Volume.from_name(...)``, ``emulator.Volume.from_id(...)``
    or ``with emulator.Volume.ephemeral() as volume`` (or, with the environment
    variable ``VOLSTORE_EMULATOR_ROOT`` set, ``EmulatedVolume.from_name(...)``). Like
    Modal's, the handle is lazy: the volume is looked up (or created) on first use.

    Every method mirroring modal's has an async form, ``await volume.commit.aio()``,
    and emits ``AsyncUsageWarning`` when called blocking inside a running event loop.
    ``volume.faults`` makes its next calls fail or wait (see ``Faults``).

    One handle is one emulated container: ``with vol.mount() as m:`` mounts the volume
    at ``m.path``, and while that mount is active ``vol.commit()`` and ``vol.reload()``
    act on it. Another container is another ``from_name`` handle with its own mount,
    in this process or another one.
    """

    _bound_emulator: ClassVar[Server | None] = None

    def __init__(
        self,
        emulator: Server,
        name: str | None,
        *,
        lookup: Callable[[], VolumeStore],
        environment_name: str = "main",
    ) -> None:
        """Internal: use :meth:`from_name`, :meth:`from_id` or :meth:`ephemeral`."""
        self._emulator = emulator
        self._name = name
        self._environment_name = environment_name
        self._lookup = lookup
        self._read_only = False  # the deprecated read_only(): client writes refused
        self._mount_options: _MountOptions | None = None
        self._store_cache: VolumeStore | None = None
        self._active_mount: Mount | None = None
        self._mount_lock = threading.Lock()
        self.counters = EmulatorCounters()
        """Operation counts summed over every mount of this handle."""
        self.faults = Faults(VOLUME_OPERATIONS, f"volume {name!r}")
        """Faults for the next calls of this handle (see ``Faults``)."""

    def __repr__(self) -> str:
        options = self._mount_options
        suffix = ", read_only" if self._read_only else ""
        if options is not None:
            suffix += f", mount options {options.read_only=}, {options.sub_path=}"
        return f"EmulatedVolume({self._name!r}{suffix}) on {self._emulator!r}"

    def _fault_sources(self) -> tuple[Faults, ...]:
        return (self.faults, self._emulator.faults)

    # -- identity

    @property
    def name(self) -> str | None:
        """The volume's name (``modal.Volume.name``); None for an ephemeral volume."""
        return self._name

    @property
    def version(self) -> int:
        """1 or 2 (looks the volume up, so NotFoundError if it does not exist)."""
        return self._store().version

    @property
    def object_id(self) -> str:
        """The volume's id, ``vo-...`` (``modal.Volume.object_id``). Like Modal's,
        AttributeError until the handle is hydrated (used once, or ``hydrate()``)."""
        if self._store_cache is None:
            raise AttributeError(f"Attempting to get object_id of unhydrated {self!r}")
        return self._store_cache.object_id

    @property
    def emulator(self) -> Server:
        """The emulator (server) this handle talks to."""
        return self._emulator

    @property
    def active_mount(self) -> Mount | None:
        """The mount of this handle that is active in this process, if any."""
        return self._active_mount

    @property
    def _mount_read_only(self) -> bool:
        return self._mount_options is not None and self._mount_options.read_only

    @property
    def _mount_sub_path(self) -> str:
        options = self._mount_options
        return "" if options is None or options.sub_path is None else options.sub_path

    def _store(self) -> VolumeStore:
        # Modal hydrates lazily on first use (from_name docstring: "Hydration is lazy"),
        # so a missing volume raises NotFoundError from the first method call.
        if self._store_cache is None:
            self._store_cache = self._lookup()
        return self._store_cache

    def _check_client_writable(self) -> None:
        if self._read_only:
            raise error("InvalidError", _READ_ONLY_MESSAGE)

    def _derived(self: _V, options: _MountOptions, read_only: bool) -> _V:
        view = type(self)(
            self._emulator,
            self._name,
            lookup=self._lookup,
            environment_name=self._environment_name,
        )
        view._store_cache = self._store_cache
        view._mount_options = options
        view._read_only = read_only
        return view

    # -- constructors

    @classmethod
    def _emulator_for(cls) -> Server:
        emulator = cls._bound_emulator
        if emulator is None:
            root = os.environ.get(ROOT_ENV_VAR)
            if not root or _server_factory is None:
                raise RuntimeError(
                    "EmulatedVolume needs an emulator: use "
                    "VolumeEmulator(root).Volume.from_name(...), or set the environment "
                    f"variable {ROOT_ENV_VAR} to the emulator's root folder"
                )
            emulator = _server_factory(root)
        return emulator

    @classmethod
    def from_name(
        cls: type[_V],
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        version: int | None = None,
        create_options: object | None = None,
        client: object | None = None,
    ) -> _V:
        """Reference a volume by name (mirrors ``modal.Volume.from_name``).

        Lazy like Modal's: the volume is looked up, or created when
        ``create_if_missing``, on first use, which raises ``NotFoundError`` if it
        does not exist. ``version`` is 1 or 2 (None: v1 on creation, any when it
        exists; a mismatch with an existing volume raises ``InvalidError``).
        ``environment_name`` selects a separate namespace (default "main").
        ``create_options`` and ``client`` are accepted and ignored.

        On the unbound ``EmulatedVolume`` the emulator root comes from the environment
        variable ``VOLSTORE_EMULATOR_ROOT``; RuntimeError if it is not set.
        """
        del create_options, client  # accepted for signature parity only
        emulator = cls._emulator_for()
        check_object_name(name, "Volume")
        environment = "main" if environment_name is None else environment_name
        check_environment_name(environment)
        if version not in (None, 1, 2):
            # volume.py _get_version_proto.
            raise error("InvalidError", "VolumeFS version must be either 1 or 2")

        def lookup() -> VolumeStore:
            return emulator._get_or_create(
                name, environment, create_if_missing=create_if_missing, version=version
            )

        return cls(emulator, name, lookup=lookup, environment_name=environment)

    @classmethod
    def from_id(cls: type[_V], volume_id: str, client: object | None = None) -> _V:
        """Reference a volume by its ``object_id`` (mirrors ``modal.Volume.from_id``).

        Lazy: NotFoundError on first use if no volume (named or ephemeral, still alive)
        has that id. ``client`` is accepted and ignored.
        """
        del client
        emulator = cls._emulator_for()
        handle = cls(emulator, None, lookup=lambda: emulator._volume_by_id(volume_id))

        def lookup() -> VolumeStore:
            store = emulator._volume_by_id(volume_id)
            handle._name = store.meta.get("name")
            return store

        handle._lookup = lookup
        return handle

    ephemeral = emulated_class_context(_ephemeral)

    def read_only(self: _V) -> _V:
        """A handle on the same volume whose client write methods (``remove_file``,
        ``copy_files``, ``batch_upload``) raise ``InvalidError("Read-only Volume can not
        be written to")`` and whose mounts are read-only (volume.py; silently
        deprecated in favour of ``with_mount_options(read_only=True)``).
        InvalidError on a handle that has mount options, as in volume.py."""
        if self._mount_options is not None:
            raise error(
                "InvalidError",
                "Cannot call read_only() on a Volume that has with_mount_options() applied. "
                "Use with_mount_options(read_only=True, ...) instead. Note that "
                "with_mount_options(read_only=True) only configures the server-side mount "
                "and does not block client-side Volume SDK methods.",
            )
        return self._derived(_MountOptions(read_only=True), read_only=True)

    def with_mount_options(
        self: _V,
        *,
        read_only: bool | None = None,
        sub_path: str | PurePosixPath | None = None,
    ) -> _V:
        """A handle whose mounts use these options (mirrors
        ``modal.Volume.with_mount_options``): ``read_only=True`` mounts refuse writes
        at write time (``OSError`` EROFS); ``sub_path`` mounts only that folder of the
        volume, created when the container starts if missing. The client API of the
        handle is unaffected ("only configures the server-side mount"). Options not
        given keep the handle's current ones; ``sub_path="/"`` means the whole volume.
        InvalidError on a ``read_only()`` handle, or for a ``sub_path`` leaving the
        volume."""
        if self._read_only:
            raise error(
                "InvalidError",
                "Cannot call with_mount_options() on a Volume that has .read_only() applied. "
                "Use with_mount_options(read_only=True, ...) instead. Note that "
                "with_mount_options(read_only=True) only configures the server-side mount "
                "and does not block client-side Volume SDK methods.",
            )
        current = self._mount_options or _MountOptions()
        normalized = current.sub_path
        if sub_path is not None:
            normalized = volume_relpath(PurePosixPath(sub_path).as_posix()) or None
        chosen = current.read_only if read_only is None else read_only
        return self._derived(_MountOptions(chosen, normalized), read_only=False)

    @emulated("hydrate")
    def hydrate(self, client: object | None = None) -> EmulatedVolume:
        """Look the volume up now (mirrors ``hydrate``); NotFoundError if missing."""
        del client
        self._store()
        return self

    @emulated("info")
    def info(self) -> VolumeInfo:
        """The volume's name and creation time (mirrors ``Volume.info``)."""
        store = self._store()
        return VolumeInfo(store.meta.get("name"), created_at(store.meta["created_at"]), None)

    # -- container-side API

    def mount(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        background_commit_interval: float | _Default | None = EMULATOR_DEFAULT,
        reload_commits: bool | None = None,
        commit_refreshes: bool | None = None,
    ) -> Mount:
        """Emulate a container that mounts this volume; use as a context manager.

        Args:
            path: local folder to mount at: missing or empty; default a fresh folder
                under the emulator root. Removed (or emptied, if it existed) on exit.
            background_commit_interval: seconds between background commits, on by
                default as on Modal (modal-volumes.md: "Modal also commits every few
                seconds while the function runs"); the default is the emulator's
                (20 ms unless set); None turns them off.
            reload_commits: whether ``reload()`` first commits pending changes (else
                they stay pending); None takes the emulator's default (True).
            commit_refreshes: whether ``commit()`` also refreshes the view (not what
                Modal does; for running a suite under both); None takes the emulator's
                default (False).
        """
        emulator = self._emulator
        interval = (
            emulator.background_commit_interval
            if isinstance(background_commit_interval, _Default)
            else background_commit_interval
        )
        return Mount(
            self,
            path,
            background_commit_interval=interval,
            reload_commits=emulator.reload_commits if reload_commits is None else reload_commits,
            commit_refreshes=(
                emulator.commit_refreshes if commit_refreshes is None else commit_refreshes
            ),
        )

    def _require_mount(self, method: str) -> Mount:
        mount = self._active_mount
        if mount is None:
            # volume.py: commit/reload "Must be called inside a container that mounts the
            # Volume"; modal-volumes.md: "commit() and reload() are for containers only".
            raise RuntimeError(
                f"Volume.{method}() must be called inside a container that mounts the volume "
                f"'{self._name}': no emulated mount of this handle is active "
                "(use `with vol.mount() as mount: ...`)"
            )
        return mount

    @emulated("commit")
    def commit(self) -> None:
        """Publish the active mount's changes (``Volume.commit``); the view is not
        refreshed. RuntimeError outside a mount or when the commit fails. See
        :meth:`Mount.commit`."""
        self._require_mount("commit").commit()

    @emulated("reload")
    def reload(self) -> None:
        """Bring the active mount's view to the latest committed state
        (``Volume.reload``). RuntimeError outside a mount, or when files under the
        mount are open. See :meth:`Mount.reload`."""
        self._require_mount("reload").reload()

    # -- client API (acts on the committed state)

    @staticmethod
    def _entry(rel: str, st: os.stat_result) -> FileEntry:
        if stat.S_ISDIR(st.st_mode):
            # Guess: Modal's listing reports directory sizes the server knows; report 0
            # so listings do not depend on the local file system.
            return FileEntry(rel, FileEntryType.DIRECTORY, int(st.st_mtime), 0)
        if stat.S_ISREG(st.st_mode):
            return FileEntry(rel, FileEntryType.FILE, int(st.st_mtime), st.st_size)
        return FileEntry(rel, FileEntryType.UNSPECIFIED, int(st.st_mtime), st.st_size)

    def _list(self, path: str, recursive: bool) -> list[FileEntry]:
        check_glob(path)
        rel = volume_relpath(path)
        store = self._store()
        with store.locked(exclusive=False):
            try:
                top = os.stat(store.path_of(rel), follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                # Guess, after the modal-client test servicer's VolumeListFiles, which
                # answers NOT_FOUND ("No such file") for a missing path; the client
                # surfaces that as modal.exception.NotFoundError.
                raise error("NotFoundError", f"No such file or directory: '{path}'") from None
            if not stat.S_ISDIR(top.st_mode):
                # iterdir docstring: "For a file path, return only that file's description."
                return [self._entry(rel, top)]
            entries: list[FileEntry] = []
            self._collect(store, rel, recursive, entries)
            return entries

    def _collect(
        self, store: VolumeStore, rel_dir: str, recursive: bool, out: list[FileEntry]
    ) -> None:
        with os.scandir(store.path_of(rel_dir)) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            st = child.stat(follow_symlinks=False)
            out.append(self._entry(rel, st))
            if recursive and stat.S_ISDIR(st.st_mode):
                self._collect(store, rel, recursive, out)

    @emulated_generator("iterdir")
    def iterdir(self, path: str, *, recursive: bool = True) -> Iterator[FileEntry]:
        """Yield the entries under ``path`` (mirrors ``Volume.iterdir``; note the default
        ``recursive=True``, unlike ``listdir``).

        A folder yields its children (all descendants, folders included, when
        ``recursive``), sorted by path; a file yields its own entry. As in Modal (an
        async generator underneath) errors surface on first iteration: InvalidError for
        a glob suffix ("*" or "**") or a path escaping the volume, NotFoundError for a
        missing path. The listing is taken at first iteration, as one snapshot.
        """
        yield from self._list(path, recursive)

    @emulated("listdir")
    def listdir(self, path: str, *, recursive: bool = False) -> list[FileEntry]:
        """List the entries under ``path`` (mirrors ``Volume.listdir``; default
        ``recursive=False``). Same entries and errors as :meth:`iterdir`."""
        return self._list(path, recursive)

    @emulated_generator("read_file")
    def read_file(self, path: str) -> Iterator[bytes]:
        """Yield the committed content of file ``path`` in blocks of up to 8 MiB
        (mirrors ``Volume.read_file``).

        modal-volumes.md: "missing file: FileNotFoundError on first iteration"; a
        folder is also FileNotFoundError (guess: the server has no such *file*). The
        version read is the one committed at first iteration, even if a commit
        replaces the file while reading.
        """
        yield from self._read_blocks(path)

    def _read_blocks(self, path: str) -> Iterator[bytes]:
        fd = self._open_committed(path)
        try:
            while block := os.read(fd, BLOCK_SIZE):
                yield block
        finally:
            os.close(fd)

    def _open_committed(self, path: str) -> int:
        rel = volume_relpath(path)
        store = self._store()
        with store.locked(exclusive=False):
            try:
                fd = os.open(store.path_of(rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError):
                raise FileNotFoundError(errno.ENOENT, "No such file", path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FileNotFoundError(errno.ENOENT, "No such file", path)
        return fd

    @emulated("read_file_into_fileobj")
    def read_file_into_fileobj(
        self,
        path: str,
        fileobj: IO[bytes],
        progress_cb: Callable[..., Any] | None = None,
    ) -> int:
        """Write file ``path`` into ``fileobj`` from its current position; return the
        number of bytes (mirrors ``Volume.read_file_into_fileobj``, which also calls
        ``progress_cb(advance=n)`` as bytes arrive and leaves the position at the end).
        FileNotFoundError for a missing file."""
        start = fileobj.tell()
        total = 0
        for block in self._read_blocks(path):
            view = memoryview(block)
            while view:
                written = fileobj.write(view)
                if not written:
                    raise OSError("File object write made no progress")  # volume.py wording
                view = view[written:]
            total += len(block)
            if progress_cb is not None:
                progress_cb(advance=len(block))
        fileobj.seek(start + total)
        return total

    @emulated("remove_file")
    def remove_file(self, path: str, recursive: bool = False) -> None:
        """Remove a file, or a folder with ``recursive=True`` (``Volume.remove_file``).

        FileNotFoundError if missing (modal-volumes.md); InvalidError on a ``read_only()``
        handle, for the volume root, and (guess: Modal's server rejects it) for a
        folder without ``recursive``.
        """
        self._check_client_writable()
        rel = volume_relpath(path)
        if not rel:
            raise error("InvalidError", "cannot remove the root of a volume")
        store = self._store()
        with store.locked(exclusive=True):
            target = store.path_of(rel)
            if not os.path.lexists(target):
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
            is_dir = os.path.isdir(target) and not os.path.islink(target)
            if is_dir and not recursive:
                raise error("InvalidError", f"{path} is a directory; pass recursive=True")
            txn = store.begin()
            if is_dir:
                txn.remove_tree(rel)
            else:
                txn.delete(rel)
            commit_client_transaction(store, txn)

    @emulated("copy_files")
    def copy_files(self, src_paths: Sequence[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files inside the volume with ``cp`` semantics (``Volume.copy_files``).

        With several sources, or a ``dst_path`` ending in "/" or naming an existing
        folder, each source is copied into that folder (created if missing); otherwise
        the single source is copied to ``dst_path``. Folders need ``recursive=True``,
        which v1 volumes refuse with ValueError (volume.py). A missing source raises
        NotFoundError (volume.py does not translate the server's NotFoundError here).
        InvalidError on a ``read_only()`` handle.
        """
        self._check_client_writable()
        store = self._store()
        if store.version == 1 and recursive:
            raise ValueError("`recursive` is not supported for V1 volumes")
        sources = [volume_relpath(p) for p in src_paths]
        if not sources:
            raise error("InvalidError", "copy_files needs at least one source path")
        if any(not s for s in sources):
            raise error("InvalidError", "cannot copy the root of a volume")
        dst = volume_relpath(dst_path)
        with store.locked(exclusive=True):
            dst_is_dir = os.path.isdir(store.path_of(dst))
            into_folder = len(sources) > 1 or dst_path.endswith("/") or dst_is_dir or not dst
            if into_folder and os.path.lexists(store.path_of(dst)) and not dst_is_dir:
                raise error("InvalidError", f"target '{dst_path}' is not a directory")
            txn = store.begin()
            try:
                for src, raw in zip(sources, src_paths, strict=True):
                    stage_copy(store, txn, src, raw, dst, into_folder, recursive)
            except BaseException:
                txn.discard()
                raise
            commit_client_transaction(store, txn)

    @emulated_context("batch_upload")
    @contextlib.contextmanager
    def batch_upload(self, force: bool = False) -> Iterator[EmulatedUploadBatch]:
        """Upload files atomically (mirrors ``Volume.batch_upload``; ``with`` or
        ``async with volume.batch_upload.aio()``).

        Yields an :class:`EmulatedUploadBatch`. Everything uploads when the block exits
        without error, nothing when it raises (modal-volumes.md). Parent folders are
        created. Without ``force`` an existing file at a target raises FileExistsError
        and nothing is uploaded; a folder (or a file where a parent folder is needed) is
        never overwritten (FileExistsError, guess after the docstring "you cannot
        overwrite existing directories with uploaded files regardless"). A missing local
        file raises FileNotFoundError. InvalidError on a ``read_only()`` handle; OSError
        ENOSPC when a v1 volume would exceed its inode limit.
        """
        self._check_client_writable()
        store = self._store()
        batch = EmulatedUploadBatch()
        yield batch
        point = FaultPoint("batch_upload", self._fault_sources())
        point.before()
        entries = batch._resolved()
        if entries:
            upload(store, entries, force)
        point.after()
