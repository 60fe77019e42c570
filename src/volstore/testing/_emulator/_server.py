"""The emulated Modal server: a local folder holding every emulated volume and dict.

On-disk layout of the root::

    <root>/lock                                  flock: creation of volumes and dicts
    <root>/volumes/<environment>/<name>/         a named volume (see ``_committed``)
    <root>/ephemeral/<object id>/                an ephemeral volume, while it lives
    <root>/dicts/...                             emulated dicts (see ``_dict``)
    <root>/ids/<object id>                       where the object with that id lives
    <root>/containers/                           default mount folders (removed on exit)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

from ._committed import Head, VolumeStore
from ._dict import EmulatedDict
from ._errors import error
from ._faults import DICT_OPERATIONS, VOLUME_OPERATIONS, Faults
from ._files import flock, write_json_atomically
from ._readonly import sweep_dead_owners
from ._types import (
    DEFAULT_BACKGROUND_COMMIT_INTERVAL,
    V1_MAX_INODES,
    V2_MAX_ENTRIES_PER_DIRECTORY,
    CommitCost,
    is_object_id,
    new_object_id,
)
from ._volume import EmulatedVolume, set_server_factory

#: Set to "1" to make ``commit()`` refresh the view by default (``commit_refreshes``),
#: so a whole test suite can run under both behaviours.
COMMIT_REFRESHES_ENV_VAR = "VOLSTORE_EMULATOR_COMMIT_REFRESHES"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class VolumeEmulator:
    """The emulated Modal server: a local folder holding every emulated volume and dict.

    Processes that construct ``VolumeEmulator(same_root)`` share them. Get handles with
    ``emulator.Volume.from_name(name, create_if_missing=True)`` (also ``from_id``,
    ``ephemeral``) and ``emulator.Dict.from_name(...)``, used like ``modal.Volume`` and
    ``modal.Dict``.

    Args:
        root: folder holding the emulator's state (created if missing).
        reload_commits: default of :meth:`EmulatedVolume.mount`'s ``reload_commits``:
            whether ``reload()`` first commits the container's pending changes (else
            they stay pending). volume.py's ``reload`` docstring: "Any uncommitted
            changes to the volume, such as new or modified files, may implicitly be
            committed when reloading."
        commit_cost: a :class:`CommitCost` to make commits and reloads of every mount
            take simulated time (benchmarks); None (the default) adds no delay. It is
            read at each commit, so assigning ``emulator.commit_cost`` takes effect at once.
        background_commit_interval: seconds between the background commits of mounts
            that do not choose (default 0.02: Modal commits every few seconds; tests
            meet background commits more often this way); None turns them off.
        commit_refreshes: default of ``mount(commit_refreshes=)``: whether ``commit()``
            also brings in other containers' commits. Modal's does not (the default,
            False); True restores the old behaviour so a suite can run under both.
            None reads the environment variable ``VOLSTORE_EMULATOR_COMMIT_REFRESHES``.
        v1_max_inodes: files and folders a v1 volume holds at most (modal-volumes.md:
            500,000); a write past it fails with ENOSPC. Lower it to test the limit.
        change_tracking: whether mounts follow their changes with inotify (Linux), so
            a commit looks only at what changed. False makes every commit walk the
            whole mount (for file systems where inotify misses changes); where
            inotify is unavailable the emulator walks anyway.
    """

    #: modal-volumes.md, v1 and v2 table: "at most 262,144 files per directory" on v2.
    #: Tests may lower it on the class or on one emulator instance.
    V2_MAX_ENTRIES_PER_DIRECTORY: ClassVar[int] = V2_MAX_ENTRIES_PER_DIRECTORY

    Volume: type[EmulatedVolume]
    """``EmulatedVolume`` subclass bound to this emulator (use like ``modal.Volume``)."""
    Dict: type[EmulatedDict]
    """``EmulatedDict`` subclass bound to this emulator (use like ``modal.Dict``)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        reload_commits: bool = True,
        commit_cost: CommitCost | None = None,
        background_commit_interval: float | None = DEFAULT_BACKGROUND_COMMIT_INTERVAL,
        commit_refreshes: bool | None = None,
        v1_max_inodes: int = V1_MAX_INODES,
        change_tracking: bool = True,
    ) -> None:
        if background_commit_interval is not None and background_commit_interval <= 0:
            raise ValueError("background_commit_interval must be positive or None")
        if v1_max_inodes < 1:
            raise ValueError("v1_max_inodes must be at least 1")
        self.root = Path(root).resolve()
        self.reload_commits = reload_commits
        self.commit_cost = commit_cost
        self.background_commit_interval = background_commit_interval
        self.commit_refreshes = (
            _env_flag(COMMIT_REFRESHES_ENV_VAR) if commit_refreshes is None else commit_refreshes
        )
        self.v1_max_inodes = v1_max_inodes
        self.change_tracking = change_tracking
        self.faults = Faults(VOLUME_OPERATIONS | DICT_OPERATIONS, f"emulator at {self.root}")
        """Faults for the next calls of every volume and dict of this emulator."""
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in ("volumes", "containers", "ephemeral", "dicts", "ids"):
            (self.root / folder).mkdir(exist_ok=True)
        self._containers = self.root / "containers"
        sweep_dead_owners(self._containers)
        emulator = self

        class Volume(EmulatedVolume):
            """``EmulatedVolume`` bound to this emulator (``Volume.from_name`` needs no root)."""

            _bound_emulator = emulator

        class Dict(EmulatedDict):
            """``EmulatedDict`` bound to this emulator (``Dict.from_name`` needs no root)."""

            _bound_emulator = emulator

        self.Volume = Volume
        self.Dict = Dict

    def __repr__(self) -> str:
        return f"VolumeEmulator({str(self.root)!r})"

    # -- object ids

    def _register_id(self, object_id: str, folder: str) -> None:
        write_json_atomically(
            str(self.root / "ids" / object_id),
            json.dumps({"folder": os.path.relpath(folder, self.root)}),
        )

    def _folder_of_id(self, object_id: str, prefix: str) -> str | None:
        if not is_object_id(object_id, prefix):
            return None
        try:
            with open(self.root / "ids" / object_id, encoding="utf-8") as f:
                return os.path.join(self.root, json.load(f)["folder"])
        except FileNotFoundError:
            return None

    # -- volumes

    def _volume_folder(self, environment_name: str, name: str) -> str:
        return os.path.join(self.root, "volumes", environment_name, name)

    def _create_volume_folder(self, folder: str, name: str | None, version: int | None) -> None:
        """Make a new volume's folder (caller holds the root lock exclusively)."""
        os.makedirs(os.path.join(folder, "committed"), exist_ok=True)
        os.makedirs(os.path.join(folder, "staging"), exist_ok=True)
        write_json_atomically(os.path.join(folder, "head.json"), json.dumps(Head(0, 0).to_json()))
        object_id = new_object_id("vo")
        # volume.py _validate_volume_version: an unspecified version means v1.
        meta = {
            "name": name,
            "version": version or 1,
            "created_at": time.time(),
            "object_id": object_id,
        }
        write_json_atomically(os.path.join(folder, "meta.json"), json.dumps(meta))
        self._register_id(object_id, folder)

    def _read_meta(self, folder: str) -> dict[str, Any]:
        path = os.path.join(folder, "meta.json")
        with open(path, encoding="utf-8") as f:
            meta: dict[str, Any] = json.load(f)
        if "object_id" not in meta:  # made by an older emulator: give it an id now
            with flock(os.path.join(self.root, "lock"), exclusive=True):
                with open(path, encoding="utf-8") as f:
                    meta = json.load(f)
                if "object_id" not in meta:
                    meta["object_id"] = new_object_id("vo")
                    write_json_atomically(path, json.dumps(meta))
                    self._register_id(meta["object_id"], folder)
        return meta

    def _get_or_create(
        self, name: str, environment_name: str, *, create_if_missing: bool, version: int | None
    ) -> VolumeStore:
        """Mirrors the server side of ``VolumeGetOrCreate``."""
        folder = self._volume_folder(environment_name, name)
        meta_path = os.path.join(folder, "meta.json")
        with flock(os.path.join(self.root, "lock"), exclusive=create_if_missing):
            if not os.path.exists(meta_path):
                if not create_if_missing:
                    raise error(
                        "NotFoundError",
                        f"Volume '{name}' not found in environment '{environment_name}'",
                    )
                self._create_volume_folder(folder, name, version)
        meta = self._read_meta(folder)
        actual = int(meta["version"])
        if version is not None and version != actual:
            # Wording of volume.py _validate_volume_version.
            raise error(
                "InvalidError",
                f"Volume '{name}' exists but has version v{actual}, not v{version} as "
                "requested. To access this Volume, either omit the version parameter or use "
                "the correct version.",
            )
        return VolumeStore(self, folder, actual, meta)

    def _volume_by_id(self, object_id: str) -> VolumeStore:
        folder = self._folder_of_id(object_id, "vo")
        if folder is None or not os.path.exists(os.path.join(folder, "meta.json")):
            raise error("NotFoundError", f"Volume with id '{object_id}' not found")
        meta = self._read_meta(folder)
        return VolumeStore(self, folder, int(meta["version"]), meta)

    def _create_ephemeral_volume(self, version: int | None) -> VolumeStore:
        with flock(os.path.join(self.root, "lock"), exclusive=True):
            folder = os.path.join(self.root, "ephemeral", new_object_id("vo"))
            self._create_volume_folder(folder, None, version)
        meta = self._read_meta(folder)
        return VolumeStore(self, folder, int(meta["version"]), meta)

    def _delete_ephemeral(self, store: VolumeStore) -> None:
        with flock(os.path.join(self.root, "lock"), exclusive=True):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / "ids" / store.object_id)
            # Renamed away first, so no process ever sees half of a deleted volume.
            doomed = f"{store.folder}.deleted"
            try:
                os.rename(store.folder, doomed)
            except FileNotFoundError:
                return
        shutil.rmtree(doomed, ignore_errors=True)


set_server_factory(VolumeEmulator)
