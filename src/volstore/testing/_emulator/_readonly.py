"""Read-only mounts whose writes the OS refuses with EROFS, as in a Modal container.

On Modal, a volume mounted with ``with_mount_options(read_only=True)`` refuses every
write at once: ``OSError: [Errno 30] Read-only file system`` (modal-volumes.md). The
emulated mount is a real local folder, so the emulator asks the kernel for the same
refusal: the container's files live in a hidden data folder, and the mount path is a
read-only bind mount of it (``mount --bind`` then ``remount,bind,ro``, by ``mount(2)``
through ctypes). The emulator refreshes the view through the data folder; user code
sees the mount path, where ``open(..., "w")``, ``mkdir``, ``unlink``, ``rename`` and
``utime`` fail with EROFS.

Making a bind mount needs CAP_SYS_ADMIN (root, in most CI containers). The mount is
always removed: when the mount context exits or is killed, at interpreter exit
(``atexit``), and, if the process dies without running either (SIGKILL), by a small
watchdog process that unmounts what is left when its pipe from this process closes.
An emulator opening a root also removes mounts left by dead processes (recorded in
``containers/*.owner``). So no mount outlives the test that made it, and pytest can
delete its temporary folders.

Where the process may not mount (EPERM), the fallback is permission bits: folders
0555 and files 0444, so an unprivileged process gets ``PermissionError`` (EACCES, not
EROFS) at write time. A privileged process ignores permission bits; for it the
refusal comes at ``commit()`` as ``OSError(EROFS)``. ``Mount.read_only_mode`` says
which of "bind-mount", "permissions" and "commit" is in force.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Literal

ReadOnlyMode = Literal["bind-mount", "permissions", "commit"]

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

_WATCHDOG = r"""
import ctypes, ctypes.util, sys
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
paths = set()
for line in sys.stdin.buffer:
    line = line.rstrip(b"\n")
    if line[:1] == b"+":
        paths.add(line[1:])
    elif line[:1] == b"-":
        paths.discard(line[1:])
for path in sorted(paths, reverse=True):
    libc.umount2(path, 2)
"""

_lock = threading.Lock()
_active: set[str] = set()
_watchdog: subprocess.Popen[bytes] | None = None
_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_void_p,
        ]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return _libc


def _mount(source: str | None, target: str, flags: int) -> None:
    result = _c().mount(
        None if source is None else os.fsencode(source), os.fsencode(target), None, flags, None
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), target)


def _umount(target: str) -> None:
    # Lazy (MNT_DETACH): succeeds even while user code still holds a file open there.
    _c().umount2(os.fsencode(target), MNT_DETACH)


def _tell_watchdog(line: str) -> None:
    """Send a line to the watchdog (started on first use); a dead watchdog is replaced."""
    global _watchdog
    for _attempt in range(2):
        if _watchdog is None or _watchdog.poll() is not None:
            _watchdog = subprocess.Popen(
                [sys.executable, "-S", "-c", _WATCHDOG],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                start_new_session=True,  # survives a kill of this process group
            )
            for target in _active:  # a replacement must know what is mounted
                _write(_watchdog, "+" + target)
        try:
            _write(_watchdog, line)
            return
        except (BrokenPipeError, OSError):
            _watchdog = None


def _write(process: subprocess.Popen[bytes], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(os.fsencode(line) + b"\n")
    process.stdin.flush()


def _forget_in_child() -> None:
    """A forked child owns none of its parent's mounts: its exit must not remove them."""
    global _watchdog, _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    _active.clear()
    _watchdog = None


os.register_at_fork(after_in_child=_forget_in_child)


@atexit.register
def _unmount_everything() -> None:
    """At interpreter exit: remove every bind mount still active, stop the watchdog."""
    global _watchdog
    with _lock:
        for target in sorted(_active, reverse=True):
            _umount(target)
        _active.clear()
        if _watchdog is not None:
            with contextlib.suppress(OSError):
                assert _watchdog.stdin is not None
                _watchdog.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                _watchdog.wait(timeout=10)
            _watchdog = None


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[19]  # field 22: starttime
    except (FileNotFoundError, IndexError, ProcessLookupError, PermissionError):
        return None


def _mount_points() -> set[str]:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return set()
    # Field 5 is the mount point, with spaces and backslashes escaped as octal.
    return {
        line.split()[4].encode().decode("unicode_escape") for line in lines if line.count(" ") >= 5
    }


