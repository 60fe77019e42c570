"""Secondary indexes: declaration, entries, their cost, unique values, drift, reindex."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import AwareDatetime

import volstore
import volstore._index
from volstore import ModelDefinitionError, UniqueViolationError

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
ROOT = ".volstore-index"


class Job(
    volstore.Model,
    resource_type="ijobs",
    indexes=["status", "next_run", volstore.Index("slug", unique=True, across_users=True)],
):
    id: str
    user_id: str
    status: str = "open"
    next_run: AwareDatetime | None = None
    slug: str | None = None
    body: str = ""


class Account(
    volstore.Model, resource_type="iaccounts", indexes=[volstore.Index("email", unique=True)]
):
    id: str
    user_id: str
    email: str


class Beat(volstore.Model, resource_type="ibeats", time_field="at", indexes=["kind"]):
    id: str
    user_id: str
    at: AwareDatetime
    kind: str = "a"


def entries(backend: volstore.Backend, resource_type: str = "ijobs") -> list[str]:
    return sorted(backend.walk(f"{ROOT}/{resource_type}"))


def job(i: int, user: str = "ada", **fields: Any) -> Job:
    values: dict[str, Any] = {"id": f"j{i}", "user_id": user, "next_run": T0 + timedelta(minutes=i)}
    values.update(fields)
    return Job.model_validate(values)


@pytest.fixture
def store() -> volstore.Store:
    return volstore.Store(volstore.MemoryBackend())


# -- declaration ----------------------------------------------------------------------------------


def test_declaration_errors_name_the_problem() -> None:
    with pytest.raises(ModelDefinitionError, match=r"no field 'stat'.*did you mean 'status'"):

        class A(volstore.Model, resource_type="idecl-a", indexes=["stat"]):
            id: str
            user_id: str
            status: str

    with pytest.raises(ModelDefinitionError, match=r"id field is part of every object's key"):

        class B(volstore.Model, resource_type="idecl-b", indexes=["id"]):
            id: str
            user_id: str

    with pytest.raises(ModelDefinitionError, match=r"version field changes"):

        class C(volstore.Model, resource_type="idecl-c", version_field="v", indexes=["v"]):
            id: str
            user_id: str
            v: int = 0

    with pytest.raises(ModelDefinitionError, match=r"shards must be one of 16, 256, 4096"):

        class D(volstore.Model, resource_type="idecl-d", indexes=[volstore.Index("s", shards=3)]):
            id: str
            user_id: str
            s: str

    with pytest.raises(ModelDefinitionError, match=r"across_users applies to unique"):

        class E(
            volstore.Model,
            resource_type="idecl-e",
            indexes=[volstore.Index("s", across_users=True)],
        ):
            id: str
            user_id: str
            s: str

    with pytest.raises(ModelDefinitionError, match=r"declared twice"):

        class F(volstore.Model, resource_type="idecl-f", indexes=["s", "s"]):
            id: str
            user_id: str
            s: str


def test_a_field_without_an_order_cannot_be_indexed(store: volstore.Store) -> None:
    class Tagged(volstore.Model, resource_type="idecl-g", indexes=["tags"]):
        id: str
        user_id: str
        tags: list[str] = []  # noqa: RUF012 - a pydantic field default, copied per instance

    with pytest.raises(ModelDefinitionError, match=r"has no order"):
        store.repository(Tagged)


# -- entries and what they cost --------------------------------------------------------------------


def test_one_entry_per_object_and_index(store: volstore.Store) -> None:
    store.repository(Job).put_all([job(1), job(2, user="bob", slug="two")])
    found = entries(store.backend)
    assert len(found) == 5  # status and next_run for both, slug for j2 (a unique None: none)
    assert len([p for p in found if "/slug/" in p]) == 1
    assert all(p.startswith(f"{ROOT}/ijobs/") for p in found)


def test_an_unchanged_value_costs_nothing_and_a_changed_one_one_file(store: volstore.Store) -> None:
    repo = store.repository(Job)
    repo.put(job(1))
    before = set(entries(store.backend))
    with store.session() as s:
        s.get_one(Job, "ada", "j1").body = "edited"
    assert s.stats.writes == 1
    assert s.stats.deletes == 0
    assert set(entries(store.backend)) == before
    with store.session() as s:
        s.get_one(Job, "ada", "j1").status = "done"
    assert s.stats.writes == 2
    assert s.stats.deletes == 1
    after = set(entries(store.backend))
    assert len(after - before) == 1
    assert len(before - after) == 1


def test_a_put_without_a_read_replaces_the_old_entries(store: volstore.Store) -> None:
    repo = store.repository(Job)
    repo.put(job(1, status="open"))
    repo.put(job(1, status="done"))  # never read: the flush reads the stored object
    assert repo.query(all_users=True).where(status="open").count() == 0
    assert [p for p in entries(store.backend) if "/status/" in p] == [
        p for p in entries(store.backend) if "/status/" in p and "646f6e65" in p
    ]


def test_deletes_remove_their_entries(store: volstore.Store) -> None:
    repo = store.repository(Job)
    repo.put_all([job(1, slug="a"), job(2)])
    repo.delete("ada", "j1")
    with store.session() as s:
        s.delete(Job, "ada", "j2")
    assert entries(store.backend) == []


class _Recorder(volstore.MemoryBackend):
    """Remembers the order of every file written and deleted."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, str]] = []

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        self.log.extend(("write", p) for p in files)
        super().write_batch(files)

    def delete_batch(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        self.log.extend(("delete", p) for p in paths)
        super().delete_batch(paths)


def test_entries_are_written_before_objects_and_deleted_after_them() -> None:
    backend = _Recorder()
    store = volstore.Store(backend)
    store.repository(Job).put(job(1))
    writes = [p for op, p in backend.log if op == "write" and not p.startswith(".volstore.")]
    assert writes[-1] == "ijobs/" + store.hasher("ada") + "/j1.json"
    assert all(p.startswith(ROOT) for p in writes[:-1])
    backend.log.clear()
    store.repository(Job).delete("ada", "j1")
    deletes = [p for op, p in backend.log if op == "delete"]
    assert deletes[0].startswith("ijobs/")
    assert all(p.startswith(ROOT) for p in deletes[1:])


def test_long_values_and_long_keys_stay_within_file_name_limits(store: volstore.Store) -> None:
    long_id = "i" * 200
    repo = store.repository(Job)
    repo.put_all(
        [job(1, status="x" * 300), job(2, status="x" * 299 + "y"), Job(id=long_id, user_id="ada")]
    )
    for path in entries(store.backend):
        assert len(path.rpartition("/")[2].encode()) <= 255
    assert [j.id for j in repo.query(all_users=True).where(status="x" * 300).all()] == ["j1"]
    assert [j.id for j in repo.query("ada").where(status="open").all()] == [long_id]
    assert repo.query(all_users=True).where(status__startswith="xxx").count() == 2


def test_time_bucketed_entries_follow_their_object(store: volstore.Store) -> None:
    repo = volstore.bucketed(store, Beat)
    repo.put(Beat(id="b1", user_id="ada", at=T0, kind="x"))
    with store.session() as s:
        beat = s.get_one(Beat, "ada", "b1", at=T0)
        beat.at = T0 + timedelta(days=3)  # another bucket
    assert [b.id for b in repo.query(all_users=True).where(kind="x").all()] == ["b1"]
    assert len(entries(store.backend, "ibeats")) == 1
    assert store.check().ok


# -- unique values ----------------------------------------------------------------------------


def test_a_unique_value_is_taken_once(store: volstore.Store) -> None:
    repo = store.repository(Job)
    repo.put(job(1, slug="shared"))
    with pytest.raises(UniqueViolationError, match=r"another user's object") as caught:
        repo.put(job(2, user="bob", slug="shared"))
    assert caught.value.holder == ("ada", "j1")
    assert caught.value.index == "slug"
    assert repo.get("bob", "j2") is None  # nothing written
    with pytest.raises(UniqueViolationError, match=r"same flush"), store.session() as s:
        s.add(job(3, slug="twice"))
        s.add(job(4, slug="twice"))
    assert repo.query(all_users=True).where(slug="twice").count() == 0


def test_a_unique_value_per_user(store: volstore.Store) -> None:
    repo = store.repository(Account)
    repo.put(Account(id="a1", user_id="ada", email="x@example.com"))
    repo.put(Account(id="b1", user_id="bob", email="x@example.com"))  # another user: fine
    with pytest.raises(UniqueViolationError, match=r"by Account 'a1'"):
        repo.put(Account(id="a2", user_id="ada", email="x@example.com"))


def test_a_value_moves_between_objects_in_one_flush(store: volstore.Store) -> None:
    repo = store.repository(Job)
    repo.put_all([job(1, slug="a"), job(2, slug="b")])
    with store.session() as s:
        one, two = s.get_one(Job, "ada", "j1"), s.get_one(Job, "ada", "j2")
        one.slug, two.slug = "b", "a"  # a swap
    assert repo.query(all_users=True).where(slug="a").first() == job(2, slug="a")
    assert repo.query(all_users=True).where(slug="b").first() == job(1, slug="b")
    with store.session() as s:
        s.get_one(Job, "ada", "j1").slug = "c"
        s.add(job(3, slug="b"))  # freed in this flush
    assert store.check().ok


def test_a_stale_unique_entry_is_taken_over(
    store: volstore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = store.repository(Job)
    repo.put(job(1, slug="a"))
    # A crash left the entry, but the object was removed (only the object file went).
    store.backend.delete_batch([store.path_for(volstore.spec_of(Job), "ada", "j1")])
    with pytest.raises(volstore.UniqueViolationError):
        # A young entry may be a writer between its entry and its object: not taken.
        repo.put(job(2, user="bob", slug="a"))
    monkeypatch.setattr(volstore._index, "STALE_ENTRY_AGE", 0.0)  # the crash was long ago
    repo.put(job(2, user="bob", slug="a"))
    assert [j.id for j in repo.query(all_users=True).where(slug="a").all()] == ["j2"]


# -- drift, reindex, retention --------------------------------------------------------------------


def test_check_reports_drift_and_reindex_repairs_it(store: volstore.Store) -> None:
    repo = store.repository(Job)
    repo.put_all([job(i, slug=f"s{i}") for i in range(6)])
    assert store.check().totals["index"] == 0
    found = entries(store.backend)
    missing = [p for p in found if "/status/" in p][:2]
    store.backend.delete_batch(missing)  # objects without entries
    stray = f"{ROOT}/ijobs/status/36f/36f70/0/36f70656e~{store.hasher('zed')}~ghost"
    store.backend.write_batch({stray: b""})  # an entry without its object
    report = store.check()
    assert report.totals["index"] == 3
    assert not report.ok
    reasons = sorted(f.reason for f in report.index)
    assert reasons[0].startswith("an entry of index status whose object is gone")
    assert sum("missing from index status" in r for r in reasons) == 2
    # The missing objects are invisible to indexed queries until the reindex.
    assert repo.query(all_users=True).where(status="open").count() == 4
    result = volstore.reindex(store, Job, min_age=0)
    assert (result.written, result.removed, result.objects) == (2, 1, 6)
    assert store.check().ok
    assert repo.query(all_users=True).where(status="open").count() == 6
    assert sorted(entries(store.backend)) == found


def test_reindex_builds_an_index_declared_after_the_data() -> None:
    backend = volstore.MemoryBackend()

    class Before(volstore.Model, resource_type="ilate"):
        id: str
        user_id: str
        color: str

    volstore.Store(backend).repository(Before).put_all(
        [Before(id=f"x{i}", user_id="ada", color=("red", "blue")[i % 2]) for i in range(9)]
    )

    class After(volstore.Model, resource_type="ilate", indexes=["color"]):
        id: str
        user_id: str
        color: str

    store = volstore.Store(backend, models=[After])
    assert store.check().totals["index"] == 9
    report = volstore.reindex(store, After, chunk_size=2)
    assert report.written == 9
    assert report.commits > 4
    assert store.repository(After).query(all_users=True).where(color="red").count() == 5


def test_reindex_resumes_from_its_checkpoint(store: volstore.Store) -> None:
    repo = store.repository(Job)
    repo.put_all([job(i) for i in range(10)])
    store.backend.delete_batch(entries(store.backend))

    class Stop(Exception):
        pass

    def stop_after_four(phase: str, done: int) -> None:
        if phase == "objects" and done == 4:
            raise Stop

    with pytest.raises(Stop):
        volstore.reindex(store, Job, chunk_size=3, progress=stop_after_four)
    part = len(entries(store.backend))
    assert 0 < part < 20
    report = volstore.reindex(store, Job, chunk_size=3)
    assert report.resumed
    assert report.objects < 10
    assert len(entries(store.backend)) == 20
    assert store.check().ok
    assert not volstore.reindex(store, Job).resumed  # finished: the checkpoint is gone


def test_reindex_leaves_young_entries_and_removes_undeclared_indexes(tmp_path: Any) -> None:
    store = volstore.Store(tmp_path / "s")
    store.repository(Job).put(job(1))
    stray = f"{ROOT}/ijobs/status/36f/36f70/0/36f70656e~{store.hasher('zed')}~ghost"
    store.backend.write_batch({stray: b"", f"{ROOT}/ijobs/gone/1/2/3/x": b""})
    report = volstore.reindex(store, Job)  # default min_age: a writer may be mid-flush
    assert report.young == 1
    assert report.removed == 0
    assert report.removed_indexes == ["gone"]
    assert volstore.reindex(store, Job, min_age=0).removed == 1


def test_reindex_reports_a_unique_value_held_twice() -> None:
    backend = volstore.MemoryBackend()

    class Loose(volstore.Model, resource_type="iloose"):
        id: str
        user_id: str
        email: str

    volstore.Store(backend).repository(Loose).put_all(
        [Loose(id="a", user_id="u", email="e"), Loose(id="b", user_id="u", email="e")]
    )

    class Strict(
        volstore.Model, resource_type="iloose", indexes=[volstore.Index("email", unique=True)]
    ):
        id: str
        user_id: str
        email: str

    report = volstore.reindex(volstore.Store(backend), Strict)
    assert report.written == 1
    assert len(report.conflicts) == 1


def test_retention_removes_the_entries_of_purged_objects(store: volstore.Store) -> None:
    repo = volstore.bucketed(store, Beat)
    repo.put_all([Beat(id=f"b{i}", user_id="ada", at=T0 + timedelta(hours=i)) for i in range(48)])
    report = repo.purge_older_than(T0 + timedelta(hours=30, minutes=30))
    assert report.removed_objects == 31
    assert report.removed_entries == 31
    assert len(entries(store.backend, "ibeats")) == 17
    assert store.check().ok


def test_the_bulk_writer_keeps_indexes(store: volstore.Store) -> None:
    with store.writer(batch_size=4) as w:
        for i in range(10):
            w.add(job(i, slug=f"s{i}"))
    with store.writer() as w:
        w.add(job(3, status="done", slug="s3"))  # replaces j3: its old entry goes
    repo = store.repository(Job)
    assert repo.query(all_users=True).where(status="done").count() == 1
    assert store.check().ok
    with pytest.raises(UniqueViolationError), store.writer() as w:
        w.add(job(20, user="bob", slug="s4"))


def test_reindex_and_gc_remove_the_folders_of_values_nobody_holds(tmp_path: Any) -> None:
    store = volstore.Store(tmp_path / "s")
    repo = store.repository(Job)
    repo.put_all([job(i) for i in range(4)])
    with store.session() as s:
        for moved in s.repository(Job).query(all_users=True).all():
            assert moved.next_run is not None
            moved.next_run += timedelta(days=40)  # another month: the old folders empty out
    folder = f"{ROOT}/ijobs/next_run"
    months = sorted(e.name for e in store.backend.list(folder))
    assert len(months) == 2
    report = volstore.reindex(store, Job)
    assert report.removed_folders >= 3  # a shard, an hour and a month
    assert sorted(e.name for e in store.backend.list(folder)) == months[1:]
    assert store.repository(Job).query(all_users=True).where(lambda j: j.next_run > T0).count() == 4
