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
from typing import ClassVar, Protocol

from .local import LocalBackend


class VolumeHandle(Protocol):
    """What the mounted backend needs of a volume: ``modal.Volume`` has both."""

    def commit(self) -> None: ...

    def reload(self) -> None: ...


class MountedVolumeBackend(LocalBackend):
    """Files under the mount path; ``commit``/``reload`` go to the volume handle.

    Every exception the handle raises is a storage failure (``storage_errors``):
    volstore turns it into CommitError or ReloadError, with the original as
    ``__cause__`` (modal's client raises RuntimeError for conflicts and its own
    ``modal.exception`` errors for the rest).

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

    storage_errors: ClassVar[tuple[type[BaseException], ...]] = (Exception,)
    # A temporary file may come from another container (published by its
    # background commit): its pid says nothing here, so repair goes by age.
    _local_pids = False

    def commit(self) -> None:
        self.volume.commit()

    def reload(self) -> None:
        self.volume.reload()

    def describe(self) -> str:
        return f"mounted volume at {self.root}"
