"""A faithful local emulator of Modal Volumes and Dicts (stdlib only).

``modal`` is imported lazily, only to raise its own exception classes when it is
installed (see ``_errors``); the emulator works without it. The reference for every
behaviour is ``/work/shared/design/modal-volumes.md`` and the installed client
source (``modal/volume.py``, ``modal/dict.py``, modal 1.6.x).

Modules, along the emulator's seams:

- ``_types``, ``_errors``: value types, name and path checks, Modal's exceptions;
- ``_files``: file tree helpers (walk, copy, digest, flock, open files);
- ``_committed``: a volume's committed state, its transactions and change log;
- ``_volume``: the ``modal.Volume`` handle and its client API;
- ``_mount``, ``_sync``, ``_inotify``, ``_readonly``: an emulated container (mount,
  commit, reload, change tracking, read-only mounts);
- ``_dict``: the ``modal.Dict`` emulation;
- ``_aio``, ``_faults``: ``.aio`` forms, AsyncUsageWarning, fault injection;
- ``_server``: ``VolumeEmulator``, the emulated server.
"""

from __future__ import annotations

from ._aio import DualContextManager
from ._client import EmulatedUploadBatch
from ._dict import EmulatedDict
from ._faults import DICT_OPERATIONS, VOLUME_OPERATIONS, Faults
from ._mount import Mount
from ._server import COMMIT_REFRESHES_ENV_VAR, VolumeEmulator
from ._types import (
    DEFAULT_BACKGROUND_COMMIT_INTERVAL,
    CommitCost,
    DictInfo,
    EmulatorCounters,
    FileEntry,
    FileEntryType,
    VolumeInfo,
)
from ._volume import ROOT_ENV_VAR, EmulatedVolume

__all__ = [
    "COMMIT_REFRESHES_ENV_VAR",
    "DEFAULT_BACKGROUND_COMMIT_INTERVAL",
    "DICT_OPERATIONS",
    "ROOT_ENV_VAR",
    "VOLUME_OPERATIONS",
    "CommitCost",
    "DictInfo",
    "DualContextManager",
    "EmulatedDict",
    "EmulatedUploadBatch",
    "EmulatedVolume",
    "EmulatorCounters",
    "Faults",
    "FileEntry",
    "FileEntryType",
    "Mount",
    "VolumeEmulator",
    "VolumeInfo",
]
