"""Profiles: an attrs class stored on the same layout as the pydantic models."""

from __future__ import annotations

from datetime import datetime

import attrs

import volstore


@attrs.define
class NotificationSettings:
    email: bool = True
    push: bool = False
    quiet_hours: tuple[int, int] | None = None


@volstore.resource("profiles")
@attrs.define
class Profile:
    """A user's profile, stored at ``profiles/<user_hash>/<id>.json``."""

    id: str
    user_id: str
    display_name: str
    created_at: datetime
    email: str | None = None
    languages: list[str] = attrs.Factory(list)
    notifications: NotificationSettings = attrs.Factory(NotificationSettings)
