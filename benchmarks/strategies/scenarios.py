"""The scenarios: each workload under each strategy, mixed reads and writes under each
reload policy, two containers updating different records, and real kills."""

from __future__ import annotations

import random
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import volstore
import volstore.modal
from benchmarks.strategies.config import (
    HOT_OBJECTS,
    PEER_STRATEGIES,
    READ_SHARE,
    RESOURCE_TYPE,
    STORES,
    STRATEGIES,
    Sizes,
)
from benchmarks.strategies.peers import SeedFiles, SQLitePeer, TinyDBPeer
from benchmarks.strategies.workloads import (
    EmulatorEnv,
    Env,
    LocalEnv,
    Recorder,
    emulator_env,
    fast_write,
    make_objects,
    request_objects,
    slug,
)
from benchmarks.strategies.writers import (
    RunResult,
    VolstoreWriter,
    make_peer,
    percentile,
    run_one,
    should_commit,
)
from models import Schedule
from volstore.testing import Mount, VolumeEmulator


def bench_workload(
    workload: str,
    objects: list[Schedule],
    think_s: float,
    base: Path,
    emulator: VolumeEmulator,
    sizes: Sizes,
    log: Callable[[str], None],
) -> list[RunResult]:
    """Every store with each of its strategies, on local and on the emulator."""
    results: list[RunResult] = []
    plan = [("volstore", s) for s in STRATEGIES] + [
        (peer, s) for peer in STORES[1:] for s in PEER_STRATEGIES
    ]
    for kind in ("local", "emulator"):
        for store, strategy in plan:
            if kind == "local" and strategy == "background":
                continue  # no commits on a local folder: the same as per_write
            cap = None
            if strategy == "per_write" and think_s == 0:
                if kind == "emulator":
                    cap = sizes.per_write_cap_emulator
                elif store == "TinyDB":
                    cap = sizes.per_write_cap_local
            name = slug(workload, kind, store, strategy)
            if kind == "local":
                result = run_one(
                    LocalEnv(base / name), workload, store, strategy, objects, sizes, think_s, cap
                )
                shutil.rmtree(base / name, ignore_errors=True)
            else:
                interval = sizes.background_s if strategy == "background" else None
                with emulator_env(emulator, name, interval) as env:
                    result = run_one(env, workload, store, strategy, objects, sizes, think_s, cap)
            results.append(result)
            log(
                f"  {kind:<9}{store:<11}{strategy:<12}{result.per_write_ms:>9.3f} ms/write  "
                f"p99 {result.p99_ms:>8.2f} ms  lost {result.lost_mean_time:>8.1f} "
                f"(max {result.lost_max})"
            )
    return results


# -- mixed reads and writes under each reload policy -------------------------------------


@dataclass
class MixedResult:
    target: str
    policy: str
    reads: int
    writes: int
    read_p50_ms: float
    read_p99_ms: float
    write_p50_ms: float
    write_p99_ms: float
    reloads: int
    stale_reads: int
    other_updates: int
    wall_s: float  # time in container A's calls


