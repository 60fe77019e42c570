"""volstore on Modal Volumes when Modal fails: typed errors with the cause, retries work.

The failures are injected into the emulator (``volume.faults``), which raises them
as modal's client does (modal-volumes.md: "Conflict and not-found errors surface as
RuntimeError; other modal.exception.* errors (ServiceError, InternalError,
ResourceExhaustedError, ConnectionError) propagate as they are"). Issue 11:
"volstore turns every one of them into its own typed errors (CommitError,
ReloadError, BackendError) carrying the cause, and a failed commit stays retryable".
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

import volstore
import volstore.modal
from models import Schedule
from volstore.testing import EmulatedVolume, VolumeEmulator, errors

SERVER_ERRORS = [
    "ConflictError",
    "NotFoundError",
    "ServiceError",
    "InternalError",
    "ResourceExhaustedError",
    "ConnectionError",
]


CREATED = datetime(2024, 2, 29, 12, tzinfo=timezone.utc)


def sched(object_id: str) -> Schedule:
    return Schedule(id=object_id, user_id="ada", name="n", cron="* * * * *", created_at=CREATED)


@pytest.fixture
def emulator(tmp_path: Path) -> VolumeEmulator:
    return VolumeEmulator(tmp_path / "emulator")


@pytest.fixture
def volume(emulator: VolumeEmulator) -> EmulatedVolume:
    return emulator.Volume.from_name("data", create_if_missing=True, version=2)


@pytest.mark.parametrize("name", SERVER_ERRORS)
def test_a_failed_commit_is_a_commit_error_with_its_cause_and_stays_retryable(
    emulator: VolumeEmulator, volume: EmulatedVolume, name: str
) -> None:
    error = getattr(errors, name)(f"{name} from the server")
    with volume.mount(background_commit_interval=None) as mount:
        store = volstore.modal.volume_store(volume, mount_path=mount.path, mode="mounted")
        session = store.session()
        session.add(sched("s1"))
        volume.faults.fail_next("commit", error)
        with pytest.raises(volstore.CommitError) as info:
            session.commit()
        cause = info.value.__cause__
        if name in ("ConflictError", "NotFoundError"):
            assert type(cause) is RuntimeError  # modal/volume.py commit
        else:
            assert cause is error
        assert f"{name} from the server" in str(info.value)
        assert volume.listdir("/", recursive=True) == [], "nothing published"
        session.commit()  # the retry publishes what the failed commit did not
        session.close()
    reader = volstore.modal.volume_store(emulator.Volume.from_name("data"), mode="remote")
    assert reader.repository(Schedule).get_one("ada", "s1") == sched("s1")


@pytest.mark.parametrize("name", SERVER_ERRORS)
def test_a_failed_reload_is_a_reload_error_with_its_cause(
    volume: EmulatedVolume, name: str
) -> None:
    error = getattr(errors, name)("reload trouble")
    with volume.mount(background_commit_interval=None) as mount:
        store = volstore.modal.volume_store(volume, mount_path=mount.path, mode="mounted")
        volume.faults.fail_next("reload", error)
        with pytest.raises(volstore.ReloadError) as info:
            store.reload()
        assert info.value.__cause__ is not None
        store.reload()  # the next one works


@pytest.mark.parametrize("operation", ["batch_upload", "read_file", "listdir", "remove_file"])
def test_client_api_failures_are_backend_errors(volume: EmulatedVolume, operation: str) -> None:
    store = volstore.modal.volume_store(volume, mode="remote")
    repo = store.repository(Schedule)
    repo.put(sched("s1"))
    volume.faults.fail_next(operation, errors.ServiceError("the API is down"))
    with pytest.raises(volstore.BackendError) as info:
        if operation == "batch_upload":
            repo.put(sched("s2"))
        elif operation == "read_file":
            repo.get("ada", "s1")
        elif operation == "listdir":
            repo.ids("ada")
        else:
            repo.delete("ada", "s1")
    assert isinstance(info.value.__cause__, errors.ServiceError)
    assert repo.get_one("ada", "s1") == sched("s1")
