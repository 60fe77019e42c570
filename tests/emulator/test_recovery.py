"""Crash recovery of the emulator's own commit journal, at every point a kill can land."""

from __future__ import annotations

import io
import os
from pathlib import Path

from volstore.testing import VolumeEmulator


def _volume_folder(emulator: VolumeEmulator, name: str) -> Path:
    return Path(emulator.root) / "volumes" / "main" / name


def test_a_journal_whose_clean_up_was_cut_short_is_finished(tmp_path: Path) -> None:
    """A kill during the journal's removal can leave it without ops.json (found by the
    SIGKILL crash test): recovery must treat it as applied, not crash."""
    emulator = VolumeEmulator(tmp_path / "emu")
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    with volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"committed before the crash"), "/a.txt")
    folder = _volume_folder(emulator, "v")
    (folder / "journal" / "files").mkdir(parents=True)  # ops.json already removed
    (folder / "retired-0123").mkdir()  # and a retired journal not yet deleted
    with volume.mount(background_commit_interval=None) as mount:
        assert (mount.path / "a.txt").exists()
    assert not (folder / "journal").exists()
    assert not [name for name in os.listdir(folder) if name.startswith("retired-")]
    assert [e.path for e in volume.listdir("/")] == ["a.txt"]
