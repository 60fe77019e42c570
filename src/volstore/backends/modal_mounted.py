"""A backend for a Modal Volume mounted in a function container.

Inside a container the volume is a folder (``@app.function(volumes={"/data": vol})``)
plus a handle whose ``commit()`` publishes this container's changes and whose
``reload()`` brings in other containers' commits. Files are written exactly as
by :class:`LocalBackend` (atomic replace, so a background commit never
publishes half a file); ``commit`` and ``reload`` call the handle.

This module does not import ``modal``: any object with ``commit()`` and
``reload()`` will do (a real ``modal.Volume``, or volstore's emulator).
"""

from __future__ import annotations

import os
from typing import Protocol

from .._errors import CommitError, ReloadError
from .local import LocalBackend


class VolumeHandle(Protocol):
    """What the mounted backend needs of a volume: ``modal.Volume`` has both."""

    def commit(self) -> None: ...

    def reload(self) -> None: ...


class MountedVolumeBackend(LocalBackend):
    """Files under the mount path; ``commit``/``reload`` go to the volume handle.

    ``reload()`` fails on Modal while any file on the volume is open; volstore
    never keeps a file open between operations, so a ReloadError here names a
    file held open by other code (its message is Modal's own).
    """

    def __init__(
        self,
        mount_path: str | os.PathLike[str],
        volume: VolumeHandle,
        *,
        fsync: bool = False,
    ) -> None:
        if not os.path.isdir(mount_path):
            raise FileNotFoundError(
                f"volume mount path {os.fspath(mount_path)!r} is not a folder; "
                "is the volume mounted there (volumes={path: volume})?"
            )
        super().__init__(mount_path, fsync=fsync)
        self.volume = volume

    def commit(self) -> None:
        try:
            self.volume.commit()
        except (RuntimeError, OSError) as exc:
            raise CommitError(f"volume commit failed: {exc}") from exc

    def reload(self) -> None:
        try:
            self.volume.reload()
        except (RuntimeError, OSError) as exc:
            raise ReloadError(f"volume reload failed: {exc}") from exc

    def describe(self) -> str:
        return f"mounted volume at {self.root}"
