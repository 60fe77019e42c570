"""The objects written, the durability recorder, and the places they are written to.

Environments: a local folder (``LocalEnv``), or a container of the Modal Volume
emulator (``EmulatorEnv``), behind one ``Env`` interface.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import volstore
import volstore.modal
from benchmarks.bench_core import make_schedules
from benchmarks.strategies.config import OBJECTS_PER_USER, RESOURCE_TYPE
from benchmarks.strategies.peers import user_hash
from models import Schedule
from volstore.testing import EmulatedVolume, Mount, VolumeEmulator

# -- the workload ---------------------------------------------------------------------


def make_objects(total: int, prefix: str = "user") -> list[Schedule]:
    """``total`` objects, 100 per user."""
    objects: list[Schedule] = []
    user = 0
    while len(objects) < total:
        count = min(OBJECTS_PER_USER, total - len(objects))
        objects.extend(make_schedules(f"{prefix}-{user:05d}", count, salt=user))
        user += 1
    return objects


def request_objects(total: int, users: int = 50) -> list[Schedule]:
    """One new object per request, from ``users`` users in turn (not grouped by user)."""
    objects = [make_schedules(f"client-{i % users:03d}", 1, salt=i)[0] for i in range(total)]
    return objects


def fast_write(root: Path, objects: list[Schedule]) -> None:
    """Write objects in volstore's layout with the atomic floor writer (builds big stores fast)."""
    folders: set[str] = set()
    for obj in objects:
        folder = f"{root}/{RESOURCE_TYPE}/{user_hash(obj.user_id)}"
        if folder not in folders:
            os.makedirs(folder, exist_ok=True)
            folders.add(folder)
        temp, final = f"{folder}/.{obj.id}.tmp", f"{folder}/{obj.id}.json"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, obj.model_dump_json().encode())
        finally:
            os.close(fd)
        os.replace(temp, final)


# -- the durability recorder -----------------------------------------------------------


