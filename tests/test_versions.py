"""Optimistic concurrency: versioned models refuse to overwrite changes they did not see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import volstore
from volstore import Store
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.modal import volume_claims
from volstore.testing import VolumeEmulator


class Doc(volstore.Model, resource_type="docs", version_field="version"):
    id: str
    user_id: str
    body: str = ""
    version: int = 0


def test_versions_start_at_one_and_count_writes(store: Store) -> None:
    repo = store.repository(Doc)
    doc = repo.put(Doc(id="d", user_id="ada"))
    assert doc.version == 1
    with store.session() as s:
        s.get_one(Doc, "ada", "d").body = "edited"
    stored = repo.get_one("ada", "d")
    assert (stored.body, stored.version) == ("edited", 2)


def test_a_stale_session_raises_and_writes_nothing(store: Store) -> None:
    repo = store.repository(Doc)
    repo.put_all([Doc(id="d", user_id="ada"), Doc(id="e", user_id="ada")])
    writes = store.stats.writes
    with pytest.raises(volstore.StaleObjectError) as info, store.session() as first:
        mine = first.get_one(Doc, "ada", "d")
        other = first.get_one(Doc, "ada", "e")
        with store.session() as second:  # someone else commits in between
            second.get_one(Doc, "ada", "d").body = "theirs"
        mine.body = "mine"
        other.body = "also mine"
    assert (info.value.expected, info.value.found) == (1, 2)
    assert "docs/" in info.value.path
    assert "expected version 1, found version 2" in str(info.value)
    assert store.stats.writes == writes + 1, "only the other session's write happened"
    assert repo.get_one("ada", "d").body == "theirs"
    assert repo.get_one("ada", "e").body == "", "the conflicting session wrote nothing at all"


def test_creating_an_object_that_exists_is_a_conflict(store: Store) -> None:
    repo = store.repository(Doc)
    repo.put(Doc(id="d", user_id="ada", body="first"))
    with pytest.raises(volstore.StaleObjectError, match="expected to create it, but version 1"):
        repo.put(Doc(id="d", user_id="ada", body="second"))
    assert repo.get_one("ada", "d").body == "first"


def test_deleting_a_stale_object_is_a_conflict(store: Store) -> None:
    repo = store.repository(Doc)
    repo.put(Doc(id="d", user_id="ada"))
    with pytest.raises(volstore.StaleObjectError), store.session() as s:
        loaded = s.get_one(Doc, "ada", "d")
        with store.session() as other:
            other.get_one(Doc, "ada", "d").body = "changed"
        s.delete(loaded)
    assert repo.exists("ada", "d")


def test_updating_an_object_someone_deleted_is_a_conflict(store: Store) -> None:
    repo = store.repository(Doc)
    repo.put(Doc(id="d", user_id="ada"))
    someone_else = Store(store.backend).repository(Doc)  # another writer of the same files
    with pytest.raises(volstore.StaleObjectError, match="it was deleted"), store.session() as s:
        s.get_one(Doc, "ada", "d").body = "x"
        someone_else.delete("ada", "d")
    assert not repo.exists("ada", "d")


def test_an_object_carried_across_sessions_keeps_its_version(store: Store) -> None:
    repo = store.repository(Doc)
    doc = repo.put(Doc(id="d", user_id="ada"))
    doc.body = "edited outside any session"
    repo.put(doc)  # carries version 1: matches the store
    assert repo.get_one("ada", "d").version == 2
    stale = Doc(id="d", user_id="ada", body="stale", version=1)
    with pytest.raises(volstore.StaleObjectError):
        repo.put(stale)


def test_a_failed_write_restores_the_version(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = store.repository(Doc)
    doc = repo.put(Doc(id="d", user_id="ada"))

    def full_disk(files: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.backend, "write_batch", full_disk)
    doc.body = "x"
    with pytest.raises(volstore.BackendError, match="No space left"):
        repo.put(doc)
    assert doc.version == 1
    monkeypatch.undo()
    repo.put(doc)
    assert repo.get_one("ada", "d").version == 2


def test_the_version_check_reloads_first(tmp_path: Path) -> None:
    """On a volume the check compares with the latest committed state: it reloads,
    once, after claiming (so no other writer can commit between the reload and the write);
    a store whose reads are always current (memory, local) never reloads for it."""
    emulator = VolumeEmulator(tmp_path / "emulator")
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    claims = volume_claims(volume)
    assert claims is not None
    events: list[str] = []
    real_acquire = claims.acquire

    def acquire(paths: list[str]) -> Any:
        events.append("claim")
        return real_acquire(paths)

    claims.acquire = acquire  # type: ignore[method-assign]

    class Spy:
        def commit(self) -> None:
            volume.commit()

        def reload(self) -> None:
            events.append("reload")
            volume.reload()

    with volume.mount(background_commit_interval=None) as mount:
        store = Store(MountedVolumeBackend(mount.path, Spy(), claims=claims))
        store.repository(Doc).put(Doc(id="d", user_id="ada"))
    assert events == ["claim", "reload"]

    class Counting(volstore.MemoryBackend):
        reloads = 0

        def reload(self) -> None:
            Counting.reloads += 1

    Store(Counting()).repository(Doc).put(Doc(id="d", user_id="ada"))
    assert Counting.reloads == 0


def test_bad_version_values_are_refused(store: Store) -> None:
    with pytest.raises(volstore.SessionError, match="non-negative int"):
        store.repository(Doc).put(Doc(id="d", user_id="ada", version=-1))


def test_version_field_must_exist() -> None:
    with pytest.raises(volstore.ModelDefinitionError, match="version field"):

        class Bad(volstore.Model, resource_type="bad-version", version_field="rev"):
            id: str
            user_id: str
