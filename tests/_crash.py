"""Crash tests: a child process writes large flushes until it is SIGKILLed; the parent checks.

Shared by ``tests/test_crash.py`` (a few dozen kills in CI) and
``scripts/crash_loop.py`` (hundreds). The child is this file run as a script::

    python tests/_crash.py child --mode local --root DIR --start 7 ...

It writes ``objects`` objects of ``size`` bytes in one session per generation
(generation ``start``, ``start + 1``, ...), every object rewritten each time,
and moves ``events`` time-bucketed objects to the next hour's bucket (a write
of the new copy, then a delete of the old one), and prints each generation
once its session returned. The parent kills it at a random moment, then
checks every file against what was written:

- every object file parses, is whole (its payload matches its generation) and
  holds either its old version (before this child) or a version this child
  wrote: on a local folder, exactly the last finished generation or the one
  in progress;
- every event lies in the bucket of its generation, once, or (a move cut
  short) twice: its old copy and its new one;
- readers never see temporary files (listing returns exactly the object
  files), and range queries yield each event once;
- ``check_store(repair=True)`` finds nothing corrupt, mismatched or unknown,
  reports each event left twice as a duplicate and keeps its newer copy, and
  leaves no temporary file.

On an emulated volume the child's container folder (what a crash leaves on its
disk) and the volume's committed state (what other containers see) are both checked.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import AwareDatetime

import volstore
from volstore._check import check_store
from volstore.backends.local import is_temporary_name
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.modal import volume_claims
from volstore.testing import EmulatedVolume, VolumeEmulator

USER = "crash"
VOLUME = "crash"
HERE = Path(__file__).resolve()
MODES = ("local", "mounted")


class CrashDoc(volstore.Model, resource_type="crashdocs"):
    id: str
    user_id: str
    generation: int
    payload: str


class CrashEvent(volstore.Model, resource_type="crashevents", time_field="at"):
    id: str
    user_id: str
    generation: int
    at: AwareDatetime
    payload: str


EVENT_SIZE = 200
_BASE = datetime(2024, 2, 28, tzinfo=timezone.utc)


def event_time(generation: int) -> datetime:
    """Where an event stands at a generation: each generation is the next hour's bucket."""
    return _BASE + timedelta(hours=generation % 48, minutes=generation % 60)


def payload(object_id: str, generation: int, size: int) -> str:
    """The deterministic content of one object at one generation (so torn or mixed files show)."""
    seed = hashlib.sha256(f"{object_id}/{generation}".encode()).hexdigest()
    return (seed * (size // len(seed) + 1))[:size]


def object_ids(objects: int) -> list[str]:
    return [f"doc{i:04d}" for i in range(objects)]


def event_ids(events: int) -> list[str]:
    return [f"ev{i:03d}" for i in range(events)]


# ---------------------------------------------------------------------------- the child


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="_crash.py child")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--root", type=Path, required=True, help="store folder or mount path")
    parser.add_argument("--emulator", type=Path, help="emulator root (mounted mode)")
    parser.add_argument("--interval", type=float, default=0.02, help="background commits")
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--objects", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--events", type=int, default=0)
    args = parser.parse_args(argv)
    ids = object_ids(args.objects)
    events = event_ids(args.events)
    if args.mode == "local":
        store = volstore.Store(volstore.LocalBackend(args.root))
    else:
        volume = VolumeEmulator(args.emulator).Volume.from_name(VOLUME, create_if_missing=True)
        mount = volume.mount(args.root, background_commit_interval=args.interval)
        mount.__enter__()  # never exited: the process is killed
        store = volstore.Store(
            MountedVolumeBackend(mount.path, volume, claims=volume_claims(volume))
        )
    print("ready", flush=True)
    generation = args.start
    while True:
        with store.session() as session:  # on a volume, the session's exit commits
            # The events first: their new copies are renamed into place before the
            # objects', so a kill during the renames can land between their write
            # and the delete of their old copies (which come after every write).
            _move_events(session, events, generation)
            session.add_all(
                CrashDoc(
                    id=object_id,
                    user_id=USER,
                    generation=generation,
                    payload=payload(object_id, generation, args.size),
                )
                for object_id in ids
            )
        print(generation, flush=True)
        generation += 1


def _move_events(session: volstore.Session, events: list[str], generation: int) -> None:
    """Move every event to the bucket of ``generation`` (create the missing ones)."""
    at = event_time(generation)
    found = {e.id: e for e in volstore.bucketed(session, CrashEvent).range(None, None)}
    for event_id in events:
        event = found.get(event_id)
        content = payload(event_id, generation, EVENT_SIZE)
        if event is None:
            session.add(
                CrashEvent(id=event_id, user_id=USER, generation=generation, at=at, payload=content)
            )
        else:  # changed in place: the flush writes the new bucket's copy, then deletes this one
            event.at, event.generation, event.payload = at, generation, content


