"""Results: what one run of a schedule produced."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

import volstore


class Result(volstore.Model, resource_type="results"):
    """The outcome of one run, stored at ``results/<user_hash>/<id>.json``."""

    id: str = volstore.id_field()
    user_id: str
    schedule_id: str
    status: Literal["ok", "error", "timeout"]
    started_at: datetime
    finished_at: datetime | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
