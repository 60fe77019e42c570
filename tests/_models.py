"""The small models the hostile and maintenance tests share: one home for each.

``Note`` is plain, ``Ping`` time-bucketed by the hour, ``Doc`` versioned.
"""

from __future__ import annotations

from pydantic import AwareDatetime

import volstore


class Note(volstore.Model, resource_type="notes"):
    id: str
    user_id: str
    text: str = ""


class Ping(volstore.Model, resource_type="pings", time_field="at"):
    id: str
    user_id: str
    at: AwareDatetime
    text: str = ""


class Doc(volstore.Model, resource_type="docs", version_field="version"):
    id: str
    user_id: str
    text: str = ""
    version: int = 0