# ---------------------------------------------------------------------------- the parent


class CrashCheckError(AssertionError):
    """What the parent found after a kill breaks a guarantee."""


@dataclass
class KillStats:
    """What a series of kills did and found."""

    kills: int = 0
    sessions: int = 0  # sessions that finished, over all children
    mid_flush: int = 0  # kills that left a temporary file or a mix of generations behind
    temporary_files: int = 0  # temporary files found (and removed by repair)
    published_temporary_files: int = 0  # of those, in a volume's committed state
    files_checked: int = 0
    duplicates: int = 0  # events found in two buckets (a move cut short), and repaired
    seconds: float = 0.0
    generations: dict[str, int] = field(default_factory=dict)  # id -> current generation

    def summary(self) -> str:
        return (
            f"{self.kills} kills, {self.sessions} sessions finished, {self.mid_flush} kills "
            f"mid-flush, {self.temporary_files} temporary files removed "
            f"({self.published_temporary_files} from committed state), "
            f"{self.duplicates} events left in two buckets by a move (repaired), "
            f"{self.files_checked} files checked, {self.seconds:.1f}s"
        )


@dataclass
class Scan:
    generations: dict[str, int]  # object id -> generation
    temporary: list[str]
    events: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # id -> copies

    def duplicates(self) -> dict[str, list[tuple[int, str]]]:
        return {key: sorted(copies) for key, copies in self.events.items() if len(copies) > 1}


def scan(folder: Path, size: int) -> Scan:
    """Parse every file below ``folder``; raise CrashCheckError for anything torn or foreign."""
    generations: dict[str, int] = {}
    temporary: list[str] = []
    events: dict[str, list[tuple[int, str]]] = {}
    for dirpath, dirs, names in os.walk(folder):
        if Path(dirpath) == folder and ".volstore-quarantine" in dirs:
            dirs.remove(".volstore-quarantine")  # what earlier repairs put aside
        for name in names:
            full = Path(dirpath, name)
            rel = full.relative_to(folder).as_posix()
            if is_temporary_name(name):
                temporary.append(rel)
                continue
            if name == ".volstore.json" or name.startswith(".volstore-fetch-"):
                continue  # the layout marker; an emulator download cut short by the kill
            if rel.startswith("crashevents/") and name.endswith(".json"):
                generation = _scan_event(rel, full.read_bytes())
                events.setdefault(name[: -len(".json")], []).append((generation, rel))
                continue
            if not (rel.startswith("crashdocs/") and name.endswith(".json")):
                raise CrashCheckError(f"{folder}: unexpected file {rel}")
            data = full.read_bytes()
            try:
                doc = CrashDoc.model_validate_json(data)
            except ValueError as exc:
                raise CrashCheckError(f"{rel} does not parse ({len(data)} bytes): {exc}") from exc
            if f"{doc.id}.json" != name or doc.payload != payload(doc.id, doc.generation, size):
                raise CrashCheckError(f"{rel} holds a mix of versions: {data[:120]!r}")
            generations[doc.id] = doc.generation
    return Scan(generations, temporary, events)


def _scan_event(rel: str, data: bytes) -> int:
    """Check one event file (whole, in the bucket of its generation); return its generation."""
    try:
        event = CrashEvent.model_validate_json(data)
    except ValueError as exc:
        raise CrashCheckError(f"{rel} does not parse ({len(data)} bytes): {exc}") from exc
    at = event_time(event.generation)
    bucket = f"crashevents/{at:%Y-%m-%d}/{at:%H}/"
    if event.at != at or not rel.startswith(bucket) or f"/{event.id}.json" not in rel:
        raise CrashCheckError(f"{rel} is not where generation {event.generation} goes: {data!r}")
    if event.payload != payload(event.id, event.generation, EVENT_SIZE):
        raise CrashCheckError(f"{rel} holds a mix of versions: {data[:120]!r}")
    return event.generation


def check_events(where: str, found: Scan, old: dict[str, int], allowed_new: set[int]) -> None:
    """Each event is stored once, or twice by a move cut short; each copy holds the event's
    old generation (``old``: before this child, or None) or one of ``allowed_new``."""
    for event_id, copies in found.events.items():
        generations = sorted(generation for generation, _ in copies)
        if len(copies) > 2 or len(set(generations)) != len(generations):
            raise CrashCheckError(f"{where}: {event_id} is stored {len(copies)} times: {copies}")
        allowed = allowed_new | ({old[event_id]} if event_id in old else set())
        if not set(generations) <= allowed:
            raise CrashCheckError(
                f"{where}: {event_id} holds generations {generations}; expected some of "
                f"{sorted(allowed)}"
            )


