"""Storage backends: the contract and its implementations.

The Modal backends live in ``volstore.modal`` so that ``modal`` is imported only there.
"""

from ._base import (
    Backend,
    Entry,
    EntryKind,
    FileTooLargeError,
    NotRegularFileError,
    SymlinkError,
    content_token,
    is_temporary_name,
)
from .local import LocalBackend
from .memory import MemoryBackend

__all__ = [
    "Backend",
    "Entry",
    "EntryKind",
    "FileTooLargeError",
    "LocalBackend",
    "MemoryBackend",
    "NotRegularFileError",
    "SymlinkError",
    "content_token",
    "is_temporary_name",
]
