"""The API means what its types say (issue 13 item 14).

- ``reload=`` takes a ReloadPolicy, True, False or None, at every entry point:
  ``"never"`` or ``0`` is a TypeError, never taken for a policy by its truth;
- the page cursor is one concept: ``after=`` takes the last object of the
  previous page everywhere (flat and time-bucketed repositories, stores,
  sessions, user-bound views); flat repositories also take its id;
- ``store.bucketed(Model)`` and ``session.bucketed(Model)`` give the typed
  repository of a time-bucketed model (``tests/typecheck.py`` checks the types).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import AwareDatetime

import volstore

AT = datetime(2024, 2, 29, 10, 0, tzinfo=timezone.utc)


class Note(volstore.Model, resource_type="notes"):
    id: str
    user_id: str


class Ping(volstore.Model, resource_type="pings", time_field="at"):
    id: str
    user_id: str
    at: AwareDatetime


@pytest.fixture
def store() -> volstore.Store:
    store = volstore.Store(volstore.MemoryBackend())
    store.repository(Note).put_all([Note(id=f"n{i}", user_id="ada") for i in range(7)])
    store.bucketed(Ping).put_all(
        [Ping(id=f"p{i}", user_id="ada", at=AT + timedelta(minutes=37 * i)) for i in range(7)]
    )
    return store


# -- reload= -----------------------------------------------------------------------------------


def entry_points(store: volstore.Store, s: volstore.Session, bad: Any) -> dict[str, Any]:
    """Every call that takes ``reload=``, with ``bad`` (some on objects the session holds)."""
    notes, pings = store.repository(Note), store.bucketed(Ping)
    mine, session_pings = s.repository(Note), s.bucketed(Ping)
    calls: dict[str, Callable[[], Any]] = {
        "get": lambda: notes.get("ada", "n1", reload=bad),
        "get_one": lambda: notes.get_one("ada", "n1", reload=bad),
        "exists": lambda: notes.exists("ada", "n1", reload=bad),
        "ids": lambda: notes.ids("ada", reload=bad),
        "iter": lambda: notes.iter("ada", reload=bad),
        "list": lambda: notes.list("ada", reload=bad),
        "count": lambda: notes.count("ada", reload=bad),
        "scan": lambda: notes.scan(reload=bad),
        "scan_paths": lambda: notes.scan_paths(reload=bad),
        "for_user().get": lambda: notes.for_user("ada").get("n1", reload=bad),
        "for_user().list": lambda: notes.for_user("ada").list(reload=bad),
        "range": lambda: pings.range(None, None, reload=bad),
        "latest": lambda: pings.latest("ada", reload=bad),
        "latest(0)": lambda: pings.latest("ada", 0, reload=bad),
        "bucketed iter": lambda: pings.iter("ada", reload=bad),
        "bucketed list": lambda: pings.list("ada", reload=bad),
        "bucketed ids": lambda: pings.ids("ada", reload=bad),
        "bucketed for_user().range": lambda: pings.for_user("ada").range(None, None, reload=bad),
        "purge_older_than": lambda: pings.purge_older_than(AT - timedelta(days=9), reload=bad),
        "migrate": lambda: volstore.migrate(store, Note, reload=bad),
        "session.get (held)": lambda: s.get(Note, "ada", "n1", reload=bad),
        "session.get_one (held)": lambda: s.get_one(Note, "ada", "n1", reload=bad),
        "session.get": lambda: s.get(Note, "ada", "n2", reload=bad),
        "session repository get (held)": lambda: mine.get("ada", "n1", reload=bad),
        "session repository exists (pending)": lambda: mine.exists("ada", "new", reload=bad),
        "session range": lambda: session_pings.range(None, None, reload=bad),
    }
    return calls


@pytest.mark.parametrize("bad", ["never", "always", 0, 1, 2.5, "every 5s"])
def test_a_reload_that_is_not_a_policy_or_a_bool_is_refused_by_every_entry_point(
    store: volstore.Store, bad: Any
) -> None:
    reloads = store.stats.reloads
    with store.session() as s:
        s.get_one(Note, "ada", "n1")  # held by the session: get answers from memory
        s.add(Note(id="new", user_id="ada"))  # pending: exists answers from memory
        for name, call in entry_points(store, s, bad).items():
            with pytest.raises(TypeError, match="reload= takes a ReloadPolicy"):
                call()
                pytest.fail(f"{name} took reload={bad!r}")
        s.rollback()
    with pytest.raises(TypeError, match="ReloadPolicy"):
        volstore.Store(volstore.MemoryBackend(), reload=bad)
    assert store.stats.reloads == reloads  # nothing reloaded on a truthy value


@pytest.mark.parametrize("good", [None, True, False, volstore.ReloadPolicy.NEVER])
def test_every_reload_override_is_taken(store: volstore.Store, good: Any) -> None:
    notes = store.repository(Note)
    assert notes.get_one("ada", "n1", reload=good).id == "n1"
    assert len(list(store.bucketed(Ping).range(None, None, reload=good))) == 7


# -- the cursor ---------------------------------------------------------------------------------


def pages(fetch: Callable[[Any], list[Any]]) -> list[list[str]]:
    """Page through ``fetch(after)`` with after=the last object of the previous page."""
    found: list[list[str]] = []
    after = None
    while page := fetch(after):
        found.append([obj.id for obj in page])
        after = page[-1]
    return found


def test_the_cursor_is_the_last_object_of_the_previous_page_everywhere(
    store: volstore.Store,
) -> None:
    notes, pings = store.repository(Note), store.bucketed(Ping)
    flat = [["n0", "n1", "n2"], ["n3", "n4", "n5"], ["n6"]]
    timed = [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]  # time order
    assert pages(lambda after: notes.list("ada", after=after, limit=3)) == flat
    assert pages(lambda after: list(notes.iter("ada", after=after, limit=3))) == flat
    assert pages(lambda after: notes.for_user("ada").list(after=after, limit=3)) == flat
    assert pages(lambda after: pings.list("ada", after=after, limit=3)) == timed
    assert pages(lambda after: list(pings.iter("ada", after=after, limit=3))) == timed
    assert pages(lambda after: pings.for_user("ada").list(after=after, limit=3)) == timed
    assert pages(lambda after: list(pings.for_user("ada").iter(after=after, limit=3))) == timed
    with store.session() as s:
        assert pages(lambda after: s.repository(Note).list("ada", after=after, limit=3)) == flat
        assert pages(lambda after: s.bucketed(Ping).list("ada", after=after, limit=3)) == timed


def test_flat_repositories_also_take_an_id_and_bucketed_ones_a_time(
    store: volstore.Store,
) -> None:
    notes, pings = store.repository(Note), store.bucketed(Ping)
    assert [n.id for n in notes.list("ada", after="n4")] == ["n5", "n6"]
    assert notes.ids("ada", after="n4") == ["n5", "n6"]
    assert [p.id for p in pings.list("ada", after=AT + timedelta(minutes=37 * 4))] == ["p5", "p6"]


@pytest.mark.parametrize("bad", [3, Ping(id="p0", user_id="ada", at=AT), AT])
def test_a_cursor_of_another_kind_is_a_type_error_on_flat_repositories(
    store: volstore.Store, bad: Any
) -> None:
    with pytest.raises(TypeError, match="after= takes the last Note of the previous page"):
        store.repository(Note).list("ada", after=bad)


def test_an_id_is_no_cursor_in_time_order(store: volstore.Store) -> None:
    with pytest.raises(TypeError, match="listed in time order"):
        store.bucketed(Ping).list("ada", after="p3")


# -- the bucketed repository --------------------------------------------------------------------


def test_store_and_session_bucketed_give_the_bucketed_repository(store: volstore.Store) -> None:
    pings = store.bucketed(Ping, cache_listings=True)
    assert isinstance(pings, volstore.BucketedRepository)
    assert pings.cache_listings
    assert [p.id for p in pings.latest("ada", 2)] == ["p6", "p5"]
    with store.session() as s:
        mine = s.bucketed(Ping)
        s.add(Ping(id="late", user_id="ada", at=AT + timedelta(days=1)))
        assert mine.latest("ada", 1)[0].id == "late"  # sees the session's pending add
        assert mine.in_session
    with pytest.raises(volstore.ModelDefinitionError, match="not time-bucketed"):
        store.bucketed(Note)
    with store.session() as s, pytest.raises(volstore.ModelDefinitionError):
        s.bucketed(Note)
