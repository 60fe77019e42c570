"""Every runnable example in examples/ runs, and the demo prints what the README promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def run_example(path: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOLSTORE_ROOT": str(tmp_path / "default-root")}
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: Path, tmp_path: Path) -> None:
    result = run_example(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_commits_once_for_the_bulk_write_and_prints_the_tree(tmp_path: Path) -> None:
    result = run_example(ROOT / "examples" / "demo.py", tmp_path, "--root", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert "wrote 21 files with 1 commit" in result.stdout
    assert "daily-02 still there: True" in result.stdout
    assert "InvalidKeyError" in result.stdout
    assert "schedules/" in result.stdout
