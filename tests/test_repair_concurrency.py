"""``check(repair=True)`` running while writers write never breaks them (issue 13 item 5).

One thread repairs in a loop while another runs 50 sessions that rewrite
objects, delete some, and move time-bucketed objects between buckets (a
write, then a delete of the old copy). A repair must never remove a
temporary file a live writer will still rename, nor quarantine a copy a
move in progress is about to delete or has just written: every session
succeeds, and the store ends exactly as the writer left it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import AwareDatetime

import volstore
from tests._hostile import Env, open_env

AT = datetime(2024, 2, 29, 0, 0, tzinfo=timezone.utc)
SESSIONS = 50
NOTES = 20
PINGS = 5


class Note(volstore.Model, resource_type="notes"):
    id: str
    user_id: str
    generation: int


class Ping(volstore.Model, resource_type="pings", time_field="at"):
    id: str
    user_id: str
    at: AwareDatetime
    generation: int


@pytest.fixture(params=["local", "mounted"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with open_env(request.param, tmp_path) as env:
        yield env


def write_sessions(store: volstore.Store, failures: list[BaseException]) -> None:
    for generation in range(SESSIONS):
        try:
            with store.session() as s:
                s.add_all(
                    Note(id=f"n{i}", user_id="ada", generation=generation) for i in range(NOTES)
                )
                if generation % 5 == 4:
                    s.delete(Note, "ada", f"n{generation % NOTES}")
                # Each session moves every ping to the next hour's bucket.
                at = AT + timedelta(hours=generation)
                for i in range(PINGS):
                    ping = s.get(Ping, "ada", f"p{i}", at=at - timedelta(hours=1))
                    if ping is None:
                        s.add(Ping(id=f"p{i}", user_id="ada", at=at, generation=generation))
                    else:
                        ping.at, ping.generation = at, generation
        except BaseException as exc:
            failures.append(exc)


def test_a_repair_loop_never_fails_a_concurrent_writer(env: Env) -> None:
    store = env.store
    failures: list[BaseException] = []
    repair_errors: list[BaseException] = []
    repairs: list[volstore.CheckReport] = []
    done = threading.Event()

    def repair_loop() -> None:
        while not done.is_set() or not repairs:
            try:
                repairs.append(store.check(repair=True))
            except BaseException as exc:
                repair_errors.append(exc)
                return

    repairer = threading.Thread(target=repair_loop)
    repairer.start()
    try:
        write_sessions(store, failures)
    finally:
        done.set()
        repairer.join()
    assert failures == []
    assert repair_errors == []
    assert sum(report.removed + report.quarantined for report in repairs) == 0, [
        f
        for report in repairs
        for f in report.findings()
        if f.action == "removed" or (f.action or "").startswith("moved")
    ]
    last = SESSIONS - 1
    notes = store.repository(Note).list("ada")
    # every session writes them all again; the last one deletes n9
    assert {n.id for n in notes} == {f"n{i}" for i in range(NOTES)} - {f"n{last % NOTES}"}
    assert all(n.generation == last for n in notes)
    pings = list(volstore.bucketed(store, Ping).range(None, None))
    assert sorted((p.id, p.at, p.generation) for p in pings) == [
        (f"p{i}", AT + timedelta(hours=last), last) for i in range(PINGS)
    ]
    final = store.check()
    assert final.totals == dict.fromkeys(final.totals, 0), final.findings()
    assert not (env.root / ".volstore-quarantine").exists()


@pytest.mark.parametrize("kind", ["memory", "local", "mounted"])
def test_a_repair_that_quarantines_next_to_a_writer_never_fails_it(
    kind: str, tmp_path: Path
) -> None:
    """The repair has work to do (corrupt files keep appearing) and commits each time."""
    with open_env(kind, tmp_path) as env:
        store = env.store
        failures: list[BaseException] = []
        repair_errors: list[BaseException] = []
        quarantined: list[str] = []
        done = threading.Event()
        bob = store.hasher("bob")

        def repair_loop() -> None:
            i = 0
            while not done.is_set() or i == 0:
                store.backend.write_batch({f"notes/{bob}/torn{i}.json": b'{"id": "torn'})
                i += 1
                try:
                    report = store.check(repair=True)
                except BaseException as exc:
                    repair_errors.append(exc)
                    return
                quarantined.extend(f.path for f in report.corrupt if f.action)

        repairer = threading.Thread(target=repair_loop)
        repairer.start()
        try:
            write_sessions(store, failures)
        finally:
            done.set()
            repairer.join()
        assert failures == []
        assert repair_errors == []
        assert quarantined
        assert all(path.rpartition("/")[2].startswith("torn") for path in quarantined)
        last = SESSIONS - 1
        assert all(n.generation == last for n in store.repository(Note).list("ada"))
        pings = volstore.bucketed(store, Ping).range(None, None)
        assert sorted(p.id for p in pings) == [f"p{i}" for i in range(PINGS)]
        assert store.check().ok
