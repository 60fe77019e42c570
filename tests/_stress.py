"""Multi-process stress: workers (OS processes) share one emulated volume; the parent checks.

Used by ``tests/test_stress.py``. A worker is this file run as a script::

    python tests/_stress.py --emulator DIR --worker 2 --keys 4 --start-at T --duration 3 ...

Each worker mounts the volume (background commits on) and, until the shared
deadline, does random operations: versioned read-modify-write sessions on a few
shared keys (most of them), explicit reloads and explicit commits. A write
appends the worker's write id to the object's ``history`` and derives the
payload from that history, so the parent can tell a whole file from a torn or
mixed one. Every outcome is logged as one JSON line (outside the volume): the
write id and version of each success, the expected and found versions of each
StaleObjectError, and the monotonic time of each session's start and end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import volstore
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.modal import volume_claims
from volstore.testing import VolumeEmulator

USER = "stress"
VOLUME = "stress"


class StressDoc(volstore.Model, resource_type="stress", version_field="version"):
    id: str
    user_id: str
    history: list[str]
    payload: str
    version: int = 0


def payload(history: list[str]) -> str:
    """Derived from the whole history: a file mixing two versions would not match."""
    digest = hashlib.sha256(",".join(history).encode()).hexdigest()
    return digest * 24  # about 1.5 KB


def key_names(keys: int) -> list[str]:
    return [f"k{i}" for i in range(keys)]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="_stress.py")
    parser.add_argument("--emulator", type=Path, required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--start-at", type=float, required=True, help="time.monotonic()")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--interval", type=float, default=0.02, help="background commits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed * 1000 + args.worker)
    keys = key_names(args.keys)
    volume = VolumeEmulator(args.emulator).Volume.from_name(VOLUME, create_if_missing=True)
    with (
        args.log.open("w", encoding="utf-8") as log,
        volume.mount(background_commit_interval=args.interval) as mount,
    ):
        store = volstore.Store(
            MountedVolumeBackend(mount.path, volume, claims=volume_claims(volume))
        )

        def record(**entry: object) -> None:
            log.write(json.dumps(entry) + "\n")
            log.flush()

        time.sleep(max(0.0, args.start_at - time.monotonic()))
        deadline = args.start_at + args.duration
        writes = 0
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.1:
                store.reload()
                record(op="reload")
                continue
            if roll < 0.2:
                store.commit()
                record(op="commit")
                continue
            key = rng.choice(keys)
            write_id = f"w{args.worker}-{writes}"
            writes += 1
            started = time.monotonic()
            try:
                with store.session() as session:
                    doc = session.get(StressDoc, USER, key)
                    if doc is None:
                        doc = session.add(
                            StressDoc(id=key, user_id=USER, history=[write_id], payload="")
                        )
                    else:
                        doc.history.append(write_id)
                    doc.payload = payload(doc.history)
            except volstore.StaleObjectError as exc:
                record(
                    op="conflict",
                    key=key,
                    id=write_id,
                    expected=exc.expected,
                    found=exc.found,
                    start=started,
                    end=time.monotonic(),
                )
            else:
                record(
                    op="write",
                    key=key,
                    id=write_id,
                    version=doc.version,
                    start=started,
                    end=time.monotonic(),
                )
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
