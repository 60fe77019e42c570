"""Bad input, one test per row of the issue's table: each is a typed error, nothing half-written.

Rows: bad keys (traversal, NUL, empty, too long, reserved names, unicode that
normalizes to another key); fields that cannot be serialized; objects over the
size limit; stored files that are truncated, not UTF-8, of another schema, or
hold another id; a folder where a file should be; an unreadable file; a full
disk. The fuzz of keys is in test_key_fuzz.py.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import volstore
from tests._faults import patch_os, refuse_opens
from tests._models import Note
from volstore import Store
from volstore._check import check_store
from volstore.backends import local as local_module
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.testing import VolumeEmulator


class Blob(volstore.Model, resource_type="blobs"):
    id: str
    user_id: str
    data: Any = None


class Doc(volstore.Model, resource_type="docs", version_field="version"):
    id: str
    user_id: str
    version: int = 0


def snapshot(store: Store) -> dict[str, bytes]:
    """Every file the store holds, hidden ones included on a local folder."""
    backend = store.backend
    if isinstance(backend, volstore.LocalBackend):
        root = Path(backend.root)
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }
    return {path: backend.read(path) for path in backend.walk("")}


def seeded(store: Store) -> dict[str, bytes]:
    store.repository(Note).put_all([Note(id="keep", user_id="ada", text="old")])
    return snapshot(store)


# -- keys ----------------------------------------------------------------------------------


def assert_key_refused(store: Store, object_id: str, user_id: str) -> None:
    """Every way in refuses the key with InvalidKeyError and the store does not change."""
    before = seeded(store)
    repo = store.repository(Note)
    with pytest.raises(volstore.InvalidKeyError):
        repo.put(Note(id=object_id, user_id=user_id))
    with pytest.raises(volstore.InvalidKeyError), store.session() as s:
        s.add(Note(id="fine", user_id="ada"))  # a good object first: the session fails whole
        s.add(Note(id=object_id, user_id=user_id))
    with pytest.raises(volstore.InvalidKeyError), store.session() as s:
        made_bad_later = s.add(Note(id="fine", user_id="ada"))
        s.add(Note(id="fine2", user_id="ada"))
        made_bad_later.id, made_bad_later.user_id = object_id, user_id  # caught at flush
    for call in (
        lambda: repo.get(user_id, object_id),
        lambda: repo.exists(user_id, object_id),
        lambda: repo.delete(user_id, object_id),
    ):
        with pytest.raises(volstore.InvalidKeyError):
            call()
    with pytest.raises(volstore.InvalidKeyError), store.session() as s:
        s.delete(Note, user_id, object_id)
    assert snapshot(store) == before


TRAVERSALS = ["..", "../x", "../../etc/passwd", "a/b", "/abs", "a\\b", "..\\..\\x", "x/..", "./x"]


@pytest.mark.parametrize("bad", TRAVERSALS)
@pytest.mark.parametrize("field", ["id", "user_id"])
def test_keys_with_traversal_are_refused(store: Store, field: str, bad: str) -> None:
    assert_key_refused(store, *((bad, "ada") if field == "id" else ("n", bad)))


@pytest.mark.parametrize("bad", ["\x00", "a\x00b", "a\x00/../b", "x\n", "\x7f"])
@pytest.mark.parametrize("field", ["id", "user_id"])
def test_keys_with_nul_or_control_characters_are_refused(
    store: Store, field: str, bad: str
) -> None:
    assert_key_refused(store, *((bad, "ada") if field == "id" else ("n", bad)))


@pytest.mark.parametrize("field", ["id", "user_id"])
def test_empty_keys_are_refused(store: Store, field: str) -> None:
    assert_key_refused(store, *(("", "ada") if field == "id" else ("n", "")))


def test_ids_too_long_are_refused(store: Store) -> None:
    assert_key_refused(store, "x" * (volstore.MAX_ID_BYTES + 1), "ada")
    assert_key_refused(store, "é" * (volstore.MAX_ID_BYTES // 2 + 1), "ada")  # counted in bytes
    repo = store.repository(Note)
    repo.put(Note(id="x" * volstore.MAX_ID_BYTES, user_id="ada"))
    assert repo.ids("ada") == ["keep", "x" * volstore.MAX_ID_BYTES]


def test_long_user_ids_are_hashed_into_one_short_folder(store: Store) -> None:
    user = "u" * 100_000
    store.repository(Note).put(Note(id="n", user_id=user))
    (path,) = [p for p in store.backend.walk("") if p.startswith("notes/")]
    assert path == f"notes/{store.hasher(user)}/n.json"


@pytest.mark.parametrize(
    "bad", [".", "..", ".volstore.json", ".volstore-quarantine", ".n.json.0123abcd-1.vstmp", ".x"]
)
@pytest.mark.parametrize("field", ["id", "user_id"])
def test_reserved_names_are_refused(store: Store, field: str, bad: str) -> None:
    assert_key_refused(store, *((bad, "ada") if field == "id" else ("n", bad)))


@pytest.mark.parametrize(
    ("decomposed", "composed"),
    [("e\u0301", "\u00e9"), ("A\u030a", "\u00c5"), ("\u1100\u1161", "\uac00")],  # é, Å, 가
)
@pytest.mark.parametrize("field", ["id", "user_id"])
def test_unicode_that_normalizes_to_another_key_is_refused(
    store: Store, field: str, decomposed: str, composed: str
) -> None:
    assert_key_refused(store, *((decomposed, "ada") if field == "id" else ("n", decomposed)))
    repo = store.repository(Note)
    repo.put(Note(id=composed, user_id=composed))  # the NFC spelling is the key
    assert repo.get_one(composed, composed).id == composed


def test_compatibility_variants_are_distinct_keys(store: Store) -> None:
    """NFC keeps "ﬁ" (a ligature) and "fi" apart, so they are two keys, never one file."""
    repo = store.repository(Note)
    repo.put_all([Note(id="\ufb01", user_id="ada", text="lig"), Note(id="fi", user_id="ada")])
    assert repo.get_one("ada", "\ufb01").text == "lig"
    assert repo.get_one("ada", "fi").text == ""


def test_a_user_bound_repository_refuses_every_bad_key(store: Store) -> None:
    store.repository(Note).put(Note(id="secret", user_id="bob"))
    ada = store.repository(Note).for_user("ada")
    for bad in [*TRAVERSALS, "", "\x00", ".x"]:
        with pytest.raises(volstore.InvalidKeyError):
            ada.get(bad)
        with pytest.raises(volstore.InvalidKeyError):
            ada.delete(bad)
    with pytest.raises(volstore.InvalidKeyError):
        store.repository(Note).for_user("../bob")
    assert store.repository(Note).ids("bob") == ["secret"]


# -- fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [object(), b"\xff\xfe", {"nested": [1, object()]}],
    ids=["object", "bad-utf8", "nested"],
)
def test_fields_that_cannot_be_serialized_fail_the_session_whole(store: Store, value: Any) -> None:
    before = seeded(store)
    with (
        pytest.raises(volstore.SerializationError, match="cannot encode Blob"),
        store.session() as s,
    ):
        s.add(Note(id="fine", user_id="ada"))
        s.add(Blob(id="b", user_id="ada", data=value))
    assert snapshot(store) == before


def test_objects_over_the_size_limit_fail_the_session_whole(backend: volstore.Backend) -> None:
    store = Store(backend, max_object_bytes=500)
    before = seeded(store)
    with (
        pytest.raises(volstore.ObjectTooLargeError, match="at most 500") as info,
        store.session() as s,
    ):
        s.add(Note(id="fine", user_id="ada"))
        s.add(Note(id="big", user_id="ada", text="x" * 1000))
    assert isinstance(info.value, volstore.SerializationError)
    assert snapshot(store) == before
    with pytest.raises(ValueError, match="positive"):
        Store(backend, max_object_bytes=0)


def test_an_object_exactly_at_the_size_limit_is_stored(backend: volstore.Backend) -> None:
    size = len(Note(id="n", user_id="ada", text="x" * 100).model_dump_json())
    store = Store(backend, max_object_bytes=size)
    store.repository(Note).put(Note(id="n", user_id="ada", text="x" * 100))
    with pytest.raises(volstore.ObjectTooLargeError):
        store.repository(Note).put(Note(id="n", user_id="ada", text="x" * 101))


# -- stored files ----------------------------------------------------------------------------

BAD_FILES = {
    "truncated": b'{"id": "n", "user_id": "ada", "te',
    "not-utf8": b'{"id": "n", "user_id": "ada", "text": "\xff\xfe"}',
    "other-schema": b'{"name": "n", "owner": "ada", "cron": "* * * * *"}',
    "id-mismatch": b'{"id": "other", "user_id": "ada", "text": ""}',
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_stored_files_raise_corrupt_object_error_naming_the_file(
    store: Store, case: str
) -> None:
    repo = store.repository(Note)
    repo.put(Note(id="good", user_id="ada"))
    path = store.path_for(store.register(Note), "ada", "n")
    store.backend.write_batch({path: BAD_FILES[case]})
    with pytest.raises(volstore.CorruptObjectError) as info:
        repo.get("ada", "n")
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(volstore.CorruptObjectError), store.session() as s:
        s.get(Note, "ada", "n")
    with pytest.raises(volstore.CorruptObjectError):
        repo.list("ada")
    skipped: list[volstore.CorruptObjectError] = []
    assert [n.id for n in repo.list("ada", on_error=skipped.append)] == ["good"]
    assert [e.path for e in skipped] == [path]
    report = check_store(store)
    found = report.mismatched if case == "id-mismatch" else report.corrupt
    assert [f.path for f in found] == [path]


def test_a_versioned_write_over_a_corrupt_file_writes_nothing(store: Store) -> None:
    path = store.path_for(store.register(Doc), "ada", "d")
    store.backend.write_batch({path: b"{"})
    before = snapshot(store)
    with pytest.raises(volstore.CorruptObjectError, match="docs/"), store.session() as s:
        s.add(Doc(id="other", user_id="ada"))
        s.add(Doc(id="d", user_id="ada", version=3))
    assert snapshot(store) == before


# -- the file system (local folders) ------------------------------------------------------------


def local_root(store: Store) -> Path:
    assert isinstance(store.backend, volstore.LocalBackend)
    return Path(store.backend.root)


def test_a_folder_where_a_file_should_be_is_a_corrupt_object(local_store: Store) -> None:
    path = local_store.path_for(local_store.register(Note), "ada", "n")
    (local_root(local_store) / path).mkdir(parents=True)
    with pytest.raises(volstore.CorruptObjectError, match="a folder stands where") as info:
        local_store.repository(Note).get("ada", "n")
    assert info.value.path == path


@pytest.mark.parametrize("blocked", ["first", "last"])
def test_writing_where_a_folder_stands_fails_and_writes_nothing(
    local_store: Store, blocked: str
) -> None:
    before = seeded(local_store)
    path = local_store.path_for(local_store.register(Note), "ada", "n")
    (local_root(local_store) / path).mkdir()
    with pytest.raises(volstore.BackendError) as info, local_store.session() as s:
        if blocked == "first":
            s.add(Note(id="n", user_id="ada"))
        s.add(Note(id="fine", user_id="ada"))
        s.get_one(Note, "ada", "keep").text = "new"
        if blocked == "last":
            s.add(Note(id="n", user_id="ada"))
    assert isinstance(info.value.__cause__, IsADirectoryError)
    assert snapshot(local_store) == before
    assert (local_root(local_store) / path).is_dir()


def test_a_file_where_a_user_folder_should_be_is_a_corrupt_object(local_store: Store) -> None:
    before = seeded(local_store)
    blocking = local_root(local_store) / "notes" / local_store.hasher("bob")
    blocking.write_text("a stray file")
    with pytest.raises(volstore.CorruptObjectError, match="a file stands where"):
        local_store.repository(Note).get("bob", "n")
    with pytest.raises(volstore.BackendError):
        local_store.repository(Note).put(Note(id="n", user_id="bob"))
    assert snapshot(local_store) == {
        **before,
        f"notes/{local_store.hasher('bob')}": b"a stray file",
    }


def _refuse_reads_of(monkeypatch: pytest.MonkeyPatch, store: Store, path: str) -> None:
    full = local_root(store) / path
    if os.geteuid() != 0:
        full.chmod(0)  # the test puts the mode back
        return
    # root reads any file whatever its mode: make the open fail as it would for a user.
    refuse_opens(monkeypatch, local_module, path)


def test_an_unreadable_file_is_a_corrupt_object_naming_it(
    local_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = local_store.repository(Note)
    repo.put_all([Note(id="n", user_id="ada"), Note(id="m", user_id="ada")])
    path = local_store.path_for(local_store.register(Note), "ada", "n")
    _refuse_reads_of(monkeypatch, local_store, path)
    try:
        with pytest.raises(volstore.CorruptObjectError, match="cannot be read") as info:
            repo.get("ada", "n")
        assert info.value.path == path
        assert [n.id for n in repo.list("ada", on_error="skip")] == ["m"]
        assert [f.path for f in check_store(local_store).corrupt] == [path]
    finally:
        (local_root(local_store) / path).chmod(stat.S_IRUSR | stat.S_IWUSR)


@pytest.fixture(params=["local", "mounted"])
def disk_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store on a local folder, and one on an emulated mounted volume."""
    if request.param == "local":
        yield Store(volstore.LocalBackend(tmp_path / "store"))
        return
    volume = VolumeEmulator(tmp_path / "emulator").Volume.from_name("v", create_if_missing=True)
    with volume.mount(background_commit_interval=None) as mount:
        yield Store(MountedVolumeBackend(mount.path, volume))


