"""Commit and reload cost what changed, not what the mount holds (issue 11).

Counted, not timed: ``counters.entries_examined`` is the number of view entries a
commit looked at, ``counters.full_scans`` the commits and reloads that compared
everything. The speed itself is measured by ``benchmarks/bench_emulator.py``.
Correctness must not depend on the tracking: every fallback (no inotify, a lost
event queue, a moved folder, a change log that no longer reaches back) still
publishes and fetches exactly what changed (modal-volumes.md: commit publishes
"this container's changes").
"""

from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import pytest

from volstore.testing import EmulatedVolume, Mount, VolumeEmulator
from volstore.testing._emulator import _committed, _inotify, _sync

HELD = 400


def fill(volume: EmulatedVolume, count: int = HELD) -> None:
    with volume.batch_upload(force=True) as batch:
        for i in range(count):
            batch.put_file(io.BytesIO(b"x" * 50), f"u{i % 8}/f{i}.json")


def committed(volume: EmulatedVolume) -> dict[str, bytes]:
    return {
        e.path: b"".join(volume.read_file(e.path))
        for e in volume.listdir("/", recursive=True)
        if e.type == 1
    }


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def mounted(volume: EmulatedVolume) -> Mount:
    return volume.mount(background_commit_interval=None)


def test_a_one_file_commit_examines_what_changed_not_what_is_held(
    volume: EmulatedVolume,
) -> None:
    fill(volume)
    with mounted(volume) as mount:
        write_atomically(mount.path / "u3" / "new.json", b"new")
        volume.commit()
        assert mount.counters.full_scans == 0
        # the file and its temporary name: nothing else of the 400 held
        assert mount.counters.entries_examined <= 2
        (mount.path / "u1" / "f1.json").write_bytes(b"rewritten in place")
        volume.commit()
        assert mount.counters.entries_examined <= 3
        assert mount.counters.full_scans == 0
    data = committed(volume)
    assert data["u3/new.json"] == b"new"
    assert data["u1/f1.json"] == b"rewritten in place"
    assert len(data) == HELD + 1


def test_in_place_writes_to_an_open_file_are_seen(volume: EmulatedVolume) -> None:
    """Not only renames: a write through an open descriptor (IN_MODIFY) is a change."""
    fill(volume, 10)
    with mounted(volume) as mount, open(mount.path / "u0" / "f0.json", "r+b") as f:
        f.write(b"YY")
        f.flush()
        volume.commit()
        assert committed(volume)["u0/f0.json"].startswith(b"YY")
        f.write(b"ZZ")
        f.flush()
        volume.commit()
    assert committed(volume)["u0/f0.json"].startswith(b"YYZZ")


def test_files_in_folders_made_after_mounting_are_seen(volume: EmulatedVolume) -> None:
    """A new folder gets its watch when its creation is read, and is listed then: files
    made in it before that are not missed, nested folders neither."""
    with mounted(volume) as mount:
        deep = mount.path / "a" / "b" / "c"
        deep.mkdir(parents=True)
        (deep / "one.txt").write_text("1")
        (mount.path / "a" / "two.txt").write_text("2")
        volume.commit()
        (deep / "three.txt").write_text("3")  # a watch exists by now
        volume.commit()
        assert mount.counters.full_scans == 0
    assert committed(volume) == {
        "a/b/c/one.txt": b"1",
        "a/two.txt": b"2",
        "a/b/c/three.txt": b"3",
    }


def test_a_moved_folder_falls_back_to_a_full_walk_once(volume: EmulatedVolume) -> None:
    fill(volume, 16)
    with mounted(volume) as mount:
        os.rename(mount.path / "u2", mount.path / "moved")
        volume.commit()
        assert mount.counters.full_scans == 1
        (mount.path / "moved" / "f2.json").write_text("after the move")
        volume.commit()
        assert mount.counters.full_scans == 1, "tracking resumed after the walk"
    data = committed(volume)
    assert not [p for p in data if p.startswith("u2/")]
    assert sorted(p for p in data if p.startswith("moved/")) == ["moved/f10.json", "moved/f2.json"]
    assert data["moved/f2.json"] == b"after the move"


def test_a_lost_event_queue_falls_back_to_a_full_walk(volume: EmulatedVolume) -> None:
    """IN_Q_OVERFLOW (the kernel dropped events): the next commit compares everything."""
    fill(volume, 16)
    with mounted(volume) as mount:
        (mount.path / "u0" / "f0.json").write_text("changed")
        view = mount._view
        assert view is not None
        assert view.tracker is not None
        overflow = struct.pack("iIII", -1, _inotify.IN_Q_OVERFLOW, 0, 0)
        view.tracker._parse(overflow)
        volume.commit()
        assert mount.counters.full_scans == 1
        assert mount.counters.entries_examined >= 16
    assert committed(volume)["u0/f0.json"] == b"changed"


