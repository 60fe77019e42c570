"""volstore on Modal Volumes, checked against the emulator.

The semantics come from ../shared/design/modal-volumes.md; each test says which line.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import volstore
import volstore.modal
from models import Schedule
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.backends.modal_remote import RemoteVolumeBackend
from volstore.testing import EmulatedVolume, VolumeEmulator

ROOT = Path(__file__).resolve().parents[1]


def sched(object_id: str, user: str = "ada") -> Schedule:
    return Schedule(id=object_id, user_id=user, name="n", cron="* * * * *")


@pytest.fixture
def emulator(tmp_path: Path) -> VolumeEmulator:
    return VolumeEmulator(tmp_path / "emulator")


@pytest.fixture
def volume(emulator: VolumeEmulator) -> EmulatedVolume:
    return emulator.Volume.from_name("data", create_if_missing=True)


def handle(emulator: VolumeEmulator) -> EmulatedVolume:
    """Another container's handle on the same volume."""
    return emulator.Volume.from_name("data")


def load_example_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "modal_app_example", ROOT / "examples" / "modal_app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the example app, in two emulated containers ----------------------------------------


def test_example_app_reader_sees_writer_only_after_commit_and_reload(
    emulator: VolumeEmulator,
) -> None:
    """modal-volumes.md: a container 'never sees other containers' commits until it reloads'."""
    app = load_example_app()
    writer_volume, reader_volume = handle_pair(emulator)
    with (
        writer_volume.mount(background_commit_interval=None) as writer_mount,
        reader_volume.mount(background_commit_interval=None) as reader_mount,
    ):
        writer = volstore.modal.volume_store(
            writer_volume, mount_path=writer_mount.path, mode="mounted"
        )
        reader = volstore.modal.volume_store(
            reader_volume, mount_path=reader_mount.path, mode="mounted"
        )
        reader_repo = reader.repository(Schedule)

        # Files the writer put on its disk but did not commit stay invisible, even after a reload.
        writer.backend.write_batch(
            {writer.path_for(writer.repository(Schedule).spec, "ada", "draft"): b"{}"}
        )
        assert app.read_schedules(reader, "ada") == []

        assert app.record_schedules(writer, "ada", 3) == 3
        assert writer.stats.commits == 1
        # Committed, but the reader has not reloaded: its view is the old one.
        assert reader_repo.ids("ada", reload=False) == []
        # After its own reload it sees the writer's data (the commit published the draft too).
        assert app.read_schedules(reader, "ada") == ["draft", "job-000", "job-001", "job-002"]
        assert reader.stats.reloads == 2


def handle_pair(emulator: VolumeEmulator) -> tuple[EmulatedVolume, EmulatedVolume]:
    first = emulator.Volume.from_name("data", create_if_missing=True)
    return first, handle(emulator)


def test_example_app_module_builds_a_modal_app() -> None:
    modal = pytest.importorskip("modal")
    app = load_example_app()
    assert app.app.name == "volstore-example"
    assert isinstance(app.writer, modal.Function)
    assert isinstance(app.reader, modal.Function)


# -- mounted backend ----------------------------------------------------------------------------


def test_mounted_session_commits_the_volume_once(volume: EmulatedVolume) -> None:
    with volume.mount(background_commit_interval=None) as mount:
        store = volstore.modal.volume_store(volume, mount_path=mount.path, mode="mounted")
        with store.session() as s:
            s.add_all([sched(f"s{i}") for i in range(20)])
        assert mount.counters.commits == 1
    names = [
        e.path for e in volume.listdir("schedules", recursive=True) if e.path.endswith(".json")
    ]
    assert len(names) == 20


def test_reload_with_an_open_file_is_a_reload_error_quoting_modal(volume: EmulatedVolume) -> None:
    """modal-volumes.md: reload() 'fails with RuntimeError if any file on the volume is open'."""
    with volume.mount(background_commit_interval=None) as mount:
        store = volstore.modal.volume_store(
            volume, mount_path=mount.path, mode="mounted", reload=volstore.ReloadPolicy.ALWAYS
        )
        store.repository(Schedule).put(sched("a"))
        path = mount.path / store.path_for(store.repository(Schedule).spec, "ada", "a")
        with open(path, "rb"), pytest.raises(volstore.ReloadError) as info:
            store.repository(Schedule).get("ada", "a")
        assert "there are open files preventing the operation" in str(info.value)
        assert isinstance(info.value.__cause__, RuntimeError)
        # volstore itself holds nothing open: the next read reloads fine.
        assert store.repository(Schedule).get_one("ada", "a").id == "a"


