"""The query API: conditions, scopes, order, cursors, pages, sessions, errors (docs/queries.md)."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone
from typing import Literal

import attrs
import pytest
from pydantic import AwareDatetime, BaseModel, Field

import volstore
from volstore import QueryError

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Settings(BaseModel):
    email: str | None = None
    level: int = 0


class Task(volstore.Model, resource_type="qtasks", indexes=["status", "due"]):
    id: str = volstore.id_field()
    user_id: str
    status: Literal["open", "done"] = "open"
    due: AwareDatetime | None = None
    points: float = 0.0
    priority: Priority = Priority.LOW
    title: str = ""
    tags: list[str] = Field(default_factory=list)
    settings: Settings = Field(default_factory=Settings)
    extra: dict[str, int] = Field(default_factory=dict)


class Plain(volstore.Model, resource_type="qplain"):
    """The same fields without indexes: every query scans."""

    id: str
    user_id: str
    status: str = "open"
    n: int = 0


@volstore.resource("qnotes", indexes=["rank"])
@attrs.define
class Note:
    id: str
    user_id: str
    rank: int
    text: str = ""


class Ping(
    volstore.Model, resource_type="qpings", time_field="at", bucket="hour", indexes=["kind"]
):
    id: str
    user_id: str
    at: AwareDatetime
    kind: str = "a"


def task(i: int, user: str = "ada", **fields: object) -> Task:
    values: dict[str, object] = {
        "id": f"t{i:02d}",
        "user_id": user,
        "status": "open" if i % 2 else "done",
        "due": T0 + timedelta(hours=i),
        "points": float(i % 5),
        "priority": Priority.HIGH if i % 3 == 0 else Priority.LOW,
        "title": f"task {i}",
        "tags": ["x"] if i % 4 == 0 else [],
        "settings": Settings(email=f"u{i}@example.com", level=i % 3),
        "extra": {"n": i},
    }
    values.update(fields)
    return Task.model_validate(values)


@pytest.fixture
def store() -> volstore.Store:
    s = volstore.Store(volstore.MemoryBackend())
    s.repository(Task).put_all([task(i, user=("ada", "bob")[i % 2]) for i in range(20)])
    return s


def ids(objects: list[Task]) -> list[str]:
    return [o.id for o in objects]


# -- conditions ------------------------------------------------------------------------------


def test_every_operator(store: volstore.Store) -> None:
    q = store.repository(Task).query(all_users=True)
    all_tasks = sorted(store.repository(Task).scan(), key=lambda t: t.id)

    def brute(test: object) -> list[str]:
        return [t.id for t in all_tasks if test(t)]  # type: ignore[operator]

    assert ids(q.where(status="open").all()) == brute(lambda t: t.status == "open")
    assert ids(q.where(status__ne="open").all()) == brute(lambda t: t.status != "open")
    limit = T0 + timedelta(hours=5)
    assert ids(q.where(lambda t: t.due < limit).all()) == brute(lambda t: t.due < limit)
    assert ids(q.where(due__lte=limit).all()) == brute(lambda t: t.due <= limit)
    assert ids(q.where(lambda t: t.due > limit).all()) == brute(lambda t: t.due > limit)
    assert ids(q.where(due__gte=limit).all()) == brute(lambda t: t.due >= limit)
    assert ids(q.where(points__in=[1, 3]).all()) == brute(lambda t: t.points in (1, 3))
    assert ids(q.where(title__startswith="task 1").all()) == brute(
        lambda t: t.title.startswith("task 1")
    )
    assert ids(q.where(tags__contains="x").all()) == brute(lambda t: "x" in t.tags)
    assert ids(q.where(lambda t: volstore.contains(t.tags, "x")).all()) == brute(
        lambda t: "x" in t.tags
    )
    assert ids(q.where(lambda t: volstore.is_in(t.status, ["done"])).all()) == brute(
        lambda t: t.status == "done"
    )
    assert ids(q.where(lambda t: t.title.startswith("task 1")).all()) == brute(
        lambda t: t.title.startswith("task 1")
    )


def test_and_or_not(store: volstore.Store) -> None:
    q = store.repository(Task).query(all_users=True)
    all_tasks = sorted(store.repository(Task).scan(), key=lambda t: t.id)
    got = q.where(lambda t: (t.status == "open") & (t.points >= 3) | (t.priority == Priority.HIGH))
    assert ids(got.all()) == [
        t.id
        for t in all_tasks
        if (t.status == "open" and t.points >= 3) or t.priority is Priority.HIGH
    ]
    got = q.where(lambda t: ~(t.status == "open"))
    assert ids(got.all()) == [t.id for t in all_tasks if t.status != "open"]
    got = q.where(
        lambda t: volstore.any_of(
            volstore.not_(t.status == "open"), volstore.all_of(t.points == 1, t.user_id == "bob")
        )
    )
    assert ids(got.all()) == [
        t.id for t in all_tasks if t.status != "open" or (t.points == 1 and t.user_id == "bob")
    ]
    # Several where() calls and keywords are ANDed.
    got = q.where(status="open").where(lambda t: t.points > 1, user_id="bob")
    assert ids(got.all()) == [
        t.id for t in all_tasks if t.status == "open" and t.points > 1 and t.user_id == "bob"
    ]


def test_nested_fields_dict_keys_and_enums(store: volstore.Store) -> None:
    q = store.repository(Task).query(all_users=True)
    assert ids(q.where(settings__level=2).all()) == ["t02", "t05", "t08", "t11", "t14", "t17"]
    assert ids(q.where(lambda t: t.settings.email == "u3@example.com").all()) == ["t03"]
    assert ids(q.where(lambda t: t.extra["n"] >= 18).all()) == ["t18", "t19"]
    assert ids(q.where(priority="high").all()) == ["t00", "t03", "t06", "t09", "t12", "t15", "t18"]


def test_range_conditions_match_values_of_the_constants_kind_only() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(Task)
    repo.put_all([task(1), task(2, due=None)])
    assert ids(repo.query("ada").where(lambda t: t.due < T0 + timedelta(days=9)).all()) == ["t01"]
    assert ids(repo.query("ada").where(due=None).all()) == ["t02"]
    assert ids(repo.query("ada").where(due__ne=None).all()) == ["t01"]


# -- errors at build time ----------------------------------------------------------------------


def test_unknown_fields_are_named_with_the_closest_match(store: volstore.Store) -> None:
    q = store.repository(Task).query("ada")
    with pytest.raises(QueryError, match=r"no field 'stauts'; did you mean 'status'"):
        q.where(stauts="open")
    with pytest.raises(QueryError, match=r"no field 'emial'; did you mean 'email'"):
        q.where(lambda t: t.settings.emial == "x")  # type: ignore[attr-defined]
    with pytest.raises(QueryError, match=r"no field"):
        q.order_by("-nope")


def test_values_are_validated_as_the_field(store: volstore.Store) -> None:
    q = store.repository(Task).query("ada")
    with pytest.raises(QueryError, match=r"Task.status: 'opne' is not a value"):
        q.where(status="opne")
    with pytest.raises(QueryError, match=r"Task.due"):
        q.where(due__lt="not a date")
    # Lax conversion, as pydantic validates: a string for a datetime field.
    assert ids(q.where(due__lt="2026-01-01T05:00:00Z").all()) == ["t00", "t02", "t04"]


def test_misused_operators_say_how(store: volstore.Store) -> None:
    q = store.repository(Task).query("ada")
    with pytest.raises(QueryError, match=r"volstore.is_in"):
        q.where(lambda t: t.status in ("open", "done"))
    with pytest.raises(QueryError, match=r"&, \| and ~"):
        q.where(lambda t: t.status == "open" and t.points > 1)
    with pytest.raises(QueryError, match=r"not a bool field"):
        q.where(lambda t: t.title)
    with pytest.raises(QueryError, match=r"startswith"):
        q.where(points__startswith="1")
    with pytest.raises(QueryError, match=r"not a list"):
        q.where(title__contains="a")
    with pytest.raises(QueryError, match=r"has no order"):
        q.order_by("tags")
    with pytest.raises(QueryError, match=r"bound a range"):
        q.where(due__lt=None)


def test_the_scope_is_explicit(store: volstore.Store) -> None:
    repo = store.repository(Task)
    with pytest.raises(TypeError, match=r"all_users=True"):
        repo.query()
    with pytest.raises(TypeError):
        repo.query("ada", all_users=True)
    with pytest.raises(volstore.InvalidKeyError):
        repo.query("../etc")
    assert {t.user_id for t in repo.query("bob").all()} == {"bob"}
    assert {t.user_id for t in repo.for_user("ada").query().all()} == {"ada"}


# -- order, limits, cursors ----------------------------------------------------------------------


def test_order_by_with_ties_broken_by_id(store: volstore.Store) -> None:
    q = store.repository(Task).query(all_users=True)
    got = q.order_by("-points", "due").all()
    want = sorted(store.repository(Task).scan(), key=lambda t: (-t.points, t.due, t.id))
    assert ids(got) == ids(want)
    got = q.order_by(volstore.desc(lambda t: t.priority), lambda t: t.title).all()
    want = sorted(want, key=lambda t: t.title)
    want = sorted(want, key=lambda t: t.priority.value, reverse=True)
    assert ids(got) == ids(want)
    # Without an order: by id, then user id.
    assert ids(q.all()) == sorted(ids(got))


def test_limit_first_count_exists(store: volstore.Store) -> None:
    q = store.repository(Task).query(all_users=True).where(status="open").order_by("-due")
    assert ids(q.limit(3).all()) == ["t19", "t17", "t15"]
    first = q.first()
    assert first is not None
    assert first.id == "t19"
    assert q.count() == 10
    assert q.limit(4).count() == 4
    assert q.exists()
    assert not q.where(points=99).exists()
    assert q.where(points=99).first() is None
    with pytest.raises(ValueError, match=r"non-negative"):
        q.limit(-1)


def test_pages_resume_exactly_where_the_last_ended(store: volstore.Store) -> None:
    q = store.repository(Task).query(all_users=True).order_by("points")
    seen: list[str] = []
    cursor = None
    while True:
        page = q.page(3, cursor)
        seen.extend(ids(page.items))
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == ids(q.all())
    assert [t.id for p in q.pages(7) for t in p.items] == seen
    # A new object placed before the cursor is not repeated; one after it is seen.
    page = q.page(5)
    store.repository(Task).put(task(40, points=0.0))  # sorts before the page's end
    store.repository(Task).put(task(41, points=4.5))
    rest = q.after(page.cursor).all()
    assert "t40" not in ids(rest)
    assert "t41" in ids(rest)
    assert ids(page.items) + ids(rest) == [i for i in ids(q.all()) if i != "t40"]


def test_a_cursor_of_another_query_is_refused(store: volstore.Store) -> None:
    repo = store.repository(Task)
    page = repo.query("ada").order_by("due").page(2)
    assert page.cursor is not None
    with pytest.raises(QueryError, match=r"another query"):
        repo.query("bob").order_by("due").after(page.cursor)
    with pytest.raises(QueryError, match=r"another query"):
        repo.query("ada").order_by("-due").after(page.cursor)
    with pytest.raises(QueryError, match=r"not a cursor"):
        repo.query("ada").after("garbage!")


def test_cursors_round_trip_every_kind_of_value() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(Task)
    repo.put_all([task(i, points=[1.5, float("nan"), -0.0, 2e300][i % 4]) for i in range(12)])
    q = repo.query("ada").order_by("points", "-due", "priority", "settings.email")
    assert [t.id for p in q.pages(1) for t in p.items] == ids(q.all())


# -- sessions ------------------------------------------------------------------------------


def test_a_session_sees_its_pending_writes_and_deletes(store: volstore.Store) -> None:
    with store.session() as s:
        repo = s.repository(Task)
        changed = repo.get_one("bob", "t01")
        changed.status = "done"
        s.delete(Task, "bob", "t03")
        s.add(task(50, user="bob", status="open"))
        s.add(task(51, user="ada", status="open"))
        q = repo.query("bob").where(status="open")
        got = ids(q.all())
        assert "t01" not in got
        assert "t03" not in got
        assert "t50" in got
        assert "t51" not in got
        everyone = ids(repo.query(all_users=True).where(status="open").all())
        assert "t51" in everyone
        assert "t01" not in everyone
        # The session's own objects are returned (the same instances).
        again = repo.query("bob").where(status="done", points=changed.points).all()
        assert any(t is changed for t in again)
    after = ids(store.repository(Task).query("bob").where(status="open").all())
    assert after == got


def test_objects_read_by_a_query_join_the_session(store: volstore.Store) -> None:
    with store.session() as s:
        found = s.repository(Task).query("ada").where(status="done").order_by("due").first()
        assert found is not None
        found.title = "renamed"
        assert s.get(Task, "ada", found.id) is found
    assert store.repository(Task).get_one("ada", found.id).title == "renamed"


# -- other models ---------------------------------------------------------------------------------


def test_attrs_models_and_unindexed_models() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    store.repository(Note).put_all([Note(f"n{i}", "ada", rank=i % 4) for i in range(10)])
    q = store.repository(Note).query("ada").where(rank__gte=2).order_by("-rank")
    assert [(n.id, n.rank) for n in q.all()] == [
        ("n3", 3), ("n7", 3), ("n2", 2), ("n6", 2)
    ]  # fmt: skip
    # Within one user an open range reads the user's folder; across users it uses the index.
    assert q.explain().index is None
    everyone = store.repository(Note).query(all_users=True).where(rank__gte=2)
    assert everyone.explain().index == "rank"
    assert sorted(n.id for n in everyone.all()) == ["n2", "n3", "n6", "n7"]
    store.repository(Plain).put_all([Plain(id=f"p{i}", user_id="ada", n=i) for i in range(5)])
    plain = store.repository(Plain).query(all_users=True).where(n__gt=2)
    assert plain.explain().index is None
    assert "scan" in str(plain.explain())
    assert [p.id for p in plain.all()] == ["p3", "p4"]


def test_time_bucketed_models_narrow_the_buckets_first() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    repo = volstore.bucketed(store, Ping)
    repo.put_all(
        [
            Ping(id=f"p{i}", user_id=("ada", "bob")[i % 2], at=T0 + timedelta(minutes=20 * i))
            for i in range(60)
        ]
    )
    lists = store.stats.lists
    q = repo.query(all_users=True).where(
        lambda p: (p.at >= T0 + timedelta(hours=2)) & (p.at < T0 + timedelta(hours=3))
    )
    assert "time buckets" in str(q.explain())
    assert [p.id for p in q.order_by("at").all()] == ["p6", "p7", "p8"]
    assert store.stats.lists - lists <= 3  # one bucket and its user folders
    indexed = repo.query("bob").where(kind="a").order_by("-at").limit(2).all()
    assert [p.id for p in indexed] == ["p59", "p57"]


def test_on_error_skips_a_corrupt_file(store: volstore.Store) -> None:
    path = store.path_for(volstore.spec_of(Task), "ada", "t00")
    store.backend.write_batch({path: b"{not json"})
    q = store.repository(Task).query("ada")
    with pytest.raises(volstore.CorruptObjectError):
        q.all()
    skipped: list[volstore.CorruptObjectError] = []
    assert "t00" not in ids(q.on_error(skipped.append).all())
    assert [e.path for e in skipped] == [path]
    # Through an index too.
    assert "t00" not in ids(q.where(status="done").on_error("skip").all())


def test_progress_reports_files_read(store: volstore.Store) -> None:
    reads: list[int] = []
    store.repository(Task).query(all_users=True).where(points=1).progress(reads.append).all()
    assert reads
    assert reads[-1] == max(reads) >= 1
