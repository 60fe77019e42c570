"""Value types of the emulator, and the checks of names and paths Modal makes.

The reference for every behaviour of the emulator is
``/work/shared/design/modal-volumes.md`` (cited as *modal-volumes.md*) and the
installed client source ``modal/volume.py`` and ``modal/dict.py`` (modal 1.6.x).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
import secrets
import string
import time
from collections.abc import Callable
from pathlib import PurePosixPath

from ._errors import error

# modal/_utils/blob_utils.py: BLOCK_SIZE = 8 MiB; read_file yields blocks of this size.
BLOCK_SIZE = 8 * 1024 * 1024

#: modal-volumes.md: "v1 ... hard limit 500,000 inodes".
V1_MAX_INODES = 500_000
#: modal-volumes.md: "v2 ... at most 262,144 files per directory".
V2_MAX_ENTRIES_PER_DIRECTORY = 262_144
#: The background commit interval of mounts when none is given: Modal commits
#: "every few seconds"; tests want to meet background commits often, so the
#: emulator's default is much shorter. ``VolumeEmulator(background_commit_interval=)``.
DEFAULT_BACKGROUND_COMMIT_INTERVAL = 0.02


class FileEntryType(enum.IntEnum):
    """Mirrors ``modal.types.FileEntryType``: type of a listed volume entry."""

    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3
    FIFO = 4
    SOCKET = 5


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """Mirrors ``modal.types.FileEntry`` (modal-volumes.md: "FileEntry(path, type, mtime,
    size), path relative with no leading '/', type a FileEntryType IntEnum, mtime epoch
    seconds")."""

    path: str
    type: FileEntryType
    mtime: int
    size: int


@dataclasses.dataclass(frozen=True)
class VolumeInfo:
    """Mirrors ``modal.types.VolumeInfo`` (what ``Volume.info()`` returns)."""

    name: str | None
    created_at: datetime.datetime
    created_by: str | None


@dataclasses.dataclass(frozen=True)
class DictInfo:
    """Mirrors ``modal.types.DictInfo`` (what ``Dict.info()`` returns)."""

    name: str | None
    created_at: datetime.datetime
    created_by: str | None


def created_at(timestamp: float) -> datetime.datetime:
    """A creation time as modal's ``timestamp_to_localized_dt`` gives it (local, aware)."""
    return datetime.datetime.fromtimestamp(timestamp).astimezone()


@dataclasses.dataclass
class EmulatorCounters:
    """Operation counts of one mount, or summed over every mount of one handle.

    Tests and benchmarks read these to count round trips a real volume would make,
    and the work the emulator did (``entries_examined``) to check that a commit's
    cost follows what changed, not what the mount holds.
    """

    commits: int = 0
    """Explicit ``commit()`` calls that succeeded."""
    background_commits: int = 0
    """Background commit passes that succeeded (including those with nothing to do)."""
    exit_commits: int = 0
    """Commits made when a mount context exited."""
    reloads: int = 0
    """``reload()`` calls that succeeded."""
    files_published: int = 0
    """Files this container wrote to the committed state."""
    files_deleted: int = 0
    """Files this container deleted from the committed state."""
    files_fetched: int = 0
    """Files copied from the committed state into the container's view."""
    skipped_refreshes: int = 0
    """Refreshing commits (``commit_refreshes=True``) that skipped the refresh: files open."""
    bytes_published: int = 0
    """Bytes of the files this container published (by any kind of commit)."""
    bytes_fetched: int = 0
    """Bytes copied from the committed state into the container's view (mounting too)."""
    simulated_seconds: float = 0.0
    """Seconds slept by the :class:`CommitCost` model (0 without one)."""
    entries_examined: int = 0
    """Entries of the view whose state a commit looked at (stat), to find its changes."""
    full_scans: int = 0
    """Commits and reloads that walked the whole view (no change tracking, or its queue
    overflowed); the others looked only at what changed."""


_MB = 1_000_000


