"""Compare-and-swap across containers: every interleaving of two writers is caught.

Two emulated containers (A and B) mount one volume; each test pins one
interleaving deterministically and its docstring says CAUGHT or NOT CAUGHT.
docs/guarantees.md lists them. The rule behind all of them: a versioned
session's flush claims the folders it writes (a put-if-absent in a shared
Dict), reloads, compares the state of each object with the one it read,
writes, commits, and only then releases the claims. A writer that finds a
claim waits for it. So no two writers ever build on the same state: the
second one sees the first one's commit and raises StaleObjectError.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import volstore
from tests._faults import patch_os
from volstore import Store
from volstore._check import check_store
from volstore.backends import local as local_module
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.modal import volume_claims
from volstore.testing import Mount, VolumeEmulator


class Doc(volstore.Model, resource_type="docs", version_field="version"):
    id: str
    user_id: str
    body: str = ""
    version: int = 0


class Plain(volstore.Model, resource_type="plain"):
    id: str
    user_id: str
    body: str = ""


class HookedBackend(MountedVolumeBackend):
    """A mounted backend that runs ``before_commit`` once, between a flush and its publish."""

    before_commit: Callable[[], object] | None = None

    def commit(self) -> None:
        hook, self.before_commit = self.before_commit, None
        if hook is not None:
            hook()
        super().commit()


@pytest.fixture
def emulator(tmp_path: Path) -> VolumeEmulator:
    return VolumeEmulator(tmp_path / "emulator")


@contextmanager
def container(
    emulator: VolumeEmulator, *, interval: float | None = None
) -> Iterator[tuple[Store, HookedBackend, Mount]]:
    """One emulated container mounting the shared volume: its store, backend and mount."""
    volume = emulator.Volume.from_name("shared", create_if_missing=True)
    with volume.mount(background_commit_interval=interval) as mount:
        backend = HookedBackend(mount.path, volume, claims=volume_claims(volume))
        yield Store(backend, models=[Doc, Plain]), backend, mount


def seed(emulator: VolumeEmulator, *docs: Doc) -> None:
    with container(emulator) as (store, _, _):
        store.repository(Doc).put_all(list(docs))


def committed(emulator: VolumeEmulator, model: type[Doc] | type[Plain], key: str) -> object:
    """What a new container sees at a key."""
    with container(emulator) as (store, _, _):
        return store.repository(model).get("ada", key)


def test_a_commit_before_the_check_is_caught(emulator: VolumeEmulator) -> None:
    """CAUGHT. A and B load v1; B commits v2; A's flush reloads, finds v2, raises, writes nothing.

    A never reloads by itself (the default policy): the version check reloads.
    """
    seed(emulator, Doc(id="d", user_id="ada", body="v1"))
    with container(emulator) as (store_a, _, _), container(emulator) as (store_b, _, _):
        with pytest.raises(volstore.StaleObjectError) as info, store_a.session() as a:
            mine = a.get_one(Doc, "ada", "d")
            with store_b.session() as b:
                b.get_one(Doc, "ada", "d").body = "B"
            mine.body = "A"
        assert (info.value.expected, info.value.found) == (1, 2)
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert (final.body, final.version) == ("B", 2)


class During:
    """Runs ``work`` in another thread while A is inside its window, and keeps the outcome."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.work = work
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.work()
        except BaseException as exc:
            self.error = exc

    def start_and_let_it_wait(self) -> None:
        """A's hook: start B, give it time to reach A's claim, then let A go on."""
        self.thread.start()
        time.sleep(0.2)

    def join(self) -> BaseException | None:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "B never finished"
        return self.error


