"""Modal's exception classes, or look-alikes with the same names when modal is absent.

User code catches ``modal.exception.NotFoundError`` and friends; an emulator that
raised classes of its own would never exercise those handlers. So when the
``modal`` package can be imported, the emulator raises modal's own classes; when
it cannot, it raises the look-alikes below, which have the same names and the
same hierarchy (``ConflictError`` is an ``InvalidError``, all are ``Error``).

``modal`` is imported lazily, the first time a class is needed (importing it
takes about half a second), and never at import time of ``volstore.testing``.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

__all__ = ["ERROR_NAMES", "modal_class", "translate_commit_error"]


class Error(Exception):
    """Look-alike of ``modal.exception.Error``: the base of every Modal error."""


class AlreadyExistsError(Error):
    """Look-alike of ``modal.exception.AlreadyExistsError``."""


class AuthError(Error):
    """Look-alike of ``modal.exception.AuthError``."""


class ConnectionError(Error):  # modal's name, shadowing the builtin on purpose
    """Look-alike of ``modal.exception.ConnectionError``."""


class DataLossError(Error):
    """Look-alike of ``modal.exception.DataLossError``."""


class DeserializationError(Error):
    """Look-alike of ``modal.exception.DeserializationError``."""


class InternalError(Error):
    """Look-alike of ``modal.exception.InternalError``."""


class InvalidError(Error):
    """Look-alike of ``modal.exception.InvalidError``: the caller did something invalid."""


class ConflictError(InvalidError):
    """Look-alike of ``modal.exception.ConflictError`` (an ``InvalidError``, as in modal)."""


class NotFoundError(Error):
    """Look-alike of ``modal.exception.NotFoundError``: a volume, dict or path is missing."""


class PermissionDeniedError(Error):
    """Look-alike of ``modal.exception.PermissionDeniedError``."""


class RequestSizeError(Error):
    """Look-alike of ``modal.exception.RequestSizeError``."""


class ResourceExhaustedError(Error):
    """Look-alike of ``modal.exception.ResourceExhaustedError``."""


class SerializationError(Error):
    """Look-alike of ``modal.exception.SerializationError``."""


class ServiceError(Error):
    """Look-alike of ``modal.exception.ServiceError``."""


class TimeoutError(Error):  # modal's name, shadowing the builtin on purpose
    """Look-alike of ``modal.exception.TimeoutError``."""


class UnimplementedError(Error):
    """Look-alike of ``modal.exception.UnimplementedError``."""


class VolumeUploadTimeoutError(TimeoutError):
    """Look-alike of ``modal.exception.VolumeUploadTimeoutError``."""


class AsyncUsageWarning(UserWarning):
    """Look-alike of ``modal.exception.AsyncUsageWarning``: a blocking call in an event loop."""


_LOOKALIKES: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (
        Error,
        AlreadyExistsError,
        AuthError,
        ConnectionError,
        DataLossError,
        DeserializationError,
        InternalError,
        InvalidError,
        ConflictError,
        NotFoundError,
        PermissionDeniedError,
        RequestSizeError,
        ResourceExhaustedError,
        SerializationError,
        ServiceError,
        TimeoutError,
        UnimplementedError,
        VolumeUploadTimeoutError,
        AsyncUsageWarning,
    )
}

#: Every name ``modal_class`` resolves (and ``volstore.testing.errors`` offers).
ERROR_NAMES: frozenset[str] = frozenset(_LOOKALIKES)

_lock = threading.Lock()
_modal_exception: ModuleType | None = None
_looked_up = False


def _modal_exception_module() -> ModuleType | None:
    """``modal.exception`` if modal can be imported, else None (looked up once)."""
    global _modal_exception, _looked_up
    with _lock:
        if not _looked_up:
            try:
                _modal_exception = importlib.import_module("modal.exception")
            except ImportError:
                _modal_exception = None
            _looked_up = True
        return _modal_exception


def modal_class(name: str) -> type[Any]:
    """The class ``modal.exception.<name>``, or its look-alike when modal is absent.

    Raises AttributeError for a name the emulator does not know.
    """
    if name not in _LOOKALIKES:
        known = ", ".join(sorted(_LOOKALIKES))
        raise AttributeError(f"no Modal exception class {name!r} in the emulator; known: {known}")
    module = _modal_exception_module()
    if module is not None:
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
    return _LOOKALIKES[name]


def error(name: str, message: str) -> BaseException:
    """An instance of the Modal exception class ``name`` with ``message``."""
    instance: BaseException = modal_class(name)(message)
    return instance


def is_a(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is an instance of Modal's (or the look-alike) class ``name``.

    Compared by class name along the MRO, so an error built from either family
    (modal's own or the look-alikes) is recognised.
    """
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def translate_commit_error(exc: BaseException) -> BaseException:
    """What ``Volume.commit()`` / ``reload()`` let through for a server error.

    modal/volume.py, ``commit`` and ``reload``: ``except (ConflictError,
    NotFoundError) as exc: raise RuntimeError(str(exc))``; every other error
    propagates as it is.
    """
    if is_a(exc, "ConflictError") or is_a(exc, "NotFoundError"):
        return RuntimeError(str(exc))
    return exc
