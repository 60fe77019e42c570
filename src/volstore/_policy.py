"""The reload policy, its per-call override, and the counters of backend operations.

Plain values the engine applies and counts; they know nothing of storage.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class ReloadPolicy:
    """When reads call the backend's ``reload()`` first.

    - ``ReloadPolicy.NEVER``: never (the default; a container sees its own writes
      and the state at its start or last reload).
    - ``ReloadPolicy.ALWAYS``: before every read (see others' commits at once;
      on Modal a reload costs a round trip).
    - ``ReloadPolicy.every(seconds)``: at most once per ``seconds``.
    """

    mode: str
    seconds: float = 0.0

    NEVER: ClassVar[ReloadPolicy]
    ALWAYS: ClassVar[ReloadPolicy]

    @classmethod
    def every(cls, seconds: float) -> ReloadPolicy:
        """Reload before a read when the last reload is at least ``seconds`` old."""
        if not seconds > 0:
            raise ValueError(f"reload interval must be positive, not {seconds!r}")
        return cls("interval", float(seconds))

    def __str__(self) -> str:
        return f"every {self.seconds:g}s" if self.mode == "interval" else self.mode


ReloadPolicy.NEVER = ReloadPolicy("never")
ReloadPolicy.ALWAYS = ReloadPolicy("always")

ReloadArg = ReloadPolicy | bool | None
"""A per-call override: a policy, True (reload now), False (do not), None (the store's)."""


@dataclass
class Stats:
    """Counters of backend operations (a store's since it opened; a session's own).

    Tests and benchmarks read them: how many files were read, written and
    deleted, how often the backend was committed, reloaded and listed, and how
    many conditional writes met a conflict.
    """

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    commits: int = 0
    reloads: int = 0
    lists: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    conflicts: int = 0

    def snapshot(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_reload_arg(reload: object) -> None:
    """Raise TypeError unless ``reload`` is a per-call override (see ``ReloadArg``).

    ``"never"``, ``0`` or ``1`` are refused, not taken for a policy by their truth.
    """
    if reload is not None and not isinstance(reload, (bool, ReloadPolicy)):
        raise TypeError(
            "reload= takes a ReloadPolicy, True (reload now), False or None (the store's "
            f"policy), not {reload!r}"
        )


__all__ = ["ReloadArg", "ReloadPolicy", "Stats", "check_reload_arg"]