def test_a_commit_inside_the_window_is_caught(emulator: VolumeEmulator) -> None:
    """CAUGHT. A and B load v1. A's flush claims, checks (v1: fine), writes v2 to its
    disk; before A publishes, B's session flushes: it finds A's claim and waits; A
    commits and releases; B reloads, finds v2, raises, and writes nothing.
    """
    seed(emulator, Doc(id="d", user_id="ada", body="v1"))
    with (
        container(emulator) as (store_a, backend_a, _),
        container(emulator) as (store_b, _, _),
    ):
        b = store_b.session()
        theirs = b.get_one(Doc, "ada", "d")
        theirs.body = "B"
        during = During(b.commit)
        backend_a.before_commit = during.start_and_let_it_wait
        with store_a.session() as a:
            a.get_one(Doc, "ada", "d").body = "A"
        error = during.join()
        assert isinstance(error, volstore.StaleObjectError)
        assert (error.expected, error.found) == (1, 2)
        assert backend_a.claims is not None
        b.close()
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert (final.body, final.version) == ("A", 2), "B's stale update was not written"


def test_a_background_commit_inside_the_window_changes_nothing(emulator: VolumeEmulator) -> None:
    """CAUGHT. As above, with background commits every 10 ms publishing A's files
    before A's own commit: B still waits for A's claim, then finds v2 and raises.
    """
    seed(emulator, Doc(id="d", user_id="ada", body="v1"))
    with (
        container(emulator, interval=0.01) as (store_a, backend_a, mount_a),
        container(emulator) as (store_b, _, _),
    ):
        with store_b.session() as b:
            theirs = b.get_one(Doc, "ada", "d")
        published = mount_a.counters.files_published

        def b_tries_after_a_background_commit() -> None:
            deadline = time.monotonic() + 10
            while mount_a.counters.files_published == published:
                assert time.monotonic() < deadline, "no background commit happened"
                time.sleep(0.005)
            theirs.body = "B"
            store_b.repository(Doc).put(theirs)

        during = During(b_tries_after_a_background_commit)
        backend_a.before_commit = during.start_and_let_it_wait
        with store_a.session() as a:
            a.get_one(Doc, "ada", "d").body = "A"
        error = during.join()
        assert isinstance(error, volstore.StaleObjectError)
        assert (error.expected, error.found) == (1, 2)
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert (final.body, final.version) == ("A", 2)


def test_a_create_committed_before_the_check_is_caught(emulator: VolumeEmulator) -> None:
    """CAUGHT. A and B both create "d"; B commits first; A's flush finds version 1
    where it expected nothing, and raises."""
    with container(emulator) as (store_a, _, _), container(emulator) as (store_b, _, _):
        store_b.repository(Doc).put(Doc(id="d", user_id="ada", body="B"))
        with pytest.raises(volstore.StaleObjectError, match="expected to create it"):
            store_a.repository(Doc).put(Doc(id="d", user_id="ada", body="A"))
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert final.body == "B"


def test_a_create_create_race_inside_the_window_is_caught(emulator: VolumeEmulator) -> None:
    """CAUGHT. A and B both create "d". A claims and checks (nothing there); B's create
    waits for A's claim; A commits; B then finds A's object where it expected nothing,
    and raises: one create wins, the other is told.
    """
    with container(emulator) as (store_a, backend_a, _), container(emulator) as (store_b, _, _):
        during = During(lambda: store_b.repository(Doc).put(Doc(id="d", user_id="ada", body="B")))
        backend_a.before_commit = during.start_and_let_it_wait
        store_a.repository(Doc).put(Doc(id="d", user_id="ada", body="A"))
        error = during.join()
        assert isinstance(error, volstore.StaleObjectError)
        assert "expected to create it" in str(error)
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert (final.body, final.version) == ("A", 1)


