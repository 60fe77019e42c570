"""The entry point: parse the options, run the chosen parts, judge the targets, write results."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import benchmarks.strategies
from benchmarks._cli import benchmark_parser, mode, storage_root
from benchmarks.strategies.config import DEFAULT_OUT, FULL, ROOT, SMOKE, Sizes
from benchmarks.strategies.report import machine, markdown, print_tradeoff
from benchmarks.strategies.scaling import TARGETS, bench_scaling, bench_targets, compute_ratios
from benchmarks.strategies.scenarios import (
    bench_kill,
    bench_mixed,
    bench_two_containers,
    bench_workload,
)
from benchmarks.strategies.workloads import make_objects, request_objects
from volstore.testing import VolumeEmulator

PARTS = ("targets", "bulk", "requests", "mixed", "two", "kill", "scaling")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = benchmark_parser("bench_strategies", benchmarks.strategies.__doc__)
    parser.add_argument(
        "--out",
        metavar="PATH",
        help=f"where to write results.json, results.md and the plots (full run default: "
        f"{DEFAULT_OUT.relative_to(ROOT)}; smoke default: a temporary folder)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--only", help=f"comma-separated parts to run ({','.join(PARTS)}; default: all)"
    )
    return parser.parse_args(argv)


def new_document(
    args: argparse.Namespace, sizes: Sizes, parts: set[str], storage: str
) -> dict[str, Any]:
    """results.json before the run: its configuration, and a place for every part's results."""
    config_sizes = {k: v for k, v in dataclasses.asdict(sizes).items() if k != "cost"}
    config_sizes["scaling"] = list(sizes.scaling)
    return {
        "config": {
            "mode": mode(args),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "storage": storage,
            "machine": machine(),
            "commit_cost": {"latency_s": sizes.cost.latency_s, "per_mb_s": sizes.cost.per_mb_s},
            "sizes": config_sizes,
            "parts": sorted(parts),
        },
        "runs": [],
        "mixed": [],
        "two_containers": [],
        "kill": [],
        "scaling": {"sizes": list(sizes.scaling), "series": {}},
        "target_seconds": {},
        "ratios": {},
        "targets": [],
        "missed": [],
    }


def run_parts(
    doc: dict[str, Any], parts: set[str], root: Path, sizes: Sizes, log: Callable[[str], None]
) -> None:
    """Run each chosen part with its data below ``root``; record its results in ``doc``."""
    emulator = VolumeEmulator(root / "emulator", commit_cost=sizes.cost)
    if "targets" in parts:
        log("\n-- targets: bulk writes and gets against their floors (local) --")
        doc["target_seconds"] = bench_targets(root, sizes)
        for k, v in doc["target_seconds"].items():
            log(f"  {k:<24}{v * 1e3:>10.1f} ms")
    if "bulk" in parts:
        log(f"\n-- bulk import of {sizes.bulk:,} objects --")
        objects = make_objects(sizes.bulk)
        runs = bench_workload("bulk", objects, 0.0, root, emulator, sizes, log)
        doc["runs"] += [dataclasses.asdict(r) for r in runs]
    if "requests" in parts:
        log(f"\n-- request-like traffic: {sizes.requests:,} requests --")
        objects = request_objects(sizes.requests)
        runs = bench_workload("requests", objects, sizes.think_s, root, emulator, sizes, log)
        doc["runs"] += [dataclasses.asdict(r) for r in runs]
    if "mixed" in parts:
        log("\n-- mixed reads and writes under each reload policy --")
        doc["mixed"] = [dataclasses.asdict(r) for r in bench_mixed(root, emulator, sizes, log)]
    if "two" in parts:
        log("\n-- two containers update different records --")
        two = bench_two_containers(emulator, sizes)
        doc["two_containers"] = [dataclasses.asdict(r) for r in two]
        for r in two:
            log(f"  {r.store:<11} lost {r.lost_updates} of {r.records} records' updates")
    if "kill" in parts:
        log("\n-- real kills at random moments --")
        doc["kill"] = [dataclasses.asdict(r) for r in bench_kill(emulator, sizes, log)]
    if "scaling" in parts:
        log("\n-- scaling: per-operation cost as the store grows (local) --")
        doc["scaling"]["series"] = bench_scaling(root, sizes, log)


def judge_targets(doc: dict[str, Any]) -> None:
    """The ratios and each target's verdict (needs the targets and scaling parts)."""
    doc["ratios"] = compute_ratios(doc["target_seconds"], doc["scaling"]["series"])
    for target in TARGETS:
        ratio = doc["ratios"][target.ratio_name]
        passed = target.passes(ratio)
        doc["targets"].append(
            {"name": target.name, "claim": target.describe(), "ratio": ratio, "passed": passed}
        )
        if not passed:
            doc["missed"].append(target.name)


def main(argv: list[str]) -> int:
    """Run the suite; write results.json, results.md and plots; 1 if a target is missed."""
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    parts = set(PARTS if not args.only else args.only.split(","))
    unknown = parts - set(PARTS)
    if unknown:
        print(f"bench_strategies: unknown parts {sorted(unknown)}", file=sys.stderr)
        return 2
    if args.out:
        out = Path(args.out)
    elif args.smoke:
        out = Path(tempfile.mkdtemp(prefix="volstore-strategies-smoke-"))
    else:
        out = DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    root, storage = storage_root(args.dir, prefix="volstore-strategies-")

    def log(message: str) -> None:
        print(message, flush=True)

    log(f"volstore commit strategies ({mode(args)}); data in {root}; results to {out}")
    doc = new_document(args, sizes, parts, storage)
    try:
        run_parts(doc, parts, root, sizes, log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if "targets" in parts and "scaling" in parts:
        judge_targets(doc)
    doc["config"]["seconds"] = time.perf_counter() - started
    print_tradeoff(doc)
    if doc["targets"]:
        print(f"\n{'target':<48}{'claim':<44}result")
        for t in doc["targets"]:
            verdict = "pass" if t["passed"] else ("miss (unchecked)" if args.smoke else "MISS")
            print(f"{t['name']:<48}{t['claim']:<44}{t['ratio']:.2f}x {verdict}")
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "results.md").write_text(markdown(doc))
    if not args.no_plots:
        from benchmarks.strategies import plots  # matplotlib: only when plotting

        for path in plots.write_all(doc, out):
            log(f"wrote {path}")
    seconds = doc["config"]["seconds"]
    log(f"\nwrote {out / 'results.json'} and {out / 'results.md'} in {seconds:.0f} s")
    if args.smoke:
        print("smoke run: every part ran; speed not checked")
        return 0
    if doc["missed"] and not args.no_check:
        print(f"missed: {', '.join(doc['missed'])}", file=sys.stderr)
        return 1
    return 0
