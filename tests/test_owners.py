"""The owner check: a flush never replaces or deletes another user's object in a shared folder.

Two user ids can share a folder (a hash collision). The collision is planted by
hand here: bob's object written into ada's folder, under the id ada then writes.
"""

from __future__ import annotations

import pytest

import volstore
from tests._models import Note
from volstore import Store


def plant(store: Store) -> str:
    """Bob's object where ada's object "n1" goes; return its path."""
    spec = store.register(Note)
    path = store.path_for(spec, "ada", "n1")
    store.backend.write_batch(
        {path: Note(id="n1", user_id="bob", text="bob's").model_dump_json().encode()}
    )
    return path


def test_a_blind_write_never_replaces_another_users_object(store: Store) -> None:
    path = plant(store)
    with pytest.raises(volstore.TenantIsolationError, match="another user") as info:
        store.repository(Note).put(Note(id="n1", user_id="ada", text="ada's"))
    assert path in str(info.value)
    assert Note.model_validate_json(store.backend.read(path)).text == "bob's", "nothing replaced"


def test_a_delete_by_key_never_removes_another_users_object(store: Store) -> None:
    path = plant(store)
    with pytest.raises(volstore.TenantIsolationError), store.session() as s:
        s.delete(Note, "ada", "n1")
    assert store.backend.exists(path)


def test_the_check_lists_a_folder_once_for_a_bulk_write_and_opens_one_path_for_a_put(
    store: Store,
) -> None:
    store.repository(Note).put(Note(id="first", user_id="u0"))  # the layout marker is written
    before = store.stats.snapshot()
    with store.session() as s:  # 4 folders, 25 new objects each: one listing per folder
        s.add_all(Note(id=f"n{i}", user_id=f"u{i % 4}") for i in range(100))
    after = store.stats.snapshot()
    assert after["lists"] - before["lists"] == 4
    assert after["reads"] - before["reads"] == 0, "none of the 100 paths held a file"
    before = after
    store.repository(Note).put(Note(id="n0", user_id="u0", text="again"))  # one blind put
    after = store.stats.snapshot()
    assert after["lists"] - before["lists"] == 0
    assert after["reads"] - before["reads"] == 1
