"""Fixtures for the Modal Volume emulator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from volstore.testing._emulator import EmulatedVolume, VolumeEmulator


@pytest.fixture
def emulator(tmp_path: Path) -> VolumeEmulator:
    """A fresh emulated Modal server rooted in the test's temporary folder."""
    return VolumeEmulator(tmp_path / "emulator")


@pytest.fixture
def volume(emulator: VolumeEmulator) -> EmulatedVolume:
    """A handle on a new v1 volume named "vol" (created on first use)."""
    return emulator.Volume.from_name("vol", create_if_missing=True)
