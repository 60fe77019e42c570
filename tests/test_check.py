"""The store check: corrupt, temporary, mismatched and unknown files; repair; flat memory."""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import AwareDatetime

import volstore
from tests._faults import refuse_opens
from tests._models import Note, Ping
from volstore._check import check_store, iter_check_store
from volstore._check_report import CheckReport
from volstore.backends.modal_mounted import MountedVolumeBackend
from volstore.backends.modal_remote import RemoteVolumeBackend
from volstore.testing import VolumeEmulator

AT = datetime(2024, 2, 29, 23, 30, tzinfo=timezone.utc)
TEMP = ".x.json.0123abcd1f-7.vstmp"  # the shape LocalBackend gives its temporary files


class Tick(volstore.Model, resource_type="ticks", time_field="at", bucket="day"):
    id: str
    user_id: str
    at: AwareDatetime


def fill(store: volstore.Store) -> None:
    with store.session() as s:
        s.add_all([Note(id=f"n{i}", user_id=user) for i in range(3) for user in ("ada", "bob")])
        s.add(Ping(id="p", user_id="ada", at=AT))
        s.add(Tick(id="t", user_id="ada", at=AT))


def note_path(store: volstore.Store, user: str, object_id: str) -> str:
    return store.path_for(store.register(Note), user, object_id)


def write_raw(store: volstore.Store, path: str, data: bytes) -> None:
    store.backend.write_batch({path: data})


def kinds(report: CheckReport) -> dict[str, list[str]]:
    return {
        "corrupt": sorted(f.path for f in report.corrupt),
        "temporary": sorted(f.path for f in report.temporary),
        "mismatch": sorted(f.path for f in report.mismatched),
        "unknown": sorted(f.path for f in report.unknown),
    }


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# -- a clean store ------------------------------------------------------------------------


def test_a_clean_store_has_no_findings(store: volstore.Store) -> None:
    fill(store)
    report = check_store(store)
    assert report.ok, report.findings()
    assert report.objects_checked == 8
    assert report.summary().startswith("checked 8 files (8 objects): 0 corrupt")
    assert not report.truncated


def test_the_layout_marker_and_the_quarantine_are_not_findings(tmp_path: Path) -> None:
    store = volstore.Store(tmp_path)
    fill(store)
    assert (tmp_path / ".volstore.json").is_file()
    (tmp_path / ".volstore-quarantine" / "notes").mkdir(parents=True)
    (tmp_path / ".volstore-quarantine" / "notes" / "old.json").write_text("{")
    (tmp_path / ".DS_Store").write_text("hidden names are skipped, as listings skip them")
    assert check_store(store).ok


# -- corrupt files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"id": "n9", "user_id": "ada", "te', "EOF while parsing"),  # truncated
        (b"\xff\xfe not utf-8", "Invalid JSON"),
        (b'{"id": "n9", "owner": "ada", "cron": 5}', "user_id"),  # another schema
        (b"", "EOF while parsing"),
    ],
    ids=["truncated", "not-utf8", "other-schema", "empty"],
)
def test_corrupt_files_are_reported_on_one_line(
    store: volstore.Store, content: bytes, reason: str
) -> None:
    fill(store)
    path = note_path(store, "ada", "n9")
    write_raw(store, path, content)
    report = check_store(store)
    assert kinds(report)["corrupt"] == [path]
    (finding,) = report.corrupt
    assert reason in finding.reason
    assert "\n" not in finding.reason
    assert "errors.pydantic.dev" not in finding.reason
    assert finding.action is None
    assert str(finding).startswith(f"corrupt: {path}: ")


def test_repair_moves_corrupt_files_to_the_quarantine_and_commits_once(
    store: volstore.Store,
) -> None:
    fill(store)
    bad = {note_path(store, "ada", "n8"): b"{", note_path(store, "bob", "n9"): b"\xff"}
    for path, data in bad.items():
        write_raw(store, path, data)
    commits = store.stats.commits
    report = check_store(store, repair=True)
    assert report.repaired
    assert report.quarantined == 2
    assert store.stats.commits == commits + 1
    for finding in report.corrupt:
        assert finding.action == f"moved to .volstore-quarantine/{finding.path}"
        assert store.backend.read(f".volstore-quarantine/{finding.path}") == bad[finding.path]
        assert not store.backend.exists(finding.path)
    assert check_store(store).ok
    assert store.repository(Note).ids("ada") == ["n0", "n1", "n2"]


