"""Multi-process stress: 4 OS processes write, commit and reload one emulated volume at once.

What must hold at the end (see tests/_stress.py for what the workers do):

- no torn file: every file parses, and each object's payload matches its history;
- every versioned session either committed or raised StaleObjectError (a worker
  dies on any other error);
- each stored object is a chain of successful writes: its version equals the
  length of its history, and the write at position i logged version i + 1;
- no successful write is missing from the final chain: the compare-and-swap
  across containers (claims in the emulated modal.Dict) loses nothing it
  acknowledged (docs/guarantees.md, tests/test_concurrency.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import volstore
from tests._stress import USER, VOLUME, StressDoc, key_names, payload
from volstore._check import check_store
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.modal import volume_claims
from volstore.testing import VolumeEmulator

HERE = Path(__file__).resolve().parent
WORKERS = 4
KEYS = 4
DURATION = float(os.environ.get("VOLSTORE_STRESS_SECONDS", "3"))
SEED = int(os.environ.get("VOLSTORE_STRESS_SEED", "7"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform != "linux", reason="compares time.monotonic() across processes"
    ),
]


@dataclass(frozen=True)
class Write:
    worker: int
    key: str
    id: str
    version: int
    start: float
    end: float

    def overlaps(self, other: Write) -> bool:
        return self.start < other.end and other.start < self.end


def run_workers(emulator: VolumeEmulator, logs: Path) -> list[list[dict[str, Any]]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    start_at = time.monotonic() + 2.0  # every worker starts its operations together
    processes = []
    for worker in range(WORKERS):
        log = logs / f"{worker}.jsonl"
        command = [
            sys.executable, str(HERE / "_stress.py"), "--emulator", str(emulator.root),
            "--worker", str(worker), "--keys", str(KEYS), "--start-at", repr(start_at),
            "--duration", str(DURATION), "--seed", str(SEED), "--log", str(log),
        ]  # fmt: skip
        processes.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        )
    failures = []
    for worker, process in enumerate(processes):
        out, err = process.communicate(timeout=DURATION + 120)
        if process.returncode != 0 or out.strip() != b"done":
            failures.append(f"worker {worker} (exit {process.returncode}): {err.decode()[-3000:]}")
    assert not failures, "\n".join(failures)
    return [
        [json.loads(line) for line in (logs / f"{worker}.jsonl").read_text().splitlines()]
        for worker in range(WORKERS)
    ]


def test_four_processes_on_one_volume(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emulator")
    emulator.Volume.from_name(VOLUME, create_if_missing=True).version  # noqa: B018 - create it
    logs = tmp_path / "logs"
    logs.mkdir()
    entries = run_workers(emulator, logs)

    ops = Counter(entry["op"] for log in entries for entry in log)
    writes = [
        Write(worker, e["key"], e["id"], e["version"], e["start"], e["end"])
        for worker, log in enumerate(entries)
        for e in log
        if e["op"] == "write"
    ]
    conflicts = [e for log in entries for e in log if e["op"] == "conflict"]
    assert all(log for log in entries), "every worker did something"
    assert writes, "some versioned writes succeeded"
    assert conflicts, "some conflicts were caught (four processes on four keys)"

    # The final state, as a new container sees it.
    volume = emulator.Volume.from_name(VOLUME)
    with volume.mount(tmp_path / "final", background_commit_interval=None) as mount:
        backend = MountedVolumeBackend(mount.path, volume, claims=volume_claims(volume))
        store = volstore.Store(backend, models=[StressDoc])
        report = check_store(store)
        assert report.ok, report.findings()  # no corrupt, temporary or stray file
        finals = {doc.id: doc for doc in store.repository(StressDoc).list(USER)}  # all parse
    assert set(finals) <= set(key_names(KEYS))

    by_id = {write.id: write for write in writes}
    lost: list[Write] = []
    for key, doc in finals.items():
        assert doc.payload == payload(doc.history), f"{key} mixes two versions"
        assert doc.version == len(doc.history), f"{key}: version {doc.version}, {doc.history}"
        for position, write_id in enumerate(doc.history):
            write = by_id.get(write_id)
            assert write is not None, f"{key} holds {write_id}, which no worker saw succeed"
            assert (write.key, write.version) == (key, position + 1)
        chain = set(doc.history)
        lost += [w for w in writes if w.key == key and w.id not in chain]
    assert {w.key for w in writes} == set(finals), "every key written is stored"

    # Compare-and-swap across containers: no acknowledged write is ever lost.
    assert lost == [], f"acknowledged writes lost: {lost}"
    print(
        f"\n{len(writes)} writes, {len(conflicts)} conflicts caught, {len(lost)} lost, "
        f"{ops['reload']} reloads, {ops['commit']} commits"
    )
