"""Volumes written by hand in the seed's documented pattern are read without migration."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field

import volstore
from models import Schedule


class SeedSchedule(volstore.Model, resource_type="schedules"):
    """A seed-era model: only JSON-native fields, so model_dump() goes straight to json.dump."""

    id: str
    user_id: str
    name: str
    cron: str
    enabled: bool = True
    payload: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


def seed_save(root: Path, resource_type: str, model: Any, dump: dict[str, Any]) -> Path:
    """Exactly the seed's hand-written save: hash the user, mkdir, json.dump."""
    user_hash = hashlib.sha256(model.user_id.encode()).hexdigest()[:16]
    folder = root / resource_type / user_hash
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.id}.json"
    with open(path, "w") as f:
        json.dump(dump, f)
    return path


def test_files_written_by_hand_are_read(tmp_path: Path) -> None:
    root = tmp_path / "data"
    written = [
        SeedSchedule(id=f"job-{i}", user_id=user, name=f"job {i}", cron="0 * * * *", tags=["x"])
        for i, user in enumerate(["ada@example.com", "grace@example.com", "ada@example.com"])
    ]
    for obj in written:
        seed_save(root, "schedules", obj, obj.model_dump())
    repo = volstore.Store(root).repository(SeedSchedule)
    assert repo.get("ada@example.com", "job-0") == written[0]
    assert repo.list("ada@example.com") == [written[0], written[2]]
    assert repo.list("grace@example.com") == [written[1]]


def test_hand_written_datetimes_are_read(tmp_path: Path) -> None:
    root = tmp_path / "data"
    obj = Schedule(
        id="s",
        user_id="ada",
        name="n",
        cron="* * * * *",
        created_at=datetime(2024, 2, 29, tzinfo=timezone.utc),
    )
    seed_save(root, "schedules", obj, obj.model_dump(mode="json"))
    assert volstore.Store(root).repository(Schedule).get("ada", "s") == obj
    other = obj.model_copy(update={"id": "t"})
    seed_save(root, "schedules", other, json.loads(json.dumps(other.model_dump(), default=str)))
    assert volstore.Store(root).repository(Schedule).get("ada", "t") == other


def test_hand_written_files_are_not_rewritten_unless_changed(tmp_path: Path) -> None:
    root = tmp_path / "data"
    obj = SeedSchedule(id="s", user_id="ada", name="n", cron="* * * * *")
    path = seed_save(root, "schedules", obj, obj.model_dump())
    before = path.read_bytes()
    store = volstore.Store(root)
    with store.session() as s:
        s.get_one(SeedSchedule, "ada", "s")
    assert store.stats.writes == 0, (
        "json.dump's spacing differs from ours, but the value is the same"
    )
    assert path.read_bytes() == before
    with store.session() as s:
        s.get_one(SeedSchedule, "ada", "s").enabled = False
    assert store.stats.writes == 1


def test_volstore_writes_where_the_seed_reads(tmp_path: Path) -> None:
    root = tmp_path / "data"
    store = volstore.Store(root)
    store.repository(SeedSchedule).put(
        SeedSchedule(id="s", user_id="ada", name="n", cron="* * * * *")
    )
    user_hash = hashlib.sha256(b"ada").hexdigest()[:16]
    with open(root / "schedules" / user_hash / "s.json") as f:
        assert json.load(f)["name"] == "n"