def test_the_quarantine_never_overwrites_an_earlier_one(store: volstore.Store) -> None:
    path = note_path(store, "ada", "n1")
    write_raw(store, path, b"first")
    check_store(store, repair=True)
    write_raw(store, path, b"second")
    (finding,) = check_store(store, repair=True).corrupt
    assert finding.action == f"moved to .volstore-quarantine/{path}~1"
    assert store.backend.read(f".volstore-quarantine/{path}") == b"first"
    assert store.backend.read(f".volstore-quarantine/{path}~1") == b"second"


def test_a_custom_quarantine_folder(store: volstore.Store) -> None:
    path = note_path(store, "ada", "n1")
    write_raw(store, path, b"{")
    check_store(store, repair=True, quarantine=".trash/volstore")
    assert store.backend.read(f".trash/volstore/{path}") == b"{"


@pytest.mark.parametrize("quarantine", ["quarantine", "../out", "/abs", "", ".q/../x"])
def test_a_quarantine_outside_the_hidden_names_is_refused(
    store: volstore.Store, quarantine: str
) -> None:
    with pytest.raises(ValueError, match="quarantine"):
        check_store(store, repair=True, quarantine=quarantine)


def test_a_folder_where_an_object_file_should_be_is_corrupt(local_store: volstore.Store) -> None:
    fill(local_store)
    root = Path(local_store.backend.root)  # type: ignore[attr-defined]
    path = note_path(local_store, "ada", "n7")
    (root / path).mkdir()
    (root / path / "inside").write_text("kept")
    report = check_store(local_store, repair=True)
    assert kinds(report)["corrupt"] == [path]
    assert "folder stands where" in report.corrupt[0].reason
    assert (root / ".volstore-quarantine" / path / "inside").read_text() == "kept"
    assert check_store(local_store).ok


