"""The emulated ``modal.Dict``: modal's methods and their atomicity across processes.

Sources: modal-volumes.md, "Coordination across containers" ("modal.Dict.put(key,
value, *, skip_if_exists=False) -> bool is a server-side put-if-absent: with
skip_if_exists=True exactly one of several racing writers gets True. Dict.pop is
atomic ... Values are pickled") and modal/dict.py (method by method).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from volstore.testing import EmulatedDict, VolumeEmulator, errors

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def d(emulator: VolumeEmulator) -> EmulatedDict:
    return emulator.Dict.from_name("d", create_if_missing=True).hydrate()


def test_put_get_and_friends(d: EmulatedDict) -> None:
    """modal/dict.py: put returns True unless skipped; get returns default when absent;
    contains / __contains__; len; __getitem__ raises KeyError "<key> not in dict <id>"."""
    assert d.put("a", 1) is True
    assert d.put("a", 2) is True  # overwritten
    assert d.put("a", 3, skip_if_exists=True) is False
    assert d.get("a") == 2
    assert d.get("missing") is None
    assert d.get("missing", "fallback") == "fallback"
    assert d.contains("a")
    assert "a" in d
    assert "missing" not in d
    d["b"] = {"nested": [1, 2]}
    assert d["b"] == {"nested": [1, 2]}
    assert d.len() == 2
    with pytest.raises(KeyError, match=rf"missing not in dict {d.object_id}"):
        d["missing"]


def test_pop_and_delitem(d: EmulatedDict) -> None:
    """modal/dict.py ``pop``: "If key is not found, return default if provided,
    otherwise raise KeyError"; ``__delitem__`` returns the popped value."""
    d.update({"a": 1, "b": 2})
    assert d.pop("a") == 1
    assert d.pop("a", None) is None
    with pytest.raises(KeyError):
        d.pop("a")
    assert d.__delitem__("b") == 2
    with pytest.raises(KeyError):
        del d["b"]


def test_update_clear_and_iteration(d: EmulatedDict) -> None:
    """modal/dict.py ``update`` follows dict.update (a mapping and keywords); keys,
    values and items are one-pass, unordered iterators."""
    d.update({"a": 1}, b=2, c=3)
    d.update(c=4)
    assert sorted(d.keys()) == ["a", "b", "c"]
    assert sorted(d.values()) == [1, 2, 4]
    assert sorted(d.items()) == [("a", 1), ("b", 2), ("c", 4)]
    d.clear()
    assert d.len() == 0
    assert list(d.items()) == []


def test_values_are_pickled_copies_and_keys_are_compared_serialized(d: EmulatedDict) -> None:
    """modal-volumes.md: "Values are pickled": a value read back is a copy; keys are
    compared by their serialized form, so 1 and "1" are different keys."""
    value = {"list": [1]}
    d["k"] = value
    value["list"].append(2)
    got = d["k"]
    assert got == {"list": [1]}
    got["list"].append(3)
    assert d["k"] == {"list": [1]}
    d[1] = "int"
    d["1"] = "str"
    d[(1, "a")] = "tuple"
    assert (d[1], d["1"], d[(1, "a")]) == ("int", "str", "tuple")


def test_unpicklable_values_raise_serialization_error(d: EmulatedDict) -> None:
    with pytest.raises(errors.SerializationError, match="could not serialize"):
        d["k"] = threading.Lock()
    assert "k" not in d


def test_from_name_ephemeral_from_id_and_info(emulator: VolumeEmulator) -> None:
    """modal/dict.py: from_name is lazy (NotFoundError on use without
    create_if_missing), environments are separate, ephemeral dicts vanish after their
    block, from_id finds a dict by id, the constructor is refused."""
    missing = emulator.Dict.from_name("nope")
    with pytest.raises(errors.NotFoundError):
        missing.get("k")
    with pytest.raises(errors.InvalidError, match="Invalid Dict name"):
        emulator.Dict.from_name("no spaces")
    main = emulator.Dict.from_name("x", create_if_missing=True)
    dev = emulator.Dict.from_name("x", environment_name="dev", create_if_missing=True)
    main["k"] = "main"
    assert "k" not in dev
    assert emulator.Dict.from_id(main.hydrate().object_id)["k"] == "main"
    assert main.info().name == "x"
    with emulator.Dict.ephemeral() as eph:
        assert eph.name is None
        eph["k"] = 1
        object_id = eph.object_id
        assert emulator.Dict.from_id(object_id)["k"] == 1
    with pytest.raises(errors.NotFoundError):
        emulator.Dict.from_id(object_id).get("k")


def test_threads_racing_put_if_absent_have_one_winner_per_key(d: EmulatedDict) -> None:
    keys, threads = 20, 8
    wins: list[list[str]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def claim(me: int) -> None:
        handle = d._emulator.Dict.from_name("d")
        barrier.wait()
        for key in range(keys):
            if handle.put(f"k{key}", me, skip_if_exists=True):
                wins[me].append(f"k{key}")

    workers = [threading.Thread(target=claim, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    winners = [key for won in wins for key in won]
    assert sorted(winners) == sorted(f"k{key}" for key in range(keys))
    for me, won in enumerate(wins):
        for key in won:
            assert d[key] == me


_RACER = textwrap.dedent(
    """
    import os, sys, time
    from volstore.testing import VolumeEmulator
    root, me, keys, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    d = VolumeEmulator(root).Dict.from_name("race", create_if_missing=True)
    while not os.path.exists(start):
        time.sleep(0.001)
    won = [k for k in range(keys) if d.put(f"k{k}", me, skip_if_exists=True)]
    popped = [k for k in range(keys) if d.pop(f"q{k}", None) is not None]
    print(" ".join(map(str, won)) + "|" + " ".join(map(str, popped)))
    """
)


def test_processes_racing_put_if_absent_have_exactly_one_winner_per_key(
    emulator: VolumeEmulator, tmp_path: Path
) -> None:
    """modal-volumes.md: "with skip_if_exists=True exactly one of several racing writers
    gets True"; "Dict.pop is atomic": each value is popped by exactly one process."""
    processes, keys = 6, 40
    queue = emulator.Dict.from_name("race", create_if_missing=True)
    queue.update({f"q{k}": k for k in range(keys)})
    start = tmp_path / "start"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(emulator.root), str(i), str(keys), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i in range(processes)
    ]
    start.touch()
    won: dict[int, list[int]] = {}
    popped: list[int] = []
    for i, child in enumerate(children):
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        claims, _, pops = out.strip().partition("|")
        won[i] = [int(k) for k in claims.split()]
        popped += [int(k) for k in pops.split()]
    assert sorted(k for ks in won.values() for k in ks) == list(range(keys))
    for i, ks in won.items():
        for k in ks:
            assert queue[f"k{k}"] == i
    assert sorted(popped) == list(range(keys))
    assert queue.len() == keys
