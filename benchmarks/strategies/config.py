"""What one run measures: the strategies, the stores, and the sizes of each mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import volstore
from models import Schedule
from volstore.testing import CommitCost

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "docs" / "benchmarks"
OBJECTS_PER_USER = 100
RESOURCE_TYPE = volstore.spec_of(Schedule).resource_type

HOT_OBJECTS = 20  # the mixed workload's objects that are read and updated
READ_SHARE = 0.9  # the mixed workload's share of reads

STRATEGIES = ("per_write", "every_n", "every_t", "one_session", "background")
PEER_STRATEGIES = ("per_write", "every_n", "one_session")
STORES = ("volstore", "seed files", "TinyDB", "SQLite")


@dataclass(frozen=True)
class Sizes:
    """Every size and interval of one mode (full or smoke)."""

    bulk: int  # objects in the bulk import
    per_write_cap_local: int  # writes measured for a slow per-write peer on local (TinyDB)
    per_write_cap_emulator: int  # writes measured for a per-write strategy on the emulator
    requests: int  # requests in the request-like traffic
    think_s: float  # pause between two requests
    every_n: int  # N of "commit every N writes"
    every_t: float  # T of "commit every T seconds"
    background_s: float  # the emulator's background commit interval
    mixed_objects: int  # objects stored before the mixed workload
    mixed_ops: int  # operations of the mixed workload (80% reads)
    mixed_reload_s: float  # ReloadPolicy.every(...) of the mixed workload
    two_records: int  # records of the two-container scenario (half each)
    two_rounds: int  # rounds of updates (each container commits once per round)
    scaling: tuple[int, ...]  # store sizes of the scaling curves
    scaling_writes: int  # one-object writes measured per size and round
    scaling_gets: int  # gets measured per size and round
    scaling_lists: int  # users listed per size and round (100 objects each)
    scaling_rounds: int  # rounds of the scaling measurements (the best one counts)
    peer_budget_s: float  # time budget of one slow peer measurement (TinyDB)
    repetitions: int  # repetitions of the target measurements
    kill_trials: int  # real kills in the kill experiment
    cost: CommitCost


FULL = Sizes(
    bulk=10_000,
    per_write_cap_local=200,
    per_write_cap_emulator=60,
    requests=500,
    think_s=0.002,
    every_n=100,
    every_t=0.5,
    background_s=0.5,
    mixed_objects=1_000,
    mixed_ops=300,
    mixed_reload_s=0.25,
    two_records=200,
    two_rounds=3,
    scaling=(1_000, 10_000, 100_000),
    scaling_writes=100,
    scaling_gets=400,
    scaling_lists=6,
    scaling_rounds=5,
    peer_budget_s=4.0,
    repetitions=5,
    kill_trials=10,
    cost=CommitCost(),
)

SMOKE = Sizes(
    bulk=300,
    per_write_cap_local=30,
    per_write_cap_emulator=20,
    requests=30,
    think_s=0.001,
    every_n=50,
    every_t=0.02,
    background_s=0.02,
    mixed_objects=100,
    mixed_ops=30,
    mixed_reload_s=0.02,
    two_records=20,
    two_rounds=2,
    scaling=(1_000,),
    scaling_writes=20,
    scaling_gets=100,
    scaling_lists=3,
    scaling_rounds=1,
    peer_budget_s=0.2,
    repetitions=1,
    kill_trials=1,
    cost=CommitCost(latency_s=0.005, per_mb_s=0.002),
)
