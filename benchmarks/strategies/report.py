"""What a run reports: the machine, the trade-off tables, results.md."""

from __future__ import annotations

import dataclasses
import sqlite3
import statistics
from typing import Any

from benchmarks.core.report import machine as core_machine
from benchmarks.strategies.config import HOT_OBJECTS, READ_SHARE, STORES, STRATEGIES
from benchmarks.strategies.writers import RunResult

# -- reporting --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers ran on, with the versions of the stores compared."""
    import matplotlib
    import tinydb

    return {
        **core_machine(),
        "tinydb": tinydb.__version__,
        "sqlite": sqlite3.sqlite_version,
        "matplotlib": matplotlib.__version__,
    }


STRATEGY_LABELS = {
    "per_write": "commit per write",
    "every_n": "commit every N",
    "every_t": "commit every T s",
    "one_session": "one commit",
    "background": "background only",
}


def run_label(run: dict[str, Any] | RunResult, sizes: dict[str, Any] | None = None) -> str:
    r = dataclasses.asdict(run) if isinstance(run, RunResult) else run
    strategy = r["strategy"]
    label = STRATEGY_LABELS[strategy]
    if sizes is not None:
        if strategy == "every_n":
            label = f"commit every {sizes['every_n']}"
        elif strategy == "every_t":
            label = f"commit every {sizes['every_t']:g} s"
        elif strategy == "background":
            label = f"background ({sizes['background_s']:g} s)"
    if r["store"] == "TinyDB":
        label += " (insert)" if strategy == "per_write" else " (insert_multiple)"
    if r["store"] == "SQLite" and strategy != "per_write":
        label += " (executemany)"
    return label


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _fmt_ms(ms: float) -> str:
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 1:
        return f"{ms:.1f}"
    return f"{ms:.3f}"


