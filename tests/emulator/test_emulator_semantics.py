"""The emulator behaves like a Modal Volume.

Each test cites the line of ``/work/shared/design/modal-volumes.md`` (written
"modal-volumes.md") or of the installed ``modal/volume.py`` that it checks.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from volstore.testing import _emulator
from volstore.testing._emulator import (
    EmulatedVolume,
    FileEntry,
    FileEntryType,
    Mount,
    VolumeEmulator,
    _committed,
    _volume,
)
from volstore.testing.errors import InvalidError, NotFoundError

# --------------------------------------------------------------------------- helpers


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds.

    The bound only keeps a broken build from hanging: no test asserts on speed.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)


def write_atomically(path: Path, text: str) -> None:
    """modal-volumes.md: "Write each object atomically (temporary file in the same
    directory, then os.replace)"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_text(volume: EmulatedVolume, path: str) -> str:
    """The committed content of ``path`` through the client API."""
    return b"".join(volume.read_file(path)).decode()


def committed_paths(volume: EmulatedVolume) -> set[str]:
    return {e.path for e in volume.listdir("/", recursive=True) if e.type == FileEntryType.FILE}


def upload(volume: EmulatedVolume, files: dict[str, str]) -> None:
    with volume.batch_upload(force=True) as batch:
        for remote, text in files.items():
            batch.put_file(io.BytesIO(text.encode()), remote)


def container(volume: EmulatedVolume, **kwargs: object) -> Mount:
    """A container mount without background commits (deterministic) unless asked."""
    kwargs.setdefault("background_commit_interval", None)
    return volume.mount(**kwargs)  # type: ignore[arg-type]


def second_handle(emulator: VolumeEmulator, name: str = "vol") -> EmulatedVolume:
    """modal-volumes.md: each container has its own view; a second container is a
    second from_name handle."""
    return emulator.Volume.from_name(name)


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def fds_under(folder: Path) -> list[str]:
    """The files this process holds open under ``folder``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


# ------------------------------------------------------------ inside a container: views


def test_container_sees_committed_state_at_mount_time(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: "A container sees a fixed snapshot: the latest committed state
    when it started"."""
    upload(volume, {"a.txt": "one", "dir/b.txt": "two"})
    with container(volume) as mount:
        assert (mount.path / "a.txt").read_text() == "one"
        assert (mount.path / "dir" / "b.txt").read_text() == "two"


