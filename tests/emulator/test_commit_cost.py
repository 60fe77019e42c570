"""The emulator's optional commit cost model sleeps the amounts it documents.

No test here measures time: ``CommitCost.sleep`` is replaced by a recorder and
the tests check the amounts it was asked to sleep.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from volstore.testing._emulator import CommitCost, EmulatedVolume, Mount, VolumeEmulator

LATENCY = 0.05
PER_MB = 0.02


class Recorder:
    """Stands in for ``time.sleep``: keeps every amount, sleeps none."""

    def __init__(self) -> None:
        self.amounts: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.amounts.append(seconds)


@pytest.fixture
def slept() -> Recorder:
    return Recorder()


@pytest.fixture
def costly(tmp_path: Path, slept: Recorder) -> VolumeEmulator:
    """An emulator whose commits cost 50 ms plus 20 ms per MB, recorded instead of slept."""
    cost = CommitCost(latency_s=LATENCY, per_mb_s=PER_MB, sleep=slept)
    return VolumeEmulator(tmp_path / "emulator", commit_cost=cost)


def mount(volume: EmulatedVolume) -> Mount:
    return volume.mount(background_commit_interval=None)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition``; the bound only keeps a broken build from hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.005)


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(b"x" * size)
    os.replace(tmp, path)


def test_defaults_are_the_documented_assumptions() -> None:
    cost = CommitCost()
    assert (cost.latency_s, cost.per_mb_s) == (0.050, 0.020)
    assert cost.seconds(2_000_000) == pytest.approx(0.050 + 0.040)
    assert cost.seconds(500_000, round_trip=False) == pytest.approx(0.010)


def test_negative_costs_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        CommitCost(latency_s=-1)
    with pytest.raises(ValueError, match=">= 0"):
        CommitCost(per_mb_s=-0.1)


def test_no_cost_model_by_default(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emulator")
    assert emulator.commit_cost is None
    volume = emulator.Volume.from_name("vol", create_if_missing=True)
    with mount(volume) as m:
        write(m.path / "a.bin", 1000)
        m.commit()
        m.reload()
        assert m.counters.simulated_seconds == 0
        assert m.counters.bytes_published == 1000


def test_commit_sleeps_latency_plus_bytes_published(
    costly: VolumeEmulator, slept: Recorder
) -> None:
    volume = costly.Volume.from_name("vol", create_if_missing=True)
    with mount(volume) as m:
        write(m.path / "a.bin", 300_000)
        write(m.path / "sub" / "b.bin", 200_000)
        m.commit()
        assert slept.amounts == [pytest.approx(LATENCY + PER_MB * 0.5)]
        assert m.counters.bytes_published == 500_000
        assert m.counters.simulated_seconds == pytest.approx(LATENCY + PER_MB * 0.5)


def test_commit_with_nothing_to_publish_still_costs_a_round_trip(
    costly: VolumeEmulator, slept: Recorder
) -> None:
    volume = costly.Volume.from_name("vol", create_if_missing=True)
    with mount(volume) as m:
        m.commit()
        m.commit()
    assert slept.amounts == [pytest.approx(LATENCY), pytest.approx(LATENCY)]


def test_reload_sleeps_latency_plus_bytes_fetched(costly: VolumeEmulator, slept: Recorder) -> None:
    writer = costly.Volume.from_name("vol", create_if_missing=True)
    reader = costly.Volume.from_name("vol")
    with mount(writer) as w, mount(reader) as r:
        write(w.path / "big.bin", 2_000_000)
        w.commit()
        slept.amounts.clear()
        r.reload()
        assert slept.amounts == [pytest.approx(LATENCY), pytest.approx(PER_MB * 2)]
        assert r.counters.bytes_fetched == 2_000_000
        slept.amounts.clear()
        r.reload()  # nothing new: the round trip alone
        assert slept.amounts == [pytest.approx(LATENCY)]


def test_reload_that_commits_first_pays_for_the_upload(
    costly: VolumeEmulator, slept: Recorder
) -> None:
    volume = costly.Volume.from_name("vol", create_if_missing=True)
    with mount(volume) as m:
        write(m.path / "a.bin", 1_000_000)
        m.reload()  # reload_commits: publishes a.bin first, one round trip
        assert slept.amounts == [pytest.approx(LATENCY + PER_MB)]


def test_reload_without_commit_pays_the_round_trip(costly: VolumeEmulator, slept: Recorder) -> None:
    volume = costly.Volume.from_name("vol", create_if_missing=True)
    with volume.mount(background_commit_interval=None, reload_commits=False) as m:
        write(m.path / "a.bin", 1_000_000)
        m.reload()  # the local change stays pending: nothing uploaded
        assert slept.amounts == [pytest.approx(LATENCY)]
    # The change was not discarded: the commit at exit uploads it.
    assert slept.amounts == [pytest.approx(LATENCY), pytest.approx(LATENCY + PER_MB)]


def test_exit_commit_costs_only_when_something_is_published(
    costly: VolumeEmulator, slept: Recorder
) -> None:
    volume = costly.Volume.from_name("vol", create_if_missing=True)
    with mount(volume):
        pass
    assert slept.amounts == []
    with mount(volume) as m:
        write(m.path / "a.bin", 100_000)
    assert slept.amounts == [pytest.approx(LATENCY + PER_MB * 0.1)]


def test_background_commit_costs_only_when_something_is_published(
    costly: VolumeEmulator, slept: Recorder
) -> None:
    volume = costly.Volume.from_name("vol", create_if_missing=True)
    with volume.mount(background_commit_interval=0.01) as m:
        wait_until(lambda: m.counters.background_commits >= 3)
        assert slept.amounts == []  # passes that found nothing to publish
        write(m.path / "a.bin", 250_000)
        wait_until(lambda: m.counters.files_published == 1)
        wait_until(lambda: m.counters.background_commits >= 6)
        assert slept.amounts == [pytest.approx(LATENCY + PER_MB * 0.25)]
        m.kill()


def test_mounting_is_free(costly: VolumeEmulator, slept: Recorder) -> None:
    writer = costly.Volume.from_name("vol", create_if_missing=True)
    with mount(writer) as w:
        write(w.path / "a.bin", 1_000_000)
        w.commit()
    slept.amounts.clear()
    with mount(costly.Volume.from_name("vol")) as r:
        assert (r.path / "a.bin").stat().st_size == 1_000_000
        assert r.counters.bytes_fetched == 1_000_000
    assert slept.amounts == []


def test_cost_can_be_changed_on_a_live_emulator(costly: VolumeEmulator, slept: Recorder) -> None:
    volume = costly.Volume.from_name("vol", create_if_missing=True)
    with mount(volume) as m:
        costly.commit_cost = None
        m.commit()
        assert slept.amounts == []
        costly.commit_cost = CommitCost(latency_s=1.0, per_mb_s=0.0, sleep=slept)
        m.commit()
        assert slept.amounts == [1.0]
