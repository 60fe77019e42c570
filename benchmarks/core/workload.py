"""The workload and the hand-written floors volstore is compared with.

Objects are ``models.Schedule`` (about 360 bytes of JSON), 100 per user, at
volstore's paths (``schedules/<sha256(user_id)[:16]>/<id>.json``). The floors
do the same file work by hand with bytes serialized before timing, so a ratio
against them is what volstore adds: encoding, checks, bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import volstore
from models import Schedule

RESOURCE_TYPE = "schedules"
OBJECTS_PER_USER = 100

CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
FOLDER = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Workload:
    """The objects, their pre-serialized bytes and their paths, made before any timing."""

    objects: list[Schedule]
    payloads: list[bytes]  # what volstore writes for each object
    relative_paths: list[str]  # <resource_type>/<sha256(user_id)[:16]>/<id>.json
    folders: list[str]  # the distinct user folders, relative
    users: list[str]

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [(obj.user_id, obj.id) for obj in self.objects]


def user_folder(user_id: str) -> str:
    """The seed's folder of a user: ``<resource_type>/<sha256(user_id)[:16]>``."""
    return f"{RESOURCE_TYPE}/{hashlib.sha256(user_id.encode('utf-8')).hexdigest()[:16]}"


def iter_schedules(user_id: str, count: int, salt: int = 0) -> Iterator[Schedule]:
    """``count`` realistic schedules of one user, made one at a time."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for i in range(count):
        yield Schedule(
            id=volstore.new_id(),
            user_id=user_id,
            name=f"nightly report {salt}-{i}",
            cron=f"{i % 60} {i % 24} * * 1-5",
            timezone="Europe/Paris",
            enabled=i % 7 != 0,
            payload={
                "url": f"https://example.com/hooks/{user_id}/{i}",
                "retries": 3,
                "rev": 0,
                "params": {"format": "csv", "window_days": i % 30, "columns": ["a", "b", "c"]},
            },
            tags=["report", f"team-{i % 5}"],
            created_at=start + timedelta(minutes=i),
        )


def make_schedules(user_id: str, count: int, salt: int = 0) -> list[Schedule]:
    return list(iter_schedules(user_id, count, salt))


def lazy_objects(total: int, user_prefix: str) -> Iterator[Schedule]:
    """``total`` objects, 100 per user, generated as they are consumed (never all in memory)."""
    users = -(-total // OBJECTS_PER_USER)
    made = 0
    for number in range(users):
        count = min(OBJECTS_PER_USER, total - made)
        yield from iter_schedules(f"{user_prefix}-{number:07d}", count, salt=number)
        made += count


def make_objects(total: int, user_prefix: str = "user") -> tuple[list[Schedule], list[str]]:
    """``total`` objects, 100 per user, and the users."""
    users = [f"{user_prefix}-{u:05d}" for u in range(max(1, total // OBJECTS_PER_USER))]
    objects: list[Schedule] = []
    for user in users:
        objects.extend(make_schedules(user, OBJECTS_PER_USER))
    return objects, users


def make_workload(total: int, user_prefix: str = "user") -> Workload:
    """``total`` objects, 100 per user, with their bytes and paths."""
    objects, users = make_objects(total, user_prefix)
    folders = {user: user_folder(user) for user in users}
    encode = volstore.Store(volstore.MemoryBackend()).engine.encode
    spec = volstore.spec_of(Schedule)
    return Workload(
        objects=objects,
        payloads=[encode(spec, obj) for obj in objects],
        relative_paths=[f"{folders[obj.user_id]}/{obj.id}.json" for obj in objects],
        folders=list(folders.values()),
        users=users,
    )


def check_layout(workload: Workload, store: volstore.Store) -> None:
    """Fail unless the floors use exactly volstore's paths and bytes (same files, same work)."""
    spec = store.register(Schedule)
    for obj, path, data in zip(
        workload.objects[:50], workload.relative_paths[:50], workload.payloads[:50], strict=True
    ):
        if store.object_path(spec, obj) != path:
            raise AssertionError(f"layout differs: volstore {store.object_path(spec, obj)}, {path}")
        if data != obj.model_dump_json().encode("utf-8"):
            raise AssertionError("volstore's bytes differ from model_dump_json's")


# -- writers -------------------------------------------------------------------------------


def make_folders(root: str, folders: list[str]) -> None:
    """Create the user folders (the floors get them made before timing)."""
    for folder in folders:
        os.makedirs(f"{root}/{folder}", exist_ok=True)


