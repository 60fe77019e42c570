"""The key layout: where each object, user folder, bucket folder and marker lives.

This module is the one home of the folder structure below a store's root::

    <type>/<user_hash>/<id><ext>                          flat models
    <type>/<YYYY-MM-DD>/<HH>/<user_hash>/<id><ext>        time-bucketed, bucket="hour"
    <type>/<YYYY-MM-DD>/<user_hash>/<id><ext>             time-bucketed, bucket="day"
    .volstore.json                                        the layout marker
    .volstore-index/<type>/<index>/...                    secondary indexes (``_index``)

Paths are built here and nowhere else; the check, retention, the CLI and the
queries read the folder levels from ``Layout.levels`` rather than
encoding them again. Every component of a built path is validated (see
``_keys``), so no path built here leaves the root.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from ._errors import CorruptObjectError, InvalidKeyError, LayoutMismatchError
from ._keys import (
    DEFAULT_USER_HASH_LENGTH,
    VALID_IDS,
    UserHasher,
    check_id,
    is_user_folder,
    is_valid_id,
)
from ._model import ModelSpec
from ._time import bucket_names, parse_date_folder, parse_hour_folder, to_utc

MARKER = ".volstore.json"
INDEX_ROOT = ".volstore-index"
"""The folder of every secondary index (hidden: listings and the object walk skip it)."""
"""The layout marker at the root: how user ids are hashed into folder names."""

SEED_LAYOUT: dict[str, object] = {"user_hash": "sha256", "length": DEFAULT_USER_HASH_LENGTH}
"""The layout of a store written by hand in the seed's pattern (no marker)."""

Level = Literal["date", "hour", "user"]


class Layout:
    """Paths of objects and folders for one user hasher."""

    def __init__(self, hasher: UserHasher) -> None:
        self.hasher = hasher
        # resource type -> user id -> "<type>/<user hash>": the hot path of every
        # key (validating and hashing the user id once, not per object).
        self._folders: dict[str, dict[str, str]] = {}

    # -- paths -------------------------------------------------------------------------

    def user_folder(self, spec: ModelSpec, user_id: str) -> str:
        """The folder holding one user's objects of one flat (not time-bucketed) type.

        Raises InvalidKeyError for a bad user id, or for a time-bucketed model
        (its objects are spread over one folder per bucket).
        """
        if spec.time_field is not None:
            raise InvalidKeyError(
                f"{spec.cls.__name__} is stored in time buckets: a user's objects are spread "
                "over one folder per bucket; query them by time range"
            )
        return f"{spec.resource_type}/{self.hasher(user_id)}"

    def object_path(
        self,
        spec: ModelSpec,
        user_id: str,
        object_id: str,
        at: datetime | None = None,
        extension: str | None = None,
    ) -> str:
        """The storage path of one object.

        ``at`` is the object's timestamp, needed (only) for time-bucketed models.
        Raises InvalidKeyError for a bad id or user id, or a missing or naive timestamp.
        """
        ext = spec.extension if extension is None else extension
        if spec.time_field is None:
            folders = self._folders.get(spec.resource_type)
            if folders is None:
                folders = self._folders[spec.resource_type] = {}
            folder = folders.get(user_id) if user_id.__class__ is str else None
            if folder is None:
                folder = f"{spec.resource_type}/{self.hasher(user_id)}"
                if len(folders) >= 65536:
                    folders.clear()
                folders[user_id] = folder
            if object_id.__class__ is not str or object_id not in VALID_IDS:
                check_id(object_id)
            return f"{folder}/{object_id}{ext}"
        folder = self.bucket_folder(spec, at)
        return f"{folder}/{self.hasher(user_id)}/{check_id(object_id)}{ext}"

    def path_of(self, spec: ModelSpec, obj: Any) -> str:
        """The storage path of an object, from its own fields."""
        at = getattr(obj, spec.time_field) if spec.time_field is not None else None
        return self.object_path(spec, spec.owner(obj), spec.object_id(obj), at)

    def bucket_folder(self, spec: ModelSpec, at: datetime | None) -> str:
        """The time bucket folder of a time-bucketed model: ``<type>/<YYYY-MM-DD>[/<HH>]``.

        Raises InvalidKeyError unless ``at`` is a timezone-aware datetime.
        """
        if not isinstance(at, datetime):
            raise InvalidKeyError(
                f"{spec.cls.__name__} is stored in time buckets: give its timestamp "
                f"({spec.time_field}) as a timezone-aware datetime, not {at!r}"
            )
        utc = to_utc(at, f"{spec.cls.__name__}.{spec.time_field}")
        return f"{spec.resource_type}/{bucket_names(utc, spec.bucket)}"

    def path_in(
        self, spec: ModelSpec, user_hash: str, object_id: str, bucket: datetime | None = None
    ) -> str:
        """The path of an object from its user folder name (and bucket start), as listed.

        ``user_hash`` and ``object_id`` must come from the store's own names
        (an index entry); they are checked again by the backend.
        """
        if spec.time_field is None:
            return f"{spec.resource_type}/{user_hash}/{object_id}{spec.extension}"
        return f"{self.bucket_folder(spec, bucket)}/{user_hash}/{object_id}{spec.extension}"

    @staticmethod
    def index_folder(spec: ModelSpec, name: str) -> str:
        """The folder of one secondary index of a model: ``.volstore-index/<type>/<name>``."""
        return f"{INDEX_ROOT}/{spec.resource_type}/{name}"

    def legacy_paths(self, spec: ModelSpec, path: str) -> list[str]:
        """Where an object at ``path`` may still be stored in a previous codec's format."""
        if not spec.previous_codecs:
            return []
        stem = path[: -len(spec.extension)]
        return [stem + codec.extension for codec in spec.previous_codecs]

    # -- reading names back ---------------------------------------------------------------

    @staticmethod
    def levels(spec: ModelSpec) -> tuple[Level, ...]:
        """The folder levels between a type folder and its object files."""
        if spec.time_field is None:
            return ("user",)
        return ("date", "hour", "user") if spec.bucket == "hour" else ("date", "user")

    def is_level_name(self, level: Level, name: str) -> bool:
        """Whether ``name`` is a valid folder name at ``level``."""
        if level == "date":
            return parse_date_folder(name) is not None
        if level == "hour":
            return parse_hour_folder(name) is not None
        return is_user_folder(name, self.hasher.length)

    @staticmethod
    def object_id_of(spec: ModelSpec, name: str) -> str | None:
        """The id of an object file name (``<id><ext>`` in a format the model reads), else None."""
        extension = spec.extension
        if name.endswith(extension):  # the usual case first: the model's own format
            object_id = name[: -len(extension)]
            if object_id in VALID_IDS:
                return object_id
        for extension in spec.read_codecs:
            if name.endswith(extension) and len(name) > len(extension):
                object_id = name[: -len(extension)]
                return object_id if is_valid_id(object_id) else None
        return None

    # -- the marker ---------------------------------------------------------------------

    def marker_bytes(self) -> bytes:
        """The content of the layout marker this layout writes at the root."""
        marker = {"volstore": 1, **self.hasher.layout()}
        return json.dumps(marker, sort_keys=True).encode() + b"\n"

    def check_marker(self, stored: bytes | None, holds_data: bool, where: str) -> bool:
        """Compare this layout with the marker found at the root; return whether one is due.

        ``stored`` is the marker's content (None: there is none), ``holds_data``
        whether the root holds anything. Returns True when the marker should be
        written with the next batch. Raises LayoutMismatchError when the store
        was written with another layout, CorruptObjectError for an unreadable marker.
        """
        mine = self.hasher.layout()
        if stored is None:
            if mine != SEED_LAYOUT and holds_data:
                raise LayoutMismatchError(
                    f"{where} holds data but no {MARKER}: it was written with plain SHA-256 "
                    f"user folders of {DEFAULT_USER_HASH_LENGTH} digits, but is opened with "
                    f"{describe_layout(mine)}"
                )
            return True
        try:
            recorded = json.loads(stored)
            if not isinstance(recorded, dict) or "user_hash" not in recorded:
                raise ValueError("no user_hash entry")
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise CorruptObjectError(MARKER, f"unreadable layout marker: {reason}") from None
        recorded = {k: v for k, v in recorded.items() if k != "volstore"}
        if recorded != mine:
            raise LayoutMismatchError(_mismatch_message(recorded, mine))
        return False


