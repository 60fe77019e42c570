"""Hot keys on a real S3-compatible server: 8 processes, read-modify-write, 0 acknowledged lost.

The full-size run is ``python scripts/s3_hot_keys.py`` (see docs/s3.md); this
runs the same script, smaller, against the session's SeaweedFS server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests._seaweedfs import BUCKET
from volstore.testing.seaweedfs import SeaweedFS

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "s3_hot_keys.py"


def test_eight_processes_on_three_hot_keys_lose_no_acknowledged_increment(
    seaweedfs: SeaweedFS,
) -> None:
    env = {**os.environ, **seaweedfs.environ()}
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--processes", "8",
            "--keys", "3",
            "--increments", "6",
            "--endpoint-url", seaweedfs.endpoint_url,
            "--bucket", BUCKET,
            "--timeout", "300",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout, result.stderr)
    summary = json.loads(result.stdout)
    assert summary["errors"] == []
    assert summary["acknowledged"] == 8 * 6  # every increment committed in the end
    assert summary["stored"] == summary["acknowledged"]
    assert (summary["lost"], summary["phantom"]) == (0, 0)
    assert summary["versions_match_counts"]
    for counts in summary["per_key"].values():
        assert counts["stored"] == counts["acknowledged"] == 16
