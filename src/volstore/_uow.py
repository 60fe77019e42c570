"""The unit of work a repository reads and writes through: the protocol.

Two implement it: a session's ``Tracker`` (``_tracker``: writes wait for the
commit) and ``Direct`` (``_direct``: each write commits at once). A
repository knows only this protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from ._engine import Engine, ReloadArg
from ._errors import CorruptObjectError
from ._model import ModelSpec


class UnitOfWork(Protocol):
    """What a repository needs of the unit of work it reads and writes through."""

    engine: Engine
    buffered: bool  # True: writes wait for a commit (a session); False: each commits

    def get(
        self, spec: ModelSpec, user_id: str, object_id: str, at: datetime | None, reload: ReloadArg
    ) -> Any | None: ...

    def read_listed(
        self, spec: ModelSpec, user_id: str, items: Sequence[tuple[str, str | None]]
    ) -> list[Any | CorruptObjectError | None]: ...

    def add(self, obj: Any) -> Any: ...

    def add_all(self, objs: Iterable[Any]) -> list[Any]: ...

    def delete_key(
        self, spec: ModelSpec, user_id: str, object_id: str, at: datetime | None
    ) -> None: ...

    def delete_keys(
        self, spec: ModelSpec, keys: Iterable[tuple[str, str, datetime | None]]
    ) -> None: ...

    def pending_ids(self, spec: ModelSpec, user_id: str) -> tuple[set[str], set[str]]: ...

    def pending_objects(self, spec: ModelSpec) -> tuple[list[Any], set[str]]: ...

    def adopt(
        self,
        spec: ModelSpec,
        obj: Any,
        path: str,
        stored_path: str,
        raw: bytes,
        token: str | None = None,
    ) -> None: ...


__all__ = ["UnitOfWork"]