@dataclasses.dataclass(frozen=True)
class CommitCost:
    """The time a commit or a reload takes on a real volume, simulated by sleeping.

    Off by default (``VolumeEmulator(root)`` costs nothing but local file I/O). With
    ``VolumeEmulator(root, commit_cost=CommitCost())``, every round trip to the
    emulated server sleeps ``latency_s``, plus ``per_mb_s`` per megabyte (10**6 bytes)
    moved:

    * an explicit ``commit()``: the latency (even with nothing to publish: it is a
      round trip), plus the bytes it publishes, slept *before* they reach the committed
      state (an upload), plus the bytes a refresh fetches (``commit_refreshes=True``);
    * ``reload()``: the latency, plus the bytes it publishes first (``reload_commits``)
      and the bytes it fetches;
    * a background commit or the commit at container exit: the latency plus the bytes,
      only when there is something to publish (a pass that finds no change never
      leaves the container);
    * mounting (container start) is free.

    The defaults, 50 ms per round trip and 20 ms per MB (50 MB/s), are ASSUMPTIONS chosen
    to be plausible for a network file system; they are not measurements of Modal.
    Benchmarks that use them report them next to every figure.

    ``sleep`` is the function called with each amount, ``time.sleep`` by default; tests
    inject a recorder to check the amounts without waiting.
    """

    latency_s: float = 0.050
    per_mb_s: float = 0.020
    sleep: Callable[[float], None] = dataclasses.field(
        default=time.sleep, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not (self.latency_s >= 0 and self.per_mb_s >= 0):
            raise ValueError("CommitCost latency_s and per_mb_s must be >= 0")

    def seconds(self, nbytes: int, *, round_trip: bool = True) -> float:
        """The simulated time of moving ``nbytes`` (plus the latency if ``round_trip``)."""
        return (self.latency_s if round_trip else 0.0) + self.per_mb_s * nbytes / _MB


# ----------------------------------------------------------------------------- paths


def volume_relpath(path: str | PurePosixPath) -> str:
    """Normalise a path inside a volume to ``a/b/c`` ("" is the volume root).

    A leading "/" is accepted like Modal does (volume.py passes paths such as
    "/remote-path.txt" through). Any ".." component is rejected, even one that would
    stay inside the volume, so no path can ever reach outside the volume's folder.
    InvalidError otherwise.
    """
    text = str(path)
    if "\x00" in text:
        raise error("InvalidError", f"invalid volume path {text!r}: contains a NUL character")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise error(
            "InvalidError", f"invalid volume path {text!r}: '..' would escape the volume root"
        )
    return "/".join(parts)


def split_parent(rel: str) -> tuple[str, str]:
    parent, _, name = rel.rpartition("/")
    return parent, name


def depth(rel: str) -> int:
    return rel.count("/")


def ancestors(rel: str) -> list[str]:
    """The proper ancestors of ``rel``, shallowest first ("" excluded)."""
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def check_glob(path: str) -> None:
    """Reject glob suffixes with the exact rule and wording of ``_Volume.iterdir``."""
    if path.endswith("**"):
        raise error(
            "InvalidError",
            "Glob patterns in `volume get` and `Volume.listdir()` are deprecated. "
            "Please pass recursive=True instead. For the CLI, just remove the glob suffix.",
        )
    if path.endswith("*"):
        raise error(
            "InvalidError",
            "Glob patterns in `volume get` and `Volume.listdir()` are deprecated. "
            "Please remove the glob `*` suffix.",
        )


# modal/_utils/name_utils.py: is_valid_object_name / is_valid_environment_name.
_OBJECT_NAME_RE = re.compile(r"^[a-zA-Z0-9\-_.]+$")
_APP_ID_RE = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
_ENVIRONMENT_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_.]*$")


def check_object_name(name: str, object_type: str) -> None:
    """modal/_utils/name_utils.py ``check_object_name``; InvalidError with its wording."""
    valid = (
        isinstance(name, str)
        and len(name) <= 64
        and _OBJECT_NAME_RE.match(name) is not None
        and _APP_ID_RE.match(name) is None
        # Modal's regex admits "." and ".."; as folder names they would escape the root.
        and name not in (".", "..")
    )
    if not valid:
        raise error(
            "InvalidError",
            f"Invalid {object_type} name: '{name}'."
            "\n\nNames may contain only alphanumeric characters, dashes, periods, and underscores,"
            " must be shorter than 64 characters, and cannot conflict with App ID strings.",
        )


def check_environment_name(name: str) -> None:
    if len(name) > 64 or _ENVIRONMENT_NAME_RE.match(name) is None or name.lower().startswith("en-"):
        raise error(
            "InvalidError",
            f"Invalid Environment name: '{name}'."
            "\n\nEnvironment names must be 1-64 characters, can only start with alphanumeric"
            " characters, may contain only alphanumeric characters, dashes, and underscores,"
            " and cannot start with 'en-'.",
        )


_ID_ALPHABET = string.ascii_letters + string.digits
_OBJECT_ID_RE = re.compile(r"^(vo|di)-[a-zA-Z0-9]{22}$")


def new_object_id(prefix: str) -> str:
    """A Modal-shaped object id: ``vo-`` (volume) or ``di-`` (dict) and 22 characters."""
    return prefix + "-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def is_object_id(text: str, prefix: str) -> bool:
    return _OBJECT_ID_RE.match(text) is not None and text.startswith(prefix + "-")
