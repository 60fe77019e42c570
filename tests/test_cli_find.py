"""``volstore find``, ``volstore reindex`` and index drift in ``volstore check``.

On a local folder and on a volume of the offline Modal emulator (the remote
backend), with models of this module (``--models tests.test_cli_find``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import AwareDatetime, Field

import volstore
import volstore.modal

typer_testing = pytest.importorskip("typer.testing")

from volstore import cli  # noqa: E402
from volstore.testing import VolumeEmulator  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Chore(volstore.Model, resource_type="chores", indexes=["status", "due"]):
    id: str
    user_id: str
    status: str = "open"
    due: AwareDatetime
    weight: int = 0
    tags: list[str] = Field(default_factory=list)


class Memo(volstore.Model, resource_type="memos"):
    id: str
    user_id: str
    text: str = ""


class Target:
    def __init__(self, args: list[str], store: volstore.Store) -> None:
        self.args = args
        self.store = store

    def run(self, *args: str) -> Any:
        runner = typer_testing.CliRunner()
        return runner.invoke(
            cli.app, [*self.args, "--models", __name__, *args], prog_name="volstore"
        )


@pytest.fixture(params=["local", "emulator"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Target:
    for name in ("VOLSTORE_ROOT", "VOLSTORE_EMULATOR_ROOT", "VOLSTORE_USER_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    if request.param == "local":
        store = volstore.Store(tmp_path / "data")
        args = ["--root", str(tmp_path / "data")]
    else:
        emulator = VolumeEmulator(tmp_path / "emulator")
        volume = emulator.Volume.from_name("data", create_if_missing=True)
        store = volstore.modal.volume_store(volume, mode="remote")
        args = ["--emulator-root", str(tmp_path / "emulator"), "--volume", "data"]
    store.repository(Chore).put_all(
        [
            Chore(
                id=f"c{i}",
                user_id=("ada", "bob")[i % 2],
                status="open" if i % 3 else "done",
                due=T0 + timedelta(days=i),
                weight=i,
                tags=["urgent"] if i in (2, 5) else [],
            )
            for i in range(8)
        ]
    )
    store.repository(Memo).put(Memo(id="m1", user_id="ada"))
    return Target(args, store)


def found(result: Any) -> list[str]:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return [o["id"] for o in json.loads(result.stdout)["objects"]]


def test_find_with_conditions_order_and_scope(target: Target) -> None:
    assert found(target.run("find", "chores", "--where", "status=open", "--json")) == [
        "c1", "c2", "c4", "c5", "c7"
    ]  # fmt: skip
    result = target.run(
        "find", "chores", "-w", "status=open", "-w", "due<2026-01-06", "-o", "-due", "--json"
    )
    assert found(result) == ["c4", "c2", "c1"]
    assert found(target.run("find", "chores", "--user", "bob", "-w", "weight>=3", "--json")) == [
        "c3", "c5", "c7"
    ]  # fmt: skip
    assert found(target.run("find", "chores", "-w", "status in done,late", "--json")) == [
        "c0", "c3", "c6"
    ]  # fmt: skip
    assert found(target.run("find", "chores", "-w", "tags contains urgent", "--json")) == [
        "c2", "c5"
    ]  # fmt: skip


def test_find_pages_with_a_cursor(target: Target) -> None:
    first = target.run("find", "chores", "-o", "weight", "--limit", "3", "--json")
    document = json.loads(first.stdout)
    assert [o["id"] for o in document["objects"]] == ["c0", "c1", "c2"]
    rest = target.run("find", "chores", "-o", "weight", "--cursor", document["cursor"], "--json")
    assert found(rest) == ["c3", "c4", "c5", "c6", "c7"]
    human = target.run("find", "chores", "-o", "weight", "--limit", "2")
    assert human.exit_code == 0
    assert "more: --cursor" in human.stderr
    assert "WEIGHT" in human.stdout


def test_find_says_what_it_read(target: Target) -> None:
    indexed = target.run("find", "chores", "-w", "status=done")
    assert indexed.exit_code == 0
    assert "index status" in indexed.stderr
    assert "read 3 files" in indexed.stderr
    scanned = target.run("find", "memos", "-w", "text=")
    assert "no index serves this query: reading every memos object" in scanned.stderr
    assert "read 1 file" in scanned.stderr
    explained = target.run("find", "chores", "-w", "due>2026-01-03", "--explain")
    assert explained.exit_code == 0
    assert "index due" in explained.stdout


def test_find_errors(target: Target) -> None:
    typo = target.run("find", "chores", "-w", "stauts=open")
    assert typo.exit_code == 2
    assert "did you mean 'status'" in typo.stderr
    bad = target.run("find", "chores", "-w", "weight<heavy")
    assert bad.exit_code == 2
    assert "Chore.weight" in bad.stderr
    garbled = target.run("find", "chores", "-w", "weight")
    assert garbled.exit_code == 2
    assert "FIELD OP VALUE" in garbled.stderr
    cursor = target.run("find", "chores", "--cursor", "nonsense")
    assert cursor.exit_code == 2
    assert "cursor" in cursor.stderr
    nothing = target.run("find", "chores", "-w", "status=late", "--json")
    assert nothing.exit_code == 1
    assert json.loads(nothing.stdout)["objects"] == []


def test_check_reports_drift_and_reindex_repairs_it(target: Target) -> None:
    backend = target.store.backend
    stale = list(backend.walk(".volstore-index/chores/status"))[:2]
    backend.delete_batch(stale)
    checked = target.run("check", "--json")
    assert checked.exit_code == 1
    assert json.loads(checked.stdout)["totals"]["index"] == 2
    repaired = target.run("reindex", "chores", "--json")
    assert repaired.exit_code == 0, repaired.stderr
    assert json.loads(repaired.stdout)["written"] == 2
    assert target.run("check").exit_code == 0
    human = target.run("reindex", "chores")
    assert "8 objects read, 0 entries written, 0 removed" in human.stdout