def test_a_writer_that_died_holding_a_claim_is_recovered_after_the_lease(
    emulator: VolumeEmulator,
) -> None:
    """CAUGHT, and not wedged. A claims "d"'s folder and dies before it commits (its claim
    stays in the Dict). B waits for the claim; once the claim is older than the lease,
    B breaks it, reloads, finds the state it read, and writes. Nothing acknowledged is lost.
    """
    seed(emulator, Doc(id="d", user_id="ada", body="v1"))
    volume = emulator.Volume.from_name("shared")
    dead = volume_claims(volume, lease=0.3)
    assert dead is not None
    with container(emulator) as (store_b, backend_b, _):
        folder = store_b.path_for(store_b.register(Doc), "ada", "d").rpartition("/")[0]
        dead.acquire([folder])  # ... and never released: the writer died here
        backend_b.claims = volume_claims(volume, lease=0.3, wait=5)
        with store_b.session() as b:
            b.get_one(Doc, "ada", "d").body = "B"
        assert backend_b.claims is not None
        assert backend_b.claims.broken == 1
        assert backend_b.claims.waits > 0
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert (final.body, final.version) == ("B", 2)


def test_a_claim_held_longer_than_the_wait_is_a_conflict_that_writes_nothing(
    emulator: VolumeEmulator,
) -> None:
    """CAUGHT. A live writer holds the claim (well within its lease) for longer than B is
    willing to wait: B raises StaleObjectError saying so, and writes nothing."""
    seed(emulator, Doc(id="d", user_id="ada", body="v1"))
    volume = emulator.Volume.from_name("shared")
    holder = volume_claims(volume)
    assert holder is not None
    with container(emulator) as (store_b, backend_b, _):
        folder = store_b.path_for(store_b.register(Doc), "ada", "d").rpartition("/")[0]
        held = holder.acquire([folder])
        backend_b.claims = volume_claims(volume, wait=0.2)
        with (
            pytest.raises(volstore.StaleObjectError, match="another writer is replacing it"),
            store_b.session() as b,
        ):
            b.get_one(Doc, "ada", "d").body = "B"
        holder.release(held)
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert (final.body, final.version) == ("v1", 1)


def test_an_update_of_an_object_deleted_meanwhile_is_caught(emulator: VolumeEmulator) -> None:
    """CAUGHT. A loads v1; B deletes the object and commits; A's flush finds it deleted."""
    seed(emulator, Doc(id="d", user_id="ada"))
    with (
        container(emulator) as (store_a, _, _),
        container(emulator) as (store_b, _, _),
        pytest.raises(volstore.StaleObjectError, match="deleted"),
        store_a.session() as a,
    ):
        mine = a.get_one(Doc, "ada", "d")
        assert store_b.repository(Doc).delete("ada", "d")
        mine.body = "A"
    assert committed(emulator, Doc, "d") is None


def test_a_delete_and_recreate_meanwhile_is_caught(emulator: VolumeEmulator) -> None:
    """CAUGHT (no ABA). A loads v1; B deletes the object and creates a new one under the
    same key, which starts again at version 1. A's flush compares the state it read,
    not only the version number, so it finds B's new object, raises, and writes nothing.
    """
    seed(emulator, Doc(id="d", user_id="ada", body="first"))
    with (
        container(emulator) as (store_a, _, _),
        container(emulator) as (store_b, _, _),
        pytest.raises(volstore.StaleObjectError),
        store_a.session() as a,
    ):
        mine = a.get_one(Doc, "ada", "d")
        repo_b = store_b.repository(Doc)
        assert repo_b.delete("ada", "d")
        repo_b.put(Doc(id="d", user_id="ada", body="B's new object"))
        mine.body = "A"
    final = committed(emulator, Doc, "d")
    assert isinstance(final, Doc)
    assert (final.body, final.version) == ("B's new object", 1), "B's new object is kept"


