"""Measuring: CPU time of one call, interleaved rounds, per-round ratios, targets.

Every figure ``bench_core`` reports is a ratio of two variants measured in the
same round of the same run. A round runs every variant of a group once; the
order rotates from one round to the next, so drift on the machine (another
job starting, the CPU clocking down) hits every variant alike. Times are CPU
time of this process (``time.process_time``: user + system, all threads), not
wall time: on a shared machine the wall clock also counts the time other
processes held the CPU, CPU time does not. The ratio of each round is
computed on its own, and the report gives the median of those ratios and
their range (min-max), never the best of several runs.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Variant = Callable[[int], dict[str, float]]
"""One variant of a group: called with the round number, returns its measurements by name."""


def cpu_seconds(run: Callable[[], object]) -> float:
    """CPU seconds (user + system) one call of ``run`` takes.

    The collector runs before the call, not during it, and stays enabled: a
    variant that allocates pays for the collections it causes, as it would in
    production.
    """
    gc.collect()
    start = time.process_time()
    run()
    return time.process_time() - start


def peak_heap(run: Callable[[], object]) -> int:
    """Peak bytes of Python heap (tracemalloc) allocated during one call of ``run``.

    Tracing starts just before the call, so what existed before (the objects
    a variant is given) is not counted; what the call allocates is, at its
    highest point, whether or not it is freed later. Allocations that bypass
    Python's allocator (buffers inside pydantic-core's Rust code, the kernel's
    page cache) are not seen.
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def rotated(items: Sequence[Any], by: int) -> list[Any]:
    """``items`` rotated by ``by``: each round starts with another variant."""
    items = list(items)
    by %= len(items)
    return items[by:] + items[:by]


@dataclass
class Summary:
    """The median and range of per-round values."""

    median: float
    low: float
    high: float
    values: list[float]

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("no value to summarise")
        return cls(statistics.median(values), min(values), max(values), list(values))

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "rounds": self.values}


@dataclass
class Results:
    """Per-round measurements by name, and what is derived from them."""

    config: dict[str, Any]
    measurements: dict[str, list[float]] = field(default_factory=dict)  # name -> per round
    units: dict[str, str] = field(default_factory=dict)  # name -> "s" (CPU) or "B" (heap)
    operations: dict[str, int] = field(default_factory=dict)  # name -> objects per call
    ratios: dict[str, Summary] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # counts and checks, for the report

    def record(self, name: str, value: float, operations: int, unit: str = "s") -> None:
        self.measurements.setdefault(name, []).append(value)
        self.operations[name] = operations
        self.units[name] = unit

    def summary(self, name: str) -> Summary:
        return Summary.of(self.measurements[name])

    def per_round(self, *names: str) -> list[tuple[float, ...]]:
        """The values of ``names`` round by round (measured in the same rounds)."""
        columns = [self.measurements[name] for name in names]
        return list(zip(*columns, strict=True))

    def ratio(self, name: str, numerator: str, denominator: str, scale: float = 1.0) -> None:
        """Record ``numerator / (denominator * scale)``, round by round."""
        self.ratios[name] = Summary.of(
            [top / (bottom * scale) for top, bottom in self.per_round(numerator, denominator)]
        )

    def spread(self, name: str, first: str, second: str) -> None:
        """Record ``max / min`` of two measurements, round by round (1.0: equal)."""
        self.ratios[name] = Summary.of(
            [max(a, b) / min(a, b) for a, b in self.per_round(first, second)]
        )


def run_rounds(
    results: Results, variants: Sequence[tuple[str, Variant]], rounds: int, operations: int
) -> None:
    """Run every variant once per round, in an order rotated each round; record all."""
    for number in range(rounds):
        for _name, variant in rotated(variants, number):
            for measured, value in variant(number).items():
                unit = "B" if measured.startswith("memory.") else "s"
                results.record(measured, value, operations, unit)


@dataclass(frozen=True)
class Target:
    """One claim of the issue: the median of a per-round ratio compared with a limit."""

    name: str
    ratio: str  # a key of Results.ratios, or of Results.facts for an absolute figure
    limit: float
    unit: str = "x"  # "x": a ratio; "MB": an absolute figure from Results.facts

    def claim(self) -> str:
        return f"{self.ratio} <= {self.limit:g}{self.unit}"

    def value(self, results: Results) -> float:
        if self.unit == "x":
            return results.ratios[self.ratio].median
        return float(results.facts[self.ratio])

    def passes(self, results: Results) -> bool:
        return self.value(results) <= self.limit
