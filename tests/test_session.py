"""The unit of work: one commit on clean exit, nothing on exception, identity map, dirty checks."""

from __future__ import annotations

import pytest

import volstore
from models import Profile, Schedule
from volstore import Store


def sched(object_id: str = "s1", user: str = "ada", **kw: object) -> Schedule:
    return Schedule(id=object_id, user_id=user, name="n", cron="* * * * *", **kw)  # type: ignore[arg-type]


def test_clean_exit_writes_everything_with_one_commit(store: Store) -> None:
    with store.session() as s:
        for i in range(5):
            s.add(sched(f"s{i}", user=f"u{i % 2}"))
        assert store.stats.writes == 0, "nothing is written before the block ends"
    assert store.stats.commits == 1
    assert store.stats.writes == 5
    assert s.stats.commits == 1
    assert s.stats.writes == 5
    assert store.repository(Schedule).ids("u0") == ["s0", "s2", "s4"]


def test_a_session_that_raises_writes_nothing(store: Store) -> None:
    store.repository(Schedule).put(sched("keep"))
    before = store.stats.snapshot()
    with pytest.raises(ZeroDivisionError), store.session() as s:
        s.add(sched("new"))
        s.get_one(Schedule, "ada", "keep").name = "changed"
        s.delete(Schedule, "ada", "keep")
        1 / 0  # noqa: B018
    after = store.stats.snapshot()
    assert after["writes"] == before["writes"]
    assert after["deletes"] == before["deletes"]
    assert after["commits"] == before["commits"]
    assert store.repository(Schedule).ids("ada") == ["keep"]


def test_a_session_with_no_changes_makes_no_commit(store: Store) -> None:
    store.repository(Schedule).put(sched())
    commits = store.stats.commits
    with store.session() as s:
        s.get(Schedule, "ada", "s1")
        s.get(Schedule, "ada", "missing")
    assert store.stats.commits == commits


def test_identity_map_gives_the_same_object(store: Store) -> None:
    store.repository(Schedule).put(sched())
    with store.session() as s:
        first = s.get(Schedule, "ada", "s1")
        second = s.get(Schedule, "ada", "s1")
        assert first is second
        assert s.stats.reads == 1


def test_read_your_writes_and_pending_deletes(store: Store) -> None:
    store.repository(Schedule).put(sched("old"))
    with store.session() as s:
        new = s.add(sched("new"))
        assert s.get(Schedule, "ada", "new") is new
        s.delete(Schedule, "ada", "old")
        assert s.get(Schedule, "ada", "old") is None
        repo = s.repository(Schedule)
        assert repo.ids("ada") == ["new"]
        assert not repo.exists("ada", "old")
        assert repo.exists("ada", "new")


def test_in_place_changes_to_nested_values_are_written(store: Store) -> None:
    store.repository(Schedule).put(sched(payload={"steps": [1, 2]}))
    with store.session() as s:
        loaded = s.get_one(Schedule, "ada", "s1")
        loaded.payload["steps"].append(3)
    assert s.stats.writes == 1
    assert store.repository(Schedule).get_one("ada", "s1").payload == {"steps": [1, 2, 3]}


def test_in_place_changes_to_attrs_objects_are_written(store: Store) -> None:
    from datetime import datetime, timezone

    profile = Profile(
        id="p",
        user_id="ada",
        display_name="Ada",
        created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
    )
    store.repository(Profile).put(profile)
    with store.session() as s:
        s.get_one(Profile, "ada", "p").notifications.push = True
    assert store.repository(Profile).get_one("ada", "p").notifications.push is True


def test_unchanged_loaded_objects_are_not_rewritten(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched("a"), sched("b")])
    writes = store.stats.writes
    with store.session() as s:
        s.get_one(Schedule, "ada", "a")
        s.get_one(Schedule, "ada", "b").enabled = False
    assert store.stats.writes == writes + 1


def test_explicit_commit_and_the_session_goes_on(store: Store) -> None:
    with store.session() as s:
        s.add(sched("a"))
        s.commit()
        assert store.stats.commits == 1
        assert store.repository(Schedule).exists("ada", "a")
        s.commit()  # nothing new: no commit
        assert store.stats.commits == 1
        s.add(sched("b"))
    assert store.stats.commits == 2


