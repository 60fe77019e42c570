"""The parts of ``bench_core``: measuring, the workload, the speed and memory groups.

``benchmarks/bench_core.py`` is the entry point (``python -m benchmarks bench_core``);
this package holds what it runs: ``measure`` (CPU time, interleaved rounds,
median and min-max of per-round ratios, targets), ``workload`` (the objects,
their bytes and paths, the hand-written floors), ``speed`` (bulk write, get,
list, commit after loading) and ``memory`` (peak heap of a session write and of
a bounded-memory import).
"""