def test_unversioned_models_are_never_checked(emulator: VolumeEmulator) -> None:
    """NOT CAUGHT, by design. Without ``version_field`` nothing is compared: concurrent
    writers both succeed and the last commit wins per file."""
    with container(emulator) as (store_a, _, _), container(emulator) as (store_b, _, _):
        store_a.repository(Plain).put(Plain(id="p", user_id="ada", body="A"))
        with store_b.session() as b:
            assert b.get(Plain, "ada", "p") is None, "B's view is older than A's commit"
            b.add(Plain(id="p", user_id="ada", body="B"))
    final = committed(emulator, Plain, "p")
    assert isinstance(final, Plain)
    assert final.body == "B"


def test_two_sessions_of_one_process_racing_are_caught(tmp_path: Path) -> None:
    """CAUGHT, on one local folder. The check and the write are one atomic step: a
    session of another thread that read v1 and flushes while this session is
    writing waits for it, then finds v2 and raises; its update is not written.
    """
    store = Store(tmp_path)
    store.repository(Doc).put(Doc(id="d", user_id="ada", body="v1"))
    real_write_batch = store.backend.write_batch
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []
    other = store.session()
    other.get_one(Doc, "ada", "d").body = "other"  # read v1, before mine writes

    def run_other() -> None:
        try:
            other.commit()
        except BaseException as exc:
            errors.append(exc)

    def other_session_flushes_meanwhile(files: object) -> None:
        if not threads:
            threads.append(threading.Thread(target=run_other))
            threads[0].start()
            time.sleep(0.05)  # let it reach the folder lock
        real_write_batch(files)  # type: ignore[arg-type]

    store.backend.write_batch = other_session_flushes_meanwhile  # type: ignore[method-assign]
    with store.session() as mine:
        mine.get_one(Doc, "ada", "d").body = "mine"
    threads[0].join()
    assert len(errors) == 1
    assert isinstance(errors[0], volstore.StaleObjectError)
    assert (errors[0].expected, errors[0].found) == (1, 2)
    final = store.repository(Doc).get_one("ada", "d")
    assert (final.body, final.version) == ("mine", 2), "the stale update was not written"


def test_a_background_commit_of_a_half_done_session_never_tears_a_file(
    emulator: VolumeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CAUGHT (no torn file), NOT ALL-OR-NOTHING. A background commit lands while A's
    session is renaming its files into place, then A's container dies. B sees a whole
    file for every object, but only some objects are new (a session is atomic per
    file, not as a whole), plus A's temporary files, which readers never see and
    the store check removes.
    """
    count, renamed_at_commit = 40, 15
    seed(emulator, *[Doc(id=f"d{i:02d}", user_id="ada", body="old") for i in range(count)])
    with container(emulator) as (store_b, _, _):
        with container(emulator) as (store_a, backend_a, mount_a):
            docs = store_a.repository(Doc).list("ada")
            replaced = 0

            class ContainerDied(BaseException):
                pass

            def replace(src: str, dst: str, **kwargs: object) -> None:
                nonlocal replaced
                if replaced == renamed_at_commit:
                    backend_a.volume.commit()  # a background commit lands now ...
                    mount_a.kill()  # ... and then the container is killed
                    raise ContainerDied
                os.replace(src, dst, **kwargs)  # type: ignore[arg-type]
                replaced += 1

            patch_os(monkeypatch, local_module, replace=replace)
            with pytest.raises(ContainerDied), store_a.session() as a:
                for doc in a.repository(Doc).list("ada"):
                    doc.body = "new"
            assert len(docs) == count
        monkeypatch.undo()
        store_b.reload()
        bodies = [doc.body for doc in store_b.repository(Doc).list("ada")]  # all parse
        assert len(bodies) == count
        assert bodies.count("new") == renamed_at_commit
        # A's container was killed: nothing can still rename its temporary files.
        report = check_store(store_b, repair=True, temporary_min_age=0)
        assert report.totals == {
            "corrupt": 0,
            "temporary": count - renamed_at_commit,
            "mismatch": 0,
            "duplicate": 0,
            "unknown": 0,
        }
    with container(emulator) as (store_c, _, _):
        assert check_store(store_c).ok, "the repair was committed"
