"""Regression tests for core bugs found while testing integrity (issue 5).

Each docstring names where the bug was, its cause and the fix; each test failed
before the fix.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest

import volstore
from models import Schedule
from tests._models import Note


class Measure(volstore.Model, resource_type="measures"):
    id: str
    user_id: str
    value: float


def sched(object_id: str = "s", user: str = "ada") -> Schedule:
    return Schedule(id=object_id, user_id=user, name="n", cron="* * * * *")


@pytest.mark.parametrize("user_id", [chr(0xD800), "ada" + chr(0xDFFF), chr(0xDCAE)])
def test_a_user_id_with_a_lone_surrogate_is_an_invalid_key(user_id: str) -> None:
    """Bug 1. src/volstore/_keys.py, _validate_component: the UTF-8 check runs only when
    ``max_bytes`` is set, i.e. for ids, not user ids; the hasher's
    ``user_id.encode("utf-8")`` then raises UnicodeEncodeError (a ValueError, but not
    InvalidKeyError). Nothing is written and no path escapes, but the error is untyped.
    Fix: encode (and catch UnicodeEncodeError -> InvalidKeyError "not valid Unicode
    text") before the ``if max_bytes is not None`` test, for every component.
    """
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(Note)
    with pytest.raises(volstore.InvalidKeyError, match="not valid Unicode"):
        repo.put(Note(id="n", user_id=user_id))
    with pytest.raises(volstore.InvalidKeyError):
        repo.get(user_id, "n")
    with pytest.raises(volstore.InvalidKeyError):
        repo.for_user(user_id)


def test_a_folder_in_the_way_of_a_later_file_leaves_the_batch_half_written(
    tmp_path: Path,
) -> None:
    """Bug 2. src/volstore/backends/local.py, LocalBackend._write_temporaries: phase two
    renames temporary files one by one; when a rename fails (a folder stands at a
    target: IsADirectoryError), the files renamed before it stay replaced, so the
    session fails with BackendError but half of it is written. The module docstring
    promises "a failure ... leaves every stored file as it was". (When the blocked
    object comes first in the batch, nothing is written: see
    tests/test_bad_input.py::test_writing_where_a_folder_stands_fails_and_writes_nothing.)
    Fix: after phase one, before any rename, ``os.lstat(name, dir_fd=dir_fd)`` each
    target and raise IsADirectoryError (removing the temporary files) if one is a
    folder; MemoryBackend.write_batch already checks everything before writing.
    """
    store = volstore.Store(tmp_path)
    repo = store.repository(Note)
    repo.put(Note(id="a", user_id="ada", text="old"))
    blocked = store.path_for(store.register(Note), "ada", "z")
    (tmp_path / blocked).mkdir()
    with pytest.raises(volstore.BackendError), store.session() as s:
        s.get_one(Note, "ada", "a").text = "new"  # renamed first ...
        s.add(Note(id="z", user_id="ada"))  # ... then this rename fails
    assert repo.get_one("ada", "a").text == "old", "the failed session changed a file"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_float_is_stored_so_that_it_reads_back(value: float) -> None:
    """Bug 3. src/volstore/_codec.py JsonCodec.encode (pydantic's default
    ``ser_json_inf_nan="null"``): NaN and infinities are written as ``null``, the write
    succeeds, and every later read of the object fails with CorruptObjectError (null is
    not a float). A silent write of an unreadable object. Fix: either refuse them at
    encode (SerializationError, before anything is written), or store them readably:
    ``model_config = ConfigDict(ser_json_inf_nan="constants")`` on volstore.Model and
    the same config for attrs adapters (pydantic reads NaN/Infinity back).
    """
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(Measure)
    try:
        repo.put(Measure(id="m", user_id="ada", value=value))
    except volstore.SerializationError:
        assert not repo.exists("ada", "m"), "refused before writing: fine"
        return
    got = repo.get_one("ada", "m")  # today: CorruptObjectError
    assert math.isnan(got.value) if math.isnan(value) else got.value == value


def test_a_file_where_a_user_folder_should_be_gives_a_typed_error(tmp_path: Path) -> None:
    """Bug 4a. src/volstore/_store.py, Store.read_bytes re-raises NotADirectoryError as
    is: on a local folder, a file standing where a user folder should be makes
    ``get`` raise a raw NotADirectoryError (not a VolstoreError); MemoryBackend
    returns None for the same layout. Fix: treat NotADirectoryError like
    FileNotFoundError (no object there; ``check_store`` reports the stray file), or
    raise CorruptObjectError naming the path.
    """
    store = volstore.Store(tmp_path)
    store.repository(Schedule).put(sched(user="bob"))
    (tmp_path / "schedules" / store.hasher("ada")).write_text("a stray file")
    with contextlib.suppress(volstore.VolstoreError):  # a typed error is fine too
        assert store.repository(Schedule).get("ada", "s") is None


def test_a_folder_where_the_layout_marker_should_be_gives_a_typed_error(tmp_path: Path) -> None:
    """Bug 4b. src/volstore/_store.py, Store.check_layout catches only FileNotFoundError
    from reading ``.volstore.json``: a folder there (or an unreadable marker) raises a
    raw IsADirectoryError/PermissionError on the store's first use. Fix: catch
    OSError there and raise CorruptObjectError(LAYOUT_MARKER, ...) as for a marker
    that does not parse.
    """
    (tmp_path / ".volstore.json").mkdir()
    with pytest.raises(volstore.CorruptObjectError, match=r"\.volstore\.json"):
        volstore.Store(tmp_path).repository(Schedule).get("ada", "s")


def test_a_user_bound_repository_never_returns_another_users_object() -> None:
    """Bug 5 (tenant isolation). src/volstore/_store.py Store.decode checks only that a
    file holds the id its name promises, not the owner: an object of user "bob" whose
    file sits in "ada"'s folder (written by hand or by another tool, restored from a
    backup into the wrong place, or a 64-bit user-hash collision) is returned by
    ``repo.for_user("ada").get(...)`` and ``.list()``. ``check_store`` reports such a
    file as a mismatch and quarantines it. Fix: in Repository.get/iter (and
    Session.get), compare ``spec.owner(obj)`` with the requested user id and raise
    CorruptObjectError naming the file ("holds an object of another user"); the
    bucketed repository has the same read path.
    """
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(Schedule)
    repo.put(sched("x", user="bob"))
    spec = store.register(Schedule)
    misplaced = store.backend.read(store.path_for(spec, "bob", "x"))
    store.backend.write_batch({store.path_for(spec, "ada", "x"): misplaced})
    ada = repo.for_user("ada")
    with contextlib.suppress(volstore.VolstoreError):
        got = ada.get("x")
        assert got is None or got.user_id == "ada", "ada read bob's object"
    with contextlib.suppress(volstore.VolstoreError):
        assert all(s.user_id == "ada" for s in ada.list(on_error="skip"))
