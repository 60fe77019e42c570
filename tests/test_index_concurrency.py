"""Indexes under several writers: entries of one value never overwrite each other, and a
unique value taken by racing writers has exactly one winner.

Containers are emulated (``volstore.testing.VolumeEmulator``): each mounts the
shared volume and sees others' commits only after a reload; per file, the
last commit wins. Entries are one file per object and value, so two
containers writing the same value write two files, and both survive.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

import volstore
from tests.contract.backends import FACTORIES
from volstore.modal import volume_store
from volstore.testing import VolumeEmulator

ROOT = Path(__file__).resolve().parents[1]


class Ticket(
    volstore.Model,
    resource_type="ctickets",
    indexes=["status", volstore.Index("slug", unique=True, across_users=True)],
):
    id: str
    user_id: str
    status: str = "open"
    slug: str | None = None


@contextmanager
def container(emulator: VolumeEmulator, interval: float | None = None) -> Iterator[volstore.Store]:
    """One emulated container mounting the shared volume."""
    volume = emulator.Volume.from_name("shared", create_if_missing=True)
    with volume.mount(background_commit_interval=interval) as mount:
        yield volume_store(volume, mount_path=mount.path, mode="mounted")


@pytest.mark.parametrize("interval", [None, 0.01])
def test_two_containers_writing_one_value_keep_both_entries(
    tmp_path: Path, interval: float | None
) -> None:
    emulator = VolumeEmulator(tmp_path / "emulator")
    with container(emulator, interval) as a, container(emulator, interval) as b:
        # Neither has seen the other's commit when it writes.
        a.repository(Ticket).put(Ticket(id="t1", user_id="ada", status="urgent"))
        b.repository(Ticket).put(Ticket(id="t2", user_id="bob", status="urgent"))
        for store in (a, b):
            store.reload()
            found = store.repository(Ticket).query(all_users=True).where(status="urgent").all()
            assert [(t.user_id, t.id) for t in found] == [("ada", "t1"), ("bob", "t2")]
    outside = volume_store(emulator.Volume.from_name("shared"), mode="remote")
    assert outside.repository(Ticket).query(all_users=True).where(status="urgent").count() == 2
    assert outside.check().ok


def race(writers: list[Callable[[], object]]) -> tuple[int, int]:
    """Run the writers at once; return (successes, unique violations)."""
    barrier = threading.Barrier(len(writers))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(write: Callable[[], object]) -> None:
        barrier.wait()
        try:
            write()
            outcome = "won"
        except volstore.UniqueViolationError:
            outcome = "lost"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes.count("won"), outcomes.count("lost")


def test_two_containers_taking_one_unique_value_have_one_winner(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emulator")
    with container(emulator) as a, container(emulator) as b:
        for round_ in range(5):
            slug = f"slug-{round_}"
            a_ticket = Ticket(id=f"a{round_}", user_id="ada", slug=slug)
            b_ticket = Ticket(id=f"b{round_}", user_id="bob", slug=slug)
            won, lost = race(
                [
                    lambda t=a_ticket: a.repository(Ticket).put(t),
                    lambda t=b_ticket: b.repository(Ticket).put(t),
                ]
            )
            assert (won, lost) == (1, 1)
            a.reload()
            holders = a.repository(Ticket).query(all_users=True).where(slug=slug).all()
            assert len(holders) == 1
        # The loser wrote nothing: neither its object nor an entry.
        assert a.repository(Ticket).query(all_users=True).count() == 5
        assert a.check().ok


@pytest.mark.parametrize("backend_name", sorted(FACTORIES))
def test_racing_writers_of_one_unique_value_have_one_winner(
    backend_name: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        backend = FACTORIES[backend_name](tmp_path, stack)
        if not backend.supports_conditional:
            pytest.skip(f"{backend.describe()} offers no conditional writes")
        store = volstore.Store(backend)
        writers: list[Callable[[], object]] = [
            (
                lambda i=i: store.repository(Ticket).put(
                    Ticket(id=f"w{i}", user_id=f"u{i}", slug="x")
                )
            )
            for i in range(4)
        ]
        assert race(writers) == (1, 3)
        assert store.repository(Ticket).query(all_users=True).where(slug="x").count() == 1
        assert store.repository(Ticket).query(all_users=True).count() == 1


RACER = """
import sys, time
import volstore
from tests.test_index_concurrency import Ticket

store = volstore.Store(sys.argv[1])
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
try:
    store.repository(Ticket).put(Ticket(id="p" + sys.argv[2], user_id="u" + sys.argv[2], slug="x"))
except volstore.UniqueViolationError:
    sys.exit(3)
"""


def test_processes_taking_one_unique_value_on_a_local_folder_have_one_winner(
    tmp_path: Path,
) -> None:
    import time

    start = time.time() + 1.5
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path / "store"), str(i), str(start)],
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        for i in range(4)
    ]
    codes = sorted(child.wait(120) for child in children)
    assert codes == [0, 3, 3, 3]
    store = volstore.Store(tmp_path / "store")
    assert store.repository(Ticket).query(all_users=True).where(slug="x").count() == 1
