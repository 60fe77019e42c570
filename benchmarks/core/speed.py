"""The speed groups: bulk write, get by key, list, and the commit after loading.

Each group runs its variants in interleaved rounds (``measure.run_rounds``)
and records CPU seconds per round; ``derive`` turns them into the per-round
ratios the targets speak of. Every variant checks its own result outside the
timed call (the right files, the right objects), so a fast wrong variant
cannot pass.
"""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import volstore
from benchmarks.core.measure import Results, Summary, Variant, cpu_seconds, run_rounds
from benchmarks.core.workload import (
    OBJECTS_PER_USER,
    Workload,
    atomic_targets,
    check_written,
    dirfd_targets,
    list_hand_written,
    list_users,
    list_users_hand_written,
    make_folders,
    make_workload,
    read_open_validate,
    read_raw_validate,
    read_repo_get,
    user_folder,
    write_atomic_floor,
    write_atomic_floor_dirfd,
    write_hand_written,
    write_minimal_store,
    write_raw_floor,
)
from models import Schedule

# -- 1. bulk write ----------------------------------------------------------------------------


def bench_writes(results: Results, count: int, root: Path, rounds: int) -> None:
    """Every writer of the same new objects, each into a fresh folder per round.

    Each round writes ``count`` objects made for it (new ids, the same 100-object
    users), so no writer gains from having seen the keys in an earlier round;
    they are made, and the floors' bytes serialized, before anything is timed.
    ``write.atomic_floor`` is the baseline. ``write.session`` is timed in two
    parts as well: the adds, and the exit (flush, backend batch, commit).
    ``write.backend_batch`` (the local backend's ``write_batch`` of the
    pre-serialized bytes, making its folders as a session's flush does) and
    ``write.encode`` (the store's encoding of every object, nothing written)
    split the session's time; ``write.atomic_floor_dirfd`` is the floor with
    names relative to one descriptor per folder, as the backend opens them;
    ``write.minimal_store`` is the least a Python store does (see
    ``workload.write_minimal_store``).
    """
    spec = volstore.spec_of(Schedule)
    encode = volstore.Store(volstore.MemoryBackend(), models=[Schedule]).engine.encode
    made: dict[int, Workload] = {}

    def workload_of(number: int) -> Workload:
        if number not in made:
            made.clear()  # one round's objects in memory at a time
            made[number] = make_workload(count)
        return made[number]

    def fresh(name: str, number: int) -> Path:
        target = root / f"{name}-{number}"
        target.mkdir()
        return target

    def finish(target: Path, number: int) -> None:
        check_written(target, workload_of(number))
        shutil.rmtree(target)

    def raw_floor(number: int) -> dict[str, float]:
        workload, target = workload_of(number), fresh("raw", number)
        make_folders(str(target), workload.folders)
        files = [(final, data) for _, final, data in atomic_targets(str(target), workload)]
        seconds = cpu_seconds(lambda: write_raw_floor(files))
        finish(target, number)
        return {"write.raw_floor": seconds}

    def atomic_floor(number: int) -> dict[str, float]:
        workload, target = workload_of(number), fresh("atomic", number)
        make_folders(str(target), workload.folders)
        files = atomic_targets(str(target), workload)
        seconds = cpu_seconds(lambda: write_atomic_floor(files))
        finish(target, number)
        return {"write.atomic_floor": seconds}

    def atomic_floor_dirfd(number: int) -> dict[str, float]:
        workload, target = workload_of(number), fresh("dirfd", number)
        make_folders(str(target), workload.folders)
        groups = dirfd_targets(str(target), workload)
        seconds = cpu_seconds(lambda: write_atomic_floor_dirfd(groups))
        finish(target, number)
        return {"write.atomic_floor_dirfd": seconds}

    def hand_written(number: int) -> dict[str, float]:
        workload, target = workload_of(number), fresh("hand", number)
        seconds = cpu_seconds(lambda: write_hand_written(target, workload.objects))
        finish(target, number)
        return {"write.hand_written": seconds}

    def session(number: int) -> dict[str, float]:
        workload, target = workload_of(number), fresh("session", number)
        store = volstore.Store(target, models=[Schedule])  # a store is made once per app
        objects = workload.objects
        gc.collect()
        start = time.process_time()
        with store.session() as s:
            for obj in objects:
                s.add(obj)
            added = time.process_time()
        end = time.process_time()
        finish(target, number)
        return {
            "write.session": end - start,
            "write.session_adds": added - start,
            "write.session_exit": end - added,
        }

    def backend_batch(number: int) -> dict[str, float]:
        workload, target = workload_of(number), fresh("backend", number)
        backend = volstore.LocalBackend(target)
        files = dict(zip(workload.relative_paths, workload.payloads, strict=True))
        seconds = cpu_seconds(lambda: backend.write_batch(files))
        finish(target, number)
        return {"write.backend_batch": seconds}

    def minimal_store(number: int) -> dict[str, float]:
        workload, target = workload_of(number), fresh("minimal", number)
        root_path, objects = str(target), workload.objects
        seconds = cpu_seconds(lambda: write_minimal_store(root_path, objects, spec.encode))
        finish(target, number)
        return {"write.minimal_store": seconds}

    def encode_only(number: int) -> dict[str, float]:
        objects = workload_of(number).objects
        return {"write.encode": cpu_seconds(lambda: [encode(spec, obj) for obj in objects])}

    variants: list[tuple[str, Variant]] = [
        ("atomic_floor", atomic_floor),
        ("raw_floor", raw_floor),
        ("atomic_floor_dirfd", atomic_floor_dirfd),
        ("session", session),
        ("backend_batch", backend_batch),
        ("encode", encode_only),
        ("minimal_store", minimal_store),
        ("hand_written", hand_written),
    ]
    run_rounds(results, variants, rounds, count)


