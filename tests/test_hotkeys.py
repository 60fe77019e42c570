"""No lost updates: writers incrementing hot counters lose nothing they were told was written.

Small sizes here; ``scripts/hotkeys.py`` runs the full sizes (4 and 8 processes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import _hotkeys
from tests._seaweedfs import BUCKET


def _place(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if kind == "s3":  # the session's SeaweedFS server, a fresh prefix
        _hotkeys.use_s3(tmp_path, request.getfixturevalue("seaweedfs"), BUCKET)


@pytest.mark.parametrize("kind", _hotkeys.KINDS)
def test_four_processes_on_three_hot_keys_lose_nothing(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _place(kind, tmp_path, request)
    report = _hotkeys.run(kind, tmp_path, processes=4, keys=3, increments=12)
    print("\n" + report.line())
    assert report.acknowledged == 4 * 12 - report.failed
    assert report.failed == 0, "every increment got through within its retries"
    assert (report.lost, report.phantom) == (0, 0)
    assert report.stored == report.acknowledged
    assert report.conflicts > 0, "the writers did meet each other (the test tests something)"


def test_eight_processes_on_s3_lose_nothing(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # Compare-and-swap by the server itself (If-Match), across processes with clients of their own.
    _place("s3", tmp_path, request)
    report = _hotkeys.run("s3", tmp_path, processes=8, keys=3, increments=6)
    print("\n" + report.line())
    assert report.failed == 0
    assert (report.lost, report.phantom) == (0, 0)
    assert report.stored == report.acknowledged == 8 * 6
    assert report.conflicts > 0


@pytest.mark.parametrize("kind", ["local", "mounted", "s3"])
def test_eight_threads_on_one_store_lose_nothing(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _place(kind, tmp_path, request)
    report = _hotkeys.run_threads(kind, tmp_path, threads=8, keys=3, increments=10)
    print("\n" + report.line())
    assert report.failed == 0
    assert (report.lost, report.phantom) == (0, 0)
    assert report.stored == report.acknowledged == 80


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from tests import _hotkeys
from volstore.backends._claims import Claims

real_acquire = Claims.acquire

def acquire_then_die(self, paths):
    real_acquire(self, paths)  # the claims are taken ...
    os.kill(os.getpid(), signal.SIGKILL)  # ... and the container dies before it commits

Claims.acquire = acquire_then_die
from volstore.modal import volume_claims

with _hotkeys.open_store("mounted", Path(sys.argv[1])) as store:
    # A short lease, so that the test does not wait a minute for the claim to expire.
    store.backend.claims = volume_claims(store.backend.volume, lease=0.5)
    store.repository(_hotkeys.HotCounter).update(
        _hotkeys.USER, "k0", lambda c: setattr(c, "value", 1000)
    )
"""


def test_a_writer_killed_between_claim_and_commit_wedges_nothing(tmp_path: Path) -> None:
    """A container claims "k0", then is SIGKILLed before it commits: its claim stays in the
    Dict. Another writer waits for it, breaks it once it is older than the lease, and its
    increment is written; nothing acknowledged is lost and the dead writer's change is not
    there."""
    import subprocess
    import sys

    from volstore.modal import volume_claims

    with _hotkeys.open_store("mounted", tmp_path) as store:
        store.repository(_hotkeys.HotCounter).put(
            _hotkeys.HotCounter(id="k0", user_id=_hotkeys.USER, value=1)
        )
    root = Path(__file__).resolve().parents[1]
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
        cwd=root,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, "the writer was killed holding its claim"
    with _hotkeys.open_store("mounted", tmp_path) as store:
        backend = store.backend
        volume = backend.volume  # type: ignore[attr-defined]
        backend.claims = volume_claims(volume, lease=0.5, wait=10)  # type: ignore[attr-defined]
        updated = store.repository(_hotkeys.HotCounter).update(
            _hotkeys.USER, "k0", lambda c: setattr(c, "value", c.value + 1)
        )
        assert updated.value == 2
        assert backend.claims.broken == 1  # type: ignore[attr-defined]
    assert _hotkeys.stored_counts("mounted", tmp_path) == {"k0": 2}
