"""Typed repositories: get, list, paging, delete, reload policies, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import volstore
from models import Schedule
from volstore import ReloadPolicy, Store


def sched(object_id: str, user: str = "ada", **kw: object) -> Schedule:
    return Schedule(id=object_id, user_id=user, name="n", cron="* * * * *", **kw)  # type: ignore[arg-type]


def test_get_returns_none_and_get_one_raises_a_key_error(store: Store) -> None:
    repo = store.repository(Schedule)
    assert repo.get("ada", "nope") is None
    with pytest.raises(KeyError):
        repo.get_one("ada", "nope")
    with pytest.raises(volstore.ObjectNotFoundError, match="no schedules object with id 'nope'"):
        repo.get_one("ada", "nope")


def test_put_outside_a_session_is_one_write_and_one_commit(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put(sched("a"))
    repo.put(sched("b"))
    assert store.stats.commits == 2
    assert store.stats.writes == 2
    repo.put_all([sched("c"), sched("d")])
    assert store.stats.commits == 3


def test_exists_and_delete(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put(sched("a"))
    assert repo.exists("ada", "a")
    assert repo.delete("ada", "a") is True
    assert repo.delete("ada", "a") is False
    assert not repo.exists("ada", "a")
    commits = store.stats.commits
    repo.delete("ada", "missing")
    assert store.stats.commits == commits, "deleting nothing commits nothing"


def test_delete_all_of_one_user_in_one_commit(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched(str(i)) for i in range(10)] + [sched("x", user="bob")])
    commits = store.stats.commits
    assert repo.delete_all("ada") == 10
    assert store.stats.commits == commits + 1
    assert repo.ids("ada") == []
    assert repo.ids("bob") == ["x"]
    assert repo.delete_all("ada") == 0


def test_list_is_sorted_by_id_and_pages_with_a_cursor(store: Store) -> None:
    repo = store.repository(Schedule)
    ids = [f"{i:03d}" for i in range(25)]
    repo.put_all([sched(i) for i in reversed(ids)])
    assert [s.id for s in repo.list("ada")] == ids
    pages: list[list[str]] = []
    after = None
    while True:
        page = repo.list("ada", after=after, limit=10)
        if not page:
            break
        pages.append([s.id for s in page])
        after = page[-1].id
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for page in pages for i in page] == ids


def test_list_filters_ids_with_a_glob(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched(i) for i in ["2024-01-a", "2024-02-b", "2025-01-c", "x"]])
    assert repo.ids("ada", pattern="2024-*") == ["2024-01-a", "2024-02-b"]
    assert [s.id for s in repo.list("ada", pattern="*-01-*")] == ["2024-01-a", "2025-01-c"]
    assert repo.count("ada", pattern="20??-*") == 3


def test_iter_is_lazy(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched(str(i)) for i in range(10)])
    reads = store.stats.reads
    it = repo.iter("ada")
    assert store.stats.reads == reads, "nothing is read before iteration starts"
    next(it)
    assert store.stats.reads == reads + 1


def test_listing_reads_only_that_users_folder(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched(str(i), user=f"user{i % 7}") for i in range(70)])
    lists = store.stats.lists
    assert len(repo.list("user3")) == 10
    assert store.stats.lists == lists + 1
    assert store.stats.reads >= 10


def test_limit_must_not_be_negative(store: Store) -> None:
    with pytest.raises(ValueError, match="negative"):
        store.repository(Schedule).ids("ada", limit=-1)


def test_a_corrupt_file_raises_naming_the_file(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put(sched("good"))
    path = store.path_for(repo.spec, "ada", "bad")
    store.backend.write_batch({path: b'{"id": "bad", "user_id": "ada"'})
    with pytest.raises(
        volstore.CorruptObjectError, match=r"schedules/[0-9a-f]{16}/bad\.json"
    ) as info:
        repo.get("ada", "bad")
    assert info.value.path == path
    with pytest.raises(volstore.CorruptObjectError):
        repo.list("ada")
    assert [s.id for s in repo.list("ada", on_error="skip")] == ["good"]
    seen: list[volstore.CorruptObjectError] = []
    assert [s.id for s in repo.list("ada", on_error=seen.append)] == ["good"]
    assert [e.path for e in seen] == [path]


def test_a_file_holding_another_id_is_corrupt(store: Store) -> None:
    repo = store.repository(Schedule)
    path = store.path_for(repo.spec, "ada", "name")
    store.backend.write_batch({path: sched("other").model_dump_json().encode()})
    with pytest.raises(volstore.CorruptObjectError, match="holds id 'other'"):
        repo.get("ada", "name")


def test_a_file_of_another_schema_is_corrupt(store: Store) -> None:
    repo = store.repository(Schedule)
    path = store.path_for(repo.spec, "ada", "x")
    store.backend.write_batch({path: b'{"id": "x", "user_id": "ada", "cron": 5}'})
    # One line naming each field and what is wrong with it (not pydantic's dump).
    with pytest.raises(volstore.CorruptObjectError, match=r"x\.json: name: Field required; cron: "):
        repo.get("ada", "x")


def test_listing_ignores_temporary_and_foreign_files(local_store: Store) -> None:
    repo = local_store.repository(Schedule)
    repo.put(sched("a"))
    folder = Path(local_store.backend.root) / local_store.user_folder(repo.spec, "ada")  # type: ignore[attr-defined]
    (folder / ".a.json.deadbeef-1.vstmp").write_text("{half")
    (folder / "notes.txt").write_text("hello")
    (folder / "sub").mkdir()
    assert repo.ids("ada") == ["a"]


class CountingBackend(volstore.MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.reload_calls = 0

    def reload(self) -> None:
        self.reload_calls += 1


def test_reload_policy_never_always_and_per_call() -> None:
    backend = CountingBackend()
    store = Store(backend)
    repo = store.repository(Schedule)
    repo.put(sched("a"))
    repo.get("ada", "a")
    repo.list("ada")
    assert store.stats.reloads == backend.reload_calls == 0
    repo.get("ada", "a", reload=True)
    assert store.stats.reloads == 1
    always = Store(backend, reload=ReloadPolicy.ALWAYS)
    always_repo = always.repository(Schedule)
    always_repo.get("ada", "a")
    always_repo.ids("ada")
    always_repo.exists("ada", "a")
    assert always.stats.reloads == 3
    always_repo.get("ada", "a", reload=False)
    assert always.stats.reloads == 3


def test_reload_policy_every_n_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import volstore._engine as store_module

    now = [1000.0]
    monkeypatch.setattr(store_module.time, "monotonic", lambda: now[0])
    store = Store(CountingBackend(), reload=ReloadPolicy.every(10))
    repo = store.repository(Schedule)
    repo.get("ada", "a")
    repo.get("ada", "a")
    assert store.stats.reloads == 1
    now[0] += 9.9
    repo.get("ada", "a")
    assert store.stats.reloads == 1
    now[0] += 0.2
    repo.get("ada", "a")
    assert store.stats.reloads == 2
    with pytest.raises(ValueError, match="positive"):
        ReloadPolicy.every(0)


def test_reload_failure_is_a_reload_error_saying_what_the_volume_said() -> None:
    class Busy(volstore.MemoryBackend):
        def reload(self) -> None:
            raise RuntimeError("there are open files preventing the operation: path x is open")

    store = Store(Busy(), reload=ReloadPolicy.ALWAYS)
    with pytest.raises(volstore.ReloadError, match="path x is open"):
        store.repository(Schedule).get("ada", "a")


def test_sessions_reload_on_read_by_policy() -> None:
    backend = CountingBackend()
    store = Store(backend, reload=ReloadPolicy.ALWAYS)
    with store.session() as s:
        s.get(Schedule, "ada", "a")
        s.add(sched("b"))
        s.get(Schedule, "ada", "b")  # from the identity map: no reload
    assert backend.reload_calls == 1


def test_mypy_sees_typed_results(store: Store) -> None:
    repo: volstore.Repository[Schedule] = store.repository(Schedule)
    repo.put(sched("a"))
    got = repo.get("ada", "a")
    assert got is not None
    assert got.cron == "* * * * *"  # attribute access type-checks only if got is a Schedule


def test_scan_streams_every_object_of_a_type(store: Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched(f"{i}", user=f"user{i % 5}") for i in range(20)])
    bad = store.path_for(repo.spec, "user1", "broken")
    store.backend.write_batch({bad: b"{"})
    seen: list[volstore.CorruptObjectError] = []
    found = sorted((s.user_id, s.id) for s in repo.scan(on_error=seen.append))
    assert len(found) == 20
    assert [e.path for e in seen] == [bad]
    assert sum(1 for _ in repo.scan_paths()) == 21
    with pytest.raises(volstore.CorruptObjectError):
        list(repo.scan())
