"""The ``volstore`` command line through typer's test runner: a folder, the emulator, S3.

Every command runs against three targets: a local folder (``--root``), a
volume of the offline Modal emulator (``--emulator-root`` + ``--volume``, the
remote backend) and a prefix of a bucket on a real S3-compatible server
(``--s3`` + ``--endpoint-url``, credentials from the environment as AWS users
give them; SeaweedFS, see tests/_seaweedfs.py). Data is seeded through the library.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import types
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

typer_testing = pytest.importorskip("typer.testing")

import volstore  # noqa: E402
import volstore.modal  # noqa: E402
from models import Event, Profile, Schedule  # noqa: E402
from tests._seaweedfs import fresh_url  # noqa: E402
from volstore import cli  # noqa: E402
from volstore.testing import VolumeEmulator  # noqa: E402
from volstore.testing.seaweedfs import SeaweedFS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime.now(timezone.utc)


class NoteV1(volstore.Model, resource_type="notes"):
    """The first schema of notes (what older code wrote)."""

    id: str = volstore.id_field()
    user_id: str
    text: str


def _upgrade_note(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "title": document["text"][:10]}


class NoteV2(
    volstore.Model, resource_type="notes", schema_version=2, migrations={1: _upgrade_note}
):
    """The current schema of notes: a title was added."""

    id: str = volstore.id_field()
    user_id: str
    text: str
    title: str


@dataclass
class Target:
    """Where the commands run: the global options that name the store, and the store itself."""

    kind: str
    args: list[str]
    store: volstore.Store
    tmp: Path

    def run(self, *args: str, input: str | None = None) -> Any:
        return invoke(*self.args, "--models", "models", *args, input=input)


def invoke(*args: str, input: str | None = None) -> Any:
    runner = typer_testing.CliRunner()
    return runner.invoke(cli.app, list(args), input=input, prog_name="volstore")


def seed(store: volstore.Store) -> None:
    with store.session() as s:
        for user in ("ada", "bob"):
            for i in range(3):
                s.add(
                    Schedule(
                        id=f"s{i}",
                        user_id=user,
                        name=f"job {i}",
                        cron="0 * * * *",
                        payload={"n": i, "tags": ["a", "b"]},
                    )
                )
        s.add(Schedule(id="big", user_id="bob", name="x" * 500, cron="* * * * *"))
        s.add(Event(id="recent", user_id="ada", kind="login", timestamp=NOW))
        s.add(Event(id="old", user_id="ada", kind="login", timestamp=NOW - timedelta(days=40)))


@pytest.fixture(params=["local", "emulator", "s3"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Target:
    monkeypatch.delenv("VOLSTORE_ROOT", raising=False)
    monkeypatch.delenv("VOLSTORE_EMULATOR_ROOT", raising=False)
    monkeypatch.delenv("VOLSTORE_USER_HASH_KEY", raising=False)
    monkeypatch.delenv("VOLSTORE_MODELS", raising=False)
    monkeypatch.chdir(tmp_path)  # no pyproject.toml up from here names models
    if request.param == "local":
        root = tmp_path / "data"
        store = volstore.Store(root)
        args = ["--root", str(root)]
    elif request.param == "emulator":
        emulator = VolumeEmulator(tmp_path / "emulator")
        volume = emulator.Volume.from_name("data", create_if_missing=True)
        store = volstore.modal.volume_store(volume, mode="remote")
        args = ["--emulator-root", str(tmp_path / "emulator"), "--volume", "data"]
    else:
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        for name, value in server.environ().items():
            if name != "AWS_ENDPOINT_URL":  # given on the command line instead
                monkeypatch.setenv(name, value)
        url = fresh_url()
        store = server.store(url)
        args = ["--s3", url, "--endpoint-url", server.endpoint_url]
    seed(store)
    return Target(request.param, args, store, tmp_path)


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


# -- ls ------------------------------------------------------------------------------------------


def test_ls_lists_types_with_counts(target: Target) -> None:
    document = as_json(target.run("ls", "--json"))
    counts = {row["type"]: row["objects"] for row in document["types"]}
    assert counts["schedules"] == 7
    assert counts["events"] == 2
    assert counts["results"] == 0  # registered, nothing stored
    events = next(row for row in document["types"] if row["type"] == "events")
    assert events["bucketed"] is True
    assert events["model"] == "models.events.Event"

    human = target.run("ls")
    assert human.exit_code == 0
    assert "schedules" in human.stdout
    assert "(time-bucketed)" in human.stdout


def test_ls_global_json_flag_before_the_command(target: Target) -> None:
    document = as_json(invoke(*target.args, "--json", "--models", "models", "ls"))
    assert {row["type"] for row in document["types"]} >= {"schedules", "events"}


def test_ls_type_lists_user_folders(target: Target) -> None:
    document = as_json(target.run("ls", "schedules", "--json"))
    folders = {row["user_folder"]: row["objects"] for row in document["users"]}
    assert folders == {target.store.hasher("ada"): 3, target.store.hasher("bob"): 4}

    # A model's class name works as well as its resource type.
    assert as_json(target.run("ls", "Schedule", "--json")) == document

    events = as_json(target.run("ls", "events", "--json"))
    assert events["users"] == [{"user_folder": target.store.hasher("ada"), "objects": 2}]

    human = target.run("ls", "schedules")
    assert target.store.hasher("bob") in human.stdout
    assert "2 users, 7 objects" in human.stderr


def test_ls_user_lists_ids_in_pages(target: Target) -> None:
    result = target.run("ls", "schedules", "--user", "bob")
    assert result.exit_code == 0
    assert result.stdout.split() == ["big", "s0", "s1", "s2"]

    page = as_json(target.run("ls", "schedules", "--user", "bob", "--limit", "2", "--json"))
    assert page["ids"] == ["big", "s0"]
    assert page["next_after"] == "s0"
    assert page["user_folder"] == target.store.hasher("bob")
    rest = as_json(
        target.run("ls", "schedules", "--user", "bob", "--limit", "2", "--after", "s0", "--json")
    )
    assert rest == {**page, "ids": ["s1", "s2"], "next_after": None}

    human = target.run("ls", "schedules", "--user", "bob", "--limit", "3")
    assert human.stdout.split() == ["big", "s0", "s1"]
    assert "--after s1" in human.stderr

    assert as_json(target.run("ls", "events", "--user", "ada", "--json"))["ids"] == [
        "old",
        "recent",
    ]
    nobody = target.run("ls", "schedules", "--user", "nobody")
    assert nobody.exit_code == 0
    assert nobody.stdout == ""


def test_ls_usage_errors(target: Target) -> None:
    unknown = target.run("ls", "nope")
    assert unknown.exit_code == 2
    assert "no model for type 'nope'" in unknown.stderr
    assert target.run("ls", "--user", "ada").exit_code == 2
    assert target.run("ls", "schedules", "--user", "../x").exit_code == 2


# -- show ----------------------------------------------------------------------------------------


def test_show_prints_one_object(target: Target) -> None:
    document = as_json(target.run("show", "schedules", "ada", "s1", "--json"))
    assert document["id"] == "s1"
    assert document["payload"] == {"n": 1, "tags": ["a", "b"]}

    human = target.run("show", "schedules", "ada", "s1")
    assert human.exit_code == 0
    assert json.loads(human.stdout) == document  # pretty, but still JSON


def test_show_time_bucketed_with_and_without_at(target: Target) -> None:
    searched = as_json(target.run("show", "events", "ada", "old", "--json"))
    assert searched["id"] == "old"
    at = (NOW - timedelta(days=40)).isoformat()
    assert as_json(target.run("show", "events", "ada", "old", "--at", at, "--json")) == searched
    elsewhere = target.run("show", "events", "ada", "old", "--at", NOW.isoformat())
    assert elsewhere.exit_code == 1
    assert target.run("show", "events", "ada", "old", "--at", "yesterday").exit_code == 2


def test_show_finds_nothing_exit_1(target: Target) -> None:
    result = target.run("show", "schedules", "ada", "missing")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "not found" in result.stderr


def test_show_bad_stored_data_exit_4(target: Target) -> None:
    path = target.store.path_for(volstore.spec_of(Schedule), "ada", "broken")
    target.store.engine.apply({path: b"{not json"}, [])
    result = target.run("show", "schedules", "ada", "broken")
    assert result.exit_code == 4
    assert "bad stored data" in result.stderr
    assert path in result.stderr


# -- stats ---------------------------------------------------------------------------------------


def stored_bytes(store: volstore.Store, prefix: str) -> int:
    return sum(len(store.engine.read(path) or b"") for path in store.engine.walk(prefix))


def test_stats_counts_objects_and_bytes(target: Target) -> None:
    document = as_json(target.run("stats", "--json"))
    by_type = {row["type"]: row for row in document["types"]}
    assert by_type["schedules"]["objects"] == 7
    assert by_type["schedules"]["users"] == 2
    assert by_type["schedules"]["bytes"] == stored_bytes(target.store, "schedules")
    assert by_type["events"]["bytes"] == stored_bytes(target.store, "events")
    assert document["total"]["objects"] == 9
    assert document["total"]["users"] == 2
    biggest = document["top_users"][0]
    assert biggest["user_folder"] == target.store.hasher("bob")  # the 500-character name
    assert biggest["objects"] == 4

    top1 = as_json(target.run("stats", "--top", "1", "--type", "schedules", "--json"))
    assert [row["type"] for row in top1["types"]] == ["schedules"]
    assert len(top1["top_users"]) == 1

    human = target.run("stats")
    assert human.exit_code == 0
    assert "biggest users" in human.stdout
    assert "total" in human.stdout


def test_stats_counts_folders_without_a_model(target: Target) -> None:
    target.store.engine.apply({f"legacy/{target.store.hasher('ada')}/x.json": b"{}"}, [])
    document = as_json(target.run("stats", "--json"))
    legacy = next(row for row in document["types"] if row["type"] == "legacy")
    assert legacy == {"type": "legacy", "model": None, "objects": 1, "bytes": 2, "users": 1}


# -- check ---------------------------------------------------------------------------------------


def test_check_clean_store(target: Target) -> None:
    result = target.run("check")
    assert result.exit_code == 0, result.stderr
    assert "ok" in result.stderr
    document = as_json(target.run("check", "--json"))
    assert document["ok"] is True
    assert document["objects_checked"] == 9


def test_check_reports_problems_exit_1(target: Target) -> None:
    path = target.store.path_for(volstore.spec_of(Schedule), "ada", "broken")
    target.store.engine.apply({path: b"{not json"}, [])
    result = target.run("check", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert [f["path"] for f in document["corrupt"]] == [path]

    human = target.run("check")
    assert human.exit_code == 1
    assert "corrupt" in human.stdout
    assert "problems found" in human.stderr

    repaired = target.run("check", "--repair", "--json")
    assert repaired.exit_code == 1  # it reports what it found and repaired
    assert json.loads(repaired.stdout)["quarantined"] == 1
    assert target.run("check").exit_code == 0


# -- gc ------------------------------------------------------------------------------------------


def test_gc_retention_needs_confirmation(target: Target) -> None:
    refused = target.run("gc", "--older-than", "30")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert as_json(target.run("ls", "events", "--user", "ada", "--json"))["ids"] == [
        "old",
        "recent",
    ]


def test_gc_applies_retention_and_removes_empty_folders(target: Target) -> None:
    target.store.repository(Schedule).delete_all("ada")  # leaves an empty user folder
    document = as_json(target.run("gc", "--older-than", "30", "--yes", "--json"))
    by_type = {row["type"]: row for row in document["types"]}
    assert by_type["events"]["retention"]["removed_objects"] == 1
    assert by_type["schedules"]["cleanup"]["removed_folders"] == [
        f"schedules/{target.store.hasher('ada')}"
    ]
    assert document["removed_objects"] == 1
    assert as_json(target.run("ls", "events", "--user", "ada", "--json"))["ids"] == ["recent"]
    assert target.store.engine.list(f"schedules/{target.store.hasher('ada')}") == []
    assert [e.name for e in target.store.engine.list("schedules")] == [target.store.hasher("bob")]

    again = target.run("gc", "--older-than", "30", "--yes")
    assert again.exit_code == 0
    assert "removed 0 objects and 0 folders" in again.stderr


def test_gc_without_retention_only_cleans(target: Target) -> None:
    result = target.run("gc", "--type", "events")
    assert result.exit_code == 0, result.stderr
    assert as_json(target.run("ls", "events", "--user", "ada", "--json"))["ids"] == [
        "old",
        "recent",
    ]


def test_gc_retention_refuses_flat_types(target: Target) -> None:
    result = target.run("gc", "--older-than", "1", "--type", "schedules", "--yes")
    assert result.exit_code == 2
    assert "not time-bucketed" in result.stderr


def test_gc_confirms_interactively(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.maintain, "_interactive", lambda: True)
    declined = target.run("gc", "--older-than", "30", input="n\n")
    assert declined.exit_code == 0
    assert "nothing deleted" in declined.stderr
    assert len(as_json(target.run("ls", "events", "--user", "ada", "--json"))["ids"]) == 2


# -- export --------------------------------------------------------------------------------------


def test_export_jsonl(target: Target) -> None:
    result = target.run("export", "schedules")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 7
    assert {(r["user_id"], r["id"]) for r in rows} >= {("ada", "s0"), ("bob", "big")}

    mine = target.run("export", "events", "--user", "ada", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in mine.stdout.splitlines()] == ["old", "recent"]


def test_export_csv_to_a_file(target: Target) -> None:
    output = target.tmp / "out.csv"
    result = target.run("export", "schedules", "--format", "csv", "--output", str(output))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "exported 7 schedules objects" in result.stderr
    with output.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(Schedule.model_fields)
    ada_s1 = next(r for r in rows if r["user_id"] == "ada" and r["id"] == "s1")
    assert json.loads(ada_s1["payload"]) == {"n": 1, "tags": ["a", "b"]}
    assert ada_s1["enabled"] == "true"
    assert ada_s1["tags"] == "[]"
    assert [name for name in os.listdir(target.tmp) if name.startswith(".out")] == []


def test_export_bad_data_exit_4_unless_skipped(target: Target) -> None:
    path = target.store.path_for(volstore.spec_of(Schedule), "ada", "broken")
    target.store.engine.apply({path: b"{not json"}, [])
    output = target.tmp / "out.jsonl"
    failed = target.run("export", "schedules", "--output", str(output))
    assert failed.exit_code == 4
    assert path in failed.stderr
    assert not output.exists()  # no half-written export

    skipped = target.run("export", "schedules", "--skip-invalid")
    assert skipped.exit_code == 0
    assert len(skipped.stdout.splitlines()) == 7
    assert f"skipped: {path}" in skipped.stderr


def test_export_with_forced_progress_keeps_stdout_clean(target: Target) -> None:
    result = invoke(*target.args, "--models", "models", "--progress", "export", "schedules")
    assert result.exit_code == 0, result.stderr
    assert len([json.loads(line) for line in result.stdout.splitlines()]) == 7


# -- migrate -------------------------------------------------------------------------------------


def test_migrate_rewrites_old_objects(target: Target) -> None:
    old = volstore.Store(target.store.backend, models=[NoteV1])
    old.repository(NoteV1).put_all(
        [NoteV1(id=f"n{i}", user_id="ada", text=f"note number {i}") for i in range(5)]
    )
    args = [*target.args, "--models", f"{__name__}:NoteV2"]
    result = invoke(*args, "migrate", "notes", "--chunk-size", "2", "--json")
    report = as_json(result)
    assert report["total"] == 5
    assert report["rewritten"] == 5
    assert report["commits"] == 3
    stored = json.loads(old.engine.read(old.path_for(volstore.spec_of(NoteV2), "ada", "n0")) or b"")
    assert stored["title"] == "note numbe"

    again = invoke(*args, "migrate", "notes")
    assert again.exit_code == 0
    assert "5 already current" in again.stdout


# -- opening the store ---------------------------------------------------------------------------


def test_models_from_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: Target
) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.volstore]\nmodels = ["models"]\n')
    monkeypatch.chdir(project / "sub")
    document = as_json(invoke(*target.args, "ls", "--json"))
    assert {row["type"] for row in document["types"]} >= {"schedules", "results"}


def test_without_models_ls_still_lists_folders(target: Target) -> None:
    document = as_json(invoke(*target.args, "ls", "--json"))
    assert {row["type"]: row["model"] for row in document["types"]} == {
        "events": None,
        "schedules": None,
    }
    needs_model = invoke(*target.args, "ls", "schedules")
    assert needs_model.exit_code == 2
    assert "--models" in needs_model.stderr


def test_bad_models_option_is_a_usage_error(target: Target) -> None:
    result = invoke(*target.args, "--models", "no_such_module_here", "ls")
    assert result.exit_code == 2
    assert "cannot import models" in result.stderr
    attribute = invoke(*target.args, "--models", "models:Nope", "ls")
    assert attribute.exit_code == 2


def test_layout_mismatch_exit_3(target: Target) -> None:
    keyed = invoke(*target.args, "--user-hash-key", "a secret key of enough length", "ls")
    assert keyed.exit_code == 3
    assert "cannot open the store" in keyed.stderr
    short = invoke(*target.args, "--user-hash-key", "short", "ls")
    assert short.exit_code == 2


def test_missing_store_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOLSTORE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    missing = invoke("--root", str(tmp_path / "nowhere"), "ls")
    assert missing.exit_code == 3
    assert missing.stderr.startswith("error: no store at")
    assert not (tmp_path / "nowhere").exists()  # not created by a look
    default = invoke("ls")
    assert default.exit_code == 3
    assert "$VOLSTORE_ROOT" in default.stderr
    monkeypatch.setenv("VOLSTORE_ROOT", str(tmp_path))
    assert invoke("ls").exit_code == 0


def test_missing_emulated_volume_exit_3(tmp_path: Path) -> None:
    result = invoke("--emulator-root", str(tmp_path / "emu"), "--volume", "nope", "ls")
    assert result.exit_code == 3
    assert "no volume named 'nope'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_root_and_volume_together_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("--root", str(tmp_path), "--volume", "x", "ls")
    assert result.exit_code == 2
    assert "not both" in result.stderr


# -- S3 ------------------------------------------------------------------------------------------


@pytest.fixture
def s3_env(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SeaweedFS:
    """The server's endpoint, region and keys in the AWS environment variables."""
    for name in ("VOLSTORE_ROOT", "VOLSTORE_S3", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in seaweedfs.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return seaweedfs


def test_s3_from_the_environment_alone(s3_env: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_url()
    seed(s3_env.store(url))
    monkeypatch.setenv("VOLSTORE_S3", url)
    result = invoke("--models", "models", "--verbose", "ls", "--json")
    assert result.exit_code == 0, result.stderr
    assert f"store: {url} at {s3_env.endpoint_url}" in result.stderr
    counts = {row["type"]: row["objects"] for row in json.loads(result.stdout)["types"]}
    assert counts["schedules"] == 7


def test_s3_with_another_store_option_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("--s3", "s3://bucket/app", "--root", str(tmp_path), "ls")
    assert result.exit_code == 2
    assert "one only" in result.stderr


@pytest.mark.parametrize("url", ["bucket/app", "s3://Bad_Bucket/app", "s3://bucket/a/../b"])
def test_a_bad_s3_url_is_a_usage_error(s3_env: SeaweedFS, url: str) -> None:
    result = invoke("--s3", url, "ls")
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_bucket_exit_3_in_one_line(s3_env: SeaweedFS) -> None:
    result = invoke("--s3", "s3://no-such-bucket-here/app", "ls")
    assert result.exit_code == 3
    assert "no such bucket" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_s3_credentials_exit_3_in_one_line(
    s3_env: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not the secret")
    result = invoke("--s3", fresh_url(), "ls")
    assert result.exit_code == 3
    assert "the secret key does not match the access key" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_aws_profile_exit_3(s3_env: SeaweedFS) -> None:
    result = invoke("--s3", fresh_url(), "--profile", "no-such-profile-here", "ls")
    assert result.exit_code == 3
    assert "no-such-profile-here" in result.stderr


def test_boto3_missing_exit_3_with_the_install_hint(
    s3_env: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    import volstore.backends.s3

    monkeypatch.setattr(volstore.backends.s3, "MISSING", ImportError("No module named 'boto3'"))
    result = invoke("--s3", fresh_url(), "ls")
    assert result.exit_code == 3
    assert result.stderr == f"error: {volstore.backends.s3.INSTALL_HINT}\n"


def test_help_and_version() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("ls", "show", "stats", "check", "gc", "export", "migrate"):
        assert command in result.stdout
    version = invoke("--version")
    assert version.stdout.strip() == f"volstore {volstore.__version__}"


# -- Modal without credentials, network or package -----------------------------------------------


class AuthError(Exception):
    """Named like modal.exception.AuthError."""


class _FakeVolume:
    def __init__(self, error: BaseException | None, gate: threading.Event | None) -> None:
        self.error = error
        self.gate = gate
        self.name = "x"

    def listdir(self, path: str, *, recursive: bool = False) -> list[Any]:
        if self.gate is not None:
            self.gate.wait(10)
        if self.error is not None:
            raise self.error
        return []


def fake_modal(volume: _FakeVolume) -> types.ModuleType:
    module = types.ModuleType("modal")

    class Volume:
        @staticmethod
        def from_name(name: str, **kwargs: Any) -> _FakeVolume:
            return volume

    module.Volume = Volume  # type: ignore[attr-defined]
    module.is_local = lambda: True  # type: ignore[attr-defined]
    return module


def test_modal_without_credentials_one_line_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    error = AuthError("Token missing. Could not authenticate client.")
    monkeypatch.setitem(sys.modules, "modal", fake_modal(_FakeVolume(error, None)))
    monkeypatch.delenv("VOLSTORE_EMULATOR_ROOT", raising=False)
    result = invoke("--volume", "x", "ls")
    assert result.exit_code == 3
    assert result.stderr == (
        "error: cannot reach Modal volume 'x': no Modal credentials configured "
        "(run `modal token new`, or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)\n"
    )


def test_modal_unreachable_times_out_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    monkeypatch.setitem(sys.modules, "modal", fake_modal(_FakeVolume(None, gate)))
    monkeypatch.delenv("VOLSTORE_EMULATOR_ROOT", raising=False)
    try:
        result = invoke("--volume", "x", "--connect-timeout", "0.2", "ls")
    finally:
        gate.set()
    assert result.exit_code == 3
    assert "no answer within 0.2s" in result.stderr


def test_modal_other_errors_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = type("NotFoundError", (Exception,), {})("Volume 'x' not found")
    monkeypatch.setitem(sys.modules, "modal", fake_modal(_FakeVolume(missing, None)))
    monkeypatch.delenv("VOLSTORE_EMULATOR_ROOT", raising=False)
    result = invoke("--volume", "x", "ls")
    assert result.exit_code == 3
    assert "no Modal volume named 'x'" in result.stderr


def test_modal_package_missing_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "modal", None)  # import modal raises ImportError
    monkeypatch.delenv("VOLSTORE_EMULATOR_ROOT", raising=False)
    result = invoke("--volume", "x", "ls")
    assert result.exit_code == 3
    assert result.stderr == f"error: {volstore.modal.INSTALL_HINT}\n"


def test_real_modal_without_credentials(tmp_path: Path) -> None:
    """The real modal client, no credentials: one line, exit code 3, quickly (a subprocess)."""
    pytest.importorskip("modal")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODAL_", "VOLSTORE_"))
    }
    env.update(
        HOME=str(tmp_path),
        MODAL_CONFIG_PATH=str(tmp_path / "no-modal.toml"),
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    )
    done = subprocess.run(
        [sys.executable, "-m", "volstore", "--volume", "volstore-cli-test", "ls"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot reach Modal volume 'volstore-cli-test'")


def test_python_dash_m_volstore(target: Target) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "volstore", *target.args, "-m", "models", "ls", "--json"],
        env=env,
        cwd=target.tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.load(io.StringIO(done.stdout))
    assert {row["type"] for row in document["types"]} >= {"schedules", "events"}


# -- one-line errors (issue 13, item 13) ---------------------------------------------------------


def plant_invalid_schedule(store: volstore.Store, object_id: str = "broken") -> str:
    """A stored schedule that parses but does not validate: ``name`` is a number."""
    path = store.path_for(volstore.spec_of(Schedule), "ada", object_id)
    document = {"id": object_id, "user_id": "ada", "name": 5, "cron": "* * * * *"}
    store.engine.apply({path: json.dumps(document).encode()}, [])
    return path


def assert_one_clean_line(text: str) -> None:
    """Pydantic's internals never reach the terminal."""
    for leak in ("validation error", "For further information", "[type=", "json-or-python"):
        assert leak not in text, text


def test_show_bad_data_error_is_one_line_naming_file_field_and_reason(target: Target) -> None:
    path = plant_invalid_schedule(target.store)
    result = target.run("show", "schedules", "ada", "broken")
    assert result.exit_code == 4
    assert result.stderr == (
        f"error: bad stored data: {path}: name: Input should be a valid string, not int "
        "(pass --skip-invalid to skip such files)\n"
    )


def test_export_bad_data_errors_are_one_line(target: Target) -> None:
    path = plant_invalid_schedule(target.store)
    failed = target.run("export", "schedules")
    assert failed.exit_code == 4
    assert len(failed.stderr.splitlines()) == 1
    assert f"{path}: name: Input should be a valid string, not int" in failed.stderr
    assert_one_clean_line(failed.stderr)

    skipped = target.run("export", "schedules", "--skip-invalid")
    assert skipped.exit_code == 0
    assert skipped.stderr == f"skipped: {path}: name: Input should be a valid string, not int\n"


def test_check_table_reasons_are_one_line(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # a row per line: no cell wraps
    path = plant_invalid_schedule(target.store)
    profile = target.store.path_for(volstore.spec_of(Profile), "ada", "p1")  # an attrs model
    target.store.engine.apply({profile: b'{"id": "p1", "user_id": "ada", "created_at": "x"}'}, [])
    result = target.run("check")
    assert result.exit_code == 1
    assert_one_clean_line(result.stdout)
    rows = {line.split()[1]: " ".join(line.split()[2:]) for line in result.stdout.splitlines()}
    assert rows[path] == "name: Input should be a valid string, not int"
    assert rows[profile] == (
        "display_name: Field required; "
        "created_at: Input should be a valid datetime or date, input is too short"
    )


def test_verbose_prints_the_full_error_below_its_line(target: Target) -> None:
    path = plant_invalid_schedule(target.store)
    result = invoke(*target.args, "-v", "--models", "models", "show", "schedules", "ada", "broken")
    assert result.exit_code == 4
    lines = result.stderr.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    assert path in lines[error]
    assert "1 validation error for Schedule" in "\n".join(lines[error + 1 :])


def test_error_lines_are_bounded_and_keep_no_pydantic_internals() -> None:
    class Strict(volstore.Model, resource_type="strict-lines"):
        id: str
        user_id: str
        name: str
        cron: str
        tags: list[str] = []  # noqa: RUF012 - a pydantic field default, copied per instance

    store = volstore.Store(volstore.MemoryBackend())
    path = store.path_for(volstore.spec_of(Strict), "ada", "x")
    store.backend.write_batch({path: b'{"id": "x", "user_id": "ada", "name": 5, "tags": [null]}'})
    with pytest.raises(volstore.CorruptObjectError) as info:
        store.repository(Strict).get("ada", "x")
    expected = (
        "name: Input should be a valid string, not int; "
        "cron: Field required; tags.0: Input should be a valid string, not None"
    )
    assert info.value.reason == expected  # the library words it; the CLI keeps it
    assert cli.errors.describe(info.value) == f"{path}: {expected}"
    assert cli.errors.reason_line("Invalid JSON: EOF at line 1\nmore") == (
        "Invalid JSON: EOF at line 1; more"
    )

    huge = volstore.CorruptObjectError("t/u/x.json", "x" * 100_000 + "\n" + "y" * 10)
    line = cli.errors.describe(huge)
    assert "\n" not in line
    assert line.startswith("t/u/x.json: xxx")
    assert len(line) <= len("t/u/x.json: ") + cli.errors.MAX_LINE


def test_usage_errors_are_one_line(target: Target) -> None:
    result = target.run("ls", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) == 1
    assert "see 'volstore ls -h'" in result.stderr
    unknown = invoke("--no-such-option", "ls")
    assert unknown.exit_code == 2
    assert len(unknown.stderr.splitlines()) == 1


def test_export_bad_user_is_a_usage_error(target: Target) -> None:
    result = target.run("export", "schedules", "--user", "../x")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "user id '../x'" in result.stderr


# -- a new user's first day (issue 13, item 17) --------------------------------------------------


def test_ls_outside_a_project_hints_how_to_name_the_models(target: Target) -> None:
    result = invoke(*target.args, "ls")
    assert result.exit_code == 0
    assert "(no model)" in result.stdout
    assert "hint: no model claims events, schedules" in result.stderr
    assert "--models" in result.stderr
    assert "[tool.volstore] models" in result.stderr
    assert "no pyproject.toml" in result.stderr
    stats = invoke(*target.args, "stats")
    assert "hint: no model claims" in stats.stderr


def test_models_option_naming_a_module_without_models_warns(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    (target.tmp / "cli_no_models_here.py").write_text("VALUE = 1\n")
    result = invoke(*target.args, "-m", "cli_no_models_here", "ls")
    assert result.exit_code == 0
    assert "'cli_no_models_here' holds no volstore models" in result.stderr
    assert "models: --models cli_no_models_here" in result.stderr


def test_demo_data_checks_clean_with_the_projects_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "demo-data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    demo = [sys.executable, str(ROOT / "examples" / "demo.py"), "--root", str(data)]
    done = subprocess.run(demo, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    monkeypatch.delenv("VOLSTORE_MODELS", raising=False)
    monkeypatch.chdir(ROOT)  # as after `python3 run.py demo`: pyproject.toml names the models
    checked = invoke("--root", str(data), "check", "--json")
    assert checked.exit_code == 0, checked.stdout
    assert json.loads(checked.stdout)["totals"]["unknown"] == 0
    listed = as_json(invoke("--root", str(data), "ls", "--json"))
    assert {row["type"]: row["model"] is not None for row in listed["types"]} == {
        "notes": True,
        "profiles": True,
        "schedules": True,
        **{row["type"]: True for row in listed["types"] if row["objects"] == 0},
    }


def test_export_accepts_json_after_the_command(target: Target) -> None:
    result = target.run("export", "schedules", "--json")
    assert result.exit_code == 0, result.stderr
    assert len([json.loads(line) for line in result.stdout.splitlines()]) == 7


def test_migrate_stops_on_bad_stored_data_exit_4(target: Target) -> None:
    path = plant_invalid_schedule(target.store)
    before = target.store.engine.read(path)
    failed = target.run("migrate", "schedules")
    assert failed.exit_code == 4
    assert f"{path}: name: Input should be a valid string, not int" in failed.stderr
    assert target.store.engine.read(path) == before

    skipped = target.run("migrate", "schedules", "--skip-invalid", "--json")
    report = as_json(skipped)
    assert report["total"] == 8
    assert report["already_current"] == 7
    assert [error.split(":")[0] for error in report["errors"]] == [path]
    human = target.run("migrate", "schedules", "--skip-invalid")
    assert "7 already current, 1 skipped" in human.stdout
    assert f"skipped: {path}: name:" in human.stderr


def test_help_shows_no_type_on_flags_and_single_brackets() -> None:
    for args in (["--help"], ["ls", "--help"], ["check", "--help"], ["export", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0
        assert "<bool>" not in result.stdout
        assert "[[" not in result.stdout
    assert "ls [OPTIONS] [TYPE]" in invoke("ls", "--help").stdout


def test_counts_are_pluralised(target: Target) -> None:
    target.store.repository(Schedule).delete_all("bob")
    users = target.run("ls", "schedules")
    assert "1 user, 3 objects" in users.stderr
    output = target.tmp / "one.jsonl"
    exported = target.run("export", "events", "--user", "ada", "--output", str(output))
    assert "exported 2 events objects" in exported.stderr
    one = target.run("export", "schedules", "--user", "ada", "-o", str(output))
    assert "exported 3 schedules objects" in one.stderr
    target.store.repository(Schedule).delete_all("ada")
    target.store.repository(Event).delete_all("ada")
    target.store.repository(Schedule).put(Schedule(id="s", user_id="ada", name="n", cron="x"))
    single = target.run("export", "schedules", "-o", str(output))
    assert "exported 1 schedules object to" in single.stderr
    migrated = target.run("migrate", "schedules")
    assert "schedules: 1 object, 0 rewritten, 1 already current, 0 commits" in migrated.stdout
    checked = target.run("check")
    assert "checked 1 file (1 object)" in checked.stderr


def test_keyed_store_hint_names_the_flag_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOLSTORE_USER_HASH_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    keyed = volstore.Store(tmp_path / "keyed", user_hash_key="a secret key of enough length")
    keyed.repository(Schedule).put(Schedule(id="s", user_id="ada", name="n", cron="x"))
    result = invoke("--root", str(tmp_path / "keyed"), "-m", "models", "ls")
    assert result.exit_code == 3
    assert "--user-hash-key" in result.stderr
    assert "$VOLSTORE_USER_HASH_KEY" in result.stderr
    assert "user_hash_key=" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_models_come_from_the_project_root_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: Target
) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    (inner / "sub").mkdir(parents=True)
    (outer / "pyproject.toml").write_text('[tool.volstore]\nmodels = ["models"]\n')
    (inner / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    monkeypatch.chdir(inner / "sub")
    result = invoke(*target.args, "ls", "--json")
    assert {row["model"] for row in as_json(result)["types"]} == {None}  # not outer's models
    assert f"{inner / 'pyproject.toml'} has no [tool.volstore] models" in result.stderr

    repository = outer / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / "sub").mkdir()
    monkeypatch.chdir(repository / "sub")
    beyond = invoke(*target.args, "ls", "--json")
    assert {row["model"] for row in as_json(beyond)["types"]} == {None}
    assert f"no pyproject.toml in {repository / 'sub'} up to the project root" in beyond.stderr


def test_verbose_says_which_pyproject_the_models_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: Target
) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.volstore]\nmodels = ["models"]\n')
    monkeypatch.chdir(project / "sub")
    result = invoke("-v", *target.args, "ls", "--json")
    assert result.exit_code == 0
    assert (
        f"models: [tool.volstore] models of {project / 'pyproject.toml'}: models" in result.stderr
    )
    assert "store: " in result.stderr


def test_install_instructions_do_not_send_users_to_pypi() -> None:
    """volstore is not on PyPI yet: the install lines name a clone of the repository."""
    for page in (ROOT / "README.md", ROOT / "docs" / "cli.md"):
        text = page.read_text()
        for quote in ("", '"', "'"):
            assert f"pip install {quote}volstore" not in text, page
    assert "pip install -e" in (ROOT / "README.md").read_text()
