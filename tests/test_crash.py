"""Crash safety: SIGKILL a writer at random moments during large flushes, then check every file.

The quick CI version (a few dozen kills); ``scripts/crash_loop.py --kills 500``
runs the same code for hundreds. See tests/_crash.py for what is checked.
Set VOLSTORE_CRASH_SEED to replay other kill delays.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests._crash import CrashDoc, run_kills, scan

SEED = int(os.environ.get("VOLSTORE_CRASH_SEED", "20240229"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL and select() on pipes"),
]


def test_sigkill_during_flushes_to_a_local_folder(tmp_path: Path) -> None:
    stats = run_kills("local", tmp_path, kills=16, seed=SEED, objects=300, max_delay=0.6)
    assert stats.kills == 16
    assert stats.sessions > 0, "the writers finished some sessions between kills"
    assert stats.mid_flush > 0, "some kills landed inside a flush"
    assert len(stats.generations) == 300


def test_sigkill_during_flushes_to_an_emulated_volume_with_background_commits(
    tmp_path: Path,
) -> None:
    stats = run_kills("mounted", tmp_path, kills=8, seed=SEED, objects=200, max_delay=0.8)
    assert stats.kills == 8
    assert stats.sessions > 0
    assert stats.mid_flush > 0
    assert len(stats.generations) == 200


def test_the_scan_catches_a_torn_or_mixed_file(tmp_path: Path) -> None:
    """The checker itself: a torn file and a file mixing two versions are both caught."""
    folder = tmp_path / "crashdocs" / "u"
    folder.mkdir(parents=True)
    good = CrashDoc(id="doc0000", user_id="crash", generation=1, payload="x")
    torn = good.model_dump_json().encode()[:-7]
    (folder / "doc0000.json").write_bytes(torn)
    with pytest.raises(AssertionError, match="does not parse"):
        scan(tmp_path, 1)
    (folder / "doc0000.json").write_text(good.model_dump_json())
    with pytest.raises(AssertionError, match="mix of versions"):
        scan(tmp_path, 1)