def full_disk_after(calls: int) -> Callable[[int, Any], int]:
    state = {"left": calls}

    def write(fd: int, data: Any) -> int:
        if state["left"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        state["left"] -= 1
        return os.write(fd, data)

    return write


@pytest.mark.parametrize("writes_before_full", [0, 1, 5, 19])
def test_a_full_disk_fails_the_session_whole_and_keeps_the_files_intact(
    disk_store: Store, monkeypatch: pytest.MonkeyPatch, writes_before_full: int
) -> None:
    repo = disk_store.repository(Note)
    repo.put_all([Note(id=f"n{i}", user_id="ada", text="old") for i in range(10)])
    before = snapshot(disk_store)
    patch_os(monkeypatch, local_module, write=full_disk_after(writes_before_full))
    with (
        pytest.raises(volstore.BackendError, match="No space left") as info,
        disk_store.session() as s,
    ):
        for i in range(10):
            s.get_one(Note, "ada", f"n{i}").text = "new"
        s.add_all(Note(id=f"new{i}", user_id="ada") for i in range(10))
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    assert snapshot(disk_store) == before, "every file as it was, and no temporary file left"
    monkeypatch.undo()
    with disk_store.session() as s:  # once there is room again, the same work succeeds
        s.get_one(Note, "ada", "n0").text = "new"
    assert repo.get_one("ada", "n0").text == "new"
