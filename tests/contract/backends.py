"""How to build each backend the contract suite runs on.

Each factory takes a temporary folder and an ExitStack (for mounts to close)
and returns a fresh backend. Six configurations:

- ``memory``: MemoryBackend.
- ``local``: LocalBackend in a folder.
- ``mounted``: MountedVolumeBackend in an emulated container (no background commits).
- ``mounted-bg``: the same with the emulator's default background commits (every
  20 ms, as Modal's are always on) racing the tests; ``commit()`` never refreshes.
- ``mounted-refresh``: the same with ``commit_refreshes=True`` (commit also brings in
  other containers' commits): volstore must be correct either way.
- ``remote``: RemoteVolumeBackend through the emulated client API.
- ``s3``: S3Backend on a fresh prefix of the session's SeaweedFS server (a real
  S3-compatible server; see tests/_seaweedfs.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import volstore
from tests._seaweedfs import fresh_backend
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.backends.modal_remote import RemoteVolumeBackend
from volstore.modal import volume_claims
from volstore.testing import VolumeEmulator

Factory = Callable[[Path, ExitStack], volstore.Backend]


def memory(tmp: Path, stack: ExitStack) -> volstore.Backend:
    return volstore.MemoryBackend()


def local(tmp: Path, stack: ExitStack) -> volstore.Backend:
    return volstore.LocalBackend(tmp / "local")


def _mounted(*, background_commits: bool, commit_refreshes: bool = False) -> Factory:
    def make(tmp: Path, stack: ExitStack) -> volstore.Backend:
        emulator = VolumeEmulator(tmp / "emulator", commit_refreshes=commit_refreshes)
        volume = emulator.Volume.from_name("contract", create_if_missing=True)
        if background_commits:
            mount = stack.enter_context(volume.mount())  # the emulator's default interval
        else:
            mount = stack.enter_context(volume.mount(background_commit_interval=None))
        return MountedVolumeBackend(mount.path, volume, claims=volume_claims(volume))

    return make


def remote(tmp: Path, stack: ExitStack) -> volstore.Backend:
    emulator = VolumeEmulator(tmp / "emulator")
    volume = emulator.Volume.from_name("contract", create_if_missing=True)
    return RemoteVolumeBackend(volume, claims=volume_claims(volume))


def s3(tmp: Path, stack: ExitStack) -> volstore.Backend:
    backend = fresh_backend()
    stack.callback(backend.close)
    return backend


FACTORIES: dict[str, Factory] = {
    "memory": memory,
    "local": local,
    "mounted": _mounted(background_commits=False),
    "mounted-bg": _mounted(background_commits=True),
    "mounted-refresh": _mounted(background_commits=True, commit_refreshes=True),
    "remote": remote,
    "s3": s3,
}
