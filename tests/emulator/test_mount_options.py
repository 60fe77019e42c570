"""Read-only and sub_path mounts (``Volume.with_mount_options``), as a Modal container has.

Sources: modal-volumes.md ("Inside a container a read-only mount refuses writes at
write time with OSError: [Errno 30] Read-only file system (EROFS), not at commit";
"sub_path mounts one folder of the volume") and modal/volume.py
``with_mount_options`` and ``read_only``.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from volstore.testing import EmulatedVolume, VolumeEmulator
from volstore.testing._emulator import _readonly
from volstore.testing.errors import InvalidError

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


def upload(volume: EmulatedVolume, files: dict[str, str]) -> None:
    with volume.batch_upload(force=True) as batch:
        for remote, text in files.items():
            batch.put_file(io.BytesIO(text.encode()), remote)


def committed(volume: EmulatedVolume) -> dict[str, str]:
    return {
        e.path: b"".join(volume.read_file(e.path)).decode()
        for e in volume.listdir("/", recursive=True)
        if e.type == 1
    }


def mount_points() -> set[str]:
    return _readonly._mount_points()


def refused(action: Callable[[], object]) -> OSError:
    """The OSError ``action`` raises (EROFS or EACCES: the caller checks which)."""
    try:
        action()
    except OSError as exc:
        return exc
    pytest.fail("the write was not refused")


# ------------------------------------------------------------------------- read-only


def test_a_read_only_mount_refuses_writes_at_write_time_with_erofs(
    volume: EmulatedVolume,
) -> None:
    """modal-volumes.md: "a read-only mount refuses writes at write time with OSError:
    [Errno 30] Read-only file system (EROFS), not at commit" (the emulator makes a
    read-only bind mount; we run as root, as CI does)."""
    upload(volume, {"a.txt": "a", "dir/b.txt": "b"})
    read_only = volume.with_mount_options(read_only=True)
    with read_only.mount(background_commit_interval=None) as mount:
        assert mount.read_only
        assert mount.read_only_mode == ("bind-mount" if IS_ROOT else "permissions")
        assert (mount.path / "a.txt").read_text() == "a"
        expected = errno.EROFS if IS_ROOT else errno.EACCES
        actions: list[Callable[[], object]] = [
            lambda: (mount.path / "new.txt").write_text("x"),
            lambda: (mount.path / "a.txt").write_text("x"),
            lambda: (mount.path / "newdir").mkdir(),
            lambda: (mount.path / "a.txt").unlink(),
            lambda: os.rename(mount.path / "a.txt", mount.path / "c.txt"),
            lambda: (mount.path / "dir" / "b.txt").unlink(),
        ]
        if IS_ROOT:  # the owner may change times and modes of its files otherwise
            actions.append(lambda: os.utime(mount.path / "a.txt", (1, 1)))
        for action in actions:
            assert refused(action).errno == expected
        read_only.commit()  # nothing to publish: a round trip
    assert committed(volume) == {"a.txt": "a", "dir/b.txt": "b"}


def test_read_only_alias_mounts_read_only_and_blocks_client_writes(
    volume: EmulatedVolume,
) -> None:
    """modal/volume.py ``read_only``: silently deprecated in favour of
    ``with_mount_options(read_only=True)``; its client writes raise InvalidError."""
    upload(volume, {"a.txt": "a"})
    alias = volume.read_only()
    with pytest.raises(InvalidError, match="Read-only Volume can not be written to"):
        alias.remove_file("a.txt")
    with alias.mount(background_commit_interval=None) as mount:
        assert mount.read_only
        if IS_ROOT:
            assert refused(lambda: (mount.path / "x.txt").write_text("x")).errno == errno.EROFS


def test_mount_options_do_not_block_the_client_api(volume: EmulatedVolume) -> None:
    """modal/volume.py: with_mount_options(read_only=True) "only configures the
    server-side mount and does not block client-side Volume SDK methods"."""
    handle = volume.with_mount_options(read_only=True)
    upload(handle, {"a.txt": "a"})
    handle.remove_file("a.txt")
    assert handle.listdir("/") == []


def test_read_only_and_mount_options_exclude_each_other(volume: EmulatedVolume) -> None:
    """modal/volume.py: "Cannot call read_only() on a Volume that has
    with_mount_options() applied" and the reverse."""
    with pytest.raises(InvalidError, match="Cannot call read_only"):
        volume.with_mount_options(sub_path="x").read_only()
    with pytest.raises(InvalidError, match="Cannot call with_mount_options"):
        volume.read_only().with_mount_options(read_only=True)


