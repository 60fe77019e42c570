"""What a ``bench_core`` run reports: the machine and its load, the tables, JSON, markdown.

Every figure printed is a median over rounds with its range (min-max): of
per-round ratios for the ratios, of per-round values (per object, or per
listing) for the measurements. A target is judged on the median.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import pydantic

import volstore
from benchmarks.core.measure import Results, Target
from benchmarks.core.workload import OBJECTS_PER_USER

# -- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the numbers ran on."""
    cpu = platform.processor() or "unknown"
    memory = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), cpu)
        with open("/proc/meminfo") as f:
            memory = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "pydantic": pydantic.VERSION,
        "volstore": volstore.__version__,
    }


def busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


class LoadMeter:
    """How busy the machine was during the run, and how much of that was this process."""

    def __init__(self) -> None:
        self.load_before = os.getloadavg()
        self.jiffies_before = busy_jiffies()
        self.own_before = sum(os.times()[:4])

    def report(self) -> dict[str, Any]:
        after = busy_jiffies()
        own = sum(os.times()[:4]) - self.own_before
        found: dict[str, Any] = {
            "load_average_before": list(self.load_before),
            "load_average_after": list(os.getloadavg()),
        }
        if after is not None and self.jiffies_before is not None:
            hertz = os.sysconf("SC_CLK_TCK")
            busy = (after[0] - self.jiffies_before[0]) / hertz
            total = (after[1] - self.jiffies_before[1]) / hertz
            if total > 0:
                found["machine_busy_share"] = busy / total
                found["others_busy_share"] = max(0.0, busy - own) / total
        return found


# -- reporting --------------------------------------------------------------------------------


def unit_of(name: str) -> str:
    if name.startswith("memory."):
        return "B/obj"
    if name.startswith("list."):
        return "us/list"
    return "us/obj"


def per_op(results: Results, name: str, value: float) -> float:
    scale = 1.0 if results.units[name] == "B" else 1e6
    return value / results.operations[name] * scale


def report(results: Results, targets: list[Target], check: bool) -> list[str]:
    """Print the machine, the measurements and ratios, the verdicts; return the targets missed."""
    config, env = results.config, results.config["machine"]
    print(
        f"\nvolstore core benchmark ({config['mode']}), {config['started']}\n"
        f"machine: {env['cpu']}, {env['cores']} cores, {env['memory']}, {env['os']}\n"
        f"python {env['python']}, pydantic {env['pydantic']}, volstore {env['volstore']}\n"
        f"storage: {config['storage']}\n"
        f"sizes: {config['objects']:,} objects ({config['users']} users of {OBJECTS_PER_USER}); "
        f"big store {config['big_store']:,}; {config['rounds']} interleaved rounds; "
        f"memory: session write of {config['memory_objects']:,} "
        f"({config['memory_rounds']} rounds), "
        f"import of {', '.join(f'{n:,}' for n in config['import_sizes'])} "
        f"(batch_size={config['batch_size']})"
    )
    load = config["load"]
    busy = (
        f"; during the run the machine's CPUs were {load['machine_busy_share']:.0%} busy, "
        f"{load['others_busy_share']:.0%} by other processes"
        if "machine_busy_share" in load
        else ""
    )
    print(
        "load average (1, 5, 15 min): "
        f"{' '.join(f'{v:.2f}' for v in load['load_average_before'])} before, "
        f"{' '.join(f'{v:.2f}' for v in load['load_average_after'])} after{busy}"
    )
    print(
        "times are CPU time (user + system) of this process; figures: median [min-max] of rounds\n"
    )
    print(f"{'measurement':<36}{'median':>12}  {'[min - max]':<22}{'unit'}")
    for name, values in results.measurements.items():
        summary = results.summary(name)
        low, high = per_op(results, name, summary.low), per_op(results, name, summary.high)
        print(
            f"{name:<36}{per_op(results, name, summary.median):>12,.2f}  "
            f"{f'[{low:,.2f} - {high:,.2f}]':<22}{unit_of(name)} ({len(values)} rounds)"
        )
    print(f"\n{'ratio (per round)':<50}{'median':>8}  [min - max]")
    for name, summary in results.ratios.items():
        print(f"{name:<50}{summary.median:>7.3f}x  [{summary.low:.3f} - {summary.high:.3f}]")
    split = results.facts["write_split_us_per_object"]
    med = {name: part["median"] for name, part in split.items()}
    print(
        f"\nsession write per object (median of rounds, us): {med['session']:.2f} = "
        f"backend batch {med['backend_batch']:.2f} "
        f"({med['backend_batch_over_atomic_floor']:+.2f} over the atomic floor "
        f"{med['atomic_floor']:.2f}, {med['backend_batch_over_dirfd_floor']:+.2f} over the "
        f"folder-descriptor floor) + encode {med['encode']:.2f} + bookkeeping "
        f"{med['bookkeeping']:.2f} (adds {med['adds']:.2f}, flush {med['flush_bookkeeping']:.2f}); "
        f"the least a Python store does: {med['minimal_store']:.2f}"
    )
    for how in ("get", "list"):
        commit = results.summary(f"commit.loaded_by_{how}")
        count = results.operations[f"commit.loaded_by_{how}"]
        print(
            f"commit after loading {count:,} by {how}: {commit.median / count * 1e6:.2f} us per "
            f"loaded object [{commit.low / count * 1e6:.2f} - {commit.high / count * 1e6:.2f}]"
        )
    for key, fact in results.facts.items():
        if key.startswith("import_") and isinstance(fact, dict):
            print(
                f"import of {fact['objects']:,} via store.writer(batch_size={fact['batch_size']}): "
                f"peak heap {fact['peak_heap_mb']:.1f} MB (max RSS {fact['max_rss_mb']:.0f} MB), "
                f"{fact['commits']:,} commits, "
                f"{fact['cpu_seconds_under_tracemalloc']:.1f} s CPU under tracemalloc"
            )
    if "import.peak_largest/peak_smallest" in results.facts:
        print(
            "import peak heap, largest / smallest import: "
            f"{results.facts['import.peak_largest/peak_smallest']:.2f}x"
        )
    rss = results.facts["memory.max_rss_mb"]
    print(
        "max RSS of the memory measures' processes (objects made beforehand included): "
        f"session {max(rss['session']):.0f} MB, buffer {max(rss['buffer']):.0f} MB"
    )
    missed = []
    print(f"\n{'target':<64}{'claim':<58}{'median':>9}  [min - max]  result")
    for target in targets:
        ok = target.passes(results)
        if not ok:
            missed.append(target.name)
        verdict = ("pass" if ok else "MISS") if check else ("pass" if ok else "miss (unchecked)")
        value = target.value(results)
        spread = (
            f"[{results.ratios[target.ratio].low:.2f} - {results.ratios[target.ratio].high:.2f}]"
            if target.unit == "x"
            else ""
        )
        figure = f"{value:.2f}{target.unit}"
        print(f"{target.name:<64}{target.claim():<58}{figure:>9}  {spread:<11}  {verdict}")
    return missed