def bench_mixed(
    base: Path, emulator: VolumeEmulator, sizes: Sizes, log: Callable[[str], None]
) -> list[MixedResult]:
    """Container A: 90% gets of hot objects, 10% one-object writes (new objects), under
    each reload policy; container B updates a hot object (and commits) every 5
    operations. A stale read returns an older revision than the one committed."""
    policies = {
        "never": volstore.ReloadPolicy.NEVER,
        f"every {sizes.mixed_reload_s:g}s": volstore.ReloadPolicy.every(sizes.mixed_reload_s),
        "always": volstore.ReloadPolicy.ALWAYS,
    }
    seed_objects = make_objects(sizes.mixed_objects, prefix="mixed")
    results = []
    for kind in ("local", "emulator"):
        for label, policy in policies.items():
            name = slug("mixed", kind, label.replace(".", "_"))
            if kind == "local":
                folder = base / name
                fast_write(folder, seed_objects)
                a_env: Env = LocalEnv(folder)
                a_store = a_env.volstore(reload=policy)
                b_store = LocalEnv(folder).volstore()
                result = _mixed_run(kind, label, a_store, b_store, seed_objects, sizes, a_env.clock)
                shutil.rmtree(folder, ignore_errors=True)
            else:
                b_volume = emulator.Volume.from_name(name, create_if_missing=True)
                with b_volume.mount(background_commit_interval=None) as b_mount:
                    fast_write(b_mount.path, seed_objects)
                    b_mount.commit()
                    b_store = volstore.modal.volume_store(
                        b_volume, mount_path=b_mount.path, mode="mounted"
                    )
                    with emulator_env(emulator, name) as a:
                        a_store = a.volstore(reload=policy)
                        result = _mixed_run(
                            kind, label, a_store, b_store, seed_objects, sizes, a.clock
                        )
            results.append(result)
            log(
                f"  {kind:<9}{label:<12} read p50 {result.read_p50_ms:7.3f} ms  "
                f"p99 {result.read_p99_ms:7.3f} ms  stale {result.stale_reads}/{result.reads}"
            )
    return results


def _mixed_run(
    kind: str,
    label: str,
    a_store: volstore.Store,
    b_store: volstore.Store,
    objects: list[Schedule],
    sizes: Sizes,
    clock: Callable[[], float],
) -> MixedResult:
    rng = random.Random(42)
    committed_rev = {(o.user_id, o.id): 0 for o in objects}
    # The traffic centres on a few hot objects: the ones others update are the ones read.
    keys = rng.sample(list(committed_rev), min(HOT_OBJECTS, len(committed_rev)))
    a_repo = a_store.repository(Schedule)
    b_repo = b_store.repository(Schedule)
    reads: list[float] = []
    writes: list[float] = []
    stale = updates = 0
    new_objects = iter(request_objects(sizes.mixed_ops, users=10))
    for op in range(sizes.mixed_ops):
        if op % 5 == 4:  # container B updates one object and commits (not timed)
            key = rng.choice(keys)
            with b_store.session() as s:
                obj = s.get_one(Schedule, *key)
                obj.payload["rev"] = committed_rev[key] + 1
            committed_rev[key] += 1
            updates += 1
        if rng.random() < READ_SHARE:
            key = rng.choice(keys)
            start = clock()
            found = a_repo.get(*key)
            reads.append(clock() - start)
            if found is None or found.payload["rev"] < committed_rev[key]:
                stale += 1
        else:
            start = clock()
            a_repo.put(next(new_objects))
            writes.append(clock() - start)
    del b_repo
    return MixedResult(
        target=kind,
        policy=label,
        reads=len(reads),
        writes=len(writes),
        read_p50_ms=percentile(reads, 50) * 1e3,
        read_p99_ms=percentile(reads, 99) * 1e3,
        write_p50_ms=percentile(writes, 50) * 1e3,
        write_p99_ms=percentile(writes, 99) * 1e3,
        reloads=a_store.stats.reloads,
        stale_reads=stale,
        other_updates=updates,
        wall_s=sum(reads) + sum(writes),
    )


# -- two containers updating different records ---------------------------------------------


@dataclass
class TwoContainerResult:
    store: str
    records: int
    updates: int  # updates made by both containers (each container its own half)
    lost_updates: int  # records whose final committed value is not their owner's last update