def sweep_dead_owners(containers_dir: Path) -> None:
    """Remove read-only bind mounts (and their data) left by processes that died."""
    try:
        owners = [p for p in containers_dir.iterdir() if p.name.endswith(".owner")]
    except FileNotFoundError:
        return
    if not owners:
        return
    mounted = _mount_points()
    for owner in owners:
        try:
            record = json.loads(owner.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _process_start(int(record["pid"])) == record["start"]:
            continue  # its process lives: the mount is in use
        if record["target"] in mounted:
            _umount(record["target"])
        shutil.rmtree(record["data"], ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            owner.unlink()


def _permissions_refuse_writes(folder: Path) -> bool:
    """Whether permission bits stop this process from writing (not for root)."""
    probe = folder / f".volstore-probe-{uuid.uuid4().hex}"
    probe.mkdir(mode=0o700)
    try:
        probe.chmod(0o555)
        try:
            fd = os.open(probe / "x", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except PermissionError:
            return True
        os.close(fd)
        os.unlink(probe / "x")
        return False
    finally:
        probe.chmod(0o700)
        shutil.rmtree(probe, ignore_errors=True)


class ReadOnlyGuard:
    """Makes a mount's view refuse writes; ``release()`` undoes it (idempotent).

    ``data`` is the folder the emulator writes the view into; ``view`` the mount
    path user code sees (the same folder unless the mode is "bind-mount").
    """

    def __init__(self, mode: ReadOnlyMode, data: Path, view: Path, owner: Path | None) -> None:
        self.mode = mode
        self.data = data
        self.view = view
        self._owner = owner
        self._mounted = False

    @classmethod
    def create(cls, view: Path, containers_dir: Path) -> ReadOnlyGuard:
        """Prepare a read-only view at ``view`` (an existing empty folder): a bind mount
        of a new data folder if this process may mount, else permission bits."""
        if sys.platform.startswith("linux"):
            token = uuid.uuid4().hex
            data = containers_dir / f"{token}.data"
            data.mkdir()
            owner = containers_dir / f"{token}.owner"
            start = _process_start(os.getpid())
            record = {"pid": os.getpid(), "start": start, "target": str(view), "data": str(data)}
            owner.write_text(json.dumps(record), encoding="utf-8")
            guard = cls("bind-mount", data, view, owner)
            try:
                guard._bind()
                return guard
            except OSError as exc:
                guard.release()
                if exc.errno not in (errno.EPERM, errno.EACCES, errno.ENOSYS):
                    raise
        mode: ReadOnlyMode = "permissions" if _permissions_refuse_writes(view) else "commit"
        return cls(mode, view, view, None)

    def _bind(self) -> None:
        target = str(self.view)
        with _lock:
            _tell_watchdog("+" + target)  # first: a kill right after mounting is covered
            _mount(str(self.data), target, MS_BIND)
            _active.add(target)
            self._mounted = True
        with contextlib.suppress(OSError):
            _mount(None, target, MS_PRIVATE)  # do not propagate to peer namespaces
        _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)

    def lock_down(self) -> None:
        """After the view was (re)filled: make it refuse writes (permissions mode)."""
        if self.mode == "permissions":
            _chmod_tree(self.data, writable=False)

    def open_up(self) -> None:
        """Before the emulator refreshes the view (permissions mode)."""
        if self.mode == "permissions":
            _chmod_tree(self.data, writable=True)

    def release(self) -> None:
        """Remove the bind mount and the data folder, or restore permissions."""
        if self._mounted:
            target = str(self.view)
            with _lock:
                _umount(target)
                _active.discard(target)
                _tell_watchdog("-" + target)
                self._mounted = False
        if self.mode == "bind-mount":
            shutil.rmtree(self.data, ignore_errors=True)
            if self._owner is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._owner.unlink()
        elif self.mode == "permissions":
            _chmod_tree(self.data, writable=True)


def _chmod_tree(base: Path, *, writable: bool) -> None:
    for folder, dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                os.chmod(path, (mode | 0o200) if writable else (mode & ~0o222))
        for name in dirs:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(os.path.join(folder, name), 0o755 if writable else 0o555)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(base, 0o755 if writable else 0o555)
