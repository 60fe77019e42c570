"""User files: metadata of a file a user uploaded (the bytes live elsewhere)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

import volstore


class UserFile(volstore.Model, resource_type="files"):
    """Metadata of one uploaded file, stored at ``files/<user_hash>/<id>.json``."""

    id: str = volstore.id_field()
    user_id: str
    filename: str
    content_type: str = "application/octet-stream"
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    uploaded_at: datetime
    labels: dict[str, str] = Field(default_factory=dict)
