"""The PNG plots of the commit-strategy benchmark (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

COLORS = {"volstore": "#1f6feb", "seed files": "#8b949e", "TinyDB": "#d29922", "SQLite": "#2da44e"}
MARKERS = {"per_write": "o", "every_n": "s", "every_t": "D", "one_session": "^", "background": "v"}
SHORT = {
    "per_write": "per write",
    "every_n": "every N",
    "every_t": "every T",
    "one_session": "one commit",
    "background": "background",
}
DPI = 110
# Where each strategy's label sits beside its point (points of two strategies often meet).
LABEL_OFFSETS = {
    "per_write": (10, 14),
    "every_n": (10, 16),
    "every_t": (16, 12),
    "one_session": (-12, 14),
    "background": (-14, -22),
}


def _ms(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def _subtitle(doc: dict[str, Any]) -> str:
    cost = doc["config"]["commit_cost"]
    return (
        f"emulator, assumed commit cost {cost['latency_s'] * 1e3:g} ms + "
        f"{cost['per_mb_s'] * 1e3:g} ms/MB ({doc['config']['mode']} run)"
    )


def tradeoff(doc: dict[str, Any], path: Path) -> Path:
    """Cost per write against what a kill loses, per store and strategy, on the emulator."""
    sizes = doc["config"]["sizes"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    titles = {
        "bulk": f"Bulk import of {sizes['bulk']:,} objects",
        "requests": f"Request traffic ({sizes['requests']:,} requests)",
    }
    for ax, (workload, title) in zip(axes, titles.items(), strict=False):
        rows = [r for r in doc["runs"] if r["target"] == "emulator" and r["workload"] == workload]
        for r in rows:
            x = r["write_time_s"] / r["writes"] * 1e3
            y = r["lost_mean_time"]
            ax.scatter(
                x,
                y,
                s=70,
                color=COLORS[r["store"]],
                marker=MARKERS[r["strategy"]],
                edgecolors="black",
                linewidths=0.5,
                zorder=4 if r["store"] == "volstore" else 3,
            )
            if r["store"] == "volstore":
                ax.annotate(
                    SHORT[r["strategy"]],
                    (x, y),
                    textcoords="offset points",
                    xytext=LABEL_OFFSETS[r["strategy"]],
                    ha="right" if r["strategy"] in ("one_session", "background") else "left",
                    fontsize=8,
                    color=COLORS["volstore"],
                    arrowprops={"arrowstyle": "-", "color": COLORS["volstore"], "lw": 0.6},
                )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_ms))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yscale("symlog", linthresh=1)
        top = max((r["lost_mean_time"] for r in rows), default=1)
        ax.set_ylim(bottom=-0.3, top=max(top * 3, 10))
        ax.set_xlabel("time per write (ms, log): faster is left")
        ax.set_ylabel("writes lost by a kill at a random moment (mean)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    handles = [
        plt.Line2D([], [], color=c, marker="o", linestyle="", markersize=8, label=s)
        for s, c in COLORS.items()
    ] + [
        plt.Line2D(
            [], [], color="white", markeredgecolor="black", marker=m, linestyle="", label=SHORT[k]
        )
        for k, m in MARKERS.items()
    ]
    fig.legend(handles=handles, loc="lower center", ncol=9, frameon=False, fontsize=9)
    fig.suptitle(f"Speed against durability: best is bottom left\n{_subtitle(doc)}", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def latency(doc: dict[str, Any], path: Path) -> Path:
    """p50 and p99 latency per write of the request traffic, per store and strategy."""
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.5))
    for ax, target in zip(axes, ("emulator", "local"), strict=False):
        rows = [r for r in doc["runs"] if r["target"] == target and r["workload"] == "requests"]
        labels = [f"{r['store']}: {SHORT[r['strategy']]}" for r in rows]
        ys = range(len(rows))
        ax.barh(
            [y + 0.2 for y in ys],
            [max(r["p50_ms"], 1e-4) for r in rows],
            height=0.4,
            color=[COLORS[r["store"]] for r in rows],
            label="p50",
        )
        ax.barh(
            [y - 0.2 for y in ys],
            [max(r["p99_ms"], 1e-4) for r in rows],
            height=0.4,
            color=[COLORS[r["store"]] for r in rows],
            alpha=0.45,
            hatch="//",
            label="p99",
        )
        ax.set_yticks(list(ys), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_ms))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("latency of one write (ms, log)")
        ax.set_title(f"{target}" + (" (assumed commit cost)" if target == "emulator" else ""))
        ax.grid(True, axis="x", which="both", alpha=0.3)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color="#555555", label="p50"),
        plt.Rectangle((0, 0), 1, 1, color="#555555", alpha=0.45, hatch="//", label="p99"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(
        f"Request traffic: latency per write, p50 (solid) and p99 (hatched)\n{_subtitle(doc)}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def scaling(doc: dict[str, Any], path: Path) -> Path:
    """Median time of one write, one get and one list as the store grows."""
    sc = doc["scaling"]
    sizes = sc["sizes"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
    names = {
        "write": "write one object (and commit)",
        "get": "get one object by key",
        "list": "list one user (100 objects)",
    }
    for ax, (op, title) in zip(axes, names.items(), strict=False):
        for store, ops in sc["series"].items():
            values = ops.get(op, [])
            points = [(n, v) for n, v in zip(sizes, values, strict=False) if v]
            if not points:
                continue
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o",
                color=COLORS[store],
                label=store,
                linewidth=2.2 if store == "volstore" else 1.4,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{n // 1000}k" for n in sizes])
        ax.set_xlabel("objects in the store")
        ax.set_ylabel("median time per operation (us, log)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=9)
    fig.suptitle(
        f"Scaling on the local backend (tmpfs), {doc['config']['mode']} run: flat is good",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def lost_updates(doc: dict[str, Any], path: Path) -> Path:
    """Updates lost when two containers update different records of one volume."""
    rows = doc["two_containers"]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    bars = ax.bar(
        [r["store"] for r in rows],
        [r["lost_updates"] for r in rows],
        color=[COLORS[r["store"]] for r in rows],
    )
    records = rows[0]["records"] if rows else 0
    for bar, r in zip(bars, rows, strict=False):
        ax.annotate(
            f"{r['lost_updates']} of {r['records']}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=10,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_ylim(0, max(records, 1) * 1.15)
    ax.set_ylabel("records whose update was lost")
    ax.set_title(
        "Two containers, each updating its own half of the records, then committing:\n"
        "one database file per volume loses the other container's updates whole",
        fontsize=10,
    )
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def reload_policies(doc: dict[str, Any], path: Path) -> Path:
    """Read latency and stale reads under each reload policy (emulator, mixed workload)."""
    rows = [r for r in doc["mixed"] if r["target"] == "emulator"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = [r["policy"] for r in rows]
    xs = range(len(rows))
    left.bar([x - 0.2 for x in xs], [max(r["read_p50_ms"], 1e-4) for r in rows], 0.4, label="p50")
    left.bar([x + 0.2 for x in xs], [max(r["read_p99_ms"], 1e-4) for r in rows], 0.4, label="p99")
    left.set_xticks(list(xs), labels)
    left.set_yscale("log")
    left.set_ylabel("read latency (ms, log)")
    left.set_title("cost of a read")
    left.legend(fontsize=9)
    left.grid(True, axis="y", which="both", alpha=0.3)
    stale = [100 * r["stale_reads"] / max(r["reads"], 1) for r in rows]
    right.bar(list(xs), stale, color="#cf222e")
    for x, r, value in zip(xs, rows, stale, strict=False):
        right.annotate(
            f"{r['stale_reads']}/{r['reads']}",
            (x, value),
            ha="center",
            va="bottom",
            xytext=(0, 3),
            textcoords="offset points",
        )
    right.set_xticks(list(xs), labels)
    right.set_ylabel("stale reads (%)")
    right.set_ylim(0, max([*stale, 1]) * 1.2)
    right.set_title("reads older than the committed state")
    right.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"Mixed reads and writes under each reload policy\n{_subtitle(doc)}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _has_runs(doc: dict[str, Any], workload: str) -> bool:
    return any(r["workload"] == workload for r in doc["runs"])


def write_all(doc: dict[str, Any], out: Path) -> list[Path]:
    """Every plot the document has data for; returns the paths written."""
    written = []
    if _has_runs(doc, "bulk") and _has_runs(doc, "requests"):
        written.append(tradeoff(doc, out / "tradeoff.png"))
    if _has_runs(doc, "requests"):
        written.append(latency(doc, out / "latency.png"))
    if doc["scaling"]["series"]:
        written.append(scaling(doc, out / "scaling.png"))
    if doc["two_containers"]:
        written.append(lost_updates(doc, out / "lost_updates.png"))
    if doc["mixed"]:
        written.append(reload_policies(doc, out / "reload_policies.png"))
    return written


__all__ = ["write_all"]
