"""Fault injection: the emulator fails, or slows, the calls a test chooses, as Modal can.

Sources: modal-volumes.md ("Conflict and not-found errors surface as RuntimeError;
other modal.exception.* errors (ServiceError, InternalError, ResourceExhaustedError,
ConnectionError) propagate as they are") and modal/volume.py ``commit`` and
``reload`` (``except (ConflictError, NotFoundError) as exc: raise
RuntimeError(str(exc))``).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from volstore.testing import EmulatedVolume, VolumeEmulator, errors
from volstore.testing._emulator import _faults


def upload(volume: EmulatedVolume, files: dict[str, str]) -> None:
    with volume.batch_upload(force=True) as batch:
        for remote, text in files.items():
            batch.put_file(io.BytesIO(text.encode()), remote)


def paths(volume: EmulatedVolume) -> set[str]:
    return {e.path for e in volume.listdir("/", recursive=True) if e.type == 1}


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition``; the bound only keeps a broken build from hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.005)


@pytest.mark.parametrize("server_error", ["ConflictError", "NotFoundError"])
def test_a_conflict_or_not_found_commit_is_a_runtime_error_and_stays_retryable(
    volume: EmulatedVolume, server_error: str
) -> None:
    """modal/volume.py ``commit``: ``except (ConflictError, NotFoundError) as exc:
    raise RuntimeError(str(exc))``. The failed commit published nothing; the next
    commit publishes the same changes."""
    with volume.mount(background_commit_interval=None) as mount:
        (mount.path / "a.txt").write_text("a")
        volume.faults.fail_next("commit", getattr(errors, server_error)("busy, try again"))
        with pytest.raises(RuntimeError, match="busy, try again") as info:
            volume.commit()
        assert type(info.value) is RuntimeError
        assert paths(volume) == set()
        volume.commit()
        assert paths(volume) == {"a.txt"}


@pytest.mark.parametrize(
    "server_error",
    ["ServiceError", "InternalError", "ResourceExhaustedError", "ConnectionError"],
)
def test_other_commit_errors_propagate_as_modals_classes(
    volume: EmulatedVolume, server_error: str
) -> None:
    """modal-volumes.md: other modal.exception.* errors "propagate as they are"."""
    cls = getattr(errors, server_error)
    with volume.mount(background_commit_interval=None) as mount:
        (mount.path / "a.txt").write_text("a")
        volume.faults.fail_next("commit", cls("server trouble"))
        with pytest.raises(cls, match="server trouble"):
            volume.commit()
        assert paths(volume) == set()
        volume.commit()
    assert paths(volume) == {"a.txt"}


def test_a_commit_can_fail_after_it_was_applied(volume: EmulatedVolume) -> None:
    """``after=True``: the server applied the request but the answer was lost; the
    changes are published anyway, and a retry has nothing left to do."""
    with volume.mount(background_commit_interval=None) as mount:
        (mount.path / "a.txt").write_text("a")
        volume.faults.fail_next("commit", errors.ServiceError("timeout"), after=True)
        with pytest.raises(errors.ServiceError):
            volume.commit()
        assert paths(volume) == {"a.txt"}
        volume.commit()
        assert mount.counters.files_published == 1


def test_a_failed_reload_leaves_the_view_alone(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    """modal/volume.py ``reload``: a ConflictError becomes RuntimeError(message)."""
    other = emulator.Volume.from_name("vol")
    with volume.mount(background_commit_interval=None) as mount:
        upload(other, {"new.txt": "n"})
        volume.faults.fail_next("reload", errors.ConflictError("conflict"))
        with pytest.raises(RuntimeError, match="conflict"):
            volume.reload()
        assert not (mount.path / "new.txt").exists()
        volume.reload()
        assert (mount.path / "new.txt").exists()


def test_a_failed_upload_uploads_nothing(volume: EmulatedVolume) -> None:
    """An upload batch is applied when the block exits; a fault there uploads nothing
    (before) or everything (after=True), and the error is modal's."""
    volume.faults.fail_next("batch_upload", errors.InternalError("upload failed"))
    with pytest.raises(errors.InternalError), volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x"), "x.txt")
    assert paths(volume) == set()
    volume.faults.fail_next("batch_upload", errors.ServiceError("lost answer"), after=True)
    with pytest.raises(errors.ServiceError), volume.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x"), "x.txt")
    assert paths(volume) == {"x.txt"}