def test_volstore_never_blocks_reload_with_its_own_files(volume: EmulatedVolume) -> None:
    """modal-volumes.md: 'Never keep files open across operations.'"""
    with volume.mount(background_commit_interval=None) as mount:
        store = volstore.modal.volume_store(volume, mount_path=mount.path, mode="mounted")
        repo = store.repository(Schedule)
        repo.put_all([sched(str(i)) for i in range(5)])
        iterator = repo.iter("ada")
        next(iterator)  # a lazy listing half consumed
        store.reload()
        assert len(list(iterator)) == 4


def test_uncommitted_writes_are_lost_on_kill_but_a_session_commits_before_returning(
    emulator: VolumeEmulator,
) -> None:
    """modal-volumes.md: writes 'are lost on SIGKILL / out-of-memory after the last periodic
    commit'."""
    volume = emulator.Volume.from_name("data", create_if_missing=True)
    mount = volume.mount(background_commit_interval=None).__enter__()
    store = volstore.modal.volume_store(volume, mount_path=mount.path, mode="mounted")
    store.repository(Schedule).put(sched("committed"))
    store.backend.write_batch({"schedules/x/uncommitted.json": b"{}"})
    mount.kill()
    remote = RemoteVolumeBackend(handle(emulator))
    assert remote.exists(store.path_for(store.repository(Schedule).spec, "ada", "committed"))
    assert not remote.exists("schedules/x/uncommitted.json")


def test_mounted_backend_needs_an_existing_mount_path(
    tmp_path: Path, volume: EmulatedVolume
) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        MountedVolumeBackend(tmp_path / "nope", volume)


# -- remote backend -------------------------------------------------------------------------------


class SpyVolume:
    """Counts the client-API calls the remote backend makes."""

    def __init__(self, volume: EmulatedVolume) -> None:
        self.volume = volume
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def read_file(self, path: str) -> Iterator[bytes]:
        self._count("read_file")
        return self.volume.read_file(path)

    def listdir(self, path: str, *, recursive: bool = False) -> list[Any]:
        self._count("listdir")
        return self.volume.listdir(path, recursive=recursive)

    def batch_upload(self, force: bool = False) -> AbstractContextManager[Any]:
        self._count("batch_upload")
        assert force, "volstore replaces objects: force=True"
        return self.volume.batch_upload(force=force)

    def remove_file(self, path: str, recursive: bool = False) -> None:
        self._count("remove_file")
        self.volume.remove_file(path, recursive=recursive)


def test_remote_flush_is_one_batch_upload_plus_removes(volume: EmulatedVolume) -> None:
    spy = SpyVolume(volume)
    store = volstore.Store(RemoteVolumeBackend(spy))
    store.repository(Schedule).put_all([sched("old1"), sched("old2")])
    assert spy.calls["batch_upload"] == 1
    with store.session() as s:
        s.add_all([sched(f"n{i}") for i in range(10)])
        s.delete(Schedule, "ada", "old1")
        s.delete(Schedule, "ada", "never-there")  # gone already: not an error
    assert spy.calls["batch_upload"] == 2
    assert spy.calls["remove_file"] == 2
    assert store.repository(Schedule).count("ada") == 11


def test_remote_writes_reach_containers_after_their_reload(emulator: VolumeEmulator) -> None:
    """modal-volumes.md: batch_upload 'everything uploads when the block exits'; containers
    reload to see it."""
    volume = emulator.Volume.from_name("data", create_if_missing=True)
    with volume.mount(background_commit_interval=None) as mount:
        container = volstore.modal.volume_store(volume, mount_path=mount.path, mode="mounted")
        laptop = volstore.modal.volume_store(handle(emulator), mode="remote")
        laptop.repository(Schedule).put(sched("from-laptop"))
        assert container.repository(Schedule).ids("ada") == []
        assert container.repository(Schedule).ids("ada", reload=True) == ["from-laptop"]


