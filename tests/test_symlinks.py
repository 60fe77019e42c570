"""Symbolic links below the root are never followed (issue 13 item 3).

Anything with write access to a volume can plant a link inside it. Each test
plants one where the layout has a type folder, a date or hour folder, a user
folder or an object file, pointing to a sibling folder outside the root that
holds canary files shaped like what volstore would find there (valid objects
of the same user, so that following the link would "work"), then runs one
operation, on a local folder and on an emulated mounted Modal Volume.

Every test asserts that nothing outside the root changed, that no object from
outside was handed out, and that the operation either raised a typed error
naming the link or left it in place for the check, which reports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import volstore
from tests._hostile import Env, open_env
from tests._models import Doc, Note, Ping

AT = datetime(2024, 2, 29, 23, 30, tzinfo=timezone.utc)
USER = "ada"


@pytest.fixture(params=["local", "mounted"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with open_env(request.param, tmp_path) as env:
        yield env


# -- planting links --------------------------------------------------------------------------------

FLAT_PLACES = ["type", "user", "object"]
BUCKET_PLACES = ["type", "date", "hour", "user", "object"]


def canary(model: type[Any], object_id: str) -> bytes:
    """A valid stored object of the user, marked as coming from outside the root."""
    spec = volstore.spec_of(model)
    if model is Ping:
        obj: Any = Ping(id=object_id, user_id=USER, at=AT, text="outside")
    else:
        obj = model(id=object_id, user_id=USER, text="outside")
    return spec.encode(obj)


def plant(env: Env, model: type[Any], place: str, object_id: str = "x1") -> str:
    """Put a link at ``place`` of ``object_id``'s path; return the link's path below the root.

    The folders above the link are made as volstore would make them; the link
    points into ``env.outside``, which holds the rest of the path, ending in a
    valid object file of the same user.
    """
    store = env.store
    spec = store.register(model)
    at = AT if spec.time_field else None
    path = store.path_for(spec, USER, object_id, at)
    parts = path.split("/")
    depth = {
        "type": 1,
        "date": 2,
        "hour": 3,
        "user": len(parts) - 1,
        "object": len(parts),
    }[place]
    link = "/".join(parts[:depth])
    target = env.outside / place
    below = parts[depth:]
    final = target.joinpath(*below) if below else target
    final.parent.mkdir(parents=True, exist_ok=True)
    final.write_bytes(canary(model, object_id))
    (env.root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, env.root / link)
    return link


def outcome(action: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return action(), None
    except Exception as exc:
        return None, exc


def assert_safe(env: Env, before: dict[str, bytes | None], link: str, result: Any) -> None:
    """Nothing outside changed, nothing from outside came back."""
    assert env.snapshot_outside() == before
    assert "outside" not in repr(result), result
    assert (env.root / link).is_symlink() or not (env.root / link).exists()


def assert_names_link(exc: BaseException | None, link: str, kind: type[BaseException]) -> None:
    assert exc is not None, "the operation met a link and raised nothing"
    assert isinstance(exc, kind), repr(exc)
    assert link in str(exc), str(exc)


def assert_reported(env: Env, link: str) -> None:
    """The check names the link (as corrupt: it stands where the layout has something)."""
    report = env.store.check()
    assert link in [f.path for f in report.corrupt], report.findings()
    assert any("symbolic link" in f.reason for f in report.corrupt)


# -- reads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("place", FLAT_PLACES)
def test_a_symlink_below_the_root_is_never_followed_by_get_or_exists(env: Env, place: str) -> None:
    link = plant(env, Note, place)
    before = env.snapshot_outside()
    repo = env.store.repository(Note)
    for action in (
        lambda: repo.get(USER, "x1"),
        lambda: repo.get_one(USER, "x1"),
        lambda: repo.exists(USER, "x1"),
        lambda: repo.for_user(USER).get("x1"),
    ):
        result, exc = outcome(action)
        assert_safe(env, before, link, result)
        assert_names_link(exc, link, volstore.CorruptObjectError)
    assert_reported(env, link)


@pytest.mark.parametrize("place", FLAT_PLACES)
@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_symlink_below_the_root_is_never_followed_by_listings(
    env: Env, place: str, on_error: Any
) -> None:
    link = plant(env, Note, place)
    repo = env.store.repository(Note)
    before = env.snapshot_outside()
    for action in (
        lambda: repo.list(USER, on_error=on_error),
        lambda: list(repo.iter(USER, on_error=on_error)),
        lambda: list(repo.scan(on_error=on_error)),
        lambda: repo.count(USER),
    ):
        result, exc = outcome(action)
        assert_safe(env, before, link, result)
        if exc is not None:
            assert_names_link(exc, link, volstore.CorruptObjectError)
    if place == "object":  # the listing holds the link's name; reading it is refused
        result, exc = outcome(lambda: repo.list(USER, on_error=on_error))
        if on_error == "skip":
            assert (result, exc) == ([], None)
        else:
            assert_names_link(exc, link, volstore.CorruptObjectError)
    assert_reported(env, link)


@pytest.mark.parametrize("place", BUCKET_PLACES)
def test_a_symlink_below_the_root_is_never_followed_by_range_queries(env: Env, place: str) -> None:
    link = plant(env, Ping, place)
    repo = volstore.bucketed(env.store, Ping)
    before = env.snapshot_outside()
    for action in (
        lambda: list(repo.range(AT - timedelta(hours=1), AT + timedelta(hours=1))),
        lambda: list(repo.range(None, None)),
        lambda: list(repo.range(None, None, user_id=USER)),
        lambda: repo.latest(USER),
        lambda: repo.list(USER),
        lambda: repo.get(USER, "x1", AT),
    ):
        result, exc = outcome(action)
        assert_safe(env, before, link, result)
        if exc is not None:
            assert_names_link(exc, link, volstore.CorruptObjectError)
    result, exc = outcome(lambda: repo.get(USER, "x1", AT))
    assert_names_link(exc, link, volstore.CorruptObjectError)
    assert_reported(env, link)


# -- writes and deletes ----------------------------------------------------------------------------


@pytest.mark.parametrize("place", FLAT_PLACES)
def test_a_symlink_below_the_root_is_never_followed_by_writes(env: Env, place: str) -> None:
    link = plant(env, Note, place)
    before = env.snapshot_outside()
    repo = env.store.repository(Note)
    _result, exc = outcome(lambda: repo.put(Note(id="x1", user_id=USER, text="inside")))
    assert env.snapshot_outside() == before
    if place == "object":
        # The write replaces the link itself (a rename never follows one): the
        # object is stored inside the root, the link is gone.
        assert exc is None
        assert not (env.root / link).is_symlink()
        assert repo.get_one(USER, "x1").text == "inside"
        return
    assert_names_link(exc, link, volstore.BackendError)
    with pytest.raises(volstore.BackendError, match=link), env.store.session() as s:
        s.add(Note(id="x2", user_id=USER))
    assert env.snapshot_outside() == before
    assert_reported(env, link)


@pytest.mark.parametrize("place", FLAT_PLACES)
def test_a_symlink_below_the_root_is_never_followed_by_versioned_writes(
    env: Env, place: str
) -> None:
    link = plant(env, Doc, place)
    before = env.snapshot_outside()
    repo = env.store.repository(Doc)
    _result, exc = outcome(lambda: repo.put(Doc(id="x1", user_id=USER, text="inside")))
    assert env.snapshot_outside() == before
    assert_names_link(exc, link, volstore.VolstoreError)
    assert_reported(env, link)


@pytest.mark.parametrize("place", FLAT_PLACES)
def test_a_symlink_below_the_root_is_never_followed_by_deletes(env: Env, place: str) -> None:
    link = plant(env, Note, place)
    before = env.snapshot_outside()
    repo = env.store.repository(Note)
    result, exc = outcome(lambda: repo.delete(USER, "x1"))
    assert_safe(env, before, link, result)
    assert_names_link(exc, link, volstore.CorruptObjectError)
    result, exc = outcome(lambda: repo.delete_all(USER))
    assert_safe(env, before, link, result)
    if exc is not None:
        assert_names_link(exc, link, volstore.CorruptObjectError)

    def delete_in_session() -> None:
        with env.store.session() as s:
            s.delete(Note, USER, "x1")

    result, exc = outcome(delete_in_session)
    assert env.snapshot_outside() == before
    if place == "object":
        assert exc is None  # the link itself is removed: what it points to is untouched
        assert not (env.root / link).is_symlink()
    else:
        assert_names_link(exc, link, volstore.BackendError)
        assert_reported(env, link)


# -- retention -------------------------------------------------------------------------------------


@pytest.mark.parametrize("place", ["date", "hour", "user", "object"])
@pytest.mark.parametrize("cutoff", ["after everything", "inside the bucket"])
def test_a_symlink_below_the_root_is_never_followed_by_retention(
    env: Env, place: str, cutoff: str
) -> None:
    repo = volstore.bucketed(env.store, Ping)
    repo.put(Ping(id="mine", user_id="bob", at=AT - timedelta(days=2)))  # a real bucket
    link = plant(env, Ping, place)
    before = env.snapshot_outside()
    limit = AT + timedelta(days=3) if cutoff == "after everything" else AT + timedelta(minutes=1)
    report, exc = outcome(lambda: repo.purge_older_than(limit, on_error="skip"))
    assert env.snapshot_outside() == before
    assert exc is None  # on_error="skip": a link at an object's name is skipped
    removed_whole = place in ("user", "object") and cutoff == "after everything"
    if removed_whole:
        # inside a bucket folder removed whole: the link went, not what it points to
        assert not os.path.lexists(env.root / link)
        assert report.removed_objects == 1  # "mine"; a link is not an object
    elif place != "object":
        assert link in report.stray_files, report  # where a folder should be
    assert link not in report.trimmed_paths
    if not removed_whole:
        assert (env.root / link).is_symlink()
    cleanup = repo.remove_empty_folders()
    assert env.snapshot_outside() == before
    if os.path.lexists(env.root / link) and place != "object":
        assert link in cleanup.stray_files, cleanup


def test_a_symlinked_type_folder_is_never_purged(env: Env) -> None:
    link = plant(env, Ping, "type")
    before = env.snapshot_outside()
    repo = volstore.bucketed(env.store, Ping)
    with pytest.raises(volstore.CorruptObjectError, match=link):
        repo.purge_older_than(AT + timedelta(days=3))
    with pytest.raises(volstore.CorruptObjectError, match=link):
        repo.remove_empty_folders()
    assert env.snapshot_outside() == before


# -- check and repair ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "place"),
    [(Note, place) for place in FLAT_PLACES] + [(Ping, place) for place in BUCKET_PLACES],
)
def test_check_reports_a_symlink_and_repair_quarantines_the_link_not_its_target(
    env: Env, model: type[Any], place: str
) -> None:
    link = plant(env, model, place)
    before = env.snapshot_outside()
    report = env.store.check()
    assert [f.path for f in report.corrupt] == [link]
    assert "symbolic link" in report.corrupt[0].reason
    assert report.objects_checked == 0  # nothing was read through the link
    repaired = env.store.check(repair=True)
    assert repaired.corrupt[0].action == f"moved to .volstore-quarantine/{link}"
    assert env.snapshot_outside() == before
    assert not os.path.lexists(env.root / link)
    assert (env.root / ".volstore-quarantine" / link).is_symlink()
    assert env.store.check().ok


def test_a_symlink_in_the_quarantine_path_stops_repair_without_following_it(env: Env) -> None:
    env.store.repository(Note).put(Note(id="n", user_id=USER))
    path = env.store.path_for(env.store.register(Note), USER, "n")
    (env.root / path).write_text("{ torn")
    elsewhere = env.outside / "quarantine"
    elsewhere.mkdir()
    os.symlink(elsewhere, env.root / ".volstore-quarantine")
    before = env.snapshot_outside()
    report = env.store.check(repair=True)
    assert env.snapshot_outside() == before
    (finding,) = report.corrupt
    assert finding.action is not None
    assert finding.action.startswith("left in place")
    assert ".volstore-quarantine" in finding.action
    assert (env.root / path).read_text() == "{ torn"
