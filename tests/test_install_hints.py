"""Every install line names a clone of the repository (issue 13 item 16).

volstore is not on PyPI yet: ``pip install volstore`` (or ``"volstore[modal]"``)
fails for a new user. The docs, the README and every hint volstore prints say
how to install from a clone, in the README's wording.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import volstore
import volstore.modal
import volstore.s3
from volstore._codec import MSGPACK
from volstore._errors import install_hint

ROOT = Path(__file__).resolve().parents[1]
# pip installing volstore itself (not "pip install pytest", nor "pip install modal, or ...").
PIP_VOLSTORE = re.compile(r"""pip install (?:-e )?["']?[^\s"'`]*volstore[^\s"'`]*""")


def sources() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "src" / "volstore").rglob("*.py")),
    ]


def test_every_install_line_names_a_clone_of_the_repository() -> None:
    lines = [
        (path.relative_to(ROOT).as_posix(), match.group())
        for path in sources()
        for match in PIP_VOLSTORE.finditer(path.read_text())
    ]
    assert lines, "no install line found: the pattern is wrong"
    assert [line for line in lines if "/path/to/volstore" not in line[1]] == []


def test_the_install_hints_volstore_prints_name_a_clone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "pip install '/path/to/volstore[modal]'" in volstore.modal.INSTALL_HINT
    assert "not on PyPI yet" in volstore.modal.INSTALL_HINT
    monkeypatch.setitem(sys.modules, "msgpack", None)  # as if it were not installed
    with pytest.raises(volstore.CodecUnavailableError) as info:
        MSGPACK._msgpack()
    assert "pip install '/path/to/volstore[msgpack]'" in str(info.value)
    assert install_hint("cli").endswith("pip install '/path/to/volstore[cli]')")
    assert "pip install '/path/to/volstore[s3]'" in volstore.s3.INSTALL_HINT