def check_versions(
    where: str, found: Scan, old: dict[str, int], allowed_new: set[int], ids: list[str]
) -> None:
    """Each object holds its old generation or one of ``allowed_new``."""
    for object_id in ids:
        now = found.generations.get(object_id)
        before = old.get(object_id)
        if now != before and now not in allowed_new:
            raise CrashCheckError(
                f"{where}: {object_id} holds generation {now}; expected its old one ({before}) "
                f"or one of {sorted(allowed_new)}"
            )


def check_readers_and_repair(store: volstore.Store, folder: Path, found: Scan, size: int) -> Scan:
    """Listing shows exactly the object files, a range query each event once; repair leaves
    nothing behind but objects, each event once, in its newer copy. Returns the repaired scan."""
    listed = store.repository(CrashDoc).ids(USER)
    if listed != sorted(found.generations):
        raise CrashCheckError(
            f"{folder}: listing shows {len(listed)} ids for {len(found.generations)} files"
        )
    ranged = sorted(e.id for e in volstore.bucketed(store, CrashEvent).range(None, None))
    if ranged != sorted(found.events):
        raise CrashCheckError(f"{folder}: a range query yields {ranged}, not each event once")
    # The writer was killed: nothing can still rename its temporary files or finish a move.
    report = check_store(store, repair=True, temporary_min_age=0)
    if report.totals["corrupt"] or report.totals["mismatch"] or report.totals["unknown"]:
        raise CrashCheckError(f"{folder}: store check found {report.findings()}")
    if report.totals["temporary"] != len(found.temporary):
        raise CrashCheckError(
            f"{folder}: store check saw {report.temporary}, scan {found.temporary}"
        )
    doubled = found.duplicates()
    older = sorted(copies[0][1] for copies in doubled.values())
    quarantined = sorted(f.path for f in report.duplicates if f.action and "moved" in f.action)
    if quarantined != older or report.totals["duplicate"] != len(doubled):
        raise CrashCheckError(
            f"{folder}: a move cut short left {older} behind; repair did {report.duplicates}"
        )
    after = scan(folder, size)
    if after.temporary:
        raise CrashCheckError(f"{folder}: temporary files left after repair: {after.temporary}")
    kept = {event_id: copies[0][0] for event_id, copies in after.events.items()}
    newest = {event_id: max(copies)[0] for event_id, copies in found.events.items()}
    if after.duplicates() or kept != newest:
        raise CrashCheckError(f"{folder}: after repair the events are {after.events}")
    return after


@contextmanager
def _child(command: list[str], ready_timeout: float) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        # Unbuffered, so that select() sees every line the child printed.
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=env,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], ready_timeout)
        line = process.stdout.readline().decode() if ready else ""
        if line.strip() != "ready":
            process.kill()
            _, err = process.communicate()
            raise CrashCheckError(f"the child did not start: {line!r} {err[-2000:]!r}")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _kill_after(
    process: subprocess.Popen[bytes], wait_for_session: bool, delay: float
) -> int | None:
    """SIGKILL the child; return the last generation it finished, if any.

    The kill comes ``delay`` seconds after the child is ready or, with
    ``wait_for_session``, after it finished its first session (so that kills
    also land in later sessions, which start from a complete generation).
    """
    assert process.stdout is not None
    printed: list[str] = []
    if wait_for_session:
        ready, _, _ = select.select([process.stdout], [], [], 60.0)
        if ready:
            printed.append(process.stdout.readline().decode())
    time.sleep(delay)
    if process.poll() is not None:
        err = process.stderr.read() if process.stderr else b""
        raise CrashCheckError(
            f"the child died on its own (exit {process.returncode}): {err[-2000:].decode()}"
        )
    process.kill()
    process.wait()
    printed.append(process.stdout.read().decode())
    finished = [int(word) for word in " ".join(printed).split() if word.isdigit()]
    return finished[-1] if finished else None