# -- 2. get by key ----------------------------------------------------------------------------


def unseen_sets(
    others: list[tuple[str, list[str]]], users: int, rounds: int
) -> tuple[list[list[tuple[str, str]]], list[list[str]]]:
    """Disjoint keys (for gets) and users (for lists) per round, none read before.

    Taken from the big store's other users, ``users`` users per round for each.
    Raises ValueError when the big store is too small for them.
    """
    needed = 2 * users * rounds
    if len(others) < needed:
        raise ValueError(f"the big store has {len(others)} other users; {needed} needed")
    gets = [
        [
            (user, object_id)
            for user, ids in others[r * users : (r + 1) * users]
            for object_id in ids
        ]
        for r in range(rounds)
    ]
    base = users * rounds
    lists = [
        [user for user, _ in others[base + r * users : base + (r + 1) * users]]
        for r in range(rounds)
    ]
    return gets, lists


def bench_gets(
    results: Results,
    workload: Workload,
    store_root: Path,
    big_root: Path,
    unseen: list[list[tuple[str, str]]],
    rounds: int,
) -> None:
    """``repo.get`` of every object against the hand-written readers, interleaved.

    Twice: the workload's keys, read again every round (the keys, the user
    folders and their checks are remembered by the process after the first
    read), and keys this process has never read (a new set each round, from
    the big store), each against the raw reader of the same files.
    """
    paths = [f"{store_root}/{path}" for path in workload.relative_paths]
    keys = workload.keys
    repo = volstore.Store(store_root).repository(Schedule)
    big = volstore.Store(big_root).repository(Schedule)
    for reader, found in (
        ("repo.get", read_repo_get(repo, keys)),
        ("the raw reader", read_raw_validate(paths)),
        ("the open() reader", read_open_validate(paths)),
    ):
        if found != workload.objects:
            raise AssertionError(f"{reader} did not return the objects written")

    def unseen_paths(number: int) -> list[str]:
        return [f"{big_root}/{user_folder(user)}/{oid}.json" for user, oid in unseen[number]]

    def raw_unseen(number: int) -> dict[str, float]:
        files = unseen_paths(number)
        return {"get.raw_read_validate_unseen": cpu_seconds(lambda: read_raw_validate(files))}

    def repo_unseen(number: int) -> dict[str, float]:
        found: list[Any] = []
        seconds = cpu_seconds(lambda: found.extend(read_repo_get(big, unseen[number])))
        if len(found) != len(unseen[number]) or any(obj is None for obj in found):
            raise AssertionError("repo.get did not find every key of the big store")
        return {"get.repo_get_unseen": seconds}

    variants: list[tuple[str, Variant]] = [
        (
            "raw",
            lambda _n: {"get.raw_read_validate": cpu_seconds(lambda: read_raw_validate(paths))},
        ),
        (
            "open",
            lambda _n: {"get.open_read_validate": cpu_seconds(lambda: read_open_validate(paths))},
        ),
        ("repo", lambda _n: {"get.repo_get": cpu_seconds(lambda: read_repo_get(repo, keys))}),
        ("raw_unseen", raw_unseen),
        ("repo_unseen", repo_unseen),
    ]
    run_rounds(results, variants, rounds, len(keys))
    for name in ("get.raw_read_validate_unseen", "get.repo_get_unseen"):
        results.operations[name] = len(unseen[0])


# -- 3. list ----------------------------------------------------------------------------------


