"""Codecs (JSON, msgpack), schema versions with upgrades, and bulk migration."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

import volstore
from models import Profile, Result, Schedule
from tests import strategies
from volstore import JSON, MSGPACK, Store

FIXTURES = Path(__file__).parent / "fixtures"
ROUND_TRIP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)


class PackedSchedule(Schedule, resource_type="packed-schedules", codec=MSGPACK):
    """The Schedule model, stored as msgpack."""


@volstore.resource("packed-profiles", codec=MSGPACK)
@attrs.define
class PackedProfile(Profile):
    pass


class PackedResult(Result, resource_type="packed-results", codec=MSGPACK):
    pass


@ROUND_TRIP
@given(obj=strategies.schedules())
def test_msgpack_round_trip_pydantic(store: Store, obj: Schedule) -> None:
    packed = PackedSchedule(**obj.model_dump())
    repo = store.repository(PackedSchedule)
    repo.put(packed)
    assert repo.get(packed.user_id, packed.id) == packed


@ROUND_TRIP
@given(obj=strategies.results())
def test_msgpack_round_trip_optional_datetimes(store: Store, obj: Result) -> None:
    packed = PackedResult(**obj.model_dump())
    repo = store.repository(PackedResult)
    repo.put(packed)
    assert repo.get(packed.user_id, packed.id) == packed


@ROUND_TRIP
@given(obj=strategies.profiles())
def test_msgpack_round_trip_attrs(store: Store, obj: Profile) -> None:
    packed = PackedProfile(**attrs.asdict(obj, recurse=False))
    repo = store.repository(PackedProfile)
    repo.put(packed)
    assert repo.get(packed.user_id, packed.id) == packed


def test_msgpack_files_have_their_extension(local_store: Store) -> None:
    local_store.repository(PackedSchedule).put(
        PackedSchedule(id="s", user_id="ada", name="n", cron="* * * * *")
    )
    root = Path(local_store.backend.root)  # type: ignore[attr-defined]
    assert [p.name for p in root.rglob("*.msgpack")] == ["s.msgpack"]


def test_corrupt_msgpack_names_the_file(store: Store) -> None:
    repo = store.repository(PackedSchedule)
    path = store.path_for(repo.spec, "ada", "bad")
    store.backend.write_batch({path: b"\xc1\xc1 not msgpack"})
    with pytest.raises(volstore.CorruptObjectError, match=r"bad\.msgpack"):
        repo.get("ada", "bad")


# -- a codec change is a migration, not a silent mix ----------------------------------------


class NoteV1(volstore.Model, resource_type="notes"):
    id: str
    user_id: str
    text: str


class NoteMsgpackOnly(volstore.Model, resource_type="notes", codec=MSGPACK):
    id: str
    user_id: str
    text: str


class NoteMoving(volstore.Model, resource_type="notes", codec=MSGPACK, previous_codecs=(JSON,)):
    id: str
    user_id: str
    text: str


def test_a_store_holding_both_formats_reads_both(tmp_path: Path) -> None:
    volstore.Store(tmp_path).repository(NoteV1).put_all(
        [NoteV1(id="old", user_id="ada", text="json"), NoteV1(id="both", user_id="ada", text="j")]
    )
    store = volstore.Store(tmp_path)
    repo = store.repository(NoteMoving)
    repo.put(NoteMoving(id="new", user_id="ada", text="msgpack"))
    assert repo.get_one("ada", "old").text == "json"
    assert [n.id for n in repo.list("ada")] == ["both", "new", "old"]
    assert repo.exists("ada", "old")
    # Touching an old object in a session writes it in the new format and removes the old file.
    with store.session() as s:
        s.get_one(NoteMoving, "ada", "old").text = "moved"
    names = sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.name[0] != ".")
    assert names == ["both.json", "new.msgpack", "old.msgpack"]
    assert repo.delete("ada", "both")
    assert repo.ids("ada") == ["new", "old"]


def test_without_previous_codecs_other_formats_are_not_mixed_in(tmp_path: Path) -> None:
    volstore.Store(tmp_path).repository(NoteV1).put(NoteV1(id="old", user_id="ada", text="x"))
    repo = volstore.Store(tmp_path).repository(NoteMsgpackOnly)
    assert repo.get("ada", "old") is None
    assert repo.ids("ada") == []


def test_previous_codecs_must_differ_from_the_codec() -> None:
    with pytest.raises(volstore.ModelDefinitionError, match="repeats"):

        class Bad(volstore.Model, resource_type="bad-codecs", previous_codecs=(JSON,)):
            id: str
            user_id: str


def test_missing_msgpack_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "msgpack", None)
    store = volstore.Store(volstore.MemoryBackend())
    with pytest.raises(volstore.CodecUnavailableError, match=r"volstore\[msgpack\]"):
        store.repository(NoteMsgpackOnly).put(NoteMsgpackOnly(id="n", user_id="ada", text="x"))


# -- schema versions -------------------------------------------------------------------------


def v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """v2 renamed ``title`` to ``summary``."""
    doc["summary"] = doc.pop("title")
    return doc


def v2_to_v3(doc: dict[str, Any]) -> dict[str, Any]:
    """v3 replaced ``done: bool`` with ``status``."""
    doc["status"] = "done" if doc.pop("done") else "open"
    return doc


class Task(
    volstore.Model,
    resource_type="tasks",
    schema_version=3,
    migrations={1: v1_to_v2, 2: v2_to_v3},
):
    id: str
    user_id: str
    summary: str
    status: str = "open"


class TaskV2(volstore.Model, resource_type="tasks", schema_version=2, migrations={1: v1_to_v2}):
    id: str
    user_id: str
    summary: str
    done: bool = False


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    """A store written by the first version of the Task model (committed fixtures)."""
    root = tmp_path / "tasks-v1"
    shutil.copytree(FIXTURES / "tasks_v1", root)
    return root


def test_older_objects_are_upgraded_on_read(v1_store: Path) -> None:
    repo = volstore.Store(v1_store).repository(Task)
    task = repo.get_one("ada", "t0")
    assert (task.summary, task.status) == ("task 0 of ada", "done")
    assert [t.status for t in repo.list("grace")] == ["done", "open", "open"]


def test_reading_does_not_rewrite_and_writing_stores_the_current_version(v1_store: Path) -> None:
    store = volstore.Store(v1_store)
    path = v1_store / store.path_for(volstore.spec_of(Task), "ada", "t1")
    before = path.read_bytes()
    with store.session() as s:
        s.get_one(Task, "ada", "t1")
    assert path.read_bytes() == before, "an upgrade in memory is not a change"
    with store.session() as s:
        s.get_one(Task, "ada", "t1").status = "done"
    stored = JSON.load_document(path.read_bytes())
    assert stored["_schema_version"] == 3
    assert stored["status"] == "done"
    assert "title" not in stored


def test_objects_from_the_future_are_an_error_never_downgraded(tmp_path: Path) -> None:
    store = volstore.Store(tmp_path)
    store.repository(Task).put(Task(id="t", user_id="ada", summary="s"))
    old_code = volstore.Store(tmp_path).repository(TaskV2)
    with pytest.raises(volstore.SchemaVersionError, match="schema version 3, newer than") as info:
        old_code.get("ada", "t")
    assert info.value.path.endswith("t.json")
    assert isinstance(info.value, volstore.CorruptObjectError)
    with pytest.raises(volstore.SchemaVersionError):
        volstore.migrate(volstore.Store(tmp_path), TaskV2)


def test_every_older_version_needs_an_upgrade() -> None:
    with pytest.raises(volstore.ModelDefinitionError, match=r"missing \[2\]"):

        class Bad(
            volstore.Model, resource_type="bad-tasks", schema_version=3, migrations={1: v1_to_v2}
        ):
            id: str
            user_id: str


def test_an_upgrade_that_breaks_is_a_corrupt_object(tmp_path: Path, v1_store: Path) -> None:
    def broken(doc: dict[str, Any]) -> dict[str, Any]:
        return doc  # forgets to rename: validation fails

    class Broken(volstore.Model, resource_type="tasks", schema_version=2, migrations={1: broken}):
        id: str
        user_id: str
        summary: str

    with pytest.raises(volstore.CorruptObjectError, match="summary"):
        volstore.Store(v1_store).repository(Broken).get("ada", "t0")


# -- bulk migration --------------------------------------------------------------------------


def test_migrate_rewrites_everything_in_chunks(v1_store: Path) -> None:
    store = volstore.Store(v1_store)
    calls: list[tuple[int, int]] = []
    report = volstore.migrate(store, Task, chunk_size=4, progress=lambda d, t: calls.append((d, t)))
    assert (report.total, report.rewritten, report.already_current) == (6, 6, 0)
    assert report.commits == 2 == store.stats.commits
    assert calls[0] == (0, 6)
    assert calls[-1] == (6, 6)
    for path in v1_store.rglob("t*.json"):
        assert JSON.load_document(path.read_bytes())["_schema_version"] == 3
    again = volstore.migrate(store, Task)
    assert (again.rewritten, again.already_current, again.commits) == (0, 6, 0)


def test_a_migration_killed_half_way_resumes_and_finishes(
    v1_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = volstore.Store(v1_store)
    real_apply = store.engine.apply
    chunks = []

    def dies_on_second_chunk(writes: Any, deletes: Any, expected: Any = None) -> Any:
        chunks.append(len(writes))
        if len(chunks) == 2:
            raise KeyboardInterrupt  # the process is stopped mid-migration
        return real_apply(writes, deletes, expected)

    monkeypatch.setattr(store.engine, "apply", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        volstore.migrate(store, Task, chunk_size=2)
    monkeypatch.undo()
    report = volstore.migrate(volstore.Store(v1_store), Task, chunk_size=2)
    assert report.already_current == 2
    assert report.rewritten == 4
    assert [t.status for t in volstore.Store(v1_store).repository(Task).list("ada")] == [
        "done",
        "open",
        "open",
    ]


def test_migrate_moves_a_codec_change(tmp_path: Path) -> None:
    volstore.Store(tmp_path).repository(NoteV1).put_all(
        [NoteV1(id=f"n{i}", user_id=f"u{i % 3}", text=str(i)) for i in range(9)]
    )
    report = volstore.migrate(volstore.Store(tmp_path), NoteMoving, chunk_size=5)
    assert report.rewritten == 9
    assert not [p for p in tmp_path.rglob("*.json") if p.name[0] != "."]
    assert len(list(tmp_path.rglob("*.msgpack"))) == 9


def test_migrate_skips_or_raises_on_corrupt_files(v1_store: Path) -> None:
    bad = next(v1_store.rglob("t2.json"))
    bad.write_bytes(b"{ truncated")
    with pytest.raises(volstore.CorruptObjectError, match=r"t2\.json"):
        volstore.migrate(volstore.Store(v1_store), Task)
    report = volstore.migrate(volstore.Store(v1_store), Task, on_error="skip")
    assert report.rewritten == 5
    assert [e.path.endswith("t2.json") for e in report.errors] == [True]


def _migration_peak(root: Path, count: int) -> int:
    volstore.Store(root).repository(NoteV1).put_all(
        [NoteV1(id=f"n{i:05d}", user_id=f"u{i % 20}", text="x" * 200) for i in range(count)]
    )
    tracemalloc.start()
    volstore.migrate(volstore.Store(root), NoteMoving, chunk_size=50)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_migration_memory_stays_flat(tmp_path: Path) -> None:
    small = _migration_peak(tmp_path / "small", 400)
    large = _migration_peak(tmp_path / "large", 1600)
    assert large < small * 2, f"peak {large} bytes for 4x the objects vs {small}"
