"""Volume identity (ephemeral, from_id, object_id, hydrate, info) and the v1 inode limit.

Sources: modal-volumes.md ("Volume.ephemeral() (a context manager), from_id,
object_id, hydrate exist"; v1: "hard limit 500,000 inodes"), modal/volume.py
``from_id``, ``ephemeral``, ``info`` and modal/_object.py ``object_id`` ("Attempting
to get object_id of unhydrated ...") and ``hydrate``.
"""

from __future__ import annotations

import datetime
import errno
import io
import re
from pathlib import Path

import pytest

from volstore.testing import EmulatedVolume, VolumeEmulator, errors


def upload(volume: EmulatedVolume, files: dict[str, str]) -> None:
    with volume.batch_upload(force=True) as batch:
        for remote, text in files.items():
            batch.put_file(io.BytesIO(text.encode()), remote)


def test_object_id_needs_hydration_like_modal(emulator: VolumeEmulator) -> None:
    """modal/_object.py: ``object_id`` raises AttributeError on an unhydrated handle;
    ``hydrate()`` looks the object up and returns the handle."""
    handle = emulator.Volume.from_name("v", create_if_missing=True)
    with pytest.raises(AttributeError, match="unhydrated"):
        _ = handle.object_id
    assert handle.hydrate() is handle
    assert re.fullmatch(r"vo-[a-zA-Z0-9]{22}", handle.object_id)
    with pytest.raises(errors.NotFoundError):
        emulator.Volume.from_name("missing").hydrate()


def test_from_id_reaches_the_same_volume_from_another_process(
    emulator: VolumeEmulator, tmp_path: Path
) -> None:
    """modal/volume.py ``from_id``: "Construct a Volume from an id"; ids are stable, so
    another process opening the same root (another emulator instance) finds it."""
    volume = emulator.Volume.from_name("v", create_if_missing=True).hydrate()
    upload(volume, {"a.txt": "a"})
    elsewhere = VolumeEmulator(emulator.root)
    same = elsewhere.Volume.from_id(volume.object_id)
    assert [e.path for e in same.listdir("/")] == ["a.txt"]
    assert same.name == "v"
    assert VolumeEmulator(emulator.root).Volume.from_name("v").hydrate().object_id == (
        volume.object_id
    )
    with pytest.raises(errors.NotFoundError):
        elsewhere.Volume.from_id("vo-" + "x" * 22).listdir("/")
    with pytest.raises(errors.NotFoundError):
        elsewhere.Volume.from_id("not an id").hydrate()


def test_an_ephemeral_volume_lives_for_its_block(emulator: VolumeEmulator) -> None:
    """modal/volume.py ``ephemeral``: "Create an anonymous Volume that exists for the
    duration of the context manager"; its name is None."""
    with emulator.Volume.ephemeral(version=2) as volume:
        assert volume.name is None
        assert volume.version == 2
        assert volume.listdir("/") == []
        upload(volume, {"a.txt": "a"})
        by_id = emulator.Volume.from_id(volume.object_id)
        assert [e.path for e in by_id.listdir("/")] == ["a.txt"]
        with volume.mount(background_commit_interval=None) as mount:
            assert (mount.path / "a.txt").read_text() == "a"
        object_id = volume.object_id
    with pytest.raises(errors.NotFoundError):
        emulator.Volume.from_id(object_id).listdir("/")
    assert list((emulator.root / "ephemeral").iterdir()) == []


def test_info(emulator: VolumeEmulator) -> None:
    """modal/volume.py ``info``: VolumeInfo(name, created_at, created_by)."""
    before = datetime.datetime.now().astimezone()
    info = emulator.Volume.from_name("v", create_if_missing=True).info()
    assert info.name == "v"
    assert info.created_at.tzinfo is not None
    assert abs((info.created_at - before).total_seconds()) < 60
    assert info.created_by is None


def test_v1_inode_limit_is_enospc_for_commits_and_uploads(tmp_path: Path) -> None:
    """modal-volumes.md: v1 "hard limit 500,000 inodes" (files and folders); a write
    past it fails with ENOSPC. The limit is lowered to 5 so the test stays small. The
    emulator refuses at commit (mounts) or at the upload (client API): it cannot make
    a local folder refuse the file's creation itself."""
    emulator = VolumeEmulator(tmp_path / "emu", v1_max_inodes=5)
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    upload(volume, {"d/a": "1", "d/b": "2", "c": "3"})  # 4 inodes: d, d/a, d/b, c
    with pytest.raises(OSError, match="No space left on device") as info:
        upload(volume, {"e/f": "x"})  # e and e/f: 6
    assert info.value.errno == errno.ENOSPC
    upload(volume, {"d/a": "replaced"})  # replacing a file takes no inode
    with volume.mount(background_commit_interval=None) as mount:
        (mount.path / "new").write_text("fifth")
        volume.commit()
        (mount.path / "sixth").write_text("too many")
        with pytest.raises(OSError, match="No space left on device") as info:
            volume.commit()
        assert info.value.errno == errno.ENOSPC
        (mount.path / "c").unlink()  # frees one: now the commit fits
        volume.commit()
    assert sorted(e.path for e in volume.listdir("/", recursive=True)) == [
        "d",
        "d/a",
        "d/b",
        "new",
        "sixth",
    ]
    assert emulator.v1_max_inodes == 5
    assert VolumeEmulator(tmp_path / "default").v1_max_inodes == 500_000


def test_v2_volumes_have_no_inode_limit(tmp_path: Path) -> None:
    """modal-volumes.md: v2 "no total limit"."""
    emulator = VolumeEmulator(tmp_path / "emu", v1_max_inodes=2)
    volume = emulator.Volume.from_name("v", create_if_missing=True, version=2)
    upload(volume, {f"d{i}/f": "x" for i in range(4)})
    assert len(volume.listdir("/", recursive=True)) == 8


def test_the_inode_count_survives_removals_and_copies(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emu", v1_max_inodes=6)
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    upload(volume, {"d/a": "1", "d/b": "2"})  # 3
    volume.remove_file("d", recursive=True)  # 0
    upload(volume, {"x/y/z": "1", "w": "2"})  # 4
    volume.copy_files(["w"], "w2")  # 5
    volume.copy_files(["w"], "x/y/w3")  # 6 fits ...
    with pytest.raises(OSError, match="No space left"):
        volume.copy_files(["w"], "x/w4")  # ... 7 does not
    assert len(volume.listdir("/", recursive=True)) == 6
