"""Storage backends: the contract and its implementations.

The Modal backends live in ``volstore.modal`` so that ``modal`` is imported only there.
"""

from ._base import Backend, Entry
from .local import LocalBackend
from .memory import MemoryBackend

__all__ = ["Backend", "Entry", "LocalBackend", "MemoryBackend"]
