"""Commit strategies: what each costs, what a crash loses, and how volstore compares with peers.

Runs on the local backend (a folder, on tmpfs where there is one) and on the
Modal Volume emulator with a simulated commit cost (``CommitCost``: by default
50 ms per commit or reload plus 20 ms per MB moved; ASSUMPTIONS, not
measurements of Modal). For each workload it runs each commit strategy and
each peer, and measures wall time, commits, files and bytes written, p50/p99
latency per write, and the durability window: how many acknowledged writes a
kill at a random moment would lose.

- strategies: ``per_write`` (a one-object session per write: the seed's slow
  pattern), ``one_session`` (one session, one commit), ``every_n`` (a session
  per N writes), ``every_t`` (a session committed every T seconds),
  ``background`` (files written at once, no explicit commit: Modal's background
  commits publish them; emulator only);
- workloads: bulk import, request-like traffic (one object per request, with
  think time between requests), mixed reads and writes under each reload
  policy (with a second container updating objects);
- peers, in the same run: the seed's hand-written files, TinyDB (one insert at
  a time, ``insert_multiple``), SQLite in one file on the volume; a two-container
  scenario counting lost updates; scaling curves from 1k to 100k objects.

Run ``python -m benchmarks bench_strategies`` (full: writes
``docs/benchmarks/``) or ``--smoke`` (CI: under a minute, writes to a temporary
folder). ``--help`` for the options. docs/benchmarks.md explains the output.

The modules, in the order a run uses them: ``config`` (sizes, strategies,
stores), ``workloads`` (objects, the durability recorder, local and emulator
environments), ``writers`` (volstore and the peers behind one interface; one
strategy on one workload), ``scenarios`` (the workloads, mixed reads and
writes, two containers, real kills), ``scaling`` (scaling curves and the
targets), ``report`` (tables and results.md), ``cli`` (the entry point);
``peers`` and ``plots`` hold the peers and the PNG plots.
"""
