"""Every ```python block in docs/ and README.md runs, in order, one namespace per page.

Blocks fenced as ```py are shown but not run (Modal-only code, say).
Each page runs in a fresh temporary folder as its working directory.
"""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python[ \t]*\n(?P<code>.*?)^```", re.M | re.S)


def blocks(page: Path) -> list[str]:
    return [m["code"] for m in BLOCK.finditer(page.read_text())]


# Pages with nothing to run (the benchmark figures, say) are left out rather
# than reported as skipped.
PAGES = [p for p in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"] if blocks(p)]


def test_most_pages_show_runnable_code() -> None:
    assert len(PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_code_in_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = blocks(page)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOLSTORE_ROOT", str(tmp_path / "volstore-data"))
    # The pages describe the emulator's defaults (commit never refreshes the view).
    monkeypatch.delenv("VOLSTORE_EMULATOR_COMMIT_REFRESHES", raising=False)
    # A real module, so that annotations resolve as they would in a user's file.
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for number, source in enumerate(code, 1):
        compiled = compile(source, f"{page.name} block {number}", "exec", dont_inherit=True)
        exec(compiled, module.__dict__)
    assert os.getcwd() == str(tmp_path)