def bench_two_containers(emulator: VolumeEmulator, sizes: Sizes) -> list[TwoContainerResult]:
    """Containers A and B mount one volume; each updates its own half of the records and
    commits, in turns, without reloading (the commit refreshes each view). With one
    database file the last commit wins the whole file; with a file per object, each file."""
    objects = make_objects(sizes.two_records, prefix="shared")
    owner = {obj.id: ("A" if i % 2 == 0 else "B") for i, obj in enumerate(objects)}
    results = []
    for store in STORES:
        name = slug("two", store)
        setup = emulator.Volume.from_name(name, create_if_missing=True)
        with setup.mount(background_commit_interval=None) as m:
            env = EmulatorEnv(setup, m)
            if store == "volstore":
                with env.volstore().session() as s:
                    s.add_all(objects)
            else:
                peer = make_peer(store, env)
                peer.write_many(objects)
                peer.close()
            m.commit()
        handles = {c: emulator.Volume.from_name(name) for c in "AB"}
        with (
            handles["A"].mount(background_commit_interval=None) as ma,
            handles["B"].mount(background_commit_interval=None) as mb,
        ):
            envs = {"A": EmulatorEnv(handles["A"], ma), "B": EmulatorEnv(handles["B"], mb)}
            for rnd in range(sizes.two_rounds):
                for c in "AB":
                    mine = [o for o in objects if owner[o.id] == c]
                    _update_records(store, envs[c], mine, f"{c}-round-{rnd}")
                    envs[c].volume_commit()
        final = _final_names(emulator, name, store, objects)
        last = sizes.two_rounds - 1
        lost = sum(1 for o in objects if final.get(o.id) != f"{owner[o.id]}-round-{last}")
        results.append(
            TwoContainerResult(store, len(objects), len(objects) * sizes.two_rounds, lost)
        )
    return results


def _update_records(store: str, env: EmulatorEnv, mine: list[Schedule], value: str) -> None:
    if store == "volstore":
        with env.volstore().session() as s:
            for obj in mine:
                s.get_one(Schedule, obj.user_id, obj.id).name = value
        return
    peer = make_peer(store, env)
    try:
        if isinstance(peer, TinyDBPeer):
            for obj in mine:
                peer.update_name(obj.id, value)
        else:
            updated = []
            for obj in mine:
                current = peer.get(obj.user_id, obj.id)
                assert current is not None
                updated.append(current.model_copy(update={"name": value}))
            peer.write_many(updated)
    finally:
        peer.close()  # a database file left open would block the view refresh


def _final_names(
    emulator: VolumeEmulator, name: str, store: str, objects: list[Schedule]
) -> dict[str, str]:
    """Each record's name in the volume's final committed state (a new container reads it)."""
    reader = emulator.Volume.from_name(name)
    with reader.mount(background_commit_interval=None) as m:
        env = EmulatorEnv(reader, m)
        if store == "volstore":
            repo = env.volstore().repository(Schedule)
            found = [repo.get(o.user_id, o.id) for o in objects]
            names = {o.id: o.name for o in found if o is not None}
        elif store == "TinyDB":
            tiny = TinyDBPeer(m.path / "tinydb" / "db.json")
            names = {doc["id"]: doc["name"] for doc in tiny.all()}
            tiny.close()
        else:
            peer = make_peer(store, env)
            assert isinstance(peer, (SeedFiles, SQLitePeer))
            got = [peer.get(o.user_id, o.id) for o in objects]
            names = {o.id: o.name for o in got if o is not None}
            peer.close()
    return names


# -- the real kill experiment -----------------------------------------------------------------


@dataclass
class KillResult:
    strategy: str
    trials: int
    acked_at_kill: list[int]
    committed_after: list[int]
    lost: list[int]
    estimate_mean_time: float  # the recorder's estimate for the same runs (over time)
    estimate_mean_acks: float  # the same, averaged over acknowledged writes

    @property
    def lost_mean(self) -> float:
        return statistics.fmean(self.lost) if self.lost else 0.0


