"""The emulator benchmark: commit and reload cost what changed, not what a volume holds.

Issue 11's claim: "a one-file commit on a mount holding 100,000 files within 3x of
the same commit on 200 files; mounting stays linear in what is copied". Every figure
is a ratio between two measurements of the same run, on tmpfs (``/dev/shm``) when
there is one:

- commit: write one object file in a container (atomically, not timed), then time
  ``volume.commit()``, on a volume holding 200 files and on one holding 100,000
  (creating a new file, and rewriting an existing one in place);
- reload: another container commits one file; time the reader's ``volume.reload()``;
- mount: time entering a mount (a container start: every file copied) of 10,000 and
  of 100,000 files, per file copied;
- for context, the same commit with change tracking off (``change_tracking=False``:
  the whole mount is walked, as every commit did before).

The variants of a measurement are interleaved in each round, the order rotating
from round to round; each figure is the median of the rounds, with the minimum and
maximum, in wall-clock and CPU time (``time.process_time``: background commits are
off, so the process's CPU is the call's). Files are laid out as volstore stores
objects: ``schedules/<user hash>/<id>.json``, 100 per folder, about 400 bytes each.

Run ``python -m benchmarks bench_emulator`` (``--smoke`` for the quick CI run).
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._cli import add_size_options, benchmark_parser, mode, sizes_from, storage_root
from benchmarks.core.measure import rotated
from volstore.testing import EmulatedVolume, Mount, VolumeEmulator

FULL = {"small": 200, "big": 100_000, "medium": 10_000, "rounds": 15, "walk_rounds": 3}
SMOKE = {"small": 200, "big": 2_000, "medium": 500, "rounds": 3, "walk_rounds": 2}
PER_FOLDER = 100
PAYLOAD = (
    json.dumps(
        {
            "id": "0" * 26,
            "user_id": "user-00000",
            "name": "nightly report",
            "cron": "0 3 * * 1-5",
            "payload": {"url": "https://example.com/hooks/x", "retries": 3, "params": [1, 2, 3]},
            "tags": ["report", "team-1"],
            "created_at": "2024-01-01T00:00:00Z",
        }
    ).encode()
    + b" " * 120
)


@dataclass(frozen=True)
class Target:
    name: str
    ratio_name: str
    limit: float

    def passes(self, ratio: float) -> bool:
        return ratio <= self.limit


TARGETS = (
    Target("one-file commit (new file), big vs small", "commit_create.big/small", 3.0),
    Target("one-file commit (rewrite), big vs small", "commit_update.big/small", 3.0),
    Target("one-file reload, big vs small", "reload.big/small", 3.0),
    Target("mounting per file copied, big vs medium", "mount_per_file.big/medium", 1.5),
)


@dataclass
class Results:
    config: dict[str, Any]
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    per_op: dict[str, int] = field(default_factory=dict)
    examined: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)

    def record(self, name: str, wall: float, cpu: float, operations: int = 1) -> None:
        self.wall.setdefault(name, []).append(wall)
        self.cpu.setdefault(name, []).append(cpu)
        self.per_op[name] = operations

    def median(self, name: str) -> float:
        return statistics.median(self.wall[name])


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call (the collector runs before, not during)."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def folder_of(index: int) -> str:
    user = f"user-{index // PER_FOLDER:05d}"
    return f"schedules/{hashlib.sha256(user.encode()).hexdigest()[:16]}"


def fill(volume: EmulatedVolume, count: int) -> None:
    """``count`` object files, 100 per folder, through one upload batch."""
    with volume.batch_upload(force=True) as batch:
        for i in range(count):
            batch.put_file(io.BytesIO(PAYLOAD), f"{folder_of(i)}/{i:08d}.json")


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class Setup:
    """One volume: a writer and a reader container, both mounted, no background commits."""

    name: str
    held: int
    writer: EmulatedVolume
    reader: EmulatedVolume
    writer_mount: Mount
    reader_mount: Mount
    created: int = 0


def open_setup(emulator: VolumeEmulator, name: str, held: int) -> Setup:
    volume = emulator.Volume.from_name(name, create_if_missing=True, version=2)
    fill(volume, held)
    reader = emulator.Volume.from_name(name)
    writer_mount = volume.mount(background_commit_interval=None).__enter__()
    reader_mount = reader.mount(background_commit_interval=None).__enter__()
    return Setup(name, held, volume, reader, writer_mount, reader_mount)


def close_setup(setup: Setup) -> None:
    setup.reader_mount.kill()
    setup.writer_mount.kill()


def commit_create(setup: Setup) -> tuple[float, float]:
    setup.created += 1
    folder = setup.writer_mount.path / folder_of(setup.created * 37 % setup.held)
    write_atomically(folder / f"new-{setup.created:06d}.json", PAYLOAD)
    return timed(setup.writer.commit)


def commit_update(setup: Setup) -> tuple[float, float]:
    index = setup.created * 53 % setup.held
    path = setup.writer_mount.path / folder_of(index) / f"{index:08d}.json"
    with open(path, "r+b") as f:  # in place: no rename
        f.write(b"{")
    return timed(setup.writer.commit)


def reload_one(setup: Setup) -> tuple[float, float]:
    setup.created += 1
    folder = setup.writer_mount.path / folder_of(setup.created * 41 % setup.held)
    write_atomically(folder / f"reloaded-{setup.created:06d}.json", PAYLOAD)
    setup.writer.commit()
    return timed(setup.reader.reload)


def bench_commits_and_reloads(results: Results, root: Path, sizes: dict[str, int]) -> None:
    emulator = VolumeEmulator(root / "tracked", background_commit_interval=None)
    setups = [
        open_setup(emulator, "small", sizes["small"]),
        open_setup(emulator, "big", sizes["big"]),
    ]
    try:
        variants = [
            (f"{kind}.{setup.name}", run, setup)
            for kind, run in (
                ("commit_create", commit_create),
                ("commit_update", commit_update),
                ("reload", reload_one),
            )
            for setup in setups
        ]
        examined_before = {s.name: s.writer_mount.counters.entries_examined for s in setups}
        commits_before = {s.name: s.writer_mount.counters.commits for s in setups}
        for round_number in range(sizes["rounds"]):
            for name, run, setup in rotated(variants, round_number):
                wall, cpu = run(setup)
                results.record(name, wall, cpu)
        for setup in setups:
            commits = setup.writer_mount.counters.commits - commits_before[setup.name]
            examined = setup.writer_mount.counters.entries_examined - examined_before[setup.name]
            results.examined[setup.name] = examined / max(commits, 1)
            if setup.writer_mount.counters.full_scans or setup.reader_mount.counters.full_scans:
                raise AssertionError(f"{setup.name}: a commit or reload walked everything")
    finally:
        for setup in setups:
            close_setup(setup)


def bench_walking_commits(results: Results, root: Path, sizes: dict[str, int]) -> None:
    """Context: the same one-file commit when every commit walks the whole mount."""
    emulator = VolumeEmulator(
        root / "walked", background_commit_interval=None, change_tracking=False
    )
    setups = [
        open_setup(emulator, "small", sizes["small"]),
        open_setup(emulator, "big", sizes["big"]),
    ]
    try:
        for round_number in range(sizes["walk_rounds"]):
            for setup in rotated(setups, round_number):
                wall, cpu = commit_create(setup)
                results.record(f"walk_commit.{setup.name}", wall, cpu)
    finally:
        for setup in setups:
            close_setup(setup)


def bench_mounting(results: Results, root: Path, sizes: dict[str, int]) -> None:
    emulator = VolumeEmulator(root / "mounting", background_commit_interval=None)
    volumes = {}
    for name in ("medium", "big"):
        volumes[name] = emulator.Volume.from_name(name, create_if_missing=True, version=2)
        fill(volumes[name], sizes[name])
    for round_number in range(max(2, sizes["walk_rounds"])):
        for name in rotated(["medium", "big"], round_number):
            mount = emulator.Volume.from_name(name).mount(background_commit_interval=None)
            wall, cpu = timed(mount.__enter__)
            if mount.counters.files_fetched != sizes[name]:
                raise AssertionError(f"mounting {name} copied {mount.counters.files_fetched}")
            mount.kill()
            results.record(f"mount.{name}", wall, cpu, sizes[name])


def compute_ratios(results: Results, sizes: dict[str, int]) -> None:
    m = results.median
    results.ratios = {
        "commit_create.big/small": m("commit_create.big") / m("commit_create.small"),
        "commit_update.big/small": m("commit_update.big") / m("commit_update.small"),
        "reload.big/small": m("reload.big") / m("reload.small"),
        "mount_per_file.big/medium": (m("mount.big") / sizes["big"])
        / (m("mount.medium") / sizes["medium"]),
        "walk_commit.big/small": m("walk_commit.big") / m("walk_commit.small"),
        "walk_commit.big/commit_create.big": m("walk_commit.big") / m("commit_create.big"),
    }


def report(results: Results, check: bool) -> list[str]:
    config = results.config
    print(
        f"\nvolstore emulator benchmark ({config['mode']}): volumes of {config['small']:,} and "
        f"{config['big']:,} files (mounting: {config['medium']:,} and {config['big']:,}); "
        f"median of {config['rounds']} rounds ({config['walk_rounds']} for walks)"
    )
    print(f"storage: {config['storage']}")
    print(f"python {config['python']}, inotify change tracking: {config['inotify']}\n")
    print(
        f"{'measurement':<24}{'median':>12}{'min':>12}{'max':>12}{'cpu median':>13}{'per op':>15}"
    )
    for name, walls in results.wall.items():
        per_op = results.per_op[name]
        median = statistics.median(walls)
        unit = f"{median / per_op * 1e6:.2f} us/file" if per_op > 1 else ""
        print(
            f"{name:<24}{median * 1e3:>9.2f} ms{min(walls) * 1e3:>9.2f} ms"
            f"{max(walls) * 1e3:>9.2f} ms{statistics.median(results.cpu[name]) * 1e3:>10.2f} ms"
            f"{unit:>15}"
        )
    print(
        "\nentries examined per commit: "
        + ", ".join(f"{name} {value:.1f}" for name, value in results.examined.items())
    )
    print(f"\n{'ratio':<36}{'value':>9}")
    for name, ratio in results.ratios.items():
        print(f"{name:<36}{ratio:>8.2f}x")
    missed = []
    print(f"\n{'target':<44}{'claim':<34}result")
    for target in TARGETS:
        ratio = results.ratios[target.ratio_name]
        ok = target.passes(ratio)
        if not ok:
            missed.append(target.name)
        verdict = ("pass" if ok else "MISS") if check else ("pass" if ok else "miss (unchecked)")
        claim = f"{target.ratio_name} <= {target.limit:g}"
        print(f"{target.name:<44}{claim:<34}{ratio:.2f}x {verdict}")
    return missed


def write_json(path: str, results: Results, missed: list[str]) -> None:
    document = {
        "config": results.config,
        "wall_seconds": results.wall,
        "cpu_seconds": results.cpu,
        "median_seconds": {name: results.median(name) for name in results.wall},
        "entries_examined_per_commit": results.examined,
        "ratios": results.ratios,
        "targets": [
            {
                "name": t.name,
                "claim": f"{t.ratio_name} <= {t.limit:g}",
                "ratio": results.ratios[t.ratio_name],
                "passed": t.passes(results.ratios[t.ratio_name]),
            }
            for t in TARGETS
        ],
        "missed": missed,
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n")


def _inotify_available(root: Path) -> bool:
    emulator = VolumeEmulator(root / "probe", background_commit_interval=None)
    volume = emulator.Volume.from_name("probe", create_if_missing=True)
    with volume.mount() as mount:
        (mount.path / "f").write_text("x")
        volume.commit()
        tracked = mount.counters.full_scans == 0
    shutil.rmtree(root / "probe")
    return tracked


def main(argv: list[str]) -> int:
    """Run the benchmark; return 1 when a target is missed (unless --smoke or --no-check)."""
    parser = benchmark_parser("bench_emulator", __doc__)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    add_size_options(
        parser,
        {
            "big": "files in the big volume",
            "medium": "files in the medium volume (mounting)",
            "rounds": "rounds of each commit and reload measurement",
        },
    )
    args = parser.parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    if sizes["rounds"] < 1 or sizes["big"] < sizes["small"]:
        print("bench_emulator: need 1 round and a big volume of at least 200", file=sys.stderr)
        return 2
    root, storage = storage_root(args.dir, prefix="volstore-bench-emulator-")
    try:
        results = Results(
            config={
                "mode": mode(args),
                **sizes,
                "storage": storage,
                "python": sys.version.split()[0],
                "inotify": _inotify_available(root),
                "bytes_per_file": len(PAYLOAD),
            }
        )
        bench_commits_and_reloads(results, root, sizes)
        bench_walking_commits(results, root, sizes)
        bench_mounting(results, root, sizes)
        compute_ratios(results, sizes)
        broken = [name for name, ratio in results.ratios.items() if not 0 < ratio < math.inf]
        if broken:
            print(f"bench_emulator: ratios not computed: {', '.join(broken)}", file=sys.stderr)
            return 1
        missed = report(results, check=not (args.smoke or args.no_check))
        if args.json:
            write_json(args.json, results, missed)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if missed and not (args.smoke or args.no_check) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