def test_rollback_discards_pending_changes(store: Store) -> None:
    with store.session() as s:
        s.add(sched("a"))
        s.rollback()
        assert s.get(Schedule, "ada", "a") is None
        s.add(sched("b"))
    assert store.repository(Schedule).ids("ada") == ["b"]


def test_delete_by_object_and_by_key(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched("a"), sched("b")])
    with store.session() as s:
        s.delete(s.get_one(Schedule, "ada", "a"))
        s.delete(Schedule, "ada", "b")
        s.delete(Schedule, "ada", "never-existed")
    assert repo.ids("ada") == []


def test_add_after_delete_replaces(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put(sched("a", tags=["old"]))
    with store.session() as s:
        s.delete(Schedule, "ada", "a")
        s.add(sched("a", tags=["new"]))
    assert repo.get_one("ada", "a").tags == ["new"]


def test_generated_ids_sort_by_creation(store: Store) -> None:
    with store.session() as s:
        made = [s.add(Schedule(user_id="ada", name=str(i), cron="* * * * *")) for i in range(50)]
    assert [m.id for m in made] == sorted(m.id for m in made)
    assert [m.name for m in store.repository(Schedule).list("ada")] == [str(i) for i in range(50)]


def test_a_none_id_is_filled_in_at_add(store: Store) -> None:
    class Note(volstore.Model, resource_type="notes-none-id"):
        id: str | None = None
        user_id: str

    with store.session() as s:
        note = s.add(Note(user_id="ada"))
    assert note.id is not None
    assert store.repository(Note).get("ada", note.id) == note


def test_a_bad_key_fails_before_anything_is_written(store: Store) -> None:
    with pytest.raises(volstore.InvalidKeyError), store.session() as s:
        s.add(sched("fine"))
        s.add(sched("../escape"))
    assert store.stats.writes == 0


def test_a_key_made_bad_in_place_fails_the_whole_flush(store: Store) -> None:
    with pytest.raises(volstore.InvalidKeyError), store.session() as s:
        s.add(sched("fine"))
        s.add(sched("later-bad")).id = "a/b"
    assert store.stats.writes == 0
    assert store.repository(Schedule).ids("ada") == []


def test_unencodable_objects_fail_before_anything_is_written(store: Store) -> None:
    with pytest.raises(volstore.SerializationError), store.session() as s:
        s.add(sched("fine"))
        s.add(sched("bad", payload={"x": object()}))
    assert store.stats.writes == 0


def test_objects_over_the_size_limit_are_refused(backend: volstore.Backend) -> None:
    store = Store(backend, max_object_bytes=300)
    with pytest.raises(volstore.ObjectTooLargeError, match="at most 300"), store.session() as s:
        s.add(sched("small"))
        s.add(sched("big", payload={"blob": "x" * 1000}))
    assert store.stats.writes == 0


def test_changing_the_id_in_place_moves_the_file(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put(sched("old"))
    with store.session() as s:
        s.get_one(Schedule, "ada", "old").id = "new"
    assert repo.ids("ada") == ["new"]


def test_two_objects_cannot_take_one_key(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched("a"), sched("b")])
    with pytest.raises(volstore.SessionError, match="key of another object"), store.session() as s:
        s.get_one(Schedule, "ada", "a")
        s.get_one(Schedule, "ada", "b").id = "a"
    assert {x.id for x in repo.list("ada")} == {"a", "b"}


def test_a_closed_session_refuses_use(store: Store) -> None:
    with store.session() as s:
        pass
    with pytest.raises(volstore.SessionError, match="closed"):
        s.add(sched())


def test_a_failed_commit_keeps_changes_pending(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing_commit() -> None:
        calls.append(1)
        raise RuntimeError("the volume said no")

    session = store.session()
    session.add(sched("a"))
    monkeypatch.setattr(store.backend, "commit", failing_commit)
    with pytest.raises(volstore.CommitError, match="the volume said no"):
        session.commit()
    monkeypatch.undo()
    session.commit()  # files already written; the retry commits
    assert store.stats.commits == 1
    session.close()


def test_models_of_one_resource_type_cannot_share_a_store(store: Store) -> None:
    class Other(volstore.Model, resource_type="schedules"):
        id: str
        user_id: str

    store.register(Schedule)
    with pytest.raises(volstore.DuplicateResourceTypeError, match="already used by"):
        store.register(Other)
    with pytest.raises(volstore.DuplicateResourceTypeError), store.session() as s:
        s.add(Other(id="x", user_id="ada"))