def test_container_never_sees_other_commits_until_reload(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: "It never sees other containers' commits until it reloads,
    however much time passes"."""
    other = second_handle(emulator)
    with container(volume) as a, container(other, background_commit_interval=0.01) as b:
        write_atomically(a.path / "from_a.txt", "A")
        volume.commit()
        assert "from_a.txt" in committed_paths(volume)
        # "however much time passes": B's own background commits do not refresh it
        wait_until(lambda: b.counters.background_commits >= 3)
        assert not (b.path / "from_a.txt").exists()
        other.reload()
        assert (b.path / "from_a.txt").read_text() == "A"


def test_changes_are_invisible_to_others_until_commit(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: "volume.commit() makes this container's changes durable and
    visible to other containers (after they reload)"."""
    other = second_handle(emulator)
    with container(volume) as a, container(other) as b:
        write_atomically(a.path / "x.txt", "draft")
        assert committed_paths(volume) == set()
        other.reload()
        assert not (b.path / "x.txt").exists()
        volume.commit()
        other.reload()
        assert (b.path / "x.txt").read_text() == "draft"


def test_commit_publishes_deletes(emulator: VolumeEmulator, volume: EmulatedVolume) -> None:
    """modal-volumes.md: commit makes "this container's changes" visible; deleting a file
    is a change."""
    upload(volume, {"keep.txt": "k", "gone.txt": "g", "old/dir/f.txt": "f"})
    with container(volume) as mount:
        (mount.path / "gone.txt").unlink()
        (mount.path / "old" / "dir" / "f.txt").unlink()
        (mount.path / "old" / "dir").rmdir()
        (mount.path / "old").rmdir()
        volume.commit()
    assert [e.path for e in volume.listdir("/", recursive=True)] == ["keep.txt"]


def test_commit_publishes_new_folders_and_type_changes(volume: EmulatedVolume) -> None:
    """modal-volumes.md: commit publishes "this container's changes": empty folders and a
    file replaced by a folder (or the reverse) included."""
    upload(volume, {"thing": "file", "was_dir/x": "x"})
    with container(volume) as mount:
        (mount.path / "empty").mkdir()
        (mount.path / "thing").unlink()
        (mount.path / "thing").mkdir()
        (mount.path / "thing" / "inner.txt").write_text("inner")
        (mount.path / "was_dir" / "x").unlink()
        (mount.path / "was_dir").rmdir()
        (mount.path / "was_dir").write_text("now a file")
        volume.commit()
    entries = {e.path: e.type for e in volume.listdir("", recursive=True)}
    assert entries == {
        "empty": FileEntryType.DIRECTORY,
        "thing": FileEntryType.DIRECTORY,
        "thing/inner.txt": FileEntryType.FILE,
        "was_dir": FileEntryType.FILE,
    }


def test_commit_never_refreshes_the_view(emulator: VolumeEmulator, volume: EmulatedVolume) -> None:
    """modal-volumes.md: commit "does NOT bring other containers' commits into this
    container: the client reloads after a commit only when the server's answer lacks
    skip_reload ... every mount allows background commits"; "Only reload() brings in
    others' commits" (modal/volume.py ``commit``, modal-client PR #1133)."""
    other = second_handle(emulator)
    with container(volume) as a, container(other) as b:
        write_atomically(a.path / "from_a.txt", "A")
        volume.commit()
        write_atomically(b.path / "from_b.txt", "B")
        other.commit()
        assert not (b.path / "from_a.txt").exists(), "B's commit must not refresh B's view"
        assert b.counters.files_fetched == 0
        other.reload()
        assert (b.path / "from_a.txt").read_text() == "A"
        assert (b.path / "from_b.txt").read_text() == "B"


def test_commit_refreshes_option_restores_the_refresh(tmp_path: Path) -> None:
    """The emulator's explicit option for the other behaviour (volume.py ``commit``
    when the server's answer lacks skip_reload), so suites can run under both: on the
    emulator, on one mount, or through VOLSTORE_EMULATOR_COMMIT_REFRESHES=1."""
    emulator = VolumeEmulator(tmp_path / "emu", commit_refreshes=True)
    volume = emulator.Volume.from_name("vol", create_if_missing=True)
    other = second_handle(emulator)
    with container(volume) as a, container(other) as b:
        write_atomically(a.path / "from_a.txt", "A")
        volume.commit()
        write_atomically(b.path / "from_b.txt", "B")
        other.commit()
        assert (b.path / "from_a.txt").read_text() == "A"
        assert (b.path / "from_b.txt").read_text() == "B"
    plain = VolumeEmulator(tmp_path / "emu2")
    assert not plain.commit_refreshes
    one = plain.Volume.from_name("vol", create_if_missing=True)
    with container(one, commit_refreshes=True) as mount:
        assert mount.commit_refreshes


def test_commit_refreshes_default_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOLSTORE_EMULATOR_COMMIT_REFRESHES", "1")
    assert VolumeEmulator(tmp_path / "a").commit_refreshes
    monkeypatch.setenv("VOLSTORE_EMULATOR_COMMIT_REFRESHES", "0")
    assert not VolumeEmulator(tmp_path / "b").commit_refreshes


def test_last_writer_wins_per_file_different_files_both_survive(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: "Concurrent writers: allowed, but the last commit wins per file":
    per file, so two containers changing different files both keep their change, and a
    commit never reverts files its container did not change."""
    upload(volume, {"one.txt": "v0", "two.txt": "v0"})
    other = second_handle(emulator)
    with container(volume) as a, container(other) as b:
        write_atomically(a.path / "one.txt", "from A")
        write_atomically(b.path / "two.txt", "from B")
        volume.commit()
        other.commit()  # B still has one.txt == "v0" but did not change it
    assert read_text(volume, "one.txt") == "from A"
    assert read_text(volume, "two.txt") == "from B"


def test_last_writer_wins_same_file(emulator: VolumeEmulator, volume: EmulatedVolume) -> None:
    """modal-volumes.md: "the last commit wins per file, and 'any data the last writer
    didn't have when committing will be lost'"."""
    upload(volume, {"shared.json": "{}"})
    other = second_handle(emulator)
    with container(volume) as a, container(other) as b:
        write_atomically(a.path / "shared.json", '{"a": 1}')
        write_atomically(b.path / "shared.json", '{"b": 2}')
        volume.commit()
        assert read_text(volume, "shared.json") == '{"a": 1}'
        other.commit()
        assert read_text(volume, "shared.json") == '{"b": 2}'  # A's data is lost
        volume.reload()
        assert (a.path / "shared.json").read_text() == '{"b": 2}'


def test_commit_does_not_resurrect_files_another_container_deleted(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: last commit wins *per file*: a container that never touched a
    file does not bring it back when it commits."""
    upload(volume, {"doomed.txt": "d"})
    other = second_handle(emulator)
    with container(volume) as a, container(other) as b:
        (a.path / "doomed.txt").unlink()
        volume.commit()
        write_atomically(b.path / "unrelated.txt", "u")
        other.commit()
        other.reload()  # B sees A's delete only after a reload (commit never refreshes)
        assert not (b.path / "doomed.txt").exists()
    assert committed_paths(volume) == {"unrelated.txt"}


def test_a_second_commit_does_not_republish_unchanged_files(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: last commit wins per file; a file this container published once
    and did not change since must not overwrite another container's newer commit."""
    other = second_handle(emulator)
    with container(volume, background_commit_interval=0.01) as a, container(other) as b:
        write_atomically(a.path / "f.txt", "A")
        wait_until(lambda: "f.txt" in committed_paths(volume))
        write_atomically(b.path / "f.txt", "B")
        other.commit()
        seen = a.counters.background_commits
        wait_until(lambda: a.counters.background_commits >= seen + 2)
        assert read_text(volume, "f.txt") == "B"
        write_atomically(a.path / "g.txt", "G")
        volume.commit()
    assert read_text(volume, "f.txt") == "B"
    assert read_text(volume, "g.txt") == "G"


def test_in_place_rewrite_with_same_size_and_mtime_is_still_committed(
    volume: EmulatedVolume,
) -> None:
    """modal-volumes.md: commit publishes "this container's changes": a rewrite that keeps
    inode, size and (coarse) mtime, as happens within one clock tick, is still a change."""
    with container(volume) as mount:
        target = mount.path / "f.bin"
        target.write_bytes(b"aaaa")
        volume.commit()
        before = target.stat()
        with open(target, "r+b") as f:
            f.write(b"bbbb")
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert target.stat().st_ino == before.st_ino
        volume.commit()
    assert read_text(volume, "f.bin") == "bbbb"


def test_file_locks_do_not_exclude_other_containers(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: "No distributed file locking: fcntl.flock and mkdir-as-lock do
    not exclude other containers. A lock only works inside one container"."""
    import fcntl

    other = second_handle(emulator)
    with container(volume) as a, container(other) as b:
        (a.path / "lockdir").mkdir()
        (b.path / "lockdir").mkdir()  # no FileExistsError: B cannot see A's folder
        with open(a.path / "lock", "w") as lock_a, open(b.path / "lock", "w") as lock_b:
            fcntl.flock(lock_a, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock_b, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if shared
            with open(a.path / "lock", "w") as again, pytest.raises(BlockingIOError):
                fcntl.flock(again, fcntl.LOCK_EX | fcntl.LOCK_NB)  # inside one container


def test_concurrent_containers_committing_distinct_files_lose_nothing(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: "Concurrent writers: allowed" and (v2) "hundreds, on distinct
    files": explicit and background commits of several containers interleave safely."""
    handles = [volume, second_handle(emulator), second_handle(emulator)]
    with (
        container(handles[0], background_commit_interval=0.005) as m0,
        container(handles[1], background_commit_interval=0.005) as m1,
        container(handles[2], background_commit_interval=0.005) as m2,
    ):
        for i in range(15):
            for n, (handle, mount) in enumerate(zip(handles, [m0, m1, m2], strict=True)):
                write_atomically(mount.path / f"c{n}" / f"{i}.txt", f"{n}-{i}")
                if i % 5 == 4:
                    handle.commit()
        assert m0.errors == m1.errors == m2.errors == []
    expected = {f"c{n}/{i}.txt" for n in range(3) for i in range(15)}
    assert committed_paths(volume) == expected
    assert read_text(volume, "c2/14.txt") == "2-14"


# ------------------------------------------------------------------ reload and open files


def test_reload_fails_while_a_file_is_open(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "volume.reload() fails with RuntimeError if any file on the
    volume is open ... message like 'there are open files preventing the operation:
    path test.txt is open'"."""
    upload(volume, {"schedules/x.json": "{}"})
    with container(volume) as mount:
        with (
            open(mount.path / "schedules" / "x.json") as handle,
            pytest.raises(RuntimeError) as info,
        ):
            volume.reload()
        assert handle.closed
        assert str(info.value) == (
            "there are open files preventing the operation: path schedules/x.json is open"
        )
        volume.reload()  # fine once the file is closed


def test_reload_fails_while_cwd_is_inside_the_volume(
    volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    """modal-volumes.md: reload fails "(or a process's working directory is inside it)";
    wording of volume.py ``_open_files_error_annotation``: "cwd is inside volume"."""
    with container(volume) as mount:
        (mount.path / "sub").mkdir()
        monkeypatch.chdir(mount.path / "sub")
        with pytest.raises(RuntimeError, match=r"open files preventing the operation: cwd is"):
            volume.reload()
        monkeypatch.undo()
        volume.reload()


def test_reload_commits_pending_changes(volume: EmulatedVolume) -> None:
    """volume.py ``reload``: "Any uncommitted changes to the volume, such as new or
    modified files, may implicitly be committed when reloading" (reload_commits=True)."""
    with container(volume) as mount:
        write_atomically(mount.path / "pending.txt", "p")
        volume.reload()
        assert read_text(volume, "pending.txt") == "p"
        assert (mount.path / "pending.txt").read_text() == "p"


def test_reload_without_reload_commits_keeps_pending_changes(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """volume.py ``reload``: "Any uncommitted changes to the volume, such as new or
    modified files, may implicitly be committed when reloading": *may* be committed,
    never discarded (no Modal source describes a reload dropping changes). With
    reload_commits=False they stay in the view, uncommitted, while others' commits
    come in; the next commit publishes them."""
    upload(volume, {"base.txt": "base", "gone.txt": "g"})
    other = second_handle(emulator)
    with container(volume, reload_commits=False) as mount, container(other) as b:
        write_atomically(mount.path / "pending.txt", "p")
        write_atomically(mount.path / "base.txt", "changed")
        (mount.path / "gone.txt").unlink()
        write_atomically(b.path / "from_b.txt", "B")
        other.commit()
        volume.reload()
        assert (mount.path / "pending.txt").read_text() == "p"
        assert (mount.path / "base.txt").read_text() == "changed"
        assert not (mount.path / "gone.txt").exists()
        assert (mount.path / "from_b.txt").read_text() == "B", "others' commits come in"
        assert committed_paths(volume) == {"base.txt", "gone.txt", "from_b.txt"}
        volume.commit()
        assert committed_paths(volume) == {"base.txt", "from_b.txt", "pending.txt"}
        assert read_text(volume, "base.txt") == "changed"


def test_reload_commits_default_comes_from_the_emulator(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emu", reload_commits=False)
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    with container(volume) as mount:
        write_atomically(mount.path / "pending.txt", "p")
        volume.reload()
        assert (mount.path / "pending.txt").read_text() == "p"
        assert committed_paths(volume) == set(), "not committed by the reload"


def test_commit_and_reload_outside_a_container_raise(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "commit() and reload() are for containers only"; volume.py:
    "Must be called inside a container that mounts the Volume"."""
    with pytest.raises(RuntimeError, match="inside a container that mounts the volume"):
        volume.commit()
    with pytest.raises(RuntimeError, match="inside a container that mounts the volume"):
        volume.reload()
    with container(volume):
        volume.commit()
    with pytest.raises(RuntimeError, match="inside a container"):
        volume.commit()


def test_commit_with_an_open_file_publishes_but_skips_the_refresh(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """With commit_refreshes=True, volume.py ``commit`` reloads after committing (when
    the server's answer lacks skip_reload); the emulator skips that refresh when files
    are open (it never raises after the data is durable)."""
    other = second_handle(emulator)
    with container(volume, commit_refreshes=True) as a, container(other) as b:
        write_atomically(b.path / "from_b.txt", "B")
        other.commit()
        with open(a.path / "log.txt", "w") as log:
            log.write("line")
            log.flush()
            volume.commit()
        assert read_text(volume, "log.txt") == "line"
        assert not (a.path / "from_b.txt").exists()
        assert a.counters.skipped_refreshes == 1


# ------------------------------------------------------- background, exit and kill commits


def test_background_commits_publish_without_refreshing_the_view(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal-volumes.md: "Modal also commits every few seconds while the function runs"
    ... and a container still "never sees other containers' commits until it reloads"."""
    other = second_handle(emulator)
    with container(volume, background_commit_interval=0.02) as a, container(other) as b:
        write_atomically(a.path / "auto.txt", "auto")
        wait_until(lambda: "auto.txt" in committed_paths(volume))
        write_atomically(b.path / "from_b.txt", "B")
        other.commit()
        seen = a.counters.background_commits
        wait_until(lambda: a.counters.background_commits >= seen + 2)
        assert not (a.path / "from_b.txt").exists()
        assert a.errors == []


def test_mount_makes_background_commits_by_default(tmp_path: Path) -> None:
    """modal-volumes.md: "Modal also commits every few seconds while the function runs"
    and every mount allows it (volume.py ``_volume_to_mount_proto``:
    ``allow_background_commits=True``): on by default, every 20 ms in the emulator;
    the emulator's ``background_commit_interval=None`` makes mounts default to none."""
    emulator = VolumeEmulator(tmp_path / "emu")
    assert emulator.background_commit_interval == 0.02
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    with volume.mount() as mount:
        assert mount.background_commit_interval == 0.02
        write_atomically(mount.path / "auto.txt", "no explicit commit")
        wait_until(lambda: "auto.txt" in committed_paths(volume))
    quiet = VolumeEmulator(tmp_path / "quiet", background_commit_interval=None)
    with quiet.Volume.from_name("v", create_if_missing=True).mount() as mount:
        assert mount.background_commit_interval is None
    with volume.mount(background_commit_interval=1.5) as mount:
        assert mount.background_commit_interval == 1.5


def test_background_commit_can_publish_a_half_written_file(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "a background commit can publish a file that is half written"."""
    with (
        container(volume, background_commit_interval=0.02) as mount,
        open(mount.path / "big.txt", "w") as f,
    ):
        f.write("first half ")
        f.flush()
        wait_until(lambda: "big.txt" in committed_paths(volume))
        assert read_text(volume, "big.txt") == "first half "
        f.write("second half")
    assert read_text(volume, "big.txt") == "first half second half"


def test_exit_commits_pending_changes(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "... and once more at container shutdown ... So uncommitted
    writes are usually NOT lost on a normal exit"."""
    with container(volume) as mount:
        write_atomically(mount.path / "late.txt", "late")
    assert read_text(volume, "late.txt") == "late"
    assert volume.counters.exit_commits == 1


def test_exit_commit_happens_when_the_function_raised(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "once more at container shutdown (also when the function
    raised)"."""
    with pytest.raises(ValueError, match="boom"), container(volume) as mount:
        write_atomically(mount.path / "before_crash.txt", "saved")
        raise ValueError("boom")
    assert read_text(volume, "before_crash.txt") == "saved"


def test_kill_loses_uncommitted_writes(volume: EmulatedVolume) -> None:
    """modal-volumes.md: uncommitted writes "are lost on SIGKILL / out-of-memory after
    the last periodic commit"."""
    with container(volume) as mount:
        write_atomically(mount.path / "committed.txt", "c")
        volume.commit()
        write_atomically(mount.path / "lost.txt", "l")
        mount.kill()
        assert not mount.path.exists()
        assert not mount.active
        with pytest.raises(RuntimeError):
            volume.commit()
    assert committed_paths(volume) == {"committed.txt"}
    assert volume.counters.exit_commits == 0


def test_kill_stops_background_commits(volume: EmulatedVolume) -> None:
    """modal-volumes.md: SIGKILL loses what came "after the last periodic commit": no
    periodic commit runs after the kill."""
    with container(volume, background_commit_interval=0.02) as mount:
        write_atomically(mount.path / "early.txt", "e")
        wait_until(lambda: "early.txt" in committed_paths(volume))
        mount.kill()
        commits = mount.counters.background_commits
        assert mount._thread is not None
        assert not mount._thread.is_alive()
    assert mount.counters.background_commits == commits


def test_mount_folder_is_removed_and_no_file_handles_are_left_open(
    volume: EmulatedVolume, tmp_path: Path
) -> None:
    """modal-volumes.md: "Never keep files open across operations": the emulator keeps
    none itself, and cleans up its container folders."""
    upload(volume, {"a.txt": "a"})
    before = open_fd_count()
    with container(volume) as mount:
        # The mount's change tracker holds one inotify descriptor (not a file).
        mounted = open_fd_count()
        assert mounted - before <= 1
        write_atomically(mount.path / "b.txt", "b")
        volume.commit()
        volume.reload()
        volume.listdir("/")
        read_text(volume, "a.txt")
        default_folder = mount.path
        assert open_fd_count() == mounted
        assert fds_under(volume.emulator.root) == []
    assert not default_folder.exists()
    assert open_fd_count() == before
    given = tmp_path / "mnt"
    with container(volume, path=given) as mount:
        assert mount.path == given.resolve()
        assert (given / "b.txt").read_text() == "b"
    assert not given.exists()


def test_mount_path_must_be_missing_or_empty(volume: EmulatedVolume, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    with pytest.raises(RuntimeError, match="must be missing or an empty folder"):
        container(volume, path=busy).__enter__()
    assert (busy / "something").exists()


def test_one_active_mount_per_handle(volume: EmulatedVolume) -> None:
    """A handle is one container; another container is another from_name handle."""
    with container(volume), pytest.raises(RuntimeError, match="already has an active mount"):
        container(volume).__enter__()


def test_counters_count_commits_and_reloads(volume: EmulatedVolume) -> None:
    with container(volume) as mount:
        write_atomically(mount.path / "a.txt", "a")
        volume.commit()
        volume.commit()
        volume.reload()
        assert mount.counters.commits == 2
        assert mount.counters.reloads == 1
        assert mount.counters.files_published == 1
    assert volume.counters.commits == 2
    assert volume.counters.reloads == 1
    assert volume.counters.exit_commits == 1


# ---------------------------------------------------------------- v1 / v2 volumes


def test_version_is_recorded_and_defaults_to_v1(emulator: VolumeEmulator) -> None:
    """modal-volumes.md: v2 is "Chosen with modal.Volume.from_name(name,
    create_if_missing=True, version=2)"; volume.py treats an unspecified version as v1."""
    v1 = emulator.Volume.from_name("one", create_if_missing=True)
    v2 = emulator.Volume.from_name("two", create_if_missing=True, version=2)
    assert (v1.version, v2.version) == (1, 2)
    assert emulator.Volume.from_name("two").version == 2
    with pytest.raises(InvalidError, match="exists but has version v2, not v1"):
        emulator.Volume.from_name("two", version=1).listdir("/")
    with pytest.raises(InvalidError, match="VolumeFS version must be either 1 or 2"):
        emulator.Volume.from_name("three", create_if_missing=True, version=3)


def test_v2_directory_entry_limit(
    emulator: VolumeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """modal-volumes.md: v2: "at most 262,144 files per directory"; "A layout that puts
    more than 262,144 entries in one directory fails on v2" (limit lowered to 3)."""
    monkeypatch.setattr(VolumeEmulator, "V2_MAX_ENTRIES_PER_DIRECTORY", 3)
    v2 = emulator.Volume.from_name("v2", create_if_missing=True, version=2)
    with container(v2) as mount:
        for i in range(3):
            write_atomically(mount.path / "d" / f"{i}.txt", "x")
        v2.commit()
        write_atomically(mount.path / "d" / "3.txt", "x")
        with pytest.raises(RuntimeError, match="at most 3 entries per directory"):
            v2.commit()
        (mount.path / "d" / "3.txt").unlink()
    assert len(v2.listdir("d")) == 3
    with pytest.raises(InvalidError, match="at most 3 entries"), v2.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x"), "d/4.txt")
    assert len(v2.listdir("d")) == 3


def test_v1_has_no_per_directory_limit(
    emulator: VolumeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """modal-volumes.md: the per-directory limit is v2's (v1 limits total inodes)."""
    monkeypatch.setattr(VolumeEmulator, "V2_MAX_ENTRIES_PER_DIRECTORY", 3)
    v1 = emulator.Volume.from_name("v1", create_if_missing=True)
    upload(v1, {f"d/{i}.txt": "x" for i in range(5)})
    assert len(v1.listdir("d")) == 5


# ----------------------------------------------------------- client API: from_name


def test_from_name_of_a_missing_volume_raises_not_found(emulator: VolumeEmulator) -> None:
    """modal-volumes.md: "missing volume: modal.exception.NotFoundError". Like Modal's
    lazy hydration, the error comes on first use."""
    handle = emulator.Volume.from_name("nope")
    with pytest.raises(NotFoundError, match="'nope' not found"):
        handle.listdir("/")
    with pytest.raises(NotFoundError):
        handle.mount().__enter__()
    created = emulator.Volume.from_name("nope", create_if_missing=True)
    assert created.listdir("/") == []
    assert handle.listdir("/") == []


def test_volumes_are_separate_per_name_and_environment(emulator: VolumeEmulator) -> None:
    """modal-volumes.md: from_name(name, *, environment_name=None, ...)."""
    main = emulator.Volume.from_name("v", create_if_missing=True)
    dev = emulator.Volume.from_name("v", environment_name="dev", create_if_missing=True)
    other = emulator.Volume.from_name("w", create_if_missing=True)
    upload(main, {"main.txt": "m"})
    assert dev.listdir("/") == []
    assert other.listdir("/") == []
    assert emulator.Volume.from_name("v", environment_name="main").listdir("/") != []


def test_invalid_volume_names_are_rejected(emulator: VolumeEmulator) -> None:
    """modal/_utils/name_utils.py check_object_name; "." and ".." would escape the root."""
    for bad in ["", "a/b", "..", ".", "x" * 65, "spaces here"]:
        with pytest.raises(InvalidError):
            emulator.Volume.from_name(bad, create_if_missing=True)
    with pytest.raises(InvalidError):
        emulator.Volume.from_name("ok", environment_name="../up", create_if_missing=True)


def test_unbound_from_name_uses_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_emulator.ROOT_ENV_VAR, raising=False)
    with pytest.raises(RuntimeError, match="VOLSTORE_EMULATOR_ROOT"):
        EmulatedVolume.from_name("v", create_if_missing=True)
    monkeypatch.setenv(_emulator.ROOT_ENV_VAR, str(tmp_path / "env-root"))
    handle = EmulatedVolume.from_name("v", create_if_missing=True)
    upload(handle, {"a.txt": "a"})
    bound = VolumeEmulator(tmp_path / "env-root").Volume.from_name("v")
    assert read_text(bound, "a.txt") == "a"


# ------------------------------------------------------- client API: listing and reading


def test_listdir_and_iterdir_recursive_defaults_differ(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "listdir(path, *, recursive=False) ... iterdir(path, *,
    recursive=True) (note the different defaults)"."""
    upload(volume, {"top.txt": "t", "dir/mid.txt": "m", "dir/sub/deep.txt": "d"})
    assert [e.path for e in volume.listdir("/")] == ["dir", "top.txt"]
    assert [e.path for e in volume.iterdir("/")] == [
        "dir",
        "dir/mid.txt",
        "dir/sub",
        "dir/sub/deep.txt",
        "top.txt",
    ]
    assert [e.path for e in volume.listdir("dir")] == ["dir/mid.txt", "dir/sub"]
    assert [e.path for e in volume.listdir("/dir/sub/deep.txt")] == ["dir/sub/deep.txt"]
    assert [e.path for e in volume.iterdir("dir", recursive=False)] == ["dir/mid.txt", "dir/sub"]


def test_file_entry_fields(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "FileEntry(path, type, mtime, size), path relative with no
    leading '/', type a FileEntryType IntEnum (FILE=1, DIRECTORY=2, ...), mtime epoch
    seconds"."""
    started = int(time.time())
    upload(volume, {"/dir/data.bin": "12345"})
    file_entry = volume.listdir("/dir")[0]
    assert isinstance(file_entry, FileEntry)
    assert file_entry.path == "dir/data.bin"
    assert file_entry.type is FileEntryType.FILE
    assert int(file_entry.type) == 1
    assert file_entry.size == 5
    assert isinstance(file_entry.mtime, int)
    assert started - 5 <= file_entry.mtime <= int(time.time()) + 5
    dir_entry = volume.listdir("/")[0]
    assert (dir_entry.path, dir_entry.type) == ("dir", FileEntryType.DIRECTORY)
    assert int(FileEntryType.DIRECTORY) == 2
    with pytest.raises(AttributeError):
        file_entry.size = 1  # type: ignore[misc]


def test_published_files_keep_their_container_mtime(volume: EmulatedVolume) -> None:
    """FileEntry.mtime is the file's modification time, which a commit preserves."""
    with container(volume) as mount:
        target = mount.path / "old.txt"
        target.write_text("old")
        os.utime(target, (1_000_000_000, 1_000_000_000))
    assert volume.listdir("old.txt")[0].mtime == 1_000_000_000


def test_glob_paths_raise_invalid_error(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "Glob characters raise InvalidError" (volume.py iterdir's rule:
    a path ending in "*" or "**")."""
    upload(volume, {"a.txt": "a"})
    with pytest.raises(InvalidError, match="pass recursive=True instead"):
        volume.listdir("**")
    with pytest.raises(InvalidError, match="remove the glob `\\*` suffix"):
        volume.listdir("dir/*")
    lazy = volume.iterdir("*")  # an (async) generator in Modal: raises on iteration
    with pytest.raises(InvalidError):
        next(lazy)


def test_listdir_of_a_missing_path_raises_not_found(volume: EmulatedVolume) -> None:
    """Guess after the modal-client test servicer (NOT_FOUND for a missing path)."""
    with pytest.raises(NotFoundError):
        volume.listdir("missing")
    assert volume.listdir("/") == []


def test_read_file_yields_bytes_and_raises_on_first_iteration_if_missing(
    volume: EmulatedVolume,
) -> None:
    """modal-volumes.md: "read_file(path) yields bytes in blocks; missing file:
    FileNotFoundError on first iteration"."""
    upload(volume, {"data.bin": "payload"})
    blocks = list(volume.read_file("/data.bin"))
    assert all(isinstance(b, bytes) for b in blocks)
    assert b"".join(blocks) == b"payload"
    missing = volume.read_file("nope.bin")  # no error yet
    with pytest.raises(FileNotFoundError):
        next(missing)
    upload(volume, {"dir/x": "x"})
    with pytest.raises(FileNotFoundError):
        next(volume.read_file("dir"))


def test_read_file_sees_one_version_even_if_replaced_while_reading(
    volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_volume, "BLOCK_SIZE", 2)  # read_file reads blocks of it
    upload(volume, {"f.txt": "aaaaaa"})
    reader = volume.read_file("f.txt")
    first = next(reader)
    upload(volume, {"f.txt": "bbbbbb"})
    assert first + b"".join(reader) == b"aaaaaa"


def test_read_file_into_fileobj(volume: EmulatedVolume) -> None:
    """volume.py ``read_file_into_fileobj``: writes from the current position, returns
    the byte count, reports ``progress_cb(advance=n)``; FileNotFoundError if missing."""
    upload(volume, {"f.txt": "content"})
    out = io.BytesIO()
    out.write(b">>")
    progress: list[int] = []
    size = volume.read_file_into_fileobj(
        "f.txt", out, progress_cb=lambda **kw: progress.append(kw["advance"])
    )
    assert size == 7
    assert sum(progress) == 7
    assert out.getvalue() == b">>content"
    assert out.tell() == 9
    with pytest.raises(FileNotFoundError):
        volume.read_file_into_fileobj("missing.txt", io.BytesIO())


# -------------------------------------------------------------- client API: writing


def test_remove_file(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "remove_file(path, recursive=False): FileNotFoundError if
    missing". A folder without recursive is InvalidError (a guess: server rejection)."""
    upload(volume, {"a.txt": "a", "d/b.txt": "b", "d/e/c.txt": "c"})
    volume.remove_file("a.txt")
    with pytest.raises(FileNotFoundError):
        volume.remove_file("a.txt")
    with pytest.raises(InvalidError, match="recursive=True"):
        volume.remove_file("d")
    volume.remove_file("/d", recursive=True)
    assert volume.listdir("/") == []


def test_batch_upload_puts_files_and_directories(volume: EmulatedVolume, tmp_path: Path) -> None:
    """modal-volumes.md: "batch_upload(force=False) is a context manager with put_file(src,
    remote_path) and put_directory(...) ...; parent folders are created"."""
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    (local / "top.txt").write_text("top")
    (local / "sub" / "deep.txt").write_text("deep")
    single = tmp_path / "single.txt"
    single.write_text("single")
    with volume.batch_upload() as batch:
        batch.put_file(single, "/a/b/c/single.txt")
        batch.put_file(str(single), "as_str.txt")
        batch.put_file(io.BytesIO(b"from memory"), "mem.bin", mode=0o600)
        batch.put_directory(local, "/tree")
        batch.put_directory(str(local), "flat", recursive=False)
        assert volume.listdir("/") == []  # nothing before the block exits
    assert committed_paths(volume) == {
        "a/b/c/single.txt",
        "as_str.txt",
        "mem.bin",
        "tree/top.txt",
        "tree/sub/deep.txt",
        "flat/top.txt",
    }
    assert read_text(volume, "mem.bin") == "from memory"
    assert read_text(volume, "tree/sub/deep.txt") == "deep"


def test_batch_upload_is_atomic_and_uploads_nothing_on_error(
    volume: EmulatedVolume,
) -> None:
    """modal-volumes.md: "everything uploads when the block exits without error"."""
    with pytest.raises(KeyError), volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x"), "x.txt")
        raise KeyError("abort")
    assert volume.listdir("/") == []


def test_batch_upload_without_force_refuses_existing_files(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "Without force=True an existing target raises FileExistsError"
    (and, the batch being atomic, nothing else is uploaded either)."""
    upload(volume, {"exists.txt": "old"})
    with pytest.raises(FileExistsError), volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"new"), "fresh.txt")
        batch.put_file(io.BytesIO(b"new"), "exists.txt")
    assert committed_paths(volume) == {"exists.txt"}
    assert read_text(volume, "exists.txt") == "old"
    with volume.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"new"), "exists.txt")
    assert read_text(volume, "exists.txt") == "new"


def test_batch_upload_never_replaces_a_directory(volume: EmulatedVolume) -> None:
    """volume.py ``batch_upload``: "you cannot overwrite existing directories with uploaded
    files regardless" (of force)."""
    upload(volume, {"dir/x.txt": "x", "file.txt": "f"})
    with pytest.raises(FileExistsError), volume.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"y"), "dir")
    with pytest.raises(FileExistsError), volume.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"y"), "file.txt/inside")
    assert committed_paths(volume) == {"dir/x.txt", "file.txt"}


def test_batch_upload_argument_errors(volume: EmulatedVolume, tmp_path: Path) -> None:
    """volume.py ``put_file``: ValueError for a remote path ending with "/"; ``put_directory``
    asserts a directory; a vanished local file is FileNotFoundError at upload time."""
    with volume.batch_upload() as batch:
        with pytest.raises(ValueError, match="must refer to a file"):
            batch.put_file(io.BytesIO(b"x"), "/")
        with pytest.raises(AssertionError):
            batch.put_directory(tmp_path / "not-there", "dst")
    gone = tmp_path / "gone.txt"
    gone.write_text("x")
    with pytest.raises(FileNotFoundError), volume.batch_upload() as batch:
        batch.put_file(gone, "gone.txt")
        gone.unlink()
    assert volume.listdir("/") == []


def test_copy_files(emulator: VolumeEmulator, volume: EmulatedVolume) -> None:
    """volume.py ``copy_files``: "The semantics of the copy operation follow those of the
    UNIX cp command"; recursive is for v2 volumes only."""
    upload(volume, {"a.txt": "a", "b.txt": "b", "dir/c.txt": "c"})
    volume.copy_files(["a.txt"], "a_copy.txt")
    volume.copy_files(["a.txt", "b.txt"], "into")
    volume.copy_files(["b.txt"], "dir")
    assert read_text(volume, "a_copy.txt") == "a"
    assert {e.path for e in volume.listdir("into")} == {"into/a.txt", "into/b.txt"}
    assert read_text(volume, "dir/b.txt") == "b"
    with pytest.raises(ValueError, match="not supported for V1 volumes"):
        volume.copy_files(["dir"], "dir2", recursive=True)
    with pytest.raises(InvalidError, match="recursive=True"):
        volume.copy_files(["dir"], "dir2")
    with pytest.raises(NotFoundError):
        volume.copy_files(["missing.txt"], "x.txt")
    v2 = emulator.Volume.from_name("v2", create_if_missing=True, version=2)
    upload(v2, {"dir/c.txt": "c", "dir/sub/d.txt": "d"})
    v2.copy_files(["dir"], "dir2", recursive=True)
    assert committed_paths(v2) == {"dir/c.txt", "dir/sub/d.txt", "dir2/c.txt", "dir2/sub/d.txt"}
    with pytest.raises(InvalidError, match="into itself"):
        v2.copy_files(["dir"], "dir/inner", recursive=True)


def test_read_only_view_refuses_writes(volume: EmulatedVolume) -> None:
    """modal-volumes.md: "read_only() makes write methods raise InvalidError"; wording of
    volume.py: "Read-only Volume can not be written to"."""
    upload(volume, {"a.txt": "a"})
    view = volume.read_only()
    message = "Read-only Volume can not be written to"
    with pytest.raises(InvalidError, match=message):
        view.remove_file("a.txt")
    with pytest.raises(InvalidError, match=message):
        view.copy_files(["a.txt"], "b.txt")
    with pytest.raises(InvalidError, match=message), view.batch_upload():
        pass
    assert read_text(view, "a.txt") == "a"
    assert [e.path for e in view.listdir("/")] == ["a.txt"]
    # Its mounts are read-only too: see test_mount_options.py.
    with container(view) as mount:
        assert mount.read_only
    assert committed_paths(volume) == {"a.txt"}


def test_paths_escaping_the_volume_are_rejected(
    emulator: VolumeEmulator, volume: EmulatedVolume, tmp_path: Path
) -> None:
    """No client call may touch files outside the volume ("a leading '/' is accepted")."""
    upload(volume, {"/inside.txt": "in"})
    secret = emulator.root / "volumes" / "main" / "secret.txt"
    secret.write_text("outside")
    escapes = ["../secret.txt", "/../secret.txt", "a/../../secret.txt", "..", "x/.."]
    for bad in escapes:
        with pytest.raises(InvalidError):
            volume.listdir(bad)
        with pytest.raises(InvalidError):
            next(volume.read_file(bad))
        with pytest.raises(InvalidError):
            volume.remove_file(bad, recursive=True)
        with pytest.raises(InvalidError):
            volume.copy_files([bad], "copied")
        with pytest.raises(InvalidError):
            volume.copy_files(["inside.txt"], bad)
        with pytest.raises(InvalidError), volume.batch_upload(force=True) as batch:
            batch.put_file(io.BytesIO(b"evil"), bad + "/evil.txt")
    assert secret.read_text() == "outside"
    assert committed_paths(volume) == {"inside.txt"}
    assert [e.path for e in volume.listdir("/inside.txt")] == ["inside.txt"]


def test_symlinks_in_a_container_are_not_followed_by_commit(
    volume: EmulatedVolume, tmp_path: Path
) -> None:
    """A symlink to a file outside the mount must not leak that file into the volume."""
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    with container(volume) as mount:
        (mount.path / "link.txt").symlink_to(outside)
        write_atomically(mount.path / "real.txt", "r")
        volume.commit()
    assert committed_paths(volume) == {"real.txt"}


# ------------------------------------------------------------ crash safety of commits


def test_commit_interrupted_while_applying_is_completed_by_the_next_reader(
    emulator: VolumeEmulator, volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer killed after its commit point leaves a journal that the next process to
    take the lock replays: other containers never see half of a commit."""
    upload(volume, {"old.txt": "old"})

    class Crash(BaseException):
        pass

    original = _committed.VolumeStore._apply

    def crash_after_first_op(
        self: _committed.VolumeStore, ops: list[list[str]], files_dir: str
    ) -> None:
        original(self, ops[:1], files_dir)
        raise Crash

    monkeypatch.setattr(_committed.VolumeStore, "_apply", crash_after_first_op)
    with pytest.raises(Crash), volume.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"1"), "one.txt")
        batch.put_file(io.BytesIO(b"2"), "two.txt")
        batch.put_file(io.BytesIO(b"new"), "old.txt")
    monkeypatch.undo()
    reader = second_handle(emulator)
    assert committed_paths(reader) == {"one.txt", "two.txt", "old.txt"}
    assert read_text(reader, "old.txt") == "new"
    assert not (emulator.root / "volumes" / "main" / "vol" / "journal").exists()


def test_write_interrupted_before_its_commit_point_leaves_nothing(
    emulator: VolumeEmulator, volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(volume, {"old.txt": "old"})

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="disk gone"), volume.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"new"), "old.txt")
    monkeypatch.undo()
    assert read_text(volume, "old.txt") == "old"
    staging = emulator.root / "volumes" / "main" / "vol" / "staging"
    volume.listdir("/")
    assert list(staging.iterdir()) == []


# ------------------------------------------------------------ two real OS processes

_CHILD_CONTAINER = r"""
import sys
from volstore.testing._emulator import VolumeEmulator

volume = VolumeEmulator(sys.argv[1]).Volume.from_name("shared")
with volume.mount(background_commit_interval=None) as mount:
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "write":
            name, _, text = argument.partition("=")
            (mount.path / name).write_text(text)
            print("ok", flush=True)
        elif command == "read":
            path = mount.path / argument
            print(path.read_text() if path.exists() else "<missing>", flush=True)
        elif command == "commit":
            volume.commit()
            print("ok", flush=True)
        elif command == "reload":
            volume.reload()
            print("ok", flush=True)
        else:
            break
"""


class ChildContainer:
    """A container in another OS process, driven line by line over pipes."""

    def __init__(self, root: Path) -> None:
        package_parent = Path(_emulator.__file__).resolve().parents[3]
        env = dict(os.environ, PYTHONPATH=str(package_parent))
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CONTAINER, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._line() == "ready"

    def _line(self, timeout: float = 30.0) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            self.process.kill()
            pytest.fail("child container did not answer in time")
        return stdout.readline().strip()

    def ask(self, command: str) -> str:
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()
        return self._line()

    def close(self) -> None:
        stdin = self.process.stdin
        stdout = self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.close()
        try:
            assert self.process.wait(timeout=30) == 0
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            stdout.close()


@pytest.fixture
def child_container(emulator: VolumeEmulator) -> Iterator[ChildContainer]:
    emulator.Volume.from_name("shared", create_if_missing=True).listdir("/")
    child = ChildContainer(emulator.root)
    try:
        yield child
    finally:
        child.close()


def test_two_os_processes_see_each_others_commits_only_after_reload(
    emulator: VolumeEmulator, child_container: ChildContainer
) -> None:
    """modal-volumes.md: commit makes changes "visible to other containers (after they
    reload)" and a container "never sees other containers' commits until it reloads",
    here with the two containers in two OS processes."""
    volume = emulator.Volume.from_name("shared")
    with container(volume) as mount:
        assert child_container.ask("write from_child.txt=hello from child") == "ok"
        assert child_container.ask("commit") == "ok"
        assert not (mount.path / "from_child.txt").exists()
        volume.reload()
        assert (mount.path / "from_child.txt").read_text() == "hello from child"

        write_atomically(mount.path / "from_parent.txt", "hello from parent")
        volume.commit()
        assert child_container.ask("read from_parent.txt") == "<missing>"
        assert child_container.ask("reload") == "ok"
        assert child_container.ask("read from_parent.txt") == "hello from parent"


def test_meta_file_records_the_version(emulator: VolumeEmulator) -> None:
    """The version chosen at creation is what every later process sees."""
    emulator.Volume.from_name("v", create_if_missing=True, version=2).listdir("/")
    meta = json.loads((emulator.root / "volumes" / "main" / "v" / "meta.json").read_text())
    assert meta["version"] == 2
    assert VolumeEmulator(emulator.root).Volume.from_name("v").version == 2
