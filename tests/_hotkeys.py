"""Hot-key stress: writers increment a few shared counters with retry; none may be lost.

Used by ``tests/test_hotkeys.py`` (small sizes) and ``scripts/hotkeys.py`` (full
sizes). Each writer (an OS process, or a thread) does ``increments``
read-modify-write increments of random keys among ``keys`` counters with
``Repository.update`` (compare-and-swap, retried on StaleObjectError) and
counts the increments acknowledged to it. At the end a fresh reader sums the
stored counters: every acknowledged increment must be there (``lost`` == 0),
and nothing else (``phantom`` == 0).

Kinds: ``local`` (one folder, every writer on it), ``mounted`` (an emulated
Modal Volume, one container per process, background commits every 20 ms;
threads share one container), ``remote`` (the same volume through the client
API), ``s3`` (a prefix of a bucket on a real S3-compatible server: SeaweedFS;
``use_s3`` first names the server, and every writer opens its own client). A
writer process is this file run as a script::

    python tests/_hotkeys.py worker KIND DIR INDEX KEYS INCREMENTS START_AT OUT.json
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import volstore
from volstore.modal import volume_store
from volstore.testing import VolumeEmulator

if TYPE_CHECKING:
    from volstore.testing.seaweedfs import SeaweedFS

USER = "stress"
VOLUME = "hotkeys"
KINDS = ("local", "mounted", "remote", "s3")
S3_PLACE = "s3.json"  # in the run's folder: the bucket, prefix and server of an s3 run


class HotCounter(volstore.Model, resource_type="hot-counters", version_field="version"):
    id: str
    user_id: str
    value: int = 0
    version: int = 0


@dataclass
class Report:
    """What a stress run did: acknowledged increments, what is stored, what was lost."""

    kind: str
    writers: int
    acknowledged: int
    stored: int
    lost: int  # acknowledged but not stored
    phantom: int  # stored but never acknowledged
    conflicts: int  # compare-and-swap conflicts met (each retried)
    failed: int  # increments given up after every retry
    seconds: float

    def line(self) -> str:
        rate = self.acknowledged / self.seconds if self.seconds else 0.0
        return (
            f"{self.kind:8s} {self.writers} writers: acknowledged {self.acknowledged}, "
            f"stored {self.stored}, lost {self.lost}, phantom {self.phantom}, "
            f"conflicts {self.conflicts}, failed {self.failed}, "
            f"{self.seconds:.1f} s ({rate:.0f} increments/s)"
        )


def use_s3(where: Path, server: SeaweedFS, bucket: str) -> None:
    """Make the ``s3`` runs in ``where`` use a fresh prefix of ``bucket`` on ``server``."""
    where.mkdir(parents=True, exist_ok=True)
    url = f"s3://{bucket}/hotkeys-{where.name}-{time.time_ns()}"
    (where / S3_PLACE).write_text(json.dumps({"url": url, "options": server.credentials()}))


@contextmanager
def open_store(
    kind: str, where: Path, *, interval: float | None = 0.02
) -> Iterator[volstore.Store]:
    """A store of ``kind`` on the shared place ``where`` (one container, for ``mounted``)."""
    if kind == "local":
        yield volstore.Store(where / "store")
        return
    if kind == "s3":
        from volstore.s3 import s3_store  # here: boto3 would slow the other kinds' writers

        place = json.loads((where / S3_PLACE).read_text())
        store = s3_store(place["url"], **place["options"])
        try:
            yield store
        finally:
            store.backend.close()
        return
    volume = VolumeEmulator(where / "emulator").Volume.from_name(VOLUME, create_if_missing=True)
    if kind == "remote":
        yield volume_store(volume, mode="remote")
        return
    with volume.mount(background_commit_interval=interval) as mount:
        yield volume_store(volume, mount_path=mount.path, mode="mounted")


def increment_many(
    store: volstore.Store, keys: int, increments: int, seed: int
) -> tuple[Tally[str], int]:
    """Do the increments; return those acknowledged by key, and those given up."""
    rng = random.Random(seed)
    repo = store.repository(HotCounter)
    acknowledged: Tally[str] = Tally()
    failed = 0

    def bump(counter: HotCounter) -> None:
        counter.value += 1

    for _ in range(increments):
        key = f"k{rng.randrange(keys)}"
        try:
            repo.update(
                USER,
                key,
                bump,
                create=lambda key=key: HotCounter(id=key, user_id=USER),
                retries=200,
            )
        except volstore.StaleObjectError:
            failed += 1
            continue
        acknowledged[key] += 1
    return acknowledged, failed


def _barrier(where: Path, index: int, writers: int, timeout: float = 300.0) -> None:
    """Wait until every writer is ready, so that they meet however slowly each one started.

    A start time fixed in advance is not enough: on a loaded machine a writer
    may finish its few increments before another has imported volstore.
    """
    (where / f"ready-{index}").touch()
    deadline = time.monotonic() + timeout
    while sum(1 for _ in where.glob("ready-*")) < writers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"writer {index}: the others were not ready within {timeout} s")
        time.sleep(0.002)


def worker(kind: str, where: Path, index: int, keys: int, increments: int, writers: int,
           out: Path) -> None:  # fmt: skip
    with open_store(kind, where) as store:
        _barrier(where, index, writers)
        started = time.time()
        acknowledged, failed = increment_many(store, keys, increments, seed=index)
        conflicts = store.stats.conflicts
    result = {"acknowledged": acknowledged, "failed": failed, "conflicts": conflicts,
              "started": started, "ended": time.time()}  # fmt: skip
    out.write_text(json.dumps(result))


def stored_counts(kind: str, where: Path) -> dict[str, int]:
    """The counters as a new reader sees them (a new container, for volumes)."""
    with open_store(kind, where, interval=None) as store:
        return {c.id: c.value for c in store.repository(HotCounter).list(USER)}


def run(kind: str, where: Path, *, processes: int, keys: int = 3, increments: int = 20) -> Report:
    """``processes`` writer processes; return the report."""
    where.mkdir(parents=True, exist_ok=True)
    children = []
    for index in range(processes):
        out = where / f"worker-{index}.json"
        argv = [sys.executable, __file__, "worker", kind, str(where), str(index), str(keys),
                str(increments), str(processes), str(out)]  # fmt: skip
        children.append((subprocess.Popen(argv), out))
    acknowledged: Tally[str] = Tally()
    failed = conflicts = 0
    started, ended = [], []
    for child, out in children:
        if child.wait(timeout=600) != 0:
            raise RuntimeError(f"a {kind} writer failed with exit code {child.returncode}")
        result = json.loads(out.read_text())
        acknowledged.update(result["acknowledged"])
        failed += result["failed"]
        conflicts += result["conflicts"]
        started.append(result["started"])
        ended.append(result["ended"])
    seconds = max(ended) - min(started)  # from the barrier to the last writer's end
    return _report(kind, processes, where, acknowledged, failed, conflicts, seconds)


def run_threads(
    kind: str, where: Path, *, threads: int, keys: int = 3, increments: int = 20
) -> Report:
    """``threads`` writer threads sharing ONE store (one container, for ``mounted``)."""
    where.mkdir(parents=True, exist_ok=True)
    acknowledged: Tally[str] = Tally()
    failures: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    started = time.monotonic()
    with open_store(kind, where) as store:

        def one(index: int) -> None:
            try:
                done, failed = increment_many(store, keys, increments, seed=index)
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                acknowledged.update(done)
                failures.append(failed)

        pool = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        conflicts = store.stats.conflicts
    if errors:
        raise errors[0]
    seconds = time.monotonic() - started
    return _report(kind, threads, where, acknowledged, sum(failures), conflicts, seconds)


def _report(
    kind: str,
    writers: int,
    where: Path,
    acknowledged: Tally[str],
    failed: int,
    conflicts: int,
    seconds: float,
) -> Report:
    stored = stored_counts(kind, where)
    lost = sum(max(0, n - stored.get(key, 0)) for key, n in acknowledged.items())
    phantom = sum(max(0, n - acknowledged.get(key, 0)) for key, n in stored.items())
    return Report(
        kind,
        writers,
        sum(acknowledged.values()),
        sum(stored.values()),
        lost,
        phantom,
        conflicts,
        failed,
        seconds,
    )


if __name__ == "__main__":
    if sys.argv[1:2] != ["worker"]:
        sys.exit("usage: _hotkeys.py worker KIND DIR INDEX KEYS INCREMENTS WRITERS OUT")
    kind, where, index, keys, increments, writers, out = sys.argv[2:9]
    worker(kind, Path(where), int(index), int(keys), int(increments), int(writers), Path(out))