def write_json(path: str, results: Results, targets: list[Target], missed: list[str]) -> None:
    """Write every measurement, ratio, split, fact and verdict as JSON."""
    document = {
        "config": results.config,
        "measurements": {
            name: {
                "unit": "cpu_seconds" if results.units[name] == "s" else "heap_bytes",
                "operations": results.operations[name],
                **results.summary(name).as_dict(),
            }
            for name in results.measurements
        },
        "ratios": {name: summary.as_dict() for name, summary in results.ratios.items()},
        "facts": results.facts,
        "targets": [
            {
                "name": target.name,
                "claim": target.claim(),
                "measure": target.ratio,
                "median" if target.unit == "x" else "value": target.value(results),
                **(
                    {
                        "min": results.ratios[target.ratio].low,
                        "max": results.ratios[target.ratio].high,
                    }
                    if target.unit == "x"
                    else {}
                ),
                "passed": target.passes(results),
            }
            for target in targets
        ],
        "missed": missed,
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n")


# -- markdown ---------------------------------------------------------------------------------

SECTION_START = (
    "<!-- bench_core results: written by `bench_core --markdown`; edit the benchmark -->"
)
SECTION_END = "<!-- end of bench_core results -->"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _spread(low: float, high: float, digits: int = 2) -> str:
    return f"{low:.{digits}f} - {high:.{digits}f}"


def markdown(results: Results, targets: list[Target], missed: list[str]) -> str:
    """The run as a markdown section (``##`` and below), between the section markers."""
    config, env, load = results.config, results.config["machine"], results.config["load"]
    busy = (
        f" During the run the machine's CPUs were {load['machine_busy_share']:.0%} busy, "
        f"{load['others_busy_share']:.0%} of the time with other processes' work."
        if "machine_busy_share" in load
        else ""
    )
    lines = [
        SECTION_START,
        "## Core hot paths (`bench_core`)",
        "",
        f"Mode: **{config['mode']}**, run {config['started']} on {env['cpu']} ({env['cores']} "
        f"cores, {env['memory']}), {env['os']}; Python {env['python']}, pydantic "
        f"{env['pydantic']}, volstore {env['volstore']}. Storage: {config['storage']}. "
        f"Command: `{config['command']}` ({config['wall_seconds']:.0f} s).",
        "",
        "Load average (1, 5, 15 min): "
        f"{', '.join(f'{v:.1f}' for v in load['load_average_before'])} before, "
        f"{', '.join(f'{v:.1f}' for v in load['load_average_after'])} after.{busy} "
        "Times are CPU time of the benchmark's process (user + system), which other "
        "processes' work inflates far less than wall time.",
        "",
        f"{config['objects']:,} objects ({config['users']} users of {OBJECTS_PER_USER}, "
        f"{config['bytes_per_object']} bytes each), {config['rounds']} interleaved rounds (every "
        "variant once per round, the order rotated each round). Each figure is the **median "
        "of the per-round ratios**, with their range (min - max) over the rounds.",
        "",
        "### Targets (issue 10, section 5)",
        "",
        _row("target", "claim", "median", "min - max", "result"),
        _row("---", "---", "--:", "--:", "---"),
    ]
    for target in targets:
        value = target.value(results)
        if target.unit == "x":
            ratio = results.ratios[target.ratio]
            figure, spread = f"{value:.2f}x", _spread(ratio.low, ratio.high)
        else:
            figure, spread = f"{value:.1f} {target.unit}", "-"
        if target.passes(results):
            verdict = "pass"
        else:
            verdict = "miss (smoke run: unchecked)" if config["mode"] == "smoke" else "**MISS**"
        lines.append(_row(target.name, f"`{target.claim()}`", figure, spread, verdict))
    split = results.facts["write_split_us_per_object"]
    lines += [
        "",
        "### The session write, per object",
        "",
        "Microseconds of CPU per object, the median over rounds of each part (computed "
        "round by round):",
        "",
        _row("part", "µs per object", "min - max"),
        _row("---", "--:", "--:"),
    ]
    labels = {
        "session": "session write (adds, flush, commit)",
        "atomic_floor": "atomic floor",
        "atomic_floor_dirfd": "atomic floor, names relative to a folder descriptor",
        "minimal_store": "the least a Python store does (encode, group, write; no checks)",
        "session_over_minimal_store": "session over that least",
        "backend_batch": "backend `write_batch` of the same bytes",
        "backend_batch_over_atomic_floor": "backend batch over the atomic floor",
        "backend_batch_over_dirfd_floor": "backend batch over the folder-descriptor floor",
        "encode": "encoding",
        "bookkeeping": "bookkeeping (session - backend batch - encoding)",
        "adds": "of which in `add`",
        "flush_bookkeeping": "of which in the flush",
    }
    for name, label in labels.items():
        part = split[name]
        lines.append(_row(label, f"{part['median']:.2f}", _spread(part["min"], part["max"])))
    lines += [
        "",
        "### Every ratio",
        "",
        _row("ratio", "median", "min - max"),
        _row("---", "--:", "--:"),
    ]
    for name, summary in results.ratios.items():
        lines.append(
            _row(f"`{name}`", f"{summary.median:.3f}", _spread(summary.low, summary.high, 3))
        )
    lines += [
        "",
        "### Every measurement",
        "",
        "CPU time per object (per listing of 100 objects for `list.*`), or peak heap per "
        "object for `memory.*`:",
        "",
        _row("measurement", "median", "min - max", "unit", "rounds"),
        _row("---", "--:", "--:", "---", "--:"),
    ]
    for name, values in results.measurements.items():
        summary = results.summary(name)
        low, high = per_op(results, name, summary.low), per_op(results, name, summary.high)
        lines.append(
            _row(
                f"`{name}`",
                f"{per_op(results, name, summary.median):,.2f}",
                f"{low:,.2f} - {high:,.2f}",
                unit_of(name).replace("us", "µs"),
                len(values),
            )
        )
    lines += ["", "### Memory", ""]
    for key, fact in results.facts.items():
        if key.startswith("import_") and isinstance(fact, dict):
            lines.append(
                f"- import of {fact['objects']:,} objects through `store.writer(batch_size="
                f"{fact['batch_size']})`: peak heap **{fact['peak_heap_mb']:.1f} MB** "
                f"({fact['peak_heap_bytes'] / fact['objects']:.0f} bytes per object), "
                f"{fact['commits']:,} commits, max RSS of its process {fact['max_rss_mb']:.0f} MB."
            )
    if "import.peak_largest/peak_smallest" in results.facts:
        lines.append(
            "- peak heap of the largest import over the smallest: "
            f"{results.facts['import.peak_largest/peak_smallest']:.2f}x"
        )
    session = results.summary("memory.session_write")
    buffer = results.summary("memory.buffer_write")
    count = results.operations["memory.session_write"]
    lines.append(
        f"- session write of {count:,} objects: peak heap {session.median / 2**20:.1f} MB "
        f"({session.median / count:.0f} bytes per object), against {buffer.median / 2**20:.1f} MB "
        f"({buffer.median / count:.0f} bytes per object) for the encode-everything buffer; the "
        "objects themselves, made before measuring, are counted in neither."
    )
    lines += [
        "",
        f"Missed: {', '.join(missed)}." if missed else "Every target passed.",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def write_markdown(path: str, section: str) -> None:
    """Put ``section`` into the file at ``path``, replacing the one a previous run wrote there.

    A file without a section gets it at its end; a missing file is created
    holding the section alone.
    """
    target = Path(path)
    text = target.read_text() if target.exists() else ""
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    elif text:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        text = section
    target.write_text(text)