def describe_layout(layout: dict[str, object]) -> str:
    """A layout in words: plain or keyed user folders, and their length."""
    if layout.get("user_hash") == "hmac-sha256":
        return f"keyed user folders (HMAC-SHA256, {layout.get('length')} digits)"
    return f"plain SHA-256 user folders ({layout.get('length')} digits)"


def _mismatch_message(stored: dict[str, object], mine: dict[str, object]) -> str:
    written = describe_layout(stored)
    if stored.get("user_hash") == mine.get("user_hash") == "hmac-sha256" and stored.get(
        "length"
    ) == mine.get("length"):
        return (
            f"this store was written with a different user hash key ({written}); "
            f"open it with the key it was written with"
        )
    hint = (
        " (give the key: user_hash_key= in Python, --user-hash-key or "
        "$VOLSTORE_USER_HASH_KEY in the CLI)"
        if stored.get("user_hash") == "hmac-sha256"
        else ""
    )
    return (
        f"this store was written with {written}, but is opened with {describe_layout(mine)}{hint}"
    )


@contextmanager
def with_marker(writes: Mapping[str, bytes], marker: bytes | None) -> Iterator[Mapping[str, bytes]]:
    """``writes`` with the layout marker's file added, for the time of one write.

    A dict is lent the marker and given it back after, not copied: a copy of a
    bulk flush's 100,000 entries is megabytes at the peak of the write.
    """
    if marker is None:
        yield writes
    elif isinstance(writes, dict) and MARKER not in writes:
        writes[MARKER] = marker
        try:
            yield writes
        finally:
            del writes[MARKER]
    else:
        yield {**writes, MARKER: marker}


__all__ = [
    "INDEX_ROOT",
    "MARKER",
    "SEED_LAYOUT",
    "Layout",
    "Level",
    "describe_layout",
    "with_marker",
]
