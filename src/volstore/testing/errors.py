"""Modal's exception classes for tests: modal's own when installed, look-alikes otherwise.

    from volstore.testing import errors

    volume.faults.fail_next("commit", errors.ServiceError("unavailable"))
    with pytest.raises(errors.NotFoundError):
        emulator.Volume.from_name("missing").listdir("/")

``errors.NotFoundError`` is ``modal.exception.NotFoundError`` when the ``modal``
package can be imported, and a look-alike with the same name and the same
hierarchy when it cannot. The emulator raises exactly these classes. Accessing
a name imports modal (once, lazily); importing this module does not.

Names: ``Error``, ``AlreadyExistsError``, ``AuthError``, ``ConflictError``,
``ConnectionError``, ``DataLossError``, ``DeserializationError``,
``InternalError``, ``InvalidError``, ``NotFoundError``,
``PermissionDeniedError``, ``RequestSizeError``, ``ResourceExhaustedError``,
``SerializationError``, ``ServiceError``, ``TimeoutError``,
``UnimplementedError``, ``VolumeUploadTimeoutError`` and the warning
``AsyncUsageWarning``.
"""

from __future__ import annotations

from typing import Any

from ._emulator._errors import ERROR_NAMES, modal_class

__all__ = sorted(ERROR_NAMES)  # names resolved by __getattr__


def __getattr__(name: str) -> Any:
    if name in ERROR_NAMES:
        return modal_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *ERROR_NAMES])
