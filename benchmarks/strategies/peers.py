"""What users would write instead of volstore: the peers of the commit-strategy benchmark.

- ``SeedFiles``: the seed's hand-written pattern, one JSON file per object in
  volstore's layout (``mkdir``, ``json.dump`` of ``model_dump``; reads with
  ``json.load`` and ``model_validate``).
- ``TinyDBPeer``: one TinyDB JSON file with its default storage (every
  operation reads the whole file, every write rewrites it).
- ``SQLitePeer``: one SQLite file, one row per object (key columns, JSON text),
  primary key ``(resource_type, user_id, id)``.

Each peer writes, reads and lists the same ``Schedule`` objects as volstore.
The database peers keep a file open while in use; on a Modal Volume a
``reload()`` fails while a file is open, so callers close them before reloading.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from models import Schedule

RESOURCE_TYPE = "schedules"


def user_hash(user_id: str) -> str:
    """The seed's user folder name: ``sha256(user_id)[:16]``."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]


class SeedFiles:
    """The seed's hand-written pattern: one file per object, written with ``json.dump``.

    The seed's ``json.dump(model.model_dump(), f)`` raises TypeError on a datetime
    field, so this uses ``model_dump(mode="json")``, the smallest fix (as bench_core does).
    """

    name = "seed files"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, user_id: str, object_id: str) -> Path:
        return self.root / RESOURCE_TYPE / user_hash(user_id) / f"{object_id}.json"

    def write(self, obj: Schedule) -> None:
        folder = self.root / RESOURCE_TYPE / user_hash(obj.user_id)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{obj.id}.json", "w") as f:
            json.dump(obj.model_dump(mode="json"), f)

    def write_many(self, objs: Iterable[Schedule]) -> None:
        for obj in objs:
            self.write(obj)

    def get(self, user_id: str, object_id: str) -> Schedule | None:
        try:
            with open(self.path_of(user_id, object_id)) as f:
                return Schedule.model_validate(json.load(f))
        except FileNotFoundError:
            return None

    def list(self, user_id: str) -> list[Schedule]:
        folder = self.root / RESOURCE_TYPE / user_hash(user_id)
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                with open(folder / name) as f:
                    found.append(Schedule.model_validate(json.load(f)))
        return found

    def close(self) -> None:
        pass


class TinyDBPeer:
    """One TinyDB file (default JSONStorage, no caching middleware)."""

    name = "TinyDB"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = TinyDB(path)
        self._query = Query()

    def write(self, obj: Schedule) -> None:
        self.db.insert(obj.model_dump(mode="json"))

    def write_many(self, objs: Iterable[Schedule]) -> None:
        self.db.insert_multiple(obj.model_dump(mode="json") for obj in objs)

    def update_name(self, object_id: str, name: str) -> None:
        self.db.update({"name": name}, self._query.id == object_id)

    def get(self, user_id: str, object_id: str) -> Schedule | None:
        q = self._query
        doc = self.db.get((q.user_id == user_id) & (q.id == object_id))
        return None if doc is None else Schedule.model_validate(doc)

    def list(self, user_id: str) -> list[Schedule]:
        docs = self.db.search(self._query.user_id == user_id)
        return sorted((Schedule.model_validate(doc) for doc in docs), key=_id_of)

    def all(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self.db.all()]

    def close(self) -> None:
        self.db.close()


class SQLitePeer:
    """One SQLite file: a row per object, committed per write (or per batch)."""

    name = "SQLite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS objects (resource_type TEXT NOT NULL, "
            "user_id TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, "
            "PRIMARY KEY (resource_type, user_id, id))"
        )
        self.db.commit()

    @staticmethod
    def _row(obj: Schedule) -> tuple[str, str, str, str]:
        return (RESOURCE_TYPE, obj.user_id, obj.id, obj.model_dump_json())

    def write(self, obj: Schedule) -> None:
        self.db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", self._row(obj))
        self.db.commit()

    def write_many(self, objs: Iterable[Schedule]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (self._row(o) for o in objs)
        )
        self.db.commit()

    def get(self, user_id: str, object_id: str) -> Schedule | None:
        row = self.db.execute(
            "SELECT data FROM objects WHERE resource_type = ? AND user_id = ? AND id = ?",
            (RESOURCE_TYPE, user_id, object_id),
        ).fetchone()
        return None if row is None else Schedule.model_validate_json(row[0])

    def list(self, user_id: str) -> list[Schedule]:
        rows = self.db.execute(
            "SELECT data FROM objects WHERE resource_type = ? AND user_id = ? ORDER BY id",
            (RESOURCE_TYPE, user_id),
        ).fetchall()
        return [Schedule.model_validate_json(row[0]) for row in rows]

    def all(self) -> list[Schedule]:
        rows = self.db.execute("SELECT data FROM objects ORDER BY id").fetchall()
        return [Schedule.model_validate_json(row[0]) for row in rows]

    def close(self) -> None:
        self.db.close()


def _id_of(obj: Schedule) -> str:
    return obj.id
