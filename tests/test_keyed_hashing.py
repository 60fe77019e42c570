"""Keyed user hashing, and the layout marker that keeps layouts from mixing."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

import volstore
from models import Schedule

KEY = "a-secret-key-of-at-least-16-bytes"


def sched(object_id: str = "s", user: str = "ada@example.com") -> Schedule:
    return Schedule(id=object_id, user_id=user, name="n", cron="* * * * *")


def test_keyed_folders_are_hmac_sha256(tmp_path: Path) -> None:
    store = volstore.Store(tmp_path, user_hash_key=KEY)
    store.repository(Schedule).put(sched())
    expected = hmac.new(KEY.encode(), b"ada@example.com", hashlib.sha256).hexdigest()[:16]
    assert [p.name for p in (tmp_path / "schedules").iterdir()] == [expected]
    assert expected != hashlib.sha256(b"ada@example.com").hexdigest()[:16]


def test_the_key_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOLSTORE_USER_HASH_KEY", KEY)
    volstore.Store(tmp_path).repository(Schedule).put(sched())
    monkeypatch.delenv("VOLSTORE_USER_HASH_KEY")
    assert (
        volstore.Store(tmp_path, user_hash_key=KEY).repository(Schedule).get("ada@example.com", "s")
    )


def test_the_marker_records_the_layout_but_not_the_key(tmp_path: Path) -> None:
    volstore.Store(tmp_path, user_hash_key=KEY).repository(Schedule).put(sched())
    marker = json.loads((tmp_path / ".volstore.json").read_text())
    assert marker["user_hash"] == "hmac-sha256"
    assert marker["length"] == 16
    assert KEY not in json.dumps(marker)


@pytest.mark.parametrize(
    ("written_with", "opened_with", "message"),
    [
        ({"user_hash_key": KEY}, {}, "keyed user folders"),
        ({"user_hash_key": KEY}, {"user_hash_key": KEY + "-other"}, "different user hash key"),
        ({}, {"user_hash_key": KEY}, "plain SHA-256"),
        ({}, {"user_hash_length": 24}, "plain SHA-256 user folders \\(16"),
    ],
)
def test_another_layout_is_refused_on_first_use(
    tmp_path: Path, written_with: dict[str, object], opened_with: dict[str, object], message: str
) -> None:
    volstore.Store(tmp_path, **written_with).repository(Schedule).put(sched())  # type: ignore[arg-type]
    other = volstore.Store(tmp_path, **opened_with).repository(Schedule)  # type: ignore[arg-type]
    with pytest.raises(volstore.LayoutMismatchError, match=message):
        other.get("ada@example.com", "s")
    with pytest.raises(volstore.LayoutMismatchError):
        other.put(sched("t"))
    assert len(list((tmp_path / "schedules").iterdir())) == 1, "nothing written in a new folder"


def test_a_seed_volume_without_marker_refuses_a_key(tmp_path: Path) -> None:
    folder = tmp_path / "schedules" / hashlib.sha256(b"ada").hexdigest()[:16]
    folder.mkdir(parents=True)
    (folder / "s.json").write_text(sched(user="ada").model_dump_json())
    with pytest.raises(volstore.LayoutMismatchError, match=r"holds data but no \.volstore\.json"):
        volstore.Store(tmp_path, user_hash_key=KEY).repository(Schedule).get("ada", "s")
    assert volstore.Store(tmp_path).repository(Schedule).get("ada", "s") is not None


def test_an_empty_store_takes_any_layout(tmp_path: Path) -> None:
    store = volstore.Store(tmp_path, user_hash_key=KEY, user_hash_length=32)
    store.repository(Schedule).put(sched())
    assert len(next((tmp_path / "schedules").iterdir()).name) == 32


def test_short_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        volstore.Store(tmp_path, user_hash_key="short")


def test_a_corrupt_marker_is_reported(tmp_path: Path) -> None:
    (tmp_path / ".volstore.json").write_text("{not json")
    with pytest.raises(volstore.CorruptObjectError, match=r"\.volstore\.json"):
        volstore.Store(tmp_path).repository(Schedule).get("ada", "s")


def test_a_user_bound_repository_is_confined_to_its_user(store: volstore.Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched("mine", user="ada"), sched("theirs", user="bob")])
    ada = repo.for_user("ada")
    assert ada.ids() == ["mine"]
    assert ada.get("theirs") is None
    assert ada.delete("theirs") is False
    assert ada.count(pattern="*") == 1
    with pytest.raises(volstore.TenantIsolationError, match="bound to user 'ada'"):
        ada.put(sched("x", user="bob"))
    with pytest.raises(PermissionError):
        ada.put_all([sched("y", user="ada"), sched("z", user="bob")])
    for traversal in ["../theirs", "..", "/etc/passwd", "bob\\theirs"]:
        with pytest.raises(volstore.InvalidKeyError):
            ada.get(traversal)
    assert ada.delete_all() == 1
    assert repo.ids("bob") == ["theirs"]
    assert repo.ids("ada") == []
