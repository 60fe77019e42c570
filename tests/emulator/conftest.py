"""Fixtures for the Modal Volume emulator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from volstore.testing._emulator import EmulatedVolume, VolumeEmulator


@pytest.fixture(autouse=True)
def _emulator_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests pin the emulator's own defaults: a run of the whole suite under
    VOLSTORE_EMULATOR_COMMIT_REFRESHES=1 (volstore correct either way) leaves them be."""
    monkeypatch.delenv("VOLSTORE_EMULATOR_COMMIT_REFRESHES", raising=False)


@pytest.fixture
def emulator(tmp_path: Path) -> VolumeEmulator:
    """A fresh emulated Modal server rooted in the test's temporary folder."""
    return VolumeEmulator(tmp_path / "emulator")


@pytest.fixture
def volume(emulator: VolumeEmulator) -> EmulatedVolume:
    """A handle on a new v1 volume named "vol" (created on first use)."""
    return emulator.Volume.from_name("vol", create_if_missing=True)
