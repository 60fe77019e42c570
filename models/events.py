"""Events: things that happened to a user, at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field

import volstore


class Event(volstore.Model, resource_type="events"):
    """One event of one user. Timestamps are timezone-aware."""

    id: str = volstore.id_field()
    user_id: str
    kind: str
    timestamp: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    def at(self) -> datetime:
        return self.timestamp