def test_without_inotify_every_commit_walks_and_stays_correct(
    volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where inotify is unavailable (or max_user_instances is reached), commits walk."""
    monkeypatch.setattr(_sync.ChangeTracker, "open", classmethod(lambda cls, base: None))
    fill(volume, 16)
    with mounted(volume) as mount:
        write_atomically(mount.path / "u0" / "f0.json", b"changed")
        (mount.path / "u1" / "f1.json").unlink()
        volume.commit()
        volume.commit()
        assert mount.counters.full_scans == 2
    data = committed(volume)
    assert data["u0/f0.json"] == b"changed"
    assert "u1/f1.json" not in data


def test_a_reload_fetches_what_others_changed(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """The change log: a reload reads the paths other transactions touched since the
    view's snapshot, not the whole volume."""
    fill(volume)
    writer = emulator.Volume.from_name("vol")
    with mounted(volume) as reader, mounted(writer) as w:
        fetched = reader.counters.files_fetched
        write_atomically(w.path / "u5" / "f5.json", b"from the writer")
        (w.path / "u6" / "f6.json").unlink()
        writer.commit()
        volume.reload()
        assert reader.counters.files_fetched == fetched + 1
        assert reader.counters.full_scans == 0
        assert (reader.path / "u5" / "f5.json").read_bytes() == b"from the writer"
        assert not (reader.path / "u6" / "f6.json").exists()


def test_a_view_older_than_the_change_log_reloads_in_full(
    emulator: VolumeEmulator, volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_committed, "LOG_KEEP", 2)
    fill(volume, 8)
    with mounted(volume) as reader:
        for i in range(4):  # four transactions: the log keeps two
            with volume.batch_upload(force=True) as batch:
                batch.put_file(io.BytesIO(b"v%d" % i), "u0/f0.json")
        volume.reload()
        assert reader.counters.full_scans == 1
        assert (reader.path / "u0" / "f0.json").read_bytes() == b"v3"
        with volume.batch_upload(force=True) as batch:
            batch.put_file(io.BytesIO(b"v4"), "u0/f0.json")
        volume.reload()
        assert reader.counters.full_scans == 1
        assert (reader.path / "u0" / "f0.json").read_bytes() == b"v4"


def test_background_commits_look_only_at_what_changed(volume: EmulatedVolume) -> None:
    fill(volume)
    with volume.mount(background_commit_interval=0.005) as mount:
        write_atomically(mount.path / "u0" / "bg.json", b"bg")
        passes = mount.counters.background_commits + 5
        deadline = time.monotonic() + 30  # only keeps a broken build from hanging
        while mount.counters.background_commits < passes:
            assert time.monotonic() < deadline, "no background commits"
            time.sleep(0.002)
        assert committed(volume)["u0/bg.json"] == b"bg"
        assert mount.counters.full_scans == 0
        assert mount.counters.entries_examined <= 2


def test_a_folder_swapped_for_a_symlink_never_leaks_outside_files(
    volume: EmulatedVolume, tmp_path: Path
) -> None:
    """Nothing escapes the volume: a tracked path that now leads through a symlink user
    code put in place of a folder is neither read by a commit ..."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("secret")
    with mounted(volume) as mount:
        (mount.path / "dir").mkdir()
        (mount.path / "dir" / "x.txt").write_text("mine")
        volume.commit()
        (mount.path / "dir" / "x.txt").write_text("changed")  # a candidate now
        (mount.path / "dir" / "x.txt").unlink()
        (mount.path / "dir").rmdir()
        (mount.path / "dir").symlink_to(outside)
        volume.commit()
    assert b"secret" not in committed(volume).values()
    assert "dir/x.txt" not in committed(volume)


def test_a_reload_never_removes_files_through_a_symlink(
    emulator: VolumeEmulator, volume: EmulatedVolume, tmp_path: Path
) -> None:
    """... nor removed by a reload."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("precious")
    with volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"v"), "dir/x.txt")
    other = emulator.Volume.from_name("vol")
    for reload_commits in (True, False):
        with volume.mount(background_commit_interval=None, reload_commits=reload_commits) as m:
            (m.path / "dir" / "x.txt").unlink()
            (m.path / "dir").rmdir()
            (m.path / "dir").symlink_to(outside)
            if not reload_commits:
                other.remove_file("dir/x.txt")
            volume.reload()
            assert (outside / "x.txt").read_text() == "precious"
            assert b"precious" not in committed(volume).values()
            (m.path / "dir").unlink(missing_ok=True)  # the reload may have removed it
        with volume.batch_upload(force=True) as batch:
            batch.put_file(io.BytesIO(b"v"), "dir/x.txt")
