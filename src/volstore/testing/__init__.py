"""The testing kit: offline emulators of Modal Volumes and Dicts, fixtures, strategies.

- :class:`VolumeEmulator`, :class:`EmulatedVolume` and :class:`EmulatedDict`: local
  stand-ins for ``modal.Volume`` and ``modal.Dict`` with Modal's semantics
  (per-container views, commit, reload, background commits, read-only and sub_path
  mounts, the client API, ``.aio``, fault injection), usable across processes.
- ``volstore.testing.errors``: Modal's exception classes (modal's own when installed).
- ``volstore.testing.pytest_plugin``: fixtures (see docs/testing.md).
- ``volstore.testing.strategies``: Hypothesis strategies for registered models.

Importing this package does not import ``modal``; the emulator imports it lazily,
only to raise modal's own exception classes when it is installed.
"""

from __future__ import annotations

from typing import Any

from . import errors
from ._emulator import (
    CommitCost,
    DictInfo,
    EmulatedDict,
    EmulatedUploadBatch,
    EmulatedVolume,
    EmulatorCounters,
    Faults,
    FileEntry,
    FileEntryType,
    Mount,
    VolumeEmulator,
    VolumeInfo,
)

__all__ = [
    "CommitCost",
    "DictInfo",
    "EmulatedDict",
    "EmulatedUploadBatch",
    "EmulatedVolume",
    "EmulatorCounters",
    "Faults",
    "FileEntry",
    "FileEntryType",
    "InvalidError",
    "Mount",
    "NotFoundError",
    "VolumeEmulator",
    "VolumeInfo",
    "errors",
]


def __getattr__(name: str) -> Any:
    # InvalidError and NotFoundError resolve lazily to modal's classes (see errors).
    if name in ("InvalidError", "NotFoundError"):
        return getattr(errors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
