"""Schedules: a user's recurring jobs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import Field

import volstore


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Schedule(volstore.Model, resource_type="schedules"):
    """A recurring job of one user, stored at ``schedules/<user_hash>/<id>.json``."""

    id: str = volstore.id_field()
    user_id: str
    name: str
    cron: str = Field(description="a cron expression, e.g. '0 9 * * 1-5'")
    timezone: str = "UTC"
    enabled: bool = True
    payload: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=_now)
