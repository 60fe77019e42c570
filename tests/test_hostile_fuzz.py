"""Fuzz: hostile things planted below the root, and user ids that share folders.

Hypothesis plants symbolic links (to folders and files outside the root,
holding valid objects of the same users), FIFOs, folders, garbage and files
over the size limit at random places of the layout (type, date, hour and user
folders, object files, the layout marker), then runs a random sequence of
reads, writes, deletes, range queries, retention, checks and repairs. Every
operation returns, or raises a VolstoreError; nothing blocks; nothing outside
the root changes; no object from outside is handed out.

A second fuzz runs random writes and reads of random users with a hasher that
puts them into three folders (the collisions 16 hex digits make unreachable):
no read ever hands one user another user's object, and a write or delete
that would replace or remove another user's object is refused (the flush's
owner check).

CI runs the "ci" Hypothesis profile; ``scripts/thorough.sh`` runs 10,000 examples.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import volstore
from tests._faults import no_hang
from tests._models import Doc, Note, Ping
from volstore._engine import Engine
from volstore._keys import MIN_USER_HASH_LENGTH, UserHasher

AT = datetime(2024, 2, 29, 23, 30, tzinfo=timezone.utc)
USERS = ["ada", "bob"]
IDS = ["x1", "x2"]
LIMIT = 4096  # max_object_bytes of the fuzzed store: "big" files stay small on disk
CANARY = "canary-from-outside-the-root"


MODELS: dict[str, type[Any]] = {"notes": Note, "pings": Ping, "docs": Doc}
PLACES = ["type", "date", "hour", "user", "object", "marker"]
KINDS = ["link-to-folder", "link-to-file", "fifo", "folder", "garbage", "big"]


def canary(model: type[Any], user: str, object_id: str) -> bytes:
    """A valid object of ``user`` that lives outside the root: never to be handed out."""
    fields: dict[str, Any] = {"id": object_id, "user_id": user, "text": CANARY}
    if model is Ping:
        fields["at"] = AT
    return volstore.spec_of(model).encode(model(**fields))


def plant(store: volstore.Store, root: Path, outside: Path, plan: tuple[Any, ...]) -> None:
    """Put one hostile thing at one place; skip it when the place is taken already."""
    resource_type, place, kind, user, object_id = plan
    model = MODELS[resource_type]
    spec = store.register(model)
    path = store.path_for(spec, user, object_id, AT if spec.time_field else None)
    parts = path.split("/")
    if place == "marker":
        target = ".volstore.json"
    else:
        depth = {"type": 1, "date": 2, "hour": 3, "user": len(parts) - 1, "object": len(parts)}
        if place in ("date", "hour") and model is not Ping:
            return
        target = "/".join(parts[: depth[place]])
    full = root / target
    if os.path.lexists(full):
        return
    try:
        full.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return  # a file or a link already stands above it
    if full.parent.is_symlink() or not full.parent.resolve().is_relative_to(root.resolve()):
        return
    if kind == "link-to-folder":
        elsewhere = outside / f"folder-{len(os.listdir(outside))}"
        below = parts[len(target.split("/")) :] if place != "marker" else []
        file = elsewhere.joinpath(*below) if below else elsewhere / f"{object_id}.json"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(canary(model, user, object_id))
        os.symlink(elsewhere, full)
    elif kind == "link-to-file":
        elsewhere = outside / f"file-{len(os.listdir(outside))}.json"
        elsewhere.write_bytes(canary(model, user, object_id))
        os.symlink(elsewhere, full)
    elif kind == "fifo":
        os.mkfifo(full)
    elif kind == "folder":
        full.mkdir()
        (full / "inside.json").write_bytes(b"{}")
    elif kind == "garbage":
        full.write_bytes(b'{"id": "' + os.urandom(40) + b'"')
    else:
        with full.open("wb") as f:
            f.truncate(LIMIT * 4)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(base, name), folder)] = None
        for name in files:
            found[os.path.relpath(os.path.join(base, name), folder)] = Path(base, name).read_bytes()
    return found


def operations(store: volstore.Store) -> dict[str, Callable[[str, str], Any]]:
    notes, pings, docs = store.repository(Note), store.bucketed(Ping), store.repository(Doc)

    def session(user: str, object_id: str) -> None:
        with store.session() as s:
            s.add(Note(id=object_id, user_id=user, text="session"))
            s.delete(Note, user, IDS[0] if object_id != IDS[0] else IDS[1])

    def move(user: str, object_id: str) -> None:
        with store.session() as s:
            ping = s.get(Ping, user, object_id, at=AT)
            if ping is not None:
                ping.at = AT + timedelta(hours=1)

    return {
        "get": lambda u, i: notes.get(u, i),
        "exists": lambda u, i: notes.exists(u, i),
        "list": lambda u, i: notes.list(u),
        "list-skip": lambda u, i: notes.list(u, on_error="skip"),
        "ids": lambda u, i: notes.ids(u),
        "scan-skip": lambda u, i: list(notes.scan(on_error="skip")),
        "put": lambda u, i: notes.put(Note(id=i, user_id=u, text="inside")),
        "session": session,
        "delete": lambda u, i: notes.delete(u, i),
        "delete-all": lambda u, i: notes.delete_all(u),
        "versioned-put": lambda u, i: docs.put(Doc(id=i, user_id=u)),
        "versioned-get": lambda u, i: docs.get(u, i),
        "ping-put": lambda u, i: pings.put(Ping(id=i, user_id=u, at=AT)),
        "ping-get": lambda u, i: pings.get(u, i, AT),
        "range": lambda u, i: list(pings.range(AT - timedelta(hours=2), AT + timedelta(hours=2))),
        "range-skip": lambda u, i: list(pings.range(None, None, on_error="skip")),
        "latest": lambda u, i: pings.latest(u, on_error="skip"),
        "move": move,
        "purge": lambda u, i: pings.purge_older_than(AT + timedelta(days=1), on_error="skip"),
        "trim": lambda u, i: pings.purge_older_than(AT + timedelta(minutes=1), on_error="skip"),
        "cleanup": lambda u, i: pings.remove_empty_folders(),
        "check": lambda u, i: store.check(),
        "repair": lambda u, i: store.check(repair=True, temporary_min_age=0),
    }


OPERATIONS = sorted(operations(volstore.Store(volstore.MemoryBackend())))
plans = st.tuples(
    st.sampled_from(sorted(MODELS)),
    st.sampled_from(PLACES),
    st.sampled_from(KINDS),
    st.sampled_from(USERS),
    st.sampled_from(IDS),
)
steps = st.tuples(st.sampled_from(OPERATIONS), st.sampled_from(USERS), st.sampled_from(IDS))


@given(
    seed=st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(IDS)), max_size=3),
    planted=st.lists(plans, min_size=1, max_size=4),
    run=st.lists(steps, min_size=1, max_size=8),
)
def test_hostile_things_below_the_root_give_typed_errors_and_never_reach_outside(
    seed: list[tuple[str, str]], planted: list[tuple[Any, ...]], run: list[tuple[str, str, str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = Path(tmp, "store"), Path(tmp, "outside")
        outside.mkdir()
        store = volstore.Store(volstore.LocalBackend(root), max_object_bytes=LIMIT)
        for user, object_id in seed:
            store.repository(Note).put(Note(id=object_id, user_id=user))
            store.bucketed(Ping).put(Ping(id=object_id, user_id=user, at=AT))
        for plan in planted:
            plant(store, root, outside, plan)
        before = snapshot(outside)
        ops = operations(store)
        messages: list[str] = []
        with no_hang():
            for name, user, object_id in run:
                try:
                    result = ops[name](user, object_id)
                except volstore.VolstoreError as exc:  # anything else fails the test
                    messages.append(str(exc))
                    continue
                assert CANARY not in repr(result), (name, result)
        assert snapshot(outside) == before
        assert [message for message in messages if "\n" in message] == []


# -- user ids that share folders ----------------------------------------------------------------


class ThreeFolders(UserHasher):
    """Every user id lands in one of three folders: collisions everywhere."""

    def _digest(self, user_id: str) -> str:
        return super()._digest(str(len(user_id) % 3))


SHARED_USERS = ["ann", "bea", "cy", "dan", "e", "fay", "gus"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["put", "get", "list", "scan", "exists", "delete"]),
            st.sampled_from(SHARED_USERS),
            st.sampled_from(IDS),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_users_sharing_a_folder_never_read_each_others_objects(
    run: list[tuple[str, str, str]],
) -> None:
    store = volstore.Store(volstore.MemoryBackend())
    store.engine = Engine(store.backend, ThreeFolders())
    notes = store.repository(Note)
    refused: list[str] = []
    owners_kept: list[str] = []
    for action, user, object_id in run:
        try:
            if action == "put":
                notes.put(Note(id=object_id, user_id=user, text=user))
            elif action == "get":
                found = notes.get(user, object_id)
                assert found is None or (found.user_id, found.text) == (user, user)
            elif action == "list":
                assert all(n.user_id == user for n in notes.list(user, on_error="skip"))
            elif action == "scan":
                assert all(n.text == n.user_id for n in notes.scan(on_error="skip"))
            elif action == "exists":
                notes.exists(user, object_id)
            else:
                notes.delete(user, object_id)
        except volstore.CorruptObjectError as exc:
            refused.append(exc.reason)
        except volstore.TenantIsolationError as exc:  # the flush's owner check
            owners_kept.append(action)
            assert_owner_kept(store, str(exc))
    # A read of another user's file is refused as that, and as nothing else;
    # only writes and deletes meet the owner check.
    assert [reason for reason in refused if "another user" not in reason] == []
    assert set(owners_kept) <= {"put", "delete"}


def assert_owner_kept(store: volstore.Store, message: str) -> None:
    """The refused write left the other user's object as it was: it still reads as theirs."""
    path = message.split(" ", 1)[0]
    data = store.backend.read(path)
    stored = volstore.spec_of(Note).decode(data)
    assert stored.text == stored.user_id


@given(st.integers(min_value=-5, max_value=MIN_USER_HASH_LENGTH - 1))
def test_every_user_hash_length_below_the_bound_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="from 16 to 64"):
        volstore.Store(volstore.MemoryBackend(), user_hash_length=length)