def bench_kill(
    emulator: VolumeEmulator, sizes: Sizes, log: Callable[[str], None]
) -> list[KillResult]:
    """Request traffic with background commits (and with a commit every N); another thread
    kills the container (``Mount.kill``) at a random moment. Lost: writes acknowledged
    before the kill that are not in the committed state afterwards."""
    rng = random.Random(7)
    results = []
    for strategy in ("background", "every_n"):
        acked_list, committed_list, lost_list = [], [], []
        estimates, ack_estimates = [], []
        for trial in range(sizes.kill_trials):
            objects = request_objects(sizes.requests * 4)
            name = slug("kill", strategy, str(trial))
            interval = sizes.background_s if strategy == "background" else None
            volume = emulator.Volume.from_name(name, create_if_missing=True)
            mount = volume.mount(background_commit_interval=interval)
            mount.__enter__()
            env = EmulatorEnv(volume, mount, modeled=False)  # real kills run on real time
            writer = VolstoreWriter(env.volstore(flush_only=strategy == "background"))
            recorder = Recorder(env.probe if strategy == "background" else None)
            at_kill: list[int] = []
            # Kill somewhere in the middle of the expected run (never before the first commit
            # interval has passed, so every trial exercises the window, not the start-up).
            expected = len(objects) * (sizes.think_s + 0.0002)
            delay = rng.uniform(0.25 * expected, 0.75 * expected)

            def killer(
                delay: float = delay,
                at_kill: list[int] = at_kill,
                recorder: Recorder = recorder,
                mount: Mount = mount,
            ) -> None:
                time.sleep(delay)
                at_kill.append(recorder.acked)
                mount.kill()

            thread = threading.Thread(target=killer)
            thread.start()
            try:
                drive_until_killed(writer, strategy, objects, sizes, recorder, mount)
            finally:
                thread.join()
                mount.__exit__(None, None, None)
            committed = _committed_objects(emulator, name)
            acked = at_kill[0]
            acked_ids = {o.id for o in objects[:acked]}
            lost = len(acked_ids - committed)
            acked_list.append(acked)
            committed_list.append(len(committed))
            lost_list.append(lost)
            _, per_ack, over_time = recorder.window()
            estimates.append(over_time)
            ack_estimates.append(per_ack)
        result = KillResult(
            strategy,
            sizes.kill_trials,
            acked_list,
            committed_list,
            lost_list,
            statistics.fmean(estimates),
            statistics.fmean(ack_estimates),
        )
        results.append(result)
        log(
            f"  {strategy:<11} lost per kill {lost_list} (mean {result.lost_mean:.1f}); estimate "
            f"{result.estimate_mean_acks:.1f} per ack, {result.estimate_mean_time:.1f} over time"
        )
    return results


def drive_until_killed(
    writer: VolstoreWriter,
    strategy: str,
    objects: list[Schedule],
    sizes: Sizes,
    recorder: Recorder,
    mount: Mount,
) -> None:
    """``drive`` for the kill experiment: stops at the first failure once the mount is gone."""
    last_commit = time.monotonic()
    total = len(objects)
    for index, obj in enumerate(objects):
        if not mount.active:
            return
        start = time.perf_counter()
        try:
            writer.add(obj)
            commit = should_commit(strategy, index, total, time.monotonic() - last_commit, sizes)
            if commit:
                writer.commit()
                last_commit = time.monotonic()
        except (OSError, RuntimeError, volstore.VolstoreError):
            return  # the container is gone
        if not mount.active:
            return  # killed during this write: it was never acknowledged
        recorder.ack(time.perf_counter() - start, commit and strategy != "background")
        time.sleep(sizes.think_s)
        recorder.sample()


def _committed_objects(emulator: VolumeEmulator, name: str) -> set[str]:
    volume = emulator.Volume.from_name(name)
    try:
        entries = volume.listdir(RESOURCE_TYPE, recursive=True)
    except Exception:  # nothing was ever committed: no folder
        return set()
    return {
        e.path.rpartition("/")[2][: -len(".json")]
        for e in entries
        if e.path.endswith(".json") and not e.path.rpartition("/")[2].startswith(".")
    }
