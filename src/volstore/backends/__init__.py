"""Storage backends: the contract and its implementations.

The Modal backends are reached through ``volstore.modal`` and the S3 backend through
``volstore.s3``, so that ``modal`` and ``boto3`` are imported only when they are used.
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