def bench_lists(
    results: Results,
    workload: Workload,
    small_root: Path,
    big_root: Path,
    unseen: list[list[str]],
    rounds: int,
) -> None:
    """``repo.list`` of each user against the hand-written listing; small store against big.

    The workload's users are listed every round, on the small and on the big
    store (the spread); users this process has never listed (new ones each
    round, from the big store) are listed by ``repo.list`` and by hand.
    """
    users = workload.users
    small = volstore.Store(small_root).repository(Schedule)
    big = volstore.Store(big_root).repository(Schedule)
    first = sorted(workload.objects[:OBJECTS_PER_USER], key=lambda obj: obj.id)
    for label, found in (
        ("repo.list (small store)", small.list(users[0])),
        ("repo.list (big store)", big.list(users[0])),
        ("the hand-written listing", list_hand_written(str(small_root), users[0])),
    ):
        if found != first:
            raise AssertionError(f"{label} did not return the user's objects in id order")
    expected = len(users) * OBJECTS_PER_USER
    for repo in (small, big):
        if list_users(repo, users) != expected:
            raise AssertionError("listing did not find every user's objects")

    def timed(name: str, run: Callable[[], int]) -> Variant:
        return lambda _n: {name: cpu_seconds(run)}

    def counted(name: str, run: Callable[[list[str]], int]) -> Variant:
        def variant(number: int) -> dict[str, float]:
            found: list[int] = []
            seconds = cpu_seconds(lambda: found.append(run(unseen[number])))
            if found != [len(unseen[number]) * OBJECTS_PER_USER]:
                raise AssertionError(f"{name} did not find every object of its users")
            return {name: seconds}

        return variant

    big_str = str(big_root)
    variants: list[tuple[str, Variant]] = [
        (
            "hand",
            timed("list.hand_written", lambda: list_users_hand_written(str(small_root), users)),
        ),
        ("small", timed("list.small_store", lambda: list_users(small, users))),
        ("big", timed("list.big_store", lambda: list_users(big, users))),
        (
            "hand_unseen",
            counted("list.hand_written_unseen", lambda u: list_users_hand_written(big_str, u)),
        ),
        ("repo_unseen", counted("list.repo_list_unseen", lambda u: list_users(big, u))),
    ]
    run_rounds(results, variants, rounds, len(users))
    for name in ("list.hand_written_unseen", "list.repo_list_unseen"):
        results.operations[name] = len(unseen[0])


# -- 4. the commit of a session that loaded objects -------------------------------------------


def bench_commit_after_load(
    results: Results, workload: Workload, store_root: Path, rounds: int
) -> None:
    """The commit of a session that loaded every object (by get, or by list) and changed none.

    Only ``session.commit()`` is timed; the loading is not. The unit is
    ``commit.encode``: the store's encoding of the same objects (what a write
    of them would pay to encode). For context, a session that loaded every
    object and changed 1% of them, against a session that only adds that 1%.
    """
    store = volstore.Store(store_root, models=[Schedule])
    spec = store.register(Schedule)
    encode = store.engine.encode
    keys = workload.keys
    count = len(keys)
    step = 100  # every 100th object: 1%

    def loaded_by_get(_number: int) -> dict[str, float]:
        with store.session() as s:
            repo = s.repository(Schedule)
            loaded = [repo.get(user, object_id) for user, object_id in keys]
            seconds = cpu_seconds(s.commit)
            if len(loaded) != count or s.stats.writes or s.stats.commits:
                raise AssertionError("a session that changed nothing wrote or committed")
        return {"commit.loaded_by_get": seconds}

    def loaded_by_list(_number: int) -> dict[str, float]:
        with store.session() as s:
            repo = s.repository(Schedule)
            loaded = sum(len(repo.list(user)) for user in workload.users)
            seconds = cpu_seconds(s.commit)
            if loaded != count or s.stats.writes or s.stats.commits:
                raise AssertionError("a session that changed nothing wrote or committed")
        return {"commit.loaded_by_list": seconds}

    def encode_loaded(_number: int) -> dict[str, float]:
        return {
            "commit.encode": cpu_seconds(lambda: [encode(spec, obj) for obj in workload.objects])
        }

    def changed_one_percent(number: int) -> dict[str, float]:
        with store.session() as s:
            repo = s.repository(Schedule)
            loaded = [repo.get(user, object_id) for user, object_id in keys]
            for obj in loaded[::step]:
                assert obj is not None
                obj.name = f"renamed in round {number}"
            seconds = cpu_seconds(s.commit)
            if s.stats.writes != len(loaded[::step]):
                raise AssertionError(f"1% changed, {s.stats.writes} written")
        return {"commit.loaded_changed_1pct": seconds}

    def writes_only(number: int) -> dict[str, float]:
        changed = [
            obj.model_copy(update={"name": f"written in round {number}"})
            for obj in workload.objects[::step]
        ]
        with store.session() as s:
            for obj in changed:
                s.add(obj)
            seconds = cpu_seconds(s.commit)
            if s.stats.writes != len(changed):
                raise AssertionError("the 1% session did not write its objects")
        return {"commit.writes_only_1pct": seconds}

    variants: list[tuple[str, Variant]] = [
        ("encode", encode_loaded),
        ("get", loaded_by_get),
        ("list", loaded_by_list),
        ("changed", changed_one_percent),
        ("writes_only", writes_only),
    ]
    run_rounds(results, variants, rounds, count)
    results.operations["commit.writes_only_1pct"] = len(workload.objects[::step])
    results.operations["commit.loaded_changed_1pct"] = count


