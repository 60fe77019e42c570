"""What the handles and mounts need of the emulated server, as protocols.

``_server.VolumeEmulator`` satisfies ``Server``; the handles (``_volume``, ``_dict``)
and the mounts (``_mount``) are written against these protocols, so no module of the
emulator imports the one above it (the layers stay acyclic, see
tests/test_architecture.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ._committed import VolumeStore
from ._faults import Faults
from ._types import CommitCost


class Server(Protocol):
    """The emulated server: settings read by mounts, and its registry of objects."""

    root: Path
    faults: Faults
    reload_commits: bool
    commit_refreshes: bool
    change_tracking: bool
    background_commit_interval: float | None
    commit_cost: CommitCost | None
    v1_max_inodes: int

    @property
    def V2_MAX_ENTRIES_PER_DIRECTORY(self) -> int: ...

    @property
    def _containers(self) -> Path: ...

    def _get_or_create(
        self, name: str, environment_name: str, *, create_if_missing: bool, version: int | None
    ) -> VolumeStore: ...

    def _volume_by_id(self, object_id: str) -> VolumeStore: ...

    def _create_ephemeral_volume(self, version: int | None) -> VolumeStore: ...

    def _delete_ephemeral(self, store: VolumeStore) -> None: ...

    def _register_id(self, object_id: str, folder: str) -> None: ...

    def _folder_of_id(self, object_id: str, prefix: str) -> str | None: ...


#: Makes the server of a root, for handles that are not bound to one (set by ``_server``).
ServerFactory = Callable[[str], Server]
