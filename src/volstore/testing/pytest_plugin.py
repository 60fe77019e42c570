"""pytest fixtures for code that uses volstore: stores on emulated Modal Volumes, offline.

Installed with volstore as the pytest plugin ``volstore`` (an entry point), so
the fixtures are there in any test once volstore is installed:

========================  ===============================================================
``volstore_emulator``     a ``VolumeEmulator`` in the test's temporary folder
``volstore_volume``       the handle of the emulated volume ``"test-volume"`` (v2)
``volstore_container``    a factory: each call starts one more emulated container
                          mounting the volume, with a Store on it (a ``Container``)
``volstore_store``        a Store in the first container (mounted backend)
``volstore_remote_store`` a Store on the volume through the client API, as a local
                          script sees it (remote backend)
``volstore_memory_store`` a Store on a ``MemoryBackend``
``volstore_dict``         the handle of the emulated ``modal.Dict`` ``"test-dict"``
========================  ===============================================================

Containers make background commits, as Modal's do (every 20 ms here, so tests
meet them); ``volstore_container(background_commits=False)`` turns them off.
Every container is stopped at the end of the test, the last started first;
stopping commits, as a Modal container does when its function returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .._store import ReloadPolicy, Store
from ..backends.memory import MemoryBackend
from ..modal import volume_store
from ._emulator import EmulatedDict, EmulatedVolume, Mount, VolumeEmulator
from ._emulator._volume import EMULATOR_DEFAULT, _Default

__all__ = [
    "DICT_NAME",
    "VOLUME_NAME",
    "Container",
    "ContainerFactory",
    "volstore_container",
    "volstore_dict",
    "volstore_emulator",
    "volstore_memory_store",
    "volstore_remote_store",
    "volstore_store",
    "volstore_volume",
]

VOLUME_NAME = "test-volume"
"""The name of the emulated volume the fixtures share."""
DICT_NAME = "test-dict"
"""The name of the emulated dict of the ``volstore_dict`` fixture."""


@dataclasses.dataclass
class Container:
    """One emulated Modal container: the volume mounted at ``mount.path``, and a Store on it.

    ``volume`` is this container's handle: pass it to code under test that calls
    ``volume.commit()`` or ``volume.reload()``, which then act on this container.
    """

    mount: Mount
    volume: EmulatedVolume
    store: Store

    @property
    def path(self) -> Path:
        """Where the volume is mounted in this container."""
        return self.mount.path

    def commit(self) -> None:
        """Publish this container's changes (``volume.commit()``). RuntimeError if it fails."""
        self.volume.commit()

    def reload(self) -> None:
        """See what other containers committed (``volume.reload()``).

        RuntimeError while a file under the mount is open.
        """
        self.volume.reload()

    def kill(self) -> None:
        """Stop the container as SIGKILL would: what it did not commit is lost."""
        self.mount.kill()


class ContainerFactory:
    """The ``volstore_container`` fixture: call it to start a container on the test volume.

    The first call mounts through the ``volstore_volume`` handle (so
    ``volstore_volume.commit()`` commits that container, as in a Modal function);
    each later call is another container with a handle of its own.
    """

    def __init__(self, emulator: VolumeEmulator, volume: EmulatedVolume) -> None:
        self.emulator = emulator
        self.volume = volume
        self.containers: list[Container] = []
        self._stack = contextlib.ExitStack()

    def __call__(
        self,
        *,
        background_commits: bool = True,
        background_commit_interval: float | _Default | None = EMULATOR_DEFAULT,
        reload: ReloadPolicy = ReloadPolicy.NEVER,
        reload_commits: bool | None = None,
        commit_refreshes: bool | None = None,
        **store_options: Any,
    ) -> Container:
        """Start a container and return it.

        ``background_commits``: whether Modal's background commits run (default
        yes, as on Modal, every ``background_commit_interval`` seconds: the
        emulator's 20 ms unless given; None also turns them off). Turn them off
        when a test must decide when changes are published. ``reload``: the
        Store's reload policy. ``reload_commits``: whether ``reload()`` first
        commits pending changes (the emulator's default: yes, as Modal may; else
        they stay pending). ``commit_refreshes``: whether ``commit()`` also
        brings in others' commits (Modal's does not; the emulator's default).
        Other keywords go to :class:`volstore.Store`.
        """
        if self.containers:
            handle = self.emulator.Volume.from_name(self.volume.name or VOLUME_NAME)
        else:
            handle = self.volume
        mount = self._stack.enter_context(
            handle.mount(
                background_commit_interval=(
                    background_commit_interval if background_commits else None
                ),
                reload_commits=reload_commits,
                commit_refreshes=commit_refreshes,
            )
        )
        store = volume_store(
            handle, mount_path=mount.path, mode="mounted", reload=reload, **store_options
        )
        self._stack.callback(store.backend.close)
        container = Container(mount, handle, store)
        self.containers.append(container)
        return container

    def close(self) -> None:
        """Stop every container, the last started first (each commits unless killed)."""
        self._stack.close()


@pytest.fixture
def volstore_emulator(tmp_path: Path) -> VolumeEmulator:
    """An emulated Modal server whose volumes live in the test's temporary folder."""
    return VolumeEmulator(tmp_path / "volstore-emulator")


@pytest.fixture
def volstore_volume(volstore_emulator: VolumeEmulator) -> EmulatedVolume:
    """A handle on the emulated v2 volume ``"test-volume"`` (created empty).

    Use it like a ``modal.Volume``: its client API (``listdir``, ``read_file``,
    ``batch_upload``...) sees the committed state; inside the first container
    its ``commit()`` and ``reload()`` act on that container.
    """
    volume = volstore_emulator.Volume.from_name(VOLUME_NAME, create_if_missing=True, version=2)
    volume.listdir("/")  # create it now, as from_name is lazy
    return volume


@pytest.fixture
def volstore_container(
    volstore_emulator: VolumeEmulator, volstore_volume: EmulatedVolume
) -> Iterator[ContainerFactory]:
    """A factory of emulated containers on ``volstore_volume``: ``volstore_container()``."""
    factory = ContainerFactory(volstore_emulator, volstore_volume)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def volstore_store(volstore_container: ContainerFactory) -> Store:
    """A Store in the first emulated container (mounted backend, reload policy NEVER)."""
    return volstore_container().store


@pytest.fixture
def volstore_remote_store(volstore_volume: EmulatedVolume) -> Iterator[Store]:
    """A Store on ``volstore_volume`` through the client API (the remote backend).

    Its writes are committed when each session ends; containers see them after
    their next reload. It always reads the latest committed state.
    """
    store = volume_store(volstore_volume, mode="remote")
    try:
        yield store
    finally:
        store.backend.close()


@pytest.fixture
def volstore_memory_store() -> Store:
    """A Store on a fresh ``MemoryBackend``: no files, no volume."""
    return Store(MemoryBackend())


@pytest.fixture
def volstore_dict(volstore_emulator: VolumeEmulator) -> EmulatedDict:
    """A handle on the emulated dict ``"test-dict"`` (created empty), used like a
    ``modal.Dict``: shared by every process that opens the test's emulator root."""
    handle = volstore_emulator.Dict.from_name(DICT_NAME, create_if_missing=True)
    return handle.hydrate()
