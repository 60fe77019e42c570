"""Checked by mypy --strict (not run by pytest): what the type checker sees of the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import attrs
from typing_extensions import assert_type

import volstore
from models import Event, Profile, Schedule
from volstore.testing import EmulatedUploadBatch, FileEntry, VolumeEmulator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def check(store: volstore.Store) -> None:
    repo = store.repository(Schedule)
    assert_type(repo, volstore.Repository[Schedule])
    assert_type(repo.get("ada", "x"), Schedule | None)
    assert_type(repo.get_one("ada", "x"), Schedule)
    assert_type(repo.list("ada"), list[Schedule])
    assert_type(store.repository(Profile).get("ada", "x"), Profile | None)
    with store.session() as s:
        assert_type(s.get(Schedule, "ada", "x"), Schedule | None)
        assert_type(s.add(Schedule(user_id="ada", name="n", cron="* * * * *")), Schedule)
        assert_type(s.repository(Profile).list("ada"), list[Profile])


@volstore.resource("typed_notes")
@attrs.define
class TypedNote:
    user_id: str
    text: str
    id: str = volstore.attrs_id_field()  # type checkers see a default: declared last


def check_attrs_ids() -> None:
    assert_type(TypedNote(user_id="ada", text="t").id, str)
    assert_type(TypedNote(id="n1", user_id="ada", text="t").id, str)


def check_bucketed(store: volstore.Store) -> None:
    events = store.bucketed(Event)
    assert_type(events, volstore.BucketedRepository[Event])
    assert_type(events.range(START, None), Iterator[Event])
    assert_type(events.latest("ada"), list[Event])
    assert_type(events.for_user("ada").range(None, None), Iterator[Event])
    with store.session() as s:
        assert_type(s.bucketed(Event).range(None, None), Iterator[Event])
    # A plain repository has no range queries: the type checker says so.
    store.repository(Event).range(START, None)  # type: ignore[attr-defined]


def check_cursor_and_keywords(store: volstore.Store) -> None:
    repo = store.repository(Schedule)
    page = repo.list("ada", limit=10)
    assert_type(repo.list("ada", after=page[-1], limit=10), list[Schedule])
    assert_type(repo.list("ada", after="s9"), list[Schedule])
    assert_type(repo.for_user("ada").list(after=page[-1]), list[Schedule])
    events = store.bucketed(Event)
    assert_type(events.list("ada", after=events.list("ada")[-1]), list[Event])
    assert_type(events.for_user("ada").list(after=START), list[Event])
    # Misspelt keywords and reload values that are not policies are type errors:
    repo.for_user("ada").list(limt=3)  # type: ignore[call-arg]
    repo.list("ada", reload="never")  # type: ignore[arg-type]
    repo.get("ada", "x", reload=0)  # type: ignore[arg-type]
    repo.list("ada", after=3)  # type: ignore[arg-type]


def check_emulator(emulator: VolumeEmulator) -> None:
    """The emulated methods keep their types, blocking and ``.aio``."""
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    assert_type(volume.listdir("/"), list[FileEntry])
    assert_type(list(volume.iterdir("/")), list[FileEntry])
    with volume.batch_upload() as batch:
        assert_type(batch, EmulatedUploadBatch)
    d = emulator.Dict.from_name("d", create_if_missing=True)
    assert_type(d.put("k", 1, skip_if_exists=True), bool)

    async def use() -> None:
        assert_type(await volume.listdir.aio("/"), list[FileEntry])
        assert_type([e async for e in volume.iterdir.aio("/")], list[FileEntry])
        assert_type(await d.put.aio("k", 1, skip_if_exists=True), bool)
        async with volume.batch_upload.aio() as upload:
            assert_type(upload, EmulatedUploadBatch)