def run_kills(
    mode: str,
    workdir: Path,
    *,
    kills: int,
    seed: int,
    objects: int = 300,
    size: int = 3000,
    max_delay: float = 0.3,
    interval: float = 0.02,
    events: int = 20,
    ready_timeout: float = 60.0,
    progress: bool = False,
) -> KillStats:
    """Start a writer, SIGKILL it after a random (seeded) delay, check; ``kills`` times.

    Raises CrashCheckError at the first broken guarantee. ``workdir`` must be empty or missing.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    ids = object_ids(objects)
    stats = KillStats()
    started = time.monotonic()
    old: dict[str, int] = {}  # generation of each object before the current child
    old_events: dict[str, int] = {}  # and of each event
    next_generation = 1
    emulator = VolumeEmulator(workdir / "emulator") if mode == "mounted" else None
    for kill in range(kills):
        target = workdir / ("store" if mode == "local" else f"container-{kill}")
        command = [
            sys.executable, str(HERE), "child", "--mode", mode, "--root", str(target),
            "--start", str(next_generation), "--objects", str(objects), "--size", str(size),
            "--interval", str(interval), "--events", str(events),
        ]  # fmt: skip
        if emulator is not None:
            command += ["--emulator", str(emulator.root)]
        with _child(command, ready_timeout) as process:
            # Half the kills (the first always) come after a finished session.
            wait_for_session = rng.random() < 0.5 or kill == 0
            last = _kill_after(process, wait_for_session, rng.uniform(0.0, max_delay))
        stats.kills += 1
        first = next_generation
        done = 0 if last is None else last - first + 1
        stats.sessions += done
        # Finished sessions leave every object at `last`; the one in progress may have
        # replaced any of them with `last + 1`; before the first finished, objects may
        # still hold their old generation.
        in_progress = first if last is None else last + 1
        allowed = {in_progress} if last is None else {last, in_progress}
        found = scan(target, size)
        stats.files_checked += len(found.generations)
        check_versions(f"{mode} kill {kill}", found, old if last is None else {}, allowed, ids)
        check_events(f"{mode} kill {kill}", found, old_events if last is None else {}, allowed)
        mid_flush = bool(found.temporary) or _split(found, old) or bool(found.duplicates())
        stats.temporary_files += len(found.temporary)
        stats.duplicates += len(found.duplicates())
        # The writer's own disk, as the kill left it (on a volume: the container's).
        repaired = check_readers_and_repair(volstore.Store(target), target, found, size)
        if emulator is None:
            old = found.generations
            old_events = _event_generations(repaired)
        else:
            shutil.rmtree(target)  # the container is gone; what it committed remains
            committed, repaired = _check_committed(
                emulator,
                workdir / f"check-{kill}",
                size,
                ids,
                (old, old_events),
                set(range(first, in_progress + 1)),
            )
            stats.files_checked += len(committed.generations)
            stats.temporary_files += len(committed.temporary)
            stats.published_temporary_files += len(committed.temporary)
            stats.duplicates += len(committed.duplicates())
            mid_flush |= bool(committed.temporary) or _split(committed, old)
            old = committed.generations
            old_events = _event_generations(repaired)
        stats.mid_flush += mid_flush
        next_generation = in_progress + 1
        if progress and (kill + 1) % 25 == 0:
            print(f"  {mode}: {kill + 1}/{kills} kills", flush=True)
    stats.seconds = time.monotonic() - started
    stats.generations = old
    return stats


def _event_generations(found: Scan) -> dict[str, int]:
    """The generation of each event of a scan that holds each once."""
    return {event_id: copies[0][0] for event_id, copies in found.events.items()}


def _split(found: Scan, old: dict[str, int]) -> bool:
    """Whether the kill left a batch half applied: objects at several generations, anew."""
    return found.generations != old and len(set(found.generations.values())) > 1


def _check_committed(
    emulator: VolumeEmulator,
    mount_path: Path,
    size: int,
    ids: list[str],
    old: tuple[dict[str, int], dict[str, int]],
    written: set[int],
) -> tuple[Scan, Scan]:
    """Check the volume's committed state from a new container; repair it.

    ``old`` holds the generations of the objects and of the events before this
    child. Returns the committed state as found, and as repaired.
    """
    volume: EmulatedVolume = emulator.Volume.from_name(VOLUME, create_if_missing=True)
    with volume.mount(mount_path, background_commit_interval=None) as mount:
        found = scan(mount.path, size)
        # Background commits publish whatever the disk holds at that moment, so the
        # committed state can hold any generation the child wrote, file by file.
        check_versions("committed state", found, old[0], written, ids)
        check_events("committed state", found, old[1], written)
        store = volstore.Store(
            MountedVolumeBackend(mount.path, volume, claims=volume_claims(volume))
        )
        repaired = check_readers_and_repair(store, mount.path, found, size)
    leftovers = [
        entry.path
        for entry in volume.listdir("/", recursive=True)
        if is_temporary_name(entry.path.rpartition("/")[2])
    ]
    if leftovers:
        raise CrashCheckError(f"committed state still holds temporary files: {leftovers}")
    return found, repaired


if __name__ == "__main__":
    if sys.argv[1:2] != ["child"]:
        sys.exit("usage: _crash.py child --mode local|mounted ... (see scripts/crash_loop.py)")
    child_main(sys.argv[2:])
