#!/usr/bin/env python3
"""The hot-key stress at full size: 4 and 8 writers on 3 counters, on every backend kind.

    python3 run.py ... or: PYTHONPATH=. .venv/bin/python scripts/hotkeys.py [--increments N]

Prints one line per run (acknowledged / stored / lost / phantom / conflicts) and
exits 1 if any acknowledged increment was lost or any phantom one appeared. The
``s3`` kind runs on a SeaweedFS server started for the run (volstore.testing.seaweedfs).
See tests/_hotkeys.py for what a writer does; tests/test_hotkeys.py runs small sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import _hotkeys
from volstore.testing.seaweedfs import seaweedfs_server


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--increments", type=int, default=50, help="per writer")
    parser.add_argument("--keys", type=int, default=3)
    parser.add_argument("--writers", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--kinds", nargs="+", default=list(_hotkeys.KINDS))
    args = parser.parse_args(argv)
    bad = 0
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="volstore-hotkeys-"))
        server = stack.enter_context(seaweedfs_server()) if "s3" in args.kinds else None
        bucket = server.create_bucket("hotkeys") if server is not None else ""
        for writers in args.writers:
            for kind in args.kinds:
                where = Path(tmp) / f"{kind}-{writers}"
                if server is not None and kind == "s3":
                    _hotkeys.use_s3(where, server, bucket)
                report = _hotkeys.run(
                    kind, where, processes=writers, keys=args.keys, increments=args.increments
                )
                print(report.line(), flush=True)
                bad += report.lost + report.phantom
            where = Path(tmp) / f"threads-{writers}"
            report = _hotkeys.run_threads(
                "local", where, threads=writers, keys=args.keys, increments=args.increments
            )
            print(report.line().replace("local   ", "threads "), flush=True)
            bad += report.lost + report.phantom
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
