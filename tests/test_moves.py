"""A move between time buckets cut short, and a flush whose deletes fail (issue 13 items 6, 7).

Moving a time-bucketed object (changing its timestamp across a bucket
boundary) writes the new copy, then deletes the old one. A failure between the
two, injected here deterministically (a crash there is what ``tests/_crash.py``
kills at random), leaves the key in both buckets: queries yield it once, the
check reports the older copy as a duplicate, and its repair quarantines it.
The failed flush's ``BackendError`` says which part was applied.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import AwareDatetime

import volstore
import volstore.backends.local as local_module
from tests._faults import patch_os
from tests._hostile import Env, open_env
from tests._models import Note, Ping

AT = datetime(2024, 2, 29, 22, 30, tzinfo=timezone.utc)
LATER = AT + timedelta(hours=2)


class Tracked(volstore.Model, resource_type="tracked", time_field="at", version_field="version"):
    id: str
    user_id: str
    at: AwareDatetime
    version: int = 0


@pytest.fixture(params=["memory", "local", "mounted"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with open_env(request.param, tmp_path) as env:
        yield env


class DeleteFailure(OSError):
    pass


def failing_deletes(monkeypatch: pytest.MonkeyPatch, backend: volstore.Backend) -> None:
    """Every delete of the backend fails (as when a crash lands after the writes)."""

    def refuse(paths: object) -> None:
        raise DeleteFailure(30, "Read-only file system")

    monkeypatch.setattr(backend, "delete_batch", refuse)


def move_cut_short(env: Env, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Store ping "p" at AT, then move it to LATER with the delete failing; return both paths."""
    store = env.store
    pings = volstore.bucketed(store, Ping)
    pings.put(Ping(id="p", user_id="ada", at=AT, text="old"))
    spec = store.register(Ping)
    old, new = (store.path_for(spec, "ada", "p", at) for at in (AT, LATER))
    with monkeypatch.context() as m:
        failing_deletes(m, store.backend)
        with pytest.raises(volstore.BackendError) as info, store.session() as s:
            ping = s.get_one(Ping, "ada", "p", at=AT)
            ping.at, ping.text = LATER, "new"
    assert info.value.applied == (new,)
    assert info.value.unapplied == (old,)
    assert store.backend.exists(old)
    assert store.backend.exists(new)
    age(env, old, 60)  # the old copy was written a minute before the move
    return old, new


def age(env: Env, path: str, seconds: float) -> None:
    """Make the file at ``path`` look ``seconds`` older (local and mounted: its mtime)."""
    full = env.root / path
    if full.exists():
        info = full.stat()
        os.utime(full, (info.st_atime - seconds, info.st_mtime - seconds))
        return
    backend = env.store.backend
    assert isinstance(backend, volstore.MemoryBackend)
    backend._mtimes[path] -= seconds


# -- item 6: the duplicate ----------------------------------------------------------------------


def test_a_move_cut_short_leaves_a_duplicate_that_queries_yield_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    move_cut_short(env, monkeypatch)
    pings = volstore.bucketed(env.store, Ping)
    assert [p.id for p in pings.range(None, None)] == ["p"]
    assert [p.id for p in pings.range(AT - timedelta(hours=1), LATER + timedelta(hours=1))] == ["p"]
    assert [p.id for p in pings.range(None, None, user_id="ada")] == ["p"]
    assert [p.id for p in pings.latest("ada")] == ["p"]
    assert [p.id for p in pings.list("ada")] == ["p"]
    assert pings.ids("ada") == ["p"]
    assert pings.count("ada") == 1
    with env.store.session() as s:
        assert [p.id for p in volstore.bucketed(s, Ping).range(None, None)] == ["p"]