def test_a_read_only_mount_sees_other_commits_after_reload(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: a container "never sees other containers' commits until it
    reloads"; a read-only container reloads like any other."""
    upload(volume, {"a.txt": "v1"})
    reader = emulator.Volume.from_name("vol").with_mount_options(read_only=True)
    with reader.mount(background_commit_interval=None) as mount:
        upload(volume, {"a.txt": "v2", "b.txt": "new"})
        assert (mount.path / "a.txt").read_text() == "v1"
        reader.reload()
        assert (mount.path / "a.txt").read_text() == "v2"
        assert (mount.path / "b.txt").read_text() == "new"
        volume.remove_file("b.txt")
        reader.reload()
        assert not (mount.path / "b.txt").exists()


@pytest.mark.parametrize("ending", ["exit", "raise", "kill"])
def test_the_bind_mount_is_always_removed(
    volume: EmulatedVolume, tmp_path: Path, ending: str
) -> None:
    """Never leave a mount behind: it would break pytest's removal of tmp_path."""
    given = tmp_path / "ro"
    handle = volume.with_mount_options(read_only=True)

    class Boom(Exception):
        pass

    mount = handle.mount(given, background_commit_interval=None)
    with pytest.raises(Boom) if ending == "raise" else _nothing(), mount:
        if IS_ROOT:
            assert str(given.resolve()) in mount_points()
        if ending == "kill":
            mount.kill()
        if ending == "raise":
            raise Boom
    assert str(given.resolve()) not in mount_points()
    assert not given.exists()
    shutil.rmtree(tmp_path / "emulator")  # what pytest's clean-up does later


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


_KILLED_CHILD = textwrap.dedent(
    """
    import sys, time
    from volstore.testing import VolumeEmulator
    volume = VolumeEmulator(sys.argv[1]).Volume.from_name("vol", create_if_missing=True)
    mount = volume.with_mount_options(read_only=True).mount(sys.argv[2])
    mount.__enter__()
    print(mount.read_only_mode, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.skipif(not IS_ROOT, reason="a bind mount needs CAP_SYS_ADMIN")
def test_a_sigkilled_process_leaves_no_mount_behind(tmp_path: Path) -> None:
    """The watchdog process unmounts what a SIGKILLed process left (no atexit runs)."""
    target = tmp_path / "ro"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(tmp_path / "emu"), str(target)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "bind-mount"
    assert str(target) in mount_points()
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    deadline = time.monotonic() + 30
    while str(target) in mount_points():
        assert time.monotonic() < deadline, "the watchdog did not unmount"
        time.sleep(0.02)
    VolumeEmulator(tmp_path / "emu")  # sweeps the dead owner's data folder
    assert not list((tmp_path / "emu" / "containers").iterdir())
    shutil.rmtree(tmp_path / "emu")
    shutil.rmtree(target)


@pytest.mark.skipif(not IS_ROOT, reason="a bind mount needs CAP_SYS_ADMIN")
def test_an_emulator_sweeps_mounts_of_dead_processes(tmp_path: Path) -> None:
    """A mount whose watchdog died too (recorded in containers/*.owner) is removed by
    the next emulator opening the root."""
    emulator = VolumeEmulator(tmp_path / "emu")
    target = tmp_path / "ro"
    target.mkdir()
    guard = _readonly.ReadOnlyGuard.create(target, emulator._containers)
    assert str(target) in mount_points()
    # Make the mount look like a dead process's: forget it here, rewrite the owner.
    with _readonly._lock:
        _readonly._active.discard(str(target))
        _readonly._tell_watchdog("-" + str(target))
    guard._mounted = False
    owner = next(emulator._containers.glob("*.owner"))
    owner.write_text(owner.read_text().replace(f'"pid": {os.getpid()}', '"pid": 999999999'))
    VolumeEmulator(tmp_path / "emu")
    assert str(target) not in mount_points()
    assert not list(emulator._containers.iterdir())


def test_without_permission_to_mount_permission_bits_or_the_commit_refuse(
    volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented fallback where the process may not mount (EPERM): permission bits
    (EACCES at write time) for an unprivileged process; for a privileged one, which
    ignores them, ``commit()`` raises OSError EROFS if anything was written."""

    def no_mount(*args: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(_readonly, "_mount", no_mount)
    upload(volume, {"a.txt": "a"})
    handle = volume.with_mount_options(read_only=True)
    with handle.mount(background_commit_interval=None) as mount:
        assert mount.read_only_mode == ("commit" if IS_ROOT else "permissions")
        if IS_ROOT:
            (mount.path / "b.txt").write_text("written anyway")
            with pytest.raises(OSError, match="Read-only file system") as info:
                handle.commit()
            assert info.value.errno == errno.EROFS
        else:
            assert refused(lambda: (mount.path / "b.txt").write_text("x")).errno == errno.EACCES
        upload(volume, {"c.txt": "c"})
        if not IS_ROOT:
            handle.reload()
            assert (mount.path / "c.txt").read_text() == "c"
    assert "b.txt" not in committed(volume)


def test_permission_bits_make_a_view_read_only(tmp_path: Path) -> None:
    """The permissions fallback itself: folders 0555, files 0444, undone on release."""
    view = tmp_path / "view"
    (view / "d").mkdir(parents=True)
    (view / "d" / "f.txt").write_text("x")
    guard = _readonly.ReadOnlyGuard("permissions", view, view, None)
    guard.lock_down()
    assert (view / "d").stat().st_mode & 0o777 == 0o555
    assert (view / "d" / "f.txt").stat().st_mode & 0o222 == 0
    guard.release()
    assert (view / "d").stat().st_mode & 0o200
    shutil.rmtree(view)


# --------------------------------------------------------------------------- sub_path


def test_a_sub_path_mount_shows_and_writes_one_folder(volume: EmulatedVolume) -> None:
    """modal/volume.py ``with_mount_options``: "Only mount this sub_path directory from
    the Volume" (``sub_path="/users/my_user"``, ``os.listdir`` lists data from it)."""
    upload(volume, {"users/ada/a.txt": "a", "users/bob/b.txt": "b", "top.txt": "t"})
    handle = volume.with_mount_options(sub_path="/users/ada")
    with handle.mount(background_commit_interval=None) as mount:
        assert mount.sub_path == "users/ada"
        assert sorted(os.listdir(mount.path)) == ["a.txt"]
        (mount.path / "new.txt").write_text("n")
        (mount.path / "a.txt").unlink()
        handle.commit()
    assert committed(volume) == {"users/ada/new.txt": "n", "users/bob/b.txt": "b", "top.txt": "t"}


def test_a_missing_sub_path_is_created_when_the_container_starts(volume: EmulatedVolume) -> None:
    """modal/volume.py: "If the directory doesn't exist in the Volume, it will be created
    when the container starts up"."""
    with volume.with_mount_options(sub_path="a/b").mount(background_commit_interval=None):
        assert [(e.path, e.type) for e in volume.listdir("/", recursive=True)] == [
            ("a", 2),
            ("a/b", 2),
        ]


def test_a_sub_path_mount_reloads_only_its_folder(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    upload(volume, {"mine/x.txt": "1"})
    handle = emulator.Volume.from_name("vol").with_mount_options(sub_path="mine")
    with handle.mount(background_commit_interval=None) as mount:
        upload(volume, {"mine/x.txt": "2", "other/y.txt": "y", "z.txt": "z"})
        handle.reload()
        assert sorted(os.listdir(mount.path)) == ["x.txt"]
        assert (mount.path / "x.txt").read_text() == "2"
        assert mount.counters.files_fetched == 2  # mounting, then x.txt once


def test_sub_path_options(volume: EmulatedVolume) -> None:
    """modal/volume.py ``with_mount_options``: '"/" means whole volume (same as None)';
    options not given keep the current ones."""
    upload(volume, {"f": "file"})
    assert volume.with_mount_options(sub_path="/")._mount_sub_path == ""
    both = volume.with_mount_options(sub_path="d").with_mount_options(read_only=True)
    assert (both._mount_sub_path, both._mount_read_only) == ("d", True)
    with pytest.raises(InvalidError):
        volume.with_mount_options(sub_path="../escape")
    with pytest.raises(InvalidError, match="not a folder"):
        volume.with_mount_options(sub_path="f/inside").mount().__enter__()


def test_read_only_sub_path_mount(volume: EmulatedVolume) -> None:
    upload(volume, {"d/a.txt": "a"})
    handle = volume.with_mount_options(read_only=True, sub_path="d")
    with handle.mount(background_commit_interval=None) as mount:
        assert sorted(os.listdir(mount.path)) == ["a.txt"]
        if IS_ROOT:
            assert refused(lambda: (mount.path / "b.txt").write_text("b")).errno == errno.EROFS