class Recorder:
    """Latency per write, and after each acknowledged write how many are not durable yet.

    "Acknowledged": the call that handed the write to the storage layer returned
    (``session.add``, ``db.insert``, appending to a batch), so the application
    moved on. "Durable": committed (emulator: in the volume's committed state;
    local: in a file). Durable counts come by construction (a commit that
    returned makes every earlier write durable) or, for background commits, from
    ``probe`` (the files the container has published).
    """

    def __init__(
        self,
        probe: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.probe = probe
        self.clock = clock
        self.latencies: list[float] = []
        self.acked = 0
        self.durable = 0
        self.commits = 0
        self.start = clock()
        self.samples: list[tuple[float, int]] = [(self.start, 0)]
        self.ack_lost: list[int] = []

    def _lost(self) -> int:
        durable = self.durable
        if self.probe is not None:
            durable = max(durable, self.probe())
        return max(0, self.acked - durable)

    def ack(self, seconds: float, committed: bool) -> None:
        """One write acknowledged after ``seconds``; ``committed``: a commit made it durable."""
        self.acked += 1
        if committed:
            self.durable = self.acked
            self.commits += 1
        self.latencies.append(seconds)
        lost = self._lost()
        self.ack_lost.append(lost)
        self.samples.append((self.clock(), lost))

    def sample(self) -> None:
        """Record the window between writes too (background commits land there)."""
        self.samples.append((self.clock(), self._lost()))

    def window(self) -> tuple[int, float, float]:
        """(max, mean over acknowledged writes, mean over time) of writes a kill would lose."""
        if not self.ack_lost:
            return 0, 0.0, 0.0
        steps = zip(self.samples, self.samples[1:], strict=False)
        area = sum(n * (t1 - t0) for (t0, n), (t1, _) in steps)
        span = self.samples[-1][0] - self.samples[0][0]
        worst = max(n for _, n in self.samples)
        return worst, statistics.fmean(self.ack_lost), area / span if span > 0 else 0.0


# -- environments: a local folder, or a container on the emulator ------------------------


class Env(Protocol):
    kind: str
    path: Path
    overhead_s: float  # the emulator's own work, kept out of modeled times (local: 0)

    def volstore(
        self, *, flush_only: bool = False, reload: volstore.ReloadPolicy = ...
    ) -> volstore.Store: ...

    def volume_commit(self) -> None: ...

    def probe(self) -> int: ...

    def counters(self) -> dict[str, int]: ...

    def clock(self) -> float: ...


def _write_chars() -> int:
    """Bytes this process passed to write() so far (Linux /proc/self/io), or 0."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class LocalEnv:
    """A local folder: writes are durable once in a file; commit does nothing."""

    kind = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def volstore(
        self,
        *,
        flush_only: bool = False,
        reload: volstore.ReloadPolicy = volstore.ReloadPolicy.NEVER,
    ) -> volstore.Store:
        return volstore.Store(volstore.LocalBackend(self.path), reload=reload)

    def volume_commit(self) -> None:
        pass

    def probe(self) -> int:
        return 0

    def counters(self) -> dict[str, int]:
        return {"bytes": _write_chars(), "files": 0, "background_commits": 0}

    def clock(self) -> float:
        return time.perf_counter()

    overhead_s = 0.0


class EmulatorEnv:
    """A container of the emulator: files under the mount, durable once committed.

    With ``modeled`` (the default), ``clock()`` runs on modeled time: real time minus
    the emulator's own work inside ``commit()`` and ``reload()`` (it scans and copies
    the mounted folder), the simulated commit cost (the sleeps) kept. Modeled time is
    the client's work plus the assumed cost of Modal's round trips; the emulator's
    work is kept apart in ``overhead_s``.
    """

    kind = "emulator"

    def __init__(self, volume: EmulatedVolume, mount: Mount, *, modeled: bool = True) -> None:
        self.volume = volume
        self.mount = mount
        self.path = mount.path
        self.overhead_s = 0.0
        if modeled:
            # Instance attributes: every caller of volume.commit() (volstore's mounted
            # backend, the peers' writers) goes through the timer.
            volume.commit = self._timed(volume.commit)  # type: ignore[method-assign]
            volume.reload = self._timed(volume.reload)  # type: ignore[method-assign]

    def _timed(self, method: Callable[[], None]) -> Callable[[], None]:
        def call() -> None:
            slept = self.mount.counters.simulated_seconds
            start = time.perf_counter()
            try:
                method()
            finally:
                elapsed = time.perf_counter() - start
                self.overhead_s += elapsed - (self.mount.counters.simulated_seconds - slept)

        return call

    def clock(self) -> float:
        return time.perf_counter() - self.overhead_s

    def volstore(
        self,
        *,
        flush_only: bool = False,
        reload: volstore.ReloadPolicy = volstore.ReloadPolicy.NEVER,
    ) -> volstore.Store:
        if flush_only:  # files on the mount, no explicit commit: background commits publish
            return volstore.Store(volstore.LocalBackend(self.path), reload=reload)
        return volstore.modal.volume_store(
            self.volume, mount_path=self.path, mode="mounted", reload=reload
        )

    def volume_commit(self) -> None:
        self.volume.commit()

    def probe(self) -> int:
        return self.mount.counters.files_published

    def counters(self) -> dict[str, int]:
        c = self.mount.counters
        return {
            "bytes": c.bytes_published,
            "files": c.files_published,
            "background_commits": c.background_commits,
        }


@contextmanager
def emulator_env(
    emulator: VolumeEmulator, name: str, background_s: float | None = None
) -> Iterator[EmulatorEnv]:
    """A fresh volume ``name`` mounted by one container (background commits only if asked)."""
    volume = emulator.Volume.from_name(name, create_if_missing=True)
    with volume.mount(background_commit_interval=background_s) as mount:
        yield EmulatorEnv(volume, mount)


def slug(*parts: str) -> str:
    return "-".join(p.replace(" ", "_") for p in parts)