def test_remote_reads_see_container_commits_without_reload(emulator: VolumeEmulator) -> None:
    volume = emulator.Volume.from_name("data", create_if_missing=True)
    laptop = volstore.modal.volume_store(handle(emulator), mode="remote")
    with volume.mount(background_commit_interval=None) as mount:
        container = volstore.modal.volume_store(volume, mount_path=mount.path, mode="mounted")
        container.repository(Schedule).put(sched("from-container"))
        assert laptop.repository(Schedule).ids("ada") == ["from-container"]


# -- choosing a backend --------------------------------------------------------------------------


def test_auto_picks_mounted_inside_a_container(
    monkeypatch: pytest.MonkeyPatch, volume: EmulatedVolume, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODAL_IS_REMOTE", "1")
    assert volstore.modal.in_modal_container()
    backend = volstore.modal.volume_backend(volume, mount_path=tmp_path)
    assert isinstance(backend, MountedVolumeBackend)


def test_auto_inside_a_container_without_a_mount_path_is_an_error(
    monkeypatch: pytest.MonkeyPatch, volume: EmulatedVolume
) -> None:
    """The client API works in a container too, but bypasses the mount: almost always a
    forgotten mount_path. Modal guide, "Volumes": containers see the volume at its mount."""
    monkeypatch.setenv("MODAL_IS_REMOTE", "1")
    with pytest.raises(ValueError, match=r"needs mount_path=.*mode='remote'"):
        volstore.modal.volume_store(volume)
    assert isinstance(volstore.modal.volume_backend(volume, mode="remote"), RemoteVolumeBackend)


def test_store_from_name_asks_for_the_volume_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """modal.Volume.from_name(name, *, environment_name, create_if_missing, version): the docs
    recommend v2 volumes; store_from_name passes version= through (and leaves it out when
    not given, so modal's default applies)."""
    calls: list[tuple[str, dict[str, object]]] = []

    class Volume:
        name = "data"

        @staticmethod
        def from_name(name: str, **options: object) -> Volume:
            calls.append((name, options))
            return Volume()

    fake = types.SimpleNamespace(Volume=Volume, is_local=lambda: True)
    monkeypatch.setattr(volstore.modal, "_import_modal", lambda: fake)
    monkeypatch.delenv("MODAL_IS_REMOTE", raising=False)
    volstore.modal.store_from_name("data", create_if_missing=True, version=2)
    volstore.modal.store_from_name("data")
    assert calls == [
        ("data", {"environment_name": None, "create_if_missing": True, "version": 2}),
        ("data", {"environment_name": None, "create_if_missing": False}),
    ]


def test_auto_picks_remote_outside_a_container(
    monkeypatch: pytest.MonkeyPatch, volume: EmulatedVolume, tmp_path: Path
) -> None:
    monkeypatch.delenv("MODAL_IS_REMOTE", raising=False)
    assert not volstore.modal.in_modal_container()  # modal.is_local() is True here
    assert isinstance(
        volstore.modal.volume_backend(volume, mount_path=tmp_path), RemoteVolumeBackend
    )


def test_explicit_mode_overrides(volume: EmulatedVolume, tmp_path: Path) -> None:
    assert isinstance(volstore.modal.volume_backend(volume, mode="remote"), RemoteVolumeBackend)
    mounted = volstore.modal.volume_backend(volume, mount_path=tmp_path, mode="mounted")
    assert isinstance(mounted, MountedVolumeBackend)
    with pytest.raises(ValueError, match="needs mount_path"):
        volstore.modal.volume_backend(volume, mode="mounted")
    with pytest.raises(ValueError, match="mode must be"):
        volstore.modal.volume_backend(volume, mode="sideways")  # type: ignore[arg-type]


@contextmanager
def modal_missing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "modal", None)  # makes `import modal` raise ImportError
    monkeypatch.delenv("MODAL_IS_REMOTE", raising=False)
    yield


def test_missing_modal_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    with modal_missing(monkeypatch):
        with pytest.raises(
            volstore.modal.ModalUnavailableError, match=r"pip install 'volstore\[modal\]'"
        ):
            volstore.modal.store_from_name("data")
        assert not volstore.modal.in_modal_container()


def test_core_volstore_does_not_import_modal() -> None:
    import subprocess

    code = (
        "import sys, volstore, volstore.testing\n"
        "assert 'modal' not in sys.modules, 'modal imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