def atomic_targets(root: str, workload: Workload) -> list[tuple[str, str, bytes]]:
    """(temporary path, final path, bytes) of every object below ``root``."""
    files = []
    for path, data in zip(workload.relative_paths, workload.payloads, strict=True):
        folder, _, name = f"{root}/{path}".rpartition("/")
        files.append((f"{folder}/.{name}.tmp", f"{folder}/{name}", data))
    return files


def write_raw_floor(targets: list[tuple[str, bytes]]) -> None:
    """The raw floor: ``os.open``/``os.write``/``os.close`` of bytes serialized beforehand."""
    for path, data in targets:
        fd = os.open(path, CREATE, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def write_atomic_floor(targets: list[tuple[str, str, bytes]]) -> None:
    """The atomic floor: the raw floor through a temporary name, then ``os.replace``."""
    for temp, path, data in targets:
        fd = os.open(temp, CREATE_NEW, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(temp, path)


def write_atomic_floor_dirfd(groups: list[tuple[str, list[tuple[str, str, bytes]]]]) -> None:
    """The atomic floor with names relative to a descriptor of their folder (one per folder).

    The kernel then walks each folder's path once, not once per file. This is
    how volstore's local backend opens its files, so it is the floor of its
    system calls; a diagnostic, not a target's baseline.
    """
    for folder, items in groups:
        dir_fd = os.open(folder, FOLDER)
        try:
            for temp, name, data in items:
                fd = os.open(temp, CREATE_NEW, 0o644, dir_fd=dir_fd)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            os.close(dir_fd)


def dirfd_targets(root: str, workload: Workload) -> list[tuple[str, list[tuple[str, str, bytes]]]]:
    """The atomic floor's files grouped by folder, names relative to it."""
    groups: dict[str, list[tuple[str, str, bytes]]] = {}
    for path, data in zip(workload.relative_paths, workload.payloads, strict=True):
        folder, _, name = f"{root}/{path}".rpartition("/")
        groups.setdefault(folder, []).append((f".{name}.tmp", name, data))
    return list(groups.items())


def write_minimal_store(root: str, objects: list[Schedule], encode: Any) -> None:
    """The least a store written in Python does for a bulk write, with no checks at all.

    Per object: the path from the key (the user's folder hashed once per
    user), the model's encoding (``encode``), grouped by folder. Then per
    folder: make it, open a descriptor, and write each file through a
    temporary name and ``os.replace`` relative to it. A diagnostic: what is
    left between it and the atomic floor is the price of encoding and of the
    least bookkeeping; what a session spends above it is its own.
    """
    folders: dict[str, str] = {}
    groups: dict[str, list[tuple[str, bytes]]] = {}
    for obj in objects:
        folder = folders.get(obj.user_id)
        if folder is None:
            folder = folders[obj.user_id] = user_folder(obj.user_id)
        groups.setdefault(folder, []).append((f"{obj.id}.json", encode(obj)))
    for folder, items in groups.items():
        path = f"{root}/{folder}"
        os.makedirs(path, exist_ok=True)
        dir_fd = os.open(path, FOLDER)
        try:
            for name, data in items:
                temp = f".{name}.tmp"
                fd = os.open(temp, CREATE_NEW, 0o644, dir_fd=dir_fd)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            os.close(dir_fd)


def write_hand_written(root: Path, objects: list[Schedule]) -> None:
    """The seed's hand-written pattern: mkdir, then ``json.dump`` of ``model_dump`` per object.

    The seed's ``json.dump(model.model_dump(), f)`` raises TypeError on the
    datetime field, so this uses ``model_dump(mode="json")``, the smallest fix.
    """
    for obj in objects:
        user_hash = hashlib.sha256(obj.user_id.encode("utf-8")).hexdigest()[:16]
        folder = root / RESOURCE_TYPE / user_hash
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{obj.id}.json", "w") as f:
            json.dump(obj.model_dump(mode="json"), f)


def write_session(store: volstore.Store, objects: list[Schedule]) -> None:
    """volstore: one session adds every object; its exit flushes and commits."""
    with store.session() as s:
        for obj in objects:
            s.add(obj)


def write_buffer(root: str, objects: list[Schedule], spec: volstore.ModelSpec) -> None:
    """Encode everything into a list of (path, bytes), then write it with the atomic floor.

    The plain way to write a batch by hand, and the memory baseline of a
    session write: the buffer holds every object's bytes and path at once.
    Paths are relative to the root (as volstore's own are), opened relative
    to a descriptor of it, so the baseline holds no longer strings than
    volstore does.
    """
    folders: dict[str, str] = {}
    buffer: list[tuple[str, bytes]] = []
    for obj in objects:
        folder = folders.get(obj.user_id)
        if folder is None:
            folder = folders[obj.user_id] = user_folder(obj.user_id)
        buffer.append((f"{folder}/{obj.id}.json", spec.encode(obj)))
    root_fd = os.open(root, FOLDER)
    try:
        for folder in folders.values():
            os.makedirs(f"{root}/{folder}", exist_ok=True)
        for path, data in buffer:
            folder, _, name = path.rpartition("/")
            temp = f"{folder}/.{name}.tmp"
            fd = os.open(temp, CREATE_NEW, 0o644, dir_fd=root_fd)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(temp, path, src_dir_fd=root_fd, dst_dir_fd=root_fd)
    finally:
        os.close(root_fd)


def check_written(root: Path, workload: Workload) -> None:
    """Fail unless a writer left every object, whole, where volstore reads it."""
    repo = volstore.Store(root).repository(Schedule)
    for obj in (workload.objects[0], workload.objects[-1]):
        if repo.get(obj.user_id, obj.id) != obj:
            raise AssertionError(f"a writer in {root} did not store {obj.id} correctly")
    files = sum(
        1
        for folder in workload.folders
        for name in os.listdir(root / folder)
        if not name.startswith(".")
    )
    if files != len(workload.objects):
        raise AssertionError(f"{root} holds {files} object files, not {len(workload.objects)}")


# -- readers -------------------------------------------------------------------------------


def read_raw(path: str) -> bytes:
    """``os.open``, ``os.fstat`` for the size, one ``os.read``, ``os.close``."""
    fd = os.open(path, READ)
    try:
        return os.read(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def read_raw_validate(paths: list[str]) -> list[Schedule]:
    """The raw reader: ``read_raw`` then ``Schedule.model_validate_json``."""
    validate = Schedule.model_validate_json
    return [validate(read_raw(path)) for path in paths]


def read_open_validate(paths: list[str]) -> list[Schedule]:
    """The careful hand-written reader: ``open``/``read`` then ``model_validate_json``."""
    found = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        found.append(Schedule.model_validate_json(data))
    return found


def read_repo_get(repo: volstore.Repository[Schedule], keys: list[tuple[str, str]]) -> list[Any]:
    """volstore: ``repo.get(user_id, id)`` of every key."""
    return [repo.get(user_id, object_id) for user_id, object_id in keys]


def list_hand_written(root: str, user_id: str) -> list[Schedule]:
    """One user's objects by hand: listdir of the folder, then read and validate each, by id.

    Skips hidden names (temporary files) and anything but ``.json``, as a
    careful hand-written reader would, and sorts by id as ``repo.list`` does.
    """
    folder = f"{root}/{user_folder(user_id)}"
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and n[0] != ".")
    validate = Schedule.model_validate_json
    return [validate(read_raw(f"{folder}/{name}")) for name in names]


def list_users_hand_written(root: str, users: list[str]) -> int:
    return sum(len(list_hand_written(root, user)) for user in users)


def list_users(repo: volstore.Repository[Schedule], users: list[str]) -> int:
    """volstore: ``repo.list(user_id)`` of every user; returns the objects found."""
    return sum(len(repo.list(user)) for user in users)


def build_big_store(root: Path, workload: Workload, total: int) -> list[tuple[str, list[str]]]:
    """A store of ``total`` objects: the workload's users plus others, 100 objects each.

    Written with the atomic floor (not through a session, to save time), in
    volstore's layout, so volstore reads it like any store it wrote. Objects
    are made one user at a time. Returns the other users and their ids: keys
    this process has never read nor validated, for the first-read measures.
    """
    write_session(volstore.Store(root), workload.objects[:1])  # the layout marker
    make_folders(str(root), workload.folders)
    write_atomic_floor(atomic_targets(str(root), workload))
    others: list[tuple[str, list[str]]] = []
    written = len(workload.objects)
    while written < total:
        user = f"other-{len(others):06d}"
        folder = f"{root}/{user_folder(user)}"
        os.makedirs(folder, exist_ok=True)
        objects = list(iter_schedules(user, OBJECTS_PER_USER, salt=len(others)))
        write_atomic_floor(
            [
                (
                    f"{folder}/.{obj.id}.json.tmp",
                    f"{folder}/{obj.id}.json",
                    obj.model_dump_json().encode(),
                )
                for obj in objects
            ]
        )
        others.append((user, [obj.id for obj in objects]))
        written += OBJECTS_PER_USER
    return others