def tradeoff_table(doc: dict[str, Any], target: str, workload: str) -> list[str]:
    """The markdown rows of one trade-off table."""
    sizes = doc["config"]["sizes"]
    rows = [r for r in doc["runs"] if r["target"] == target and r["workload"] == workload]
    rows.sort(key=lambda r: (STORES.index(r["store"]), STRATEGIES.index(r["strategy"])))
    think = workload == "requests"
    total_col = "write time (s)" if not think else "wall (s)"
    lines = [
        f"| store | strategy | {total_col} | ms/write | p50 ms | p99 ms | max ms | commits | "
        "files | bytes/write | lost on kill: mean (time) | mean (per ack) | max |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        per_write = r["write_time_s"] / r["writes"] * 1e3
        total = r["wall_s"] if think else r["write_time_s"]
        mark = "~" if r["projected"] else ""
        commits = (
            f"{r['background_commits']} bg" if r["strategy"] == "background" else f"{r['commits']}"
        )
        measured = f" ({r['measured']:,} of {r['writes']:,})" if r["projected"] else ""
        lines.append(
            f"| {r['store']} | {run_label(r, sizes)}{measured} | {mark}{total:,.2f} | "
            f"{_fmt_ms(per_write)} | {_fmt_ms(r['p50_ms'])} | {_fmt_ms(r['p99_ms'])} | "
            f"{_fmt_ms(r['max_ms'])} | {commits} | {r['files_written']:,} | "
            f"{_fmt_bytes(r['bytes_written'] / max(r['measured'], 1))} | "
            f"{r['lost_mean_time']:,.1f} | {r['lost_mean_acks']:,.1f} | {r['lost_max']:,} |"
        )
    return lines


def markdown(doc: dict[str, Any]) -> str:
    """results.md: every table of the run."""
    c = doc["config"]
    s = c["sizes"]
    cost = c["commit_cost"]
    m = c["machine"]
    out = [
        "# Commit strategies: results",
        "",
        f"Mode: **{c['mode']}**, run {c['date']} on {m['cpu']} ({m['cores']} cores, "
        f"{m['memory']}), {m['os']}; Python {m['python']}, pydantic {m['pydantic']}, "
        f"TinyDB {m['tinydb']}, SQLite {m['sqlite']}. Storage: {c['storage']}. "
        f"Total run time {c['seconds']:.0f} s.",
        "",
        f"Emulator commit cost (ASSUMED, not measured on Modal): {cost['latency_s'] * 1e3:g} ms "
        f"per commit or reload + {cost['per_mb_s'] * 1e3:g} ms per MB moved. Background commit "
        f"interval {s['background_s']:g} s (Modal: every few seconds). N = {s['every_n']}, "
        f"T = {s['every_t']:g} s.",
        "",
        "`~`: time projected for all writes from the ones measured: half into the empty "
        "store, half into the store filled with the rest (the mean of the two, times all "
        "writes). Lost on kill: acknowledged writes not "
        "yet committed; mean (time) is what a kill at a random moment loses.",
        "",
        "## Targets",
        "",
        "| target | claim | measured | result |",
        "|---|---|--:|---|",
    ]
    for t in doc["targets"]:
        verdict = "pass" if t["passed"] else "**MISS**"
        out.append(f"| {t['name']} | `{t['claim']}` | {t['ratio']:.2f}x | {verdict} |")
    out += ["", "Best times behind the ratios (seconds):", ""]
    out += [f"- `{k}`: {v:.4f}" for k, v in doc["target_seconds"].items()]
    titles = {
        "bulk": f"Bulk import of {s['bulk']:,} objects",
        "requests": f"Request-like traffic: {s['requests']:,} requests, one object each, "
        f"{s['think_s'] * 1e3:g} ms between requests",
    }
    for workload, title in titles.items():
        for target in ("emulator", "local"):
            out += ["", f"## {title}: {target}", ""]
            out += tradeoff_table(doc, target, workload)
    out += [
        "",
        f"## Mixed reads and writes under each reload policy ({s['mixed_ops']} operations: "
        f"{READ_SHARE:.0%} gets of {HOT_OBJECTS} hot objects, the rest one-object writes; "
        "another container updates a hot object and commits every 5 operations)",
        "",
        "| target | reload policy | reads | read p50 ms | read p99 ms | write p50 ms | "
        "write p99 ms | reloads | stale reads | time in calls (s) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in doc["mixed"]:
        out.append(
            f"| {r['target']} | {r['policy']} | {r['reads']} | {_fmt_ms(r['read_p50_ms'])} | "
            f"{_fmt_ms(r['read_p99_ms'])} | {_fmt_ms(r['write_p50_ms'])} | "
            f"{_fmt_ms(r['write_p99_ms'])} | {r['reloads']} | {r['stale_reads']} | "
            f"{r['wall_s']:.2f} |"
        )
    out += [
        "",
        f"## Two containers update different records ({s['two_rounds']} rounds each)",
        "",
        "| store | records | updates made | updates lost |",
        "|---|--:|--:|--:|",
    ]
    for r in doc["two_containers"]:
        out.append(f"| {r['store']} | {r['records']} | {r['updates']} | {r['lost_updates']} |")
    if doc.get("kill"):
        out += [
            "",
            "## Real kills (`Mount.kill()` at a random moment) against the estimate",
            "",
            "| strategy | kills | acknowledged at kill | lost per kill | mean lost | "
            "estimate: mean per ack | mean over time |",
            "|---|--:|---|---|--:|--:|--:|",
        ]
        for k in doc["kill"]:
            mean_lost = statistics.fmean(k["lost"]) if k["lost"] else 0.0
            out.append(
                f"| {run_label({'strategy': k['strategy'], 'store': 'volstore'}, s)} | "
                f"{k['trials']} | {k['acked_at_kill']} | {k['lost']} | {mean_lost:.1f} | "
                f"{k['estimate_mean_acks']:.1f} | {k['estimate_mean_time']:.1f} |"
            )
    sc = doc["scaling"]
    out += [
        "",
        "## Scaling: median time per operation (microseconds), local backend",
        "",
        "| store | operation | " + " | ".join(f"{n:,}" for n in sc["sizes"]) + " |",
        "|---|---|" + "--:|" * len(sc["sizes"]),
    ]
    for store, ops in sc["series"].items():
        for op, values in ops.items():
            cells = " | ".join(f"{v:,.1f}" if v is not None else "-" for v in values)
            out.append(f"| {store} | {op} | {cells} |")
    return "\n".join(out) + "\n"


def print_tradeoff(doc: dict[str, Any]) -> None:
    """The trade-off table of speed against durability, on stdout."""
    sizes = doc["config"]["sizes"]
    for workload in ("bulk", "requests"):
        for target in ("emulator", "local"):
            rows = [r for r in doc["runs"] if r["target"] == target and r["workload"] == workload]
            print(f"\ntrade-off: {workload}, {target}")
            print(
                f"  {'store':<11}{'strategy':<34}{'ms/write':>10}{'p99 ms':>10}"
                f"{'commits':>9}{'lost mean':>11}{'lost max':>10}"
            )
            for r in rows:
                per_write = r["write_time_s"] / r["writes"] * 1e3
                mark = "~" if r["projected"] else " "
                print(
                    f"  {r['store']:<11}{run_label(r, sizes):<34}{mark}{per_write:>9.3f}"
                    f"{r['p99_ms']:>10.2f}{r['commits']:>9}{r['lost_mean_time']:>11.1f}"
                    f"{r['lost_max']:>10}"
                )
