#!/usr/bin/env python3
"""Kill a writer with SIGKILL hundreds of times during large flushes and check every file.

The same code as tests/test_crash.py (tests/_crash.py), with more kills:

    .venv/bin/python scripts/crash_loop.py --kills 500             # local folder and volume
    .venv/bin/python scripts/crash_loop.py --kills 300 --mode local --seed 7

Each session rewrites ``--objects`` objects and moves ``--events``
time-bucketed ones to the next hour's bucket. Each kill lands at a random
(seeded) moment; after it, every object file must parse and hold its old
version or one the writer wrote, every event must be stored once or (a move
cut short) twice, readers must never see a temporary file, range queries must
yield each event once, and the store check's repair must leave no temporary
file and keep the newer copy of each event. Exits 1 at the first broken
guarantee, with the files kept for inspection.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._crash import MODES, CrashCheckError, run_kills  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=500, help="kills per mode (default 500)")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill delays")
    parser.add_argument("--objects", type=int, default=300, help="objects per flush")
    parser.add_argument("--size", type=int, default=3000, help="bytes per object")
    parser.add_argument(
        "--events", type=int, default=20, help="events moved between buckets per flush"
    )
    parser.add_argument("--max-delay", type=float, default=0.8, help="longest wait before a kill")
    parser.add_argument("--workdir", type=Path, help="where to write (default: a temporary folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="volstore-crash-"))
    modes = MODES if args.mode == "both" else (args.mode,)
    for mode in modes:
        print(f"{mode}: {args.kills} kills, seed {args.seed}, in {workdir / mode}", flush=True)
        try:
            stats = run_kills(
                mode,
                workdir / mode,
                kills=args.kills,
                seed=args.seed,
                objects=args.objects,
                size=args.size,
                events=args.events,
                max_delay=args.max_delay,
                progress=True,
            )
        except CrashCheckError as exc:
            print(f"{mode}: FAILED: {exc}\nfiles kept in {workdir / mode}", file=sys.stderr)
            return 1
        print(f"{mode}: ok: {stats.summary()}", flush=True)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
