"""The owner check: never replace or delete another user's object through a shared folder.

A user's folder is named by a hash of the user id, truncated: two user ids can
share a folder (by accident among billions of users, or by design with a
short hash). Reads already refuse a file that holds another user's object.
A flush would still replace or delete it blindly when it writes (or deletes
by key) an object it never read. This check looks before it leaps: for each
such path it lists the folder once, and reads and decodes only the files that
exist, refusing the flush with TenantIsolationError if one belongs to another
user. Objects the unit of work read were checked when they were read.

How it looks: a folder with a few such paths (a single put) is looked at
path by path (one open each, which fails at once when nothing is there); a
folder with many (a bulk write) is listed once.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._engine import Engine
from ._errors import CorruptObjectError, TenantIsolationError
from ._model import ModelSpec


def check_owners(engine: Engine, targets: Iterable[tuple[ModelSpec, str, str]]) -> None:
    """Refuse to replace or delete a stored object of another user at any of ``targets``.

    ``targets`` are ``(spec, path, owner)``: the user the flush writes or
    deletes ``path`` for. Raises TenantIsolationError naming the path, before
    anything is written. A file that does not parse is left to the write
    (it is replaced, as any corrupt file would be).
    """
    by_folder: dict[str, list[tuple[ModelSpec, str, str]]] = {}
    for spec, path, owner in targets:
        by_folder.setdefault(path.rpartition("/")[0], []).append((spec, path, owner))
    for folder, items in by_folder.items():
        if len(items) > _LIST_ABOVE:
            # Only files: whatever else stands at a path makes the write itself fail, typed.
            present = {entry.name for entry in engine.list(folder) if entry.kind == "file"}
            items = [item for item in items if item[1].rpartition("/")[2] in present]
        for spec, path, owner in items:
            try:
                data = engine.read(path)
            except CorruptObjectError:
                continue  # not an object file: the write itself fails, typed
            if data is None:
                continue
            try:
                stored = engine.decode(spec, path, data, None)
            except CorruptObjectError:
                continue
            found = getattr(stored, spec.owner_field)
            if found != owner:
                raise TenantIsolationError(
                    f"{path} holds an object of another user ({found!r}), whose folder is the "
                    f"same as {owner!r}'s: it was neither replaced nor deleted (a user hash "
                    "collision; use a longer or keyed user hash)"
                )


_LIST_ABOVE = 16  # blind paths in one folder above which listing it is cheaper than opening each


__all__ = ["check_owners"]
