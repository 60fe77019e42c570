"""One contract, written once, run against every backend (see backends.py).

The first half pins the Backend contract itself (what ``volstore.Backend``'s
docstrings promise); the second half pins what users rely on through a Store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import pytest

import volstore
from models import Schedule
from tests.contract.backends import FACTORIES
from tests.test_stateful import StoreMachine, through_the_async_api
from volstore.testing.contract import (
    AsyncBackendContract,
    AsyncUnitOfWorkContract,
    BackendContract,
    IndexContract,
    UnitOfWorkContract,
)

CREATED = datetime(2024, 2, 29, 12, tzinfo=timezone.utc)


@pytest.fixture(params=sorted(FACTORIES))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[volstore.Backend]:
    with ExitStack() as stack:
        yield FACTORIES[request.param](tmp_path, stack)


@pytest.fixture
def store(backend: volstore.Backend) -> volstore.Store:
    return volstore.Store(backend)


def sched(object_id: str, user: str = "ada") -> Schedule:
    return Schedule(id=object_id, user_id=user, name="n", cron="* * * * *", created_at=CREATED)


# -- the shipped contracts (volstore.testing.contract), on every backend --------------------


class TestBackendContract(BackendContract):
    """Runs on each backend of FACTORIES through the module's ``backend`` fixture."""


class TestUnitOfWorkContract(UnitOfWorkContract):
    """Runs on each backend of FACTORIES through the module's ``backend`` fixture."""


class TestIndexContract(IndexContract):
    """Runs on each backend of FACTORIES through the module's ``backend`` fixture."""


class TestBackendContractAsync(AsyncBackendContract):
    """The same suite, each call as an async store makes it (volstore.aio)."""


class TestUnitOfWorkContractAsync(AsyncUnitOfWorkContract):
    """The same suite through an AsyncStore (async with, awaited calls)."""


# -- what users rely on, through a Store ---------------------------------------------------


def test_session_commits_once_and_reads_back(store: volstore.Store) -> None:
    with store.session() as s:
        s.add_all([sched(f"s{i}", user=f"u{i % 3}") for i in range(9)])
    assert store.stats.commits == 1
    repo = store.repository(Schedule)
    assert repo.ids("u1") == ["s1", "s4", "s7"]
    assert repo.get_one("u2", "s5") == sched("s5", user="u2")


def test_a_raising_session_writes_nothing(store: volstore.Store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(sched("a"))
        raise RuntimeError
    assert store.repository(Schedule).ids("ada") == []
    assert store.stats.commits == 0


def test_dirty_objects_are_written_and_clean_ones_are_not(store: volstore.Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched("a"), sched("b")])
    with store.session() as s:
        s.get_one(Schedule, "ada", "a").tags.append("x")
        s.get_one(Schedule, "ada", "b")
    assert s.stats.writes == 1
    assert repo.get_one("ada", "a").tags == ["x"]


def test_paging_and_deletes(store: volstore.Store) -> None:
    repo = store.repository(Schedule)
    repo.put_all([sched(f"{i:02d}") for i in range(12)])
    assert [s.id for s in repo.list("ada", after="03", limit=3)] == ["04", "05", "06"]
    assert repo.delete("ada", "05")
    assert repo.delete_all("ada") == 11
    assert repo.list("ada") == []


def test_corrupt_files_are_reported_with_their_path(store: volstore.Store) -> None:
    repo = store.repository(Schedule)
    path = store.path_for(repo.spec, "ada", "bad")
    store.backend.write_batch({path: b"\xff\xfe not json"})
    with pytest.raises(volstore.CorruptObjectError) as info:
        repo.get("ada", "bad")
    assert info.value.path == path


# -- the model-based test, on every backend --------------------------------------------------


def _machine_for(name: str, *, through_async: bool = False) -> type[StoreMachine]:
    class Machine(StoreMachine):
        def make_store(self) -> volstore.Store:
            folder = Path(self.temp_dir())
            stack = ExitStack()
            self.cleanups.append(stack.close)  # cleanups run last-first: mounts close first
            backend = FACTORIES[name](folder, stack)
            if through_async:
                return through_the_async_api(self, backend)
            return volstore.Store(backend)

    prefix = "AsyncStoreMachine" if through_async else "StoreMachine"
    Machine.__name__ = f"{prefix}_{name.replace('-', '_')}"
    return Machine


_STATEFUL_SETTINGS = {
    "memory": 30,
    "local": 25,
    "mounted": 15,
    "mounted-bg": 10,
    "mounted-refresh": 10,
    "remote": 15,
    "s3": 15,
}

for _name, _examples in _STATEFUL_SETTINGS.items():
    for _async in (False, True):
        _machine = _machine_for(_name, through_async=_async)
        _case = _machine.TestCase
        _case.settings = pytest.importorskip("hypothesis").settings(
            max_examples=_examples if not _async else max(5, _examples // 2),
            stateful_step_count=25,
            deadline=None,
        )
        _kind = "Async" if _async else ""
        globals()[f"TestStateful{_kind}_{_name.replace('-', '_')}"] = _case