# -- the ratios -------------------------------------------------------------------------------


def derive(results: Results) -> None:
    """The per-round ratios of the speed groups (the targets' and context)."""
    ratio = results.ratio
    ratio("write.session/atomic_floor", "write.session", "write.atomic_floor")
    ratio("write.session/atomic_floor_dirfd", "write.session", "write.atomic_floor_dirfd")
    ratio("write.minimal_store/atomic_floor", "write.minimal_store", "write.atomic_floor")
    ratio("write.session/minimal_store", "write.session", "write.minimal_store")
    ratio("write.backend_batch/atomic_floor", "write.backend_batch", "write.atomic_floor")
    ratio("write.atomic_floor_dirfd/atomic_floor", "write.atomic_floor_dirfd", "write.atomic_floor")
    ratio("write.raw_floor/atomic_floor", "write.raw_floor", "write.atomic_floor")
    ratio("write.hand_written/session", "write.hand_written", "write.session")
    ratio("get.repo_get/raw_read_validate", "get.repo_get", "get.raw_read_validate")
    ratio("get.repo_get/open_read_validate", "get.repo_get", "get.open_read_validate")
    ratio(
        "get.repo_get_unseen/raw_read_validate_unseen",
        "get.repo_get_unseen",
        "get.raw_read_validate_unseen",
    )
    ratio("list.small_store/hand_written", "list.small_store", "list.hand_written")
    ratio("list.big_store/hand_written", "list.big_store", "list.hand_written")
    results.spread("list.spread", "list.small_store", "list.big_store")
    ratio(
        "list.repo_list_unseen/hand_written_unseen",
        "list.repo_list_unseen",
        "list.hand_written_unseen",
    )
    ratio("commit.loaded_by_get/encode", "commit.loaded_by_get", "commit.encode")
    ratio("commit.loaded_by_list/encode", "commit.loaded_by_list", "commit.encode")
    ratio(
        "commit.loaded_changed_1pct/writes_only_1pct",
        "commit.loaded_changed_1pct",
        "commit.writes_only_1pct",
    )


def write_split(results: Results) -> dict[str, dict[str, float]]:
    """Microseconds per object of a session write, split, as the median over rounds.

    Per round: the backend's batch over the atomic floor, encoding, the
    session's work in ``add``, and the rest of the exit (the flush's own
    bookkeeping: exit minus backend batch minus encoding). Each part is
    computed round by round, then summarised.
    """
    count = results.operations["write.session"]
    rows = results.per_round(
        "write.session",
        "write.session_adds",
        "write.session_exit",
        "write.backend_batch",
        "write.encode",
        "write.atomic_floor",
        "write.atomic_floor_dirfd",
        "write.minimal_store",
    )
    parts: dict[str, list[float]] = {
        "session": [],
        "atomic_floor": [],
        "atomic_floor_dirfd": [],
        "minimal_store": [],
        "session_over_minimal_store": [],
        "backend_batch": [],
        "backend_batch_over_atomic_floor": [],
        "backend_batch_over_dirfd_floor": [],
        "encode": [],
        "adds": [],
        "exit": [],
        "flush_bookkeeping": [],
        "bookkeeping": [],
    }
    for session, adds, exit_, backend, encode, floor, dirfd, minimal in rows:
        values = {
            "session": session,
            "atomic_floor": floor,
            "atomic_floor_dirfd": dirfd,
            "minimal_store": minimal,
            "session_over_minimal_store": session - minimal,
            "backend_batch": backend,
            "backend_batch_over_atomic_floor": backend - floor,
            "backend_batch_over_dirfd_floor": backend - dirfd,
            "encode": encode,
            "adds": adds,
            "exit": exit_,
            "flush_bookkeeping": exit_ - backend - encode,
            "bookkeeping": session - backend - encode,
        }
        for name, seconds in values.items():
            parts[name].append(seconds / count * 1e6)
    return {name: Summary.of(values).as_dict() for name, values in parts.items()}
