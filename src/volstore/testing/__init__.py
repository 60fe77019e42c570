"""The testing kit: an offline Modal Volume emulator, fixtures and strategies.

- ``VolumeEmulator`` and ``EmulatedVolume``: a local stand-in for
  ``modal.Volume`` with Modal's semantics (per-container views, commit,
  reload, background commits, the client API), usable across processes.
- ``volstore.testing.pytest_plugin``: fixtures (see docs/testing.md).
- ``volstore.testing.strategies``: Hypothesis strategies for registered models.

Nothing here imports ``modal``.
"""

from ._emulator import (
    CommitCost,
    EmulatedUploadBatch,
    EmulatedVolume,
    EmulatorCounters,
    FileEntry,
    FileEntryType,
    InvalidError,
    Mount,
    NotFoundError,
    VolumeEmulator,
)

__all__ = [
    "CommitCost",
    "EmulatedUploadBatch",
    "EmulatedVolume",
    "EmulatorCounters",
    "FileEntry",
    "FileEntryType",
    "InvalidError",
    "Mount",
    "NotFoundError",
    "VolumeEmulator",
]