def test_check_reports_a_duplicate_and_repair_quarantines_the_older_copy(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = move_cut_short(env, monkeypatch)
    store = env.store
    report = store.check()
    assert [(f.kind, f.path) for f in report.findings()] == [("duplicate", old)]
    assert new in report.duplicates[0].reason
    # A repair next to live writers leaves a young copy alone: the move may be running.
    cautious = store.check(repair=True)
    assert cautious.duplicates[0].action is not None
    assert cautious.duplicates[0].action.startswith("left in place: a copy is younger")
    assert cautious.quarantined == 0
    repaired = store.check(repair=True, temporary_min_age=0)
    assert repaired.duplicates[0].action == f"moved to .volstore-quarantine/{old}"
    assert not store.backend.exists(old)
    assert [(p.at, p.text) for p in volstore.bucketed(store, Ping).range(None, None)] == [
        (LATER, "new")
    ]
    assert store.check().ok


def test_repair_keeps_the_copy_with_the_higher_version_whatever_its_time(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = env.store
    tracked = volstore.bucketed(store, Tracked)
    tracked.put(Tracked(id="t", user_id="ada", at=AT))  # version 1
    spec = store.register(Tracked)
    old, new = (store.path_for(spec, "ada", "t", at) for at in (AT, LATER))
    with monkeypatch.context() as m:
        failing_deletes(m, store.backend)
        with pytest.raises(volstore.BackendError), store.session() as s:
            s.get_one(Tracked, "ada", "t", at=AT).at = LATER  # version 2, in the later bucket
    assert store.backend.exists(old)
    age(env, new, 120)  # the newer version looks older on disk
    report = store.check(repair=True, temporary_min_age=0)
    assert [(f.path, f.action) for f in report.duplicates] == [
        (old, f"moved to .volstore-quarantine/{old}")
    ]
    (kept,) = tracked.range(None, None)
    assert (kept.at, kept.version) == (LATER, 2)


def test_repair_keeps_the_copy_written_last_even_in_an_earlier_bucket(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move back in time: the newer copy is the one in the earlier bucket."""
    store = env.store
    pings = volstore.bucketed(store, Ping)
    pings.put(Ping(id="p", user_id="ada", at=LATER, text="old"))
    spec = store.register(Ping)
    with monkeypatch.context() as m:
        failing_deletes(m, store.backend)
        with pytest.raises(volstore.BackendError), store.session() as s:
            moved = s.get_one(Ping, "ada", "p", at=LATER)
            moved.at, moved.text = AT, "new"
    old = store.path_for(spec, "ada", "p", LATER)
    age(env, old, 60)
    report = store.check(repair=True, temporary_min_age=0)
    assert [f.path for f in report.duplicates] == [old]
    assert [p.text for p in pings.range(None, None)] == ["new"]


def test_copies_that_nothing_tells_apart_are_left_for_a_person(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = move_cut_short(env, monkeypatch)
    if env.store.backend.__class__ is volstore.MemoryBackend:
        backend = env.store.backend
        assert isinstance(backend, volstore.MemoryBackend)
        backend._mtimes[old] = backend._mtimes[new] = 1_000_000.0
    else:
        for path in (old, new):
            os.utime(env.root / path, (1_000_000, 1_000_000))
    report = env.store.check(repair=True, temporary_min_age=0)
    (finding,) = report.duplicates
    assert "same version and time" in finding.reason
    assert finding.action is not None
    assert finding.action.startswith("left in place: nothing tells which copy is newer")
    assert env.store.backend.exists(old)
    assert env.store.backend.exists(new)


# -- item 7: a flush whose deletes fail ---------------------------------------------------------


def test_a_flush_whose_deletes_fail_says_what_was_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deletes fail on a read-only folder: the writes stay, and the error lists both parts."""
    store = volstore.Store(tmp_path / "store")
    notes = store.repository(Note)
    notes.put_all([Note(id="gone", user_id="ada"), Note(id="kept", user_id="bob")])
    spec = store.register(Note)
    gone = store.path_for(spec, "ada", "gone")
    folder = tmp_path / "store" / gone.rpartition("/")[0]
    folder.chmod(0o555)  # ada's folder is read-only: nothing can be removed from it
    if os.geteuid() == 0:  # root ignores the mode: make the unlink fail as it would for a user

        def refuse(name: str, *, dir_fd: int | None = None) -> None:
            raise PermissionError(13, "Permission denied", name)

        patch_os(monkeypatch, local_module, unlink=refuse)
    try:
        with pytest.raises(volstore.BackendError) as info, store.session() as s:
            s.delete(Note, "ada", "gone")
            s.add(Note(id="new", user_id="bob"))
            s.get_one(Note, "bob", "kept").text = "changed"
    finally:
        folder.chmod(0o755)
    error = info.value
    assert sorted(error.applied) == sorted(
        [store.path_for(spec, "bob", "new"), store.path_for(spec, "bob", "kept")]
    )
    assert error.unapplied == (gone,)
    assert "2 file(s) were written; 1 delete(s) not applied" in str(error)
    assert isinstance(error.__cause__, PermissionError)
    # The writes stand (atomic per file), the delete did not happen:
    assert notes.get_one("bob", "kept").text == "changed"
    assert notes.get_one("bob", "new").id == "new"
    assert notes.get_one("ada", "gone").id == "gone"
