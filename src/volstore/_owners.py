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

from collections.abc import Callable, Iterable

from ._engine import Engine
from ._errors import CorruptObjectError, TenantIsolationError
from ._model import ModelSpec


def check_owners(
    engine: Engine, targets: Callable[[], Iterable[tuple[ModelSpec, str, str]]]
) -> None:
    """Refuse to replace or delete a stored object of another user at any of ``targets``.

    ``targets()`` gives ``(spec, path, owner)``: the user the flush writes or
    deletes ``path`` for (it is called twice: the targets are not held, since a
    flush of 100,000 objects would pay for a record of each). Raises
    TenantIsolationError naming the path, before anything is written. A file
    that does not parse is left to the write (it is replaced, as any corrupt
    file would be).
    """
    # First pass: how many targets each folder has (a flush names them folder by
    # folder, so a path is usually in the last path's folder: no split needed).
    counts: dict[str, int] = {}
    prefix: str | None = None  # the last path's folder, with its "/"
    folder, run = "", 0  # and how many paths in a row were in it
    for _, path, _ in targets():
        if prefix is None or not path.startswith(prefix) or path.find("/", len(prefix)) >= 0:
            if run:
                counts[folder] = counts.get(folder, 0) + run
            folder = path.rpartition("/")[0]
            prefix, run = f"{folder}/" if folder else "", 0
        run += 1
    if run:
        counts[folder] = counts.get(folder, 0) + run
    # Second pass: a folder with many targets is listed once (its file names kept
    # until its last target is seen), the others looked at path by path.
    listed: dict[str, set[str]] = {}
    names: set[str] | None = None
    prefix = None
    for spec, path, owner in targets():
        if prefix is None or not path.startswith(prefix) or path.find("/", len(prefix)) >= 0:
            folder = path.rpartition("/")[0]
            prefix = f"{folder}/" if folder else ""
            names = listed.get(folder)
            if names is None and counts[folder] > _LIST_ABOVE:
                # Only files: whatever else stands at a path makes the write fail, typed.
                names = listed[folder] = {
                    entry.name for entry in engine.list(folder) if entry.kind == "file"
                }
        if names is not None:
            if not names:
                continue  # the folder holds no file (a new one, often): nothing to check
            left = counts[folder] - 1
            counts[folder] = left
            if not left:
                del listed[folder]
            if path[len(prefix) :] not in names:
                continue
        _check_one(engine, spec, path, owner)


def _check_one(engine: Engine, spec: ModelSpec, path: str, owner: str) -> None:
    try:
        data = engine.read(path)
    except CorruptObjectError:
        return  # not an object file: the write itself fails, typed
    if data is None:
        return
    try:
        stored = engine.decode(spec, path, data, None)
    except CorruptObjectError:
        return
    found = getattr(stored, spec.owner_field)
    if found != owner:
        raise TenantIsolationError(
            f"{path} holds an object of another user ({found!r}), whose folder is the "
            f"same as {owner!r}'s: it was neither replaced nor deleted (a user hash "
            "collision; use a longer or keyed user hash)"
        )


_LIST_ABOVE = 16  # blind paths in one folder above which listing it is cheaper than opening each


__all__ = ["check_owners"]
