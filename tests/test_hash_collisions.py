"""User folders that two user ids could share (issue 13 item 4).

Lengths too short to be safe are refused (see ``MIN_USER_HASH_LENGTH`` and
docs/security.md). A file that lies in a user folder its owner does not hash
to (written by hand, restored into the wrong place, or a hash collision, which
the tests build with a hasher that maps two ids to one folder) is never handed
out as the folder's user's: reads and ``scan()`` refuse it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

import volstore
from tests._models import Note, Ping
from volstore._engine import Engine
from volstore._keys import MIN_USER_HASH_LENGTH, KeyedUserHasher, UserHasher

AT = datetime(2024, 2, 29, 23, 30, tzinfo=timezone.utc)


def colliding_pair(digits: int) -> tuple[str, str]:
    """Two user ids whose SHA-256 hex digests share their first ``digits`` digits."""
    seen: dict[str, str] = {}
    i = 0
    while True:
        user_id = f"user-{i}"
        prefix = hashlib.sha256(user_id.encode()).hexdigest()[:digits]
        if prefix in seen:
            return seen[prefix], user_id
        seen[prefix] = user_id
        i += 1


# -- the bound ---------------------------------------------------------------------------------


def test_a_colliding_pair_of_short_user_folders_is_found_at_once() -> None:
    """Why the bound: at 8 digits two user ids sharing a folder are found in ~33,000 hashes."""
    first, second = colliding_pair(8)
    assert first != second
    assert UserHasher()(first) != UserHasher()(second)  # 16 digits tell them apart


@pytest.mark.parametrize("length", range(8, MIN_USER_HASH_LENGTH))
def test_user_hash_lengths_too_short_to_be_safe_are_refused(length: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"from 16 to 64.*share a folder"):
        volstore.Store(volstore.MemoryBackend(), user_hash_length=length)
    with pytest.raises(ValueError, match="from 16 to 64"):
        KeyedUserHasher("a-key-of-at-least-16-bytes", length)
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("length", [16, 40, 64])
def test_the_default_and_longer_user_hash_lengths_work(length: int) -> None:
    store = volstore.Store(volstore.MemoryBackend(), user_hash_length=length)
    store.repository(Note).put(Note(id="n", user_id="ada"))
    assert store.repository(Note).get_one("ada", "n").id == "n"
    assert len(store.hasher("ada")) == length


# -- a file in another user's folder ------------------------------------------------------------


def misplace(store: volstore.Store, model: type[Note] | type[Ping], owner: str, into: str) -> str:
    """Copy ``owner``'s object "n" into ``into``'s folder (as a hand or a backup restore might)."""
    spec = store.register(model)
    at = AT if spec.time_field else None
    source = store.path_for(spec, owner, "n", at)
    target = store.path_for(spec, into, "stolen", at)
    data = store.backend.read(source).replace(b'"id":"n"', b'"id":"stolen"')
    store.backend.write_batch({target: data})
    return target


@pytest.mark.parametrize("backend", ["memory", "local"])
def test_scan_never_hands_out_a_file_from_one_users_folder_as_another_users(
    backend: str, tmp_path: Path
) -> None:
    store = volstore.Store(
        volstore.MemoryBackend() if backend == "memory" else volstore.LocalBackend(tmp_path)
    )
    notes = store.repository(Note)
    notes.put_all([Note(id="n", user_id="bob", text="bob's"), Note(id="a", user_id="ada")])
    path = misplace(store, Note, "bob", "ada")
    with pytest.raises(volstore.CorruptObjectError, match="whose folder is not this") as info:
        list(notes.scan())
    assert info.value.path == path
    found = [(n.user_id, n.id) for n in notes.scan(on_error="skip")]
    assert sorted(found) == [("ada", "a"), ("bob", "n")]
    assert [n.id for n in notes.list("ada", on_error="skip")] == ["a"]
    with pytest.raises(volstore.CorruptObjectError, match="another user"):
        notes.get("ada", "stolen")
    assert [f.path for f in store.check().mismatched] == [path]


def test_range_queries_never_hand_out_a_file_from_another_users_folder() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    pings = volstore.bucketed(store, Ping)
    pings.put(Ping(id="n", user_id="bob", at=AT))
    path = misplace(store, Ping, "bob", "ada")
    with pytest.raises(volstore.CorruptObjectError, match="place it at") as info:
        list(pings.range(None, None, user_id="ada"))
    assert info.value.path == path
    assert list(pings.range(None, None, user_id="ada", on_error="skip")) == []
    assert [(p.user_id, p.id) for p in pings.scan(on_error="skip")] == [("bob", "n")]


# -- two user ids in one folder ---------------------------------------------------------------


class CollidingHasher(UserHasher):
    """Maps "ada" and "eve" to one folder: a collision, which 16 digits make unreachable."""

    def _digest(self, user_id: str) -> str:
        return super()._digest("ada" if user_id == "eve" else user_id)


def colliding_store() -> volstore.Store:
    store = volstore.Store(volstore.MemoryBackend())
    store.engine = Engine(store.backend, CollidingHasher())
    assert store.hasher("ada") == store.hasher("eve")
    return store


def test_a_shared_folder_never_hands_one_users_objects_to_the_other() -> None:
    store = colliding_store()
    notes = store.repository(Note)
    notes.put(Note(id="n", user_id="ada", text="ada's"))
    with pytest.raises(volstore.CorruptObjectError, match="another user"):
        notes.get("eve", "n")
    with pytest.raises(volstore.CorruptObjectError, match="another user"):
        notes.list("eve")
    assert notes.list("eve", on_error="skip") == []
    assert notes.for_user("eve").list(on_error="skip") == []
    with store.session() as s, pytest.raises(volstore.CorruptObjectError, match="another user"):
        s.get(Note, "eve", "n")
    # scan hands each object out as its owner's, whoever shares the folder
    assert [(n.user_id, n.text) for n in notes.scan()] == [("ada", "ada's")]
