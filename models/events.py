"""Events: things that happened to a user, at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field

import volstore


class Event(volstore.Model, resource_type="events", time_field="timestamp", bucket="hour"):
    """One event of one user, stored in hour buckets (UTC) by its timestamp.

    Path: ``events/<YYYY-MM-DD>/<HH>/<user_hash>/<id>.json``. Timestamps are
    timezone-aware; a naive one fails validation.
    """

    id: str = volstore.id_field()
    user_id: str
    kind: str
    timestamp: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    def at(self) -> datetime:
        return self.timestamp
