"""The backend and unit-of-work contracts, as pytest test mixins: one line per backend.

Every volstore backend passes these suites; a backend of your own passes them
by subclassing, the way fsspec ships ``fsspec.tests.abstract``::

    import pytest
    from volstore.testing.contract import BackendContract, IndexContract, UnitOfWorkContract

    class TestMyBackend(BackendContract, UnitOfWorkContract, IndexContract):
        @pytest.fixture
        def backend(self, tmp_path):
            return MyBackend(tmp_path / "root")

- ``BackendContract`` pins what ``volstore.Backend`` promises: reads,
  atomic batches, listings (hidden names, kinds, details), deletes, folders,
  moves, path checks and, where ``supports_conditional`` is true, the
  compare-and-swap operations (``read_token``, ``apply_conditional``),
  including racing writers with exactly one winner.
- ``UnitOfWorkContract`` pins what a session promises on top of the
  backend: a commit persists, an exception rolls back, uncommitted work is
  discarded, a failed commit stays pending, a session with no change commits
  nothing, and a versioned object changed meanwhile is a conflict that writes
  nothing.
- :class:`IndexContract` pins what secondary indexes promise: entries follow
  their objects through writes and deletes, seen by another reader, and a
  unique value raced by several writers has exactly one winner.

The mixins need one fixture, ``backend`` (a fresh, empty backend per test);
``store`` is built on it and may be overridden. They use their own models
(resource types starting with ``contract-``). Importing this module imports
pytest.

Both suites also run through the async API (``volstore.aio``), unchanged:
:class:`AsyncBackendContract` calls the backend as an async store does (in
greenlets on an event loop: file I/O in worker threads, Modal calls through
``.aio``), :class:`AsyncUnitOfWorkContract` drives an ``AsyncStore`` on it
(``async with`` sessions, awaited reads and commits; see
``volstore.testing.blocking``). Their ``backend`` fixture wraps yours, so
define yours outside the class (in the module or a conftest)::

    @pytest.fixture
    def backend(tmp_path):
        return MyBackend(tmp_path / "root")

    class TestMyBackendAsync(AsyncBackendContract, AsyncUnitOfWorkContract): ...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import volstore
from volstore import Backend, ConflictError, Store
from volstore.aio import AsyncStore
from volstore.backends import FileTooLargeError
from volstore.testing.blocking import (
    Blocking,
    BlockingBackend,
    LoopThread,
    blocking_backend,
    blocking_store,
)

__all__ = [
    "AsyncBackendContract",
    "AsyncUnitOfWorkContract",
    "BackendContract",
    "ContractDoc",
    "ContractIndexed",
    "ContractVersioned",
    "IndexContract",
    "UnitOfWorkContract",
]


class ContractDoc(volstore.Model, resource_type="contract-docs"):
    """A plain model of the contract suites."""

    id: str
    user_id: str
    body: str = ""
    tags: list[str] = []  # noqa: RUF012 - a pydantic field default, copied per instance


class ContractVersioned(
    volstore.Model, resource_type="contract-versioned", version_field="version"
):
    """A versioned model of the contract suites."""

    id: str
    user_id: str
    body: str = ""
    version: int = 0


class ContractIndexed(
    volstore.Model,
    resource_type="contract-indexed",
    indexes=["status", volstore.Index("slug", unique=True, across_users=True)],
):
    """A model with a plain and a unique index, for the index contract."""

    id: str
    user_id: str
    status: str = "open"
    slug: str | None = None


def _conditional(backend: Backend) -> Backend:
    if not backend.supports_conditional:
        pytest.skip(f"{backend.describe()} offers no conditional writes")
    return backend


class BackendContract:
    """What every ``volstore.Backend`` promises.

    Provide a ``backend`` fixture (a fresh, empty backend per test) in the
    subclass or a conftest.
    """

    # -- reads and writes ----------------------------------------------------------------

    def test_read_of_a_missing_file_raises_file_not_found(self, backend: Backend) -> None:
        with pytest.raises(FileNotFoundError):
            backend.read("nothing/here.json")

    def test_written_files_read_back(self, backend: Backend) -> None:
        files = {"a/b/one.json": b"1", "a/b/two.json": b"22", "a/c/three.json": b"\x00\xff" * 1000}
        backend.write_batch(files)
        for path, data in files.items():
            assert backend.read(path) == data
            assert backend.exists(path)
        assert not backend.exists("a/b/zero.json")
        assert not backend.exists("nowhere/zero.json")

    def test_write_replaces_whole_files(self, backend: Backend) -> None:
        backend.write_batch({"a/x.json": b"long content " * 100})
        backend.write_batch({"a/x.json": b"short"})
        assert backend.read("a/x.json") == b"short"

    def test_an_empty_batch_is_fine(self, backend: Backend) -> None:
        backend.write_batch({})
        backend.delete_batch([])

    def test_a_read_limit_refuses_a_larger_file_without_reading_it(self, backend: Backend) -> None:
        backend.write_batch({"a/big.json": b"x" * 1000})
        assert backend.read("a/big.json", limit=1000) == b"x" * 1000
        with pytest.raises(FileTooLargeError):
            backend.read("a/big.json", limit=999)

    def test_a_folder_is_not_a_file(self, backend: Backend) -> None:
        backend.write_batch({"a/b/c.json": b"1"})
        with pytest.raises(IsADirectoryError):
            backend.exists("a/b")
        with pytest.raises((IsADirectoryError, FileNotFoundError)):
            backend.read("a/b")

    # -- listings -------------------------------------------------------------------------

    def test_list_gives_direct_children_and_flags_folders(self, backend: Backend) -> None:
        backend.write_batch({"t/u1/a.json": b"1", "t/u1/b.json": b"2", "t/u2/c.json": b"3"})
        assert sorted((e.name, e.is_dir) for e in backend.list("t")) == [
            ("u1", True),
            ("u2", True),
        ]
        assert sorted((e.name, e.kind) for e in backend.list("t/u1")) == [
            ("a.json", "file"),
            ("b.json", "file"),
        ]
        assert [e.name for e in backend.list("")] == ["t"]

    def test_list_of_a_missing_folder_or_of_a_file_is_empty(self, backend: Backend) -> None:
        backend.write_batch({"t/a.json": b"1"})
        assert backend.list("no/such/folder") == []
        assert backend.list("t/a.json") == []

    def test_list_hides_names_starting_with_a_dot_unless_asked(self, backend: Backend) -> None:
        backend.write_batch({"t/.a.json.tmp": b"half", "t/b.json": b"whole"})
        assert sorted(e.name for e in backend.list("t")) == ["b.json"]
        assert sorted(e.name for e in backend.list("t", hidden=True)) == [".a.json.tmp", "b.json"]

    def test_list_with_details_gives_sizes(self, backend: Backend) -> None:
        backend.write_batch({"t/a.json": b"12345", "t/u/b.json": b""})
        sizes = {e.name: e.size for e in backend.list("t", details=True)}
        assert sizes["a.json"] == 5
        assert sizes["u"] is None

    def test_walk_and_delete_tree(self, backend: Backend) -> None:
        backend.write_batch({"d/2024/a.json": b"", "d/2024/x/b.json": b"", "d/2025/c.json": b""})
        assert list(backend.walk("d")) == ["d/2024/a.json", "d/2024/x/b.json", "d/2025/c.json"]
        assert backend.delete_tree("d/2024") == 2
        assert list(backend.walk("d")) == ["d/2025/c.json"]

    # -- deletes, folders, moves ---------------------------------------------------------------

    def test_delete_removes_and_skips_missing_files(self, backend: Backend) -> None:
        backend.write_batch({"t/a.json": b"1", "t/b.json": b"2"})
        backend.delete_batch(["t/a.json", "t/missing.json", "gone/x.json"])
        assert not backend.exists("t/a.json")
        assert backend.read("t/b.json") == b"2"

    def test_remove_empty_folder_removes_only_an_empty_one(self, backend: Backend) -> None:
        backend.write_batch({"t/u/a.json": b"1", "t/.tmp/x": b"1"})
        assert not backend.remove_empty_folder("t/u")
        assert backend.read("t/u/a.json") == b"1"
        backend.delete_batch(["t/u/a.json"])
        backend.remove_empty_folder("t/u")  # an empty folder (where there are folders) goes
        assert [e.name for e in backend.list("t")] == []
        assert not backend.remove_empty_folder("t/never-there")

    def test_move_never_replaces_a_file(self, backend: Backend) -> None:
        backend.write_batch({"t/a.json": b"a", "t/b.json": b"b"})
        with pytest.raises(FileExistsError):
            backend.move("t/a.json", "t/b.json")
        assert backend.read("t/b.json") == b"b"
        backend.move("t/a.json", "q/t/a.json")
        assert backend.read("q/t/a.json") == b"a"
        assert not backend.exists("t/a.json")
        with pytest.raises(FileNotFoundError):
            backend.move("t/a.json", "q/t/again.json")

    @pytest.mark.parametrize(
        "path", ["../x.json", "/etc/passwd", "a/../../x", "a\\b", "a\x00b", "", "a//b", "a/./b"]
    )
    def test_unclean_paths_are_refused(self, backend: Backend, path: str) -> None:
        with pytest.raises(volstore.InvalidKeyError):
            backend.write_batch({path: b"x"})
        with pytest.raises(volstore.InvalidKeyError):
            backend.read(path)
        with pytest.raises(volstore.InvalidKeyError):
            backend.delete_batch([path])

    def test_commit_and_reload_keep_what_was_written(self, backend: Backend) -> None:
        backend.write_batch({"t/a.json": b"1"})
        backend.commit()
        backend.reload()
        assert backend.read("t/a.json") == b"1"

    # -- compare-and-swap -------------------------------------------------------------------------

    def test_a_token_names_one_state(self, backend: Backend) -> None:
        _conditional(backend)
        backend.write_batch({"c/a.json": b"one"})
        data, token = backend.read_token("c/a.json")
        assert data == b"one"
        assert backend.read_token("c/a.json")[1] == token
        backend.write_batch({"c/a.json": b"two"})
        assert backend.read_token("c/a.json")[1] != token
        with pytest.raises(FileNotFoundError):
            backend.read_token("c/missing.json")

    def test_a_conditional_create_fails_when_a_file_is_there(self, backend: Backend) -> None:
        _conditional(backend)
        tokens = backend.apply_conditional({"c/a.json": b"first"}, [], {"c/a.json": None})
        assert tokens["c/a.json"] == backend.read_token("c/a.json")[1]
        with pytest.raises(ConflictError) as info:
            backend.apply_conditional({"c/a.json": b"second"}, [], {"c/a.json": None})
        assert info.value.path == "c/a.json"
        assert backend.read("c/a.json") == b"first"

    def test_a_conditional_replace_needs_the_token_it_read(self, backend: Backend) -> None:
        _conditional(backend)
        backend.write_batch({"c/a.json": b"v1"})
        _, token = backend.read_token("c/a.json")
        backend.apply_conditional({"c/a.json": b"v2"}, [], {"c/a.json": token})
        assert backend.read("c/a.json") == b"v2"
        with pytest.raises(ConflictError):  # the token of v1 is stale now
            backend.apply_conditional({"c/a.json": b"v3"}, [], {"c/a.json": token})
        assert backend.read("c/a.json") == b"v2"

    def test_a_failed_expectation_applies_nothing_of_the_call(self, backend: Backend) -> None:
        _conditional(backend)
        backend.write_batch({"c/a.json": b"a", "c/b.json": b"b", "c/gone.json": b"g"})
        _, token_a = backend.read_token("c/a.json")
        with pytest.raises(ConflictError):
            backend.apply_conditional(
                {"c/a.json": b"a2", "c/b.json": b"b2", "c/new.json": b"n"},
                ["c/gone.json"],
                {"c/a.json": token_a, "c/b.json": "not-its-token"},
            )
        assert backend.read("c/a.json") == b"a"
        assert backend.read("c/b.json") == b"b"
        assert backend.read("c/gone.json") == b"g"
        assert not backend.exists("c/new.json")

    def test_a_conditional_delete(self, backend: Backend) -> None:
        _conditional(backend)
        backend.write_batch({"c/a.json": b"a"})
        _, token = backend.read_token("c/a.json")
        with pytest.raises(ConflictError):
            backend.apply_conditional({}, ["c/a.json"], {"c/a.json": None})
        backend.apply_conditional({}, ["c/a.json"], {"c/a.json": token})
        assert not backend.exists("c/a.json")

    def test_racing_conditional_writers_have_exactly_one_winner(self, backend: Backend) -> None:
        _conditional(backend)
        backend.write_batch({"c/hot.json": b"start"})
        _, token = backend.read_token("c/hot.json")
        writers = 8
        barrier = threading.Barrier(writers)
        outcomes: list[str] = []
        lock = threading.Lock()

        def write(index: int) -> None:
            barrier.wait()
            try:
                backend.apply_conditional(
                    {"c/hot.json": f"writer {index}".encode()}, [], {"c/hot.json": token}
                )
            except ConflictError:
                result = "conflict"
            else:
                result = f"won {index}"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [o for o in outcomes if o.startswith("won")]
        assert len(winners) == 1, outcomes
        assert backend.read("c/hot.json") == f"writer {winners[0].split()[1]}".encode()


class UnitOfWorkContract:
    """What a session promises on a backend. Provide a ``backend`` fixture."""

    @pytest.fixture
    def store(self, backend: Backend) -> Store:
        return Store(backend)

    def _doc(self, object_id: str, body: str = "", user: str = "ada") -> ContractDoc:
        return ContractDoc(id=object_id, user_id=user, body=body)

    def test_a_commit_persists(self, store: Store) -> None:
        with store.session() as s:
            s.add_all([self._doc(f"d{i}", user=f"u{i % 3}") for i in range(9)])
        assert store.stats.commits == 1
        fresh = Store(store.backend)  # what another reader of the same backend sees
        assert fresh.repository(ContractDoc).ids("u1") == ["d1", "d4", "d7"]
        assert fresh.repository(ContractDoc).get_one("u2", "d5") == self._doc("d5", user="u2")

    def test_an_exception_rolls_back(self, store: Store) -> None:
        store.repository(ContractDoc).put(self._doc("kept", "before"))
        commits = store.stats.commits
        with pytest.raises(RuntimeError, match="boom"), store.session() as s:
            s.add(self._doc("new"))
            s.get_one(ContractDoc, "ada", "kept").body = "changed"
            s.delete(ContractDoc, "ada", "kept")
            raise RuntimeError("boom")
        repo = store.repository(ContractDoc)
        assert repo.get("ada", "new") is None
        assert repo.get_one("ada", "kept").body == "before"
        assert store.stats.commits == commits

    def test_uncommitted_work_is_discarded(self, store: Store) -> None:
        session = store.session()
        session.add(self._doc("never"))
        session.close()
        assert store.repository(ContractDoc).get("ada", "never") is None
        with pytest.raises(volstore.SessionError):
            session.add(self._doc("again"))

    def test_a_failed_commit_stays_pending(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[int] = []
        real_commit = store.backend.commit

        def fails_once() -> None:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("the storage said no")
            real_commit()

        monkeypatch.setattr(store.backend, "commit", fails_once)
        session = store.session()
        session.add(self._doc("retry"))
        with pytest.raises(volstore.CommitError):
            session.commit()
        session.commit()  # the retry commits what was written
        assert len(calls) == 2
        assert store.repository(ContractDoc).get_one("ada", "retry") == self._doc("retry")
        session.close()

    def test_a_session_with_no_change_commits_nothing(self, store: Store) -> None:
        store.repository(ContractDoc).put(self._doc("a", "same"))
        before = store.stats.snapshot()
        with store.session() as s:
            s.get_one(ContractDoc, "ada", "a")
            s.add(self._doc("a", "same"))  # the same value again
        after = store.stats.snapshot()
        assert after["commits"] == before["commits"]
        assert after["writes"] == before["writes"]

    def test_reads_see_the_sessions_own_writes_and_deletes(self, store: Store) -> None:
        store.repository(ContractDoc).put(self._doc("old"))
        with store.session() as s:
            mine = s.add(self._doc("new"))
            assert s.get(ContractDoc, "ada", "new") is mine
            s.delete(ContractDoc, "ada", "old")
            assert s.get(ContractDoc, "ada", "old") is None
            assert s.repository(ContractDoc).ids("ada") == ["new"]
            assert store.repository(ContractDoc).get("ada", "new") is None  # not yet
        assert store.repository(ContractDoc).ids("ada") == ["new"]

    def test_in_place_changes_are_found_at_commit(self, store: Store) -> None:
        store.repository(ContractDoc).put(self._doc("a"))
        with store.session() as s:
            s.get_one(ContractDoc, "ada", "a").tags.append("x")
        assert store.repository(ContractDoc).get_one("ada", "a").tags == ["x"]

    def test_a_versioned_object_changed_meanwhile_is_a_conflict(self, store: Store) -> None:
        if not store.backend.supports_conditional:
            pytest.skip(f"{store.backend.describe()} offers no conditional writes")
        repo = store.repository(ContractVersioned)
        repo.put(ContractVersioned(id="v", user_id="ada", body="v1"))
        other = Store(store.backend).repository(ContractVersioned)  # another writer
        with pytest.raises(volstore.StaleObjectError) as info, store.session() as s:
            mine = s.get_one(ContractVersioned, "ada", "v")
            theirs = other.get_one("ada", "v")
            theirs.body = "theirs"
            other.put(theirs)
            mine.body = "mine"
        assert (info.value.expected, info.value.found) == (1, 2)
        final = repo.get_one("ada", "v", reload=True)
        assert (final.body, final.version) == ("theirs", 2)

    def test_creating_a_versioned_object_that_exists_is_a_conflict(self, store: Store) -> None:
        if not store.backend.supports_conditional:
            pytest.skip(f"{store.backend.describe()} offers no conditional writes")
        store.repository(ContractVersioned).put(ContractVersioned(id="v", user_id="ada"))
        with pytest.raises(volstore.StaleObjectError, match="expected to create it"):
            Store(store.backend).repository(ContractVersioned).put(
                ContractVersioned(id="v", user_id="ada", body="a second first")
            )


class IndexContract:
    """What secondary indexes promise on a backend. Provide a ``backend`` fixture.

    Unique values need conditional writes: those tests skip on a backend
    whose ``supports_conditional`` is false.
    """

    @pytest.fixture
    def store(self, backend: Backend) -> Store:
        return Store(backend)

    def test_entries_follow_their_objects(self, store: Store) -> None:
        repo = store.repository(ContractIndexed)
        repo.put_all([ContractIndexed(id=f"i{n}", user_id=f"u{n % 2}") for n in range(4)])
        with store.session() as s:
            s.get_one(ContractIndexed, "u0", "i0").status = "done"
            s.delete(ContractIndexed, "u1", "i1")
        fresh = Store(store.backend).repository(ContractIndexed)  # another reader
        everyone = fresh.query(all_users=True)
        assert [o.id for o in everyone.where(status="open").all()] == ["i2", "i3"]
        assert [o.id for o in everyone.where(status="done").all()] == ["i0"]
        assert fresh.query("u1").where(status="open").count() == 1
        assert Store(store.backend, models=[ContractIndexed]).check().ok

    def test_a_unique_value_raced_by_writers_has_one_winner(self, store: Store) -> None:
        _conditional(store.backend)
        writers = 4
        barrier = threading.Barrier(writers)
        outcomes: list[str] = []
        lock = threading.Lock()

        def write(index: int) -> None:
            repo = Store(store.backend).repository(ContractIndexed)  # its own writer
            barrier.wait()
            try:
                repo.put(ContractIndexed(id=f"w{index}", user_id=f"u{index}", slug="taken"))
                result = "won"
            except volstore.UniqueViolationError:
                result = "lost"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["lost"] * (writers - 1) + ["won"]
        fresh = Store(store.backend).repository(ContractIndexed)
        assert fresh.query(all_users=True).where(slug="taken").count() == 1
        assert fresh.query(all_users=True).count() == 1  # the losers wrote nothing


# -- the same suites, through the async API -------------------------------------------------


class _OnAnEventLoop:
    @pytest.fixture
    def volstore_loop(self) -> Iterator[LoopThread]:
        """An event loop in a background thread (closed after the test)."""
        loop = LoopThread()
        yield loop
        loop.close()


class AsyncBackendContract(_OnAnEventLoop, BackendContract):
    """BackendContract, each call made as an async store makes it (see the module docstring).

    Needs a ``backend`` fixture defined outside the class: this one wraps it.
    """

    @pytest.fixture
    def backend(self, backend: Backend, volstore_loop: LoopThread) -> Iterator[Any]:
        wrapped = blocking_backend(backend, volstore_loop)
        yield wrapped
        wrapped.close_pool()

    @pytest.fixture(autouse=True)
    def _through_the_async_api(self, backend: Any) -> None:
        if not isinstance(backend, BlockingBackend):
            raise TypeError(
                "AsyncBackendContract wraps the backend fixture: define yours outside the "
                "class (in the module or a conftest), not in it"
            )


class AsyncUnitOfWorkContract(_OnAnEventLoop, UnitOfWorkContract):
    """UnitOfWorkContract on an AsyncStore: ``async with`` sessions, awaited calls.

    ``store`` is an AsyncStore on the ``backend`` fixture, behind a blocking face
    (``volstore.testing.blocking``): every session and repository call of the
    suite is the async API's, awaited on an event loop.
    """

    @pytest.fixture
    def store(self, backend: Backend, volstore_loop: LoopThread) -> Iterator[Any]:
        async_store = AsyncStore(backend, threads=8)
        yield blocking_store(async_store, volstore_loop)
        async_store.pool.shutdown()

    @pytest.fixture(autouse=True)
    def _through_the_async_api(self, store: Any) -> None:
        if not isinstance(store, Blocking):
            raise TypeError("AsyncUnitOfWorkContract builds the store fixture: do not override it")
