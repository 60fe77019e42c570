"""Notes: the demo's free-text notes, with generated ids."""

from __future__ import annotations

import volstore


class Note(volstore.Model, resource_type="notes"):
    """A note of one user, stored at ``notes/<user_hash>/<id>.json``.

    One class statement is the whole declaration; the id is generated and
    sorts by creation time.
    """

    id: str = volstore.id_field()
    user_id: str
    text: str