def test_an_unreadable_file_is_corrupt_and_is_moved_whole(
    local_store: volstore.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(local_store)
    root = Path(local_store.backend.root)  # type: ignore[attr-defined]
    path = note_path(local_store, "ada", "n0")
    original = (root / path).read_bytes()

    refuse_opens(monkeypatch, volstore.backends.local, path)
    report = check_store(local_store, repair=True)
    assert kinds(report)["corrupt"] == [path]
    assert "cannot be read" in report.corrupt[0].reason
    monkeypatch.undo()
    assert (root / ".volstore-quarantine" / path).read_bytes() == original


def test_an_unreadable_file_on_another_backend_is_left_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = volstore.Store(volstore.MemoryBackend())
    fill(store)
    path = note_path(store, "ada", "n0")
    real_read = store.backend.read

    def refuse(p: str, **options: int | None) -> bytes:
        if p == path:
            raise PermissionError(13, "Permission denied", p)
        return real_read(p, **options)

    monkeypatch.setattr(store.backend, "read", refuse)
    (finding,) = check_store(store, repair=True).corrupt
    assert finding.path == path
    assert finding.action is not None
    assert finding.action.startswith("left in place")
    monkeypatch.undo()
    assert store.backend.exists(path)


# -- temporary files ------------------------------------------------------------------------


def test_leftover_temporary_files_are_found_and_removed(local_store: volstore.Store) -> None:
    fill(local_store)
    root = Path(local_store.backend.root)  # type: ignore[attr-defined]
    folder = note_path(local_store, "ada", "n0").rpartition("/")[0]
    (root / folder / TEMP).write_text('{"half": ')
    (root / "..volstore.json.0123abcd1f-2.vstmp").write_text("{")  # the marker's own
    for leftover in (root / folder / TEMP, root / "..volstore.json.0123abcd1f-2.vstmp"):
        os.utime(leftover, (time.time() - 3600, time.time() - 3600))  # left an hour ago
    assert local_store.repository(Note).ids("ada") == ["n0", "n1", "n2"], "readers never see them"
    report = check_store(local_store)
    assert kinds(report)["temporary"] == sorted(
        [f"{folder}/{TEMP}", "..volstore.json.0123abcd1f-2.vstmp"]
    )
    assert report.temporary_files_visible
    repaired = check_store(local_store, repair=True)
    assert repaired.removed == 2
    assert all(f.action == "removed" for f in repaired.temporary)
    assert not [name for name in files_under(root) if name.endswith(".vstmp")]
    assert check_store(local_store).ok


def test_a_memory_store_says_temporary_files_cannot_be_seen() -> None:
    report = check_store(volstore.Store(volstore.MemoryBackend()))
    assert not report.temporary_files_visible
    assert report.ok


def test_temporary_files_published_to_a_volume_are_seen_and_removed_remotely(
    tmp_path: Path,
) -> None:
    emulator = VolumeEmulator(tmp_path / "emulator")
    volume = emulator.Volume.from_name("check", create_if_missing=True)
    with volume.mount(background_commit_interval=None) as mount:
        store = volstore.Store(MountedVolumeBackend(mount.path, volume))
        fill(store)
        folder = note_path(store, "ada", "n0").rpartition("/")[0]
        (mount.path / folder / TEMP).write_text("{")  # a background commit published it
        volume.commit()
    remote = volstore.Store(RemoteVolumeBackend(volume), models=[Note, Ping, Tick])
    # The container that left it is gone: nothing can still rename it.
    report = check_store(remote, repair=True, temporary_min_age=0)
    assert kinds(report)["temporary"] == [f"{folder}/{TEMP}"]
    assert report.removed == 1
    assert TEMP not in [entry.path.rpartition("/")[2] for entry in volume.listdir(folder)]
    assert check_store(remote).ok


def test_repair_on_a_mounted_volume_is_committed(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emulator")
    volume = emulator.Volume.from_name("check", create_if_missing=True)
    with volume.mount(background_commit_interval=None) as mount:
        store = volstore.Store(MountedVolumeBackend(mount.path, volume))
        fill(store)
        path = note_path(store, "ada", "n0")
        (mount.path / path).write_text("{")
        volume.commit()
        assert check_store(store, repair=True).quarantined == 1
    with emulator.Volume.from_name("check").mount(background_commit_interval=None) as other:
        assert (other.path / ".volstore-quarantine" / path).read_text() == "{"
        assert not (other.path / path).exists()


# -- mismatched files -------------------------------------------------------------------------


def test_a_file_holding_another_id_is_a_mismatch(store: volstore.Store) -> None:
    fill(store)
    path = note_path(store, "ada", "n5")
    write_raw(store, path, Note(id="n0", user_id="ada").model_dump_json().encode())
    (finding,) = check_store(store).mismatched
    assert (finding.path, finding.reason) == (path, "holds id 'n0', but its name says 'n5'")


def test_an_object_in_another_users_folder_is_a_mismatch(store: volstore.Store) -> None:
    fill(store)
    path = note_path(store, "ada", "n5")
    write_raw(store, path, Note(id="n5", user_id="bob").model_dump_json().encode())
    report = check_store(store, repair=True)
    (finding,) = report.mismatched
    assert finding.path == path
    assert f"belongs in user folder {store.hasher('bob')}" in finding.reason
    assert store.repository(Note).get("ada", "n5") is None, "quarantined: no longer listed to ada"


@pytest.mark.parametrize(
    ("model", "moved"), [(Ping, timedelta(hours=2)), (Tick, timedelta(days=1))]
)
def test_an_object_in_the_wrong_time_bucket_is_a_mismatch(
    store: volstore.Store, model: type[Ping | Tick], moved: timedelta
) -> None:
    fill(store)
    spec = store.register(model)
    wrong = store.path_for(spec, "ada", "x", AT + moved)
    write_raw(store, wrong, model(id="x", user_id="ada", at=AT).model_dump_json().encode())
    (finding,) = check_store(store).mismatched
    assert finding.path == wrong
    assert f"belongs in {store.bucket_folder(spec, AT)}" in finding.reason


def test_an_object_with_an_invalid_user_id_is_a_mismatch(store: volstore.Store) -> None:
    path = note_path(store, "ada", "n1")
    write_raw(store, path, Note(id="n1", user_id="../bob").model_dump_json().encode())
    (finding,) = check_store(store).mismatched
    assert "user id is not valid" in finding.reason


# -- unknown files ----------------------------------------------------------------------------


def test_files_that_match_no_registered_model_are_unknown(store: volstore.Store) -> None:
    fill(store)
    user = store.hasher("ada")
    odd = {
        "stray.txt": "a file at the root",
        "invoices/x/y.json": "no registered model has resource type 'invoices'",
        "notes/README": "only user folders",
        "notes/not-a-hash/n1.json": "not a user folder",
        f"notes/{user}/n1.txt": "not named <id>.json",
        f"notes/{user}/sub/n1.json": "a folder inside a user folder",
        "pings/2024-13-01/23/{user}/p.json": "not a date folder",
        "pings/2024-02-29/24/{user}/p.json": "not an hour folder",
        "pings/2024-02-29/file": "only hour folders",
        "ticks/2024-02-29/23/p.json": "not a user folder",
    }
    for path in odd:
        write_raw(store, path.replace("{user}", user), b"{}")
    report = check_store(store, repair=True)
    reasons = {f.path: f.reason for f in report.unknown}
    assert set(reasons) == {path.replace("{user}", user) for path in odd}
    for path, reason in odd.items():
        assert reason in reasons[path.replace("{user}", user)]
    assert all(f.action is None for f in report.unknown), "repair leaves unknown files alone"
    assert report.totals["corrupt"] == report.totals["mismatch"] == 0
    assert report.objects_checked == 8


def test_a_layout_mismatch_is_raised_not_reported(tmp_path: Path) -> None:
    fill(volstore.Store(tmp_path))
    keyed = volstore.Store(tmp_path, user_hash_key="k" * 16, models=[Note])
    with pytest.raises(volstore.LayoutMismatchError):
        check_store(keyed)


# -- reports and streaming ---------------------------------------------------------------------


def test_findings_beyond_the_cap_are_counted_not_kept(store: volstore.Store) -> None:
    store.backend.write_batch({note_path(store, "ada", f"b{i}"): b"{" for i in range(12)})
    report = check_store(store, max_findings=5)
    assert len(report.corrupt) == 5
    assert report.totals["corrupt"] == 12
    assert report.truncated
    with pytest.raises(ValueError, match="max_findings"):
        check_store(store, max_findings=-1)


def test_iter_check_store_yields_findings_as_it_goes(local_store: volstore.Store) -> None:
    local_store.backend.write_batch(
        {note_path(local_store, user, "bad"): b"{" for user in ("ada", "bob", "cy")}
    )
    commits = local_store.stats.commits
    findings = iter_check_store(local_store, repair=True)
    first = next(findings)
    assert first.kind == "corrupt"
    assert first.action is not None
    assert first.action.startswith("moved to")
    findings.close()  # stopped early: what was repaired is still committed, once
    assert local_store.stats.commits == commits + 1
    assert check_store(local_store).totals["corrupt"] == 2


def _peak_bytes_of_a_check(root: Path, objects: int) -> int:
    store = volstore.Store(root)
    with store.session() as s:
        s.add_all(
            Note(id=f"n{i:05d}", user_id=f"user{i % 10}", text="x" * 200) for i in range(objects)
        )
    store.backend.write_batch(  # some corrupt files too, whose findings are capped
        {note_path(store, "user0", f"bad{i:05d}"): b"{" for i in range(objects // 10)}
    )
    store = volstore.Store(root, models=[Note])
    check_store(store, max_findings=10)  # warm caches (validators, hashes)
    gc.collect()
    tracemalloc.start()
    try:
        report = check_store(store, max_findings=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.objects_checked == objects + objects // 10
    return peak


def test_memory_stays_flat_whatever_the_store_size(tmp_path: Path) -> None:
    small = _peak_bytes_of_a_check(tmp_path / "small", 150)
    large = _peak_bytes_of_a_check(tmp_path / "large", 1500)
    assert large < small * 1.5 + 32_000, (small, large)
