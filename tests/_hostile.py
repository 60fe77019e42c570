"""Stores with hostile things planted below their root: links, FIFOs, folders, huge files.

``open_env(kind, tmp_path)`` gives a store on a local folder (``"local"``), an
emulated mounted Modal Volume (``"mounted"``) or memory (``"memory"``, no
root on disk), and a sibling folder outside the root for canary files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import volstore
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.modal import volume_claims
from volstore.testing import VolumeEmulator


@dataclass
class Env:
    store: volstore.Store
    root: Path  # the store's root (a mount path for the mounted volume)
    outside: Path  # a sibling folder outside the root, holding the canaries

    def snapshot_outside(self) -> dict[str, bytes | None]:
        """Every entry outside the root (folders as None), links not followed."""
        found: dict[str, bytes | None] = {}
        for folder, dirs, files in os.walk(self.outside):
            for name in dirs:
                found[os.path.relpath(os.path.join(folder, name), self.outside)] = None
            for name in files:
                path = os.path.join(folder, name)
                found[os.path.relpath(path, self.outside)] = Path(path).read_bytes()
        return found


@contextmanager
def open_env(kind: str, tmp_path: Path, **options: Any) -> Iterator[Env]:
    """A store of ``kind`` ("local", "mounted", "memory"); ``options`` go to Store()."""
    outside = tmp_path / "outside"
    outside.mkdir()
    if kind == "memory":
        yield Env(volstore.Store(volstore.MemoryBackend(), **options), tmp_path / "none", outside)
        return
    if kind == "local":
        root = tmp_path / "store"
        yield Env(volstore.Store(volstore.LocalBackend(root), **options), root, outside)
        return
    volume = VolumeEmulator(tmp_path / "emulator").Volume.from_name("v", create_if_missing=True)
    with volume.mount(background_commit_interval=None) as mount:
        backend = MountedVolumeBackend(mount.path, volume, claims=volume_claims(volume))
        store = volstore.Store(backend, **options)
        yield Env(store, Path(mount.path), outside)