def test_client_reads_fail_like_modal(volume: EmulatedVolume) -> None:
    """Generators fail on first iteration (Modal's are async generators); other calls at
    once. An exception class is instantiated with a message naming the operation."""
    upload(volume, {"a.txt": "a"})
    volume.faults.fail_next("read_file", errors.ConnectionError)
    reader = volume.read_file("a.txt")  # nothing yet
    with pytest.raises(errors.ConnectionError, match="read_file failed"):
        next(reader)
    volume.faults.fail_next("listdir", errors.ServiceError("unavailable"))
    with pytest.raises(errors.ServiceError):
        volume.listdir("/")
    volume.faults.fail_next("remove_file", errors.PermissionDeniedError("no"))
    with pytest.raises(errors.PermissionDeniedError):
        volume.remove_file("a.txt")
    assert paths(volume) == {"a.txt"}
    assert b"".join(volume.read_file("a.txt")) == b"a"


def test_times_counts_calls_and_none_means_until_cleared(volume: EmulatedVolume) -> None:
    volume.faults.fail_next("listdir", errors.ServiceError("x"), times=2)
    for _ in range(2):
        with pytest.raises(errors.ServiceError):
            volume.listdir("/")
    assert volume.listdir("/") == []
    volume.faults.fail_next("listdir", errors.ServiceError("x"), times=None)
    for _ in range(3):
        with pytest.raises(errors.ServiceError):
            volume.listdir("/")
    assert volume.faults.pending == ["listdir"]
    volume.faults.clear("listdir")
    assert volume.listdir("/") == []


def test_emulator_faults_hit_every_handle(emulator: VolumeEmulator) -> None:
    one = emulator.Volume.from_name("one", create_if_missing=True)
    two = emulator.Volume.from_name("two", create_if_missing=True)
    emulator.faults.fail_next("listdir", errors.ServiceError("region down"), times=2)
    with pytest.raises(errors.ServiceError):
        one.listdir("/")
    with pytest.raises(errors.ServiceError):
        two.listdir("/")
    assert one.listdir("/") == two.listdir("/") == []


def test_delays_are_slept_before_the_call(
    volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delay_next makes a call slow (recorded here, not slept: no timed assertion)."""
    slept: list[float] = []
    monkeypatch.setattr(_faults.time, "sleep", slept.append)
    volume.faults.delay_next("commit", 1.5)
    with volume.mount(background_commit_interval=None) as mount:
        (mount.path / "a.txt").write_text("a")
        volume.commit()
        volume.commit()
    assert slept == [1.5]
    assert paths(volume) == {"a.txt"}


def test_a_failing_background_commit_is_recorded_and_retried(volume: EmulatedVolume) -> None:
    with volume.mount(background_commit_interval=0.01) as mount:
        volume.faults.fail_next("background_commit", errors.InternalError("hiccup"))
        (mount.path / "a.txt").write_text("a")
        wait_until(lambda: paths(volume) == {"a.txt"})
        assert [type(e).__name__ for e in mount.errors] == ["InternalError"]


def test_bad_fault_requests_are_refused(volume: EmulatedVolume) -> None:
    with pytest.raises(ValueError, match="unknown operation 'comit'"):
        volume.faults.fail_next("comit", errors.ServiceError("x"))
    with pytest.raises(ValueError, match="times must be at least 1"):
        volume.faults.fail_next("commit", errors.ServiceError("x"), times=0)
    with pytest.raises(TypeError, match="exception"):
        volume.faults.fail_next("commit", "boom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seconds"):
        volume.faults.delay_next("commit", -1)


def test_dict_faults(emulator: VolumeEmulator, tmp_path: Path) -> None:
    d = emulator.Dict.from_name("d", create_if_missing=True)
    d.faults.fail_next("put", errors.ResourceExhaustedError("rate limited"))
    with pytest.raises(errors.ResourceExhaustedError):
        d.put("k", 1, skip_if_exists=True)
    assert "k" not in d
    d.faults.fail_next("put", errors.ServiceError("x"))
    with pytest.raises(errors.ServiceError):
        d["k"] = 1  # __setitem__ is a put, as in modal/dict.py
    assert d.put("k", 1, skip_if_exists=True) is True
    d.faults.fail_next("pop", errors.ServiceError("x"))
    with pytest.raises(errors.ServiceError):
        del d["k"]
    assert d["k"] == 1
