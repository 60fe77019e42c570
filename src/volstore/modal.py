"""volstore on Modal Volumes: one call picks the mounted or the remote backend.

    import modal
    import volstore.modal

    volume = modal.Volume.from_name("app-data", create_if_missing=True, version=2)

    @app.function(volumes={"/data": volume})
    def handler(user_id: str) -> None:
        store = volstore.modal.volume_store(volume, mount_path="/data")
        ...

The same call outside a container (a local script, a notebook) gives a store
that works through Modal's client API. ``async_volume_store`` gives the
awaited store (``volstore.aio.AsyncStore``) for async code: a FastAPI app
behind ``@modal.asgi_app()``, ``@modal.concurrent`` inputs, async functions.
This is the only module of volstore that imports ``modal``, and only when it
needs to.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any, Literal

from ._errors import VolstoreError, install_hint
from ._store import Store
from .backends._base import Backend
from .backends._claims import DEFAULT_LEASE, DEFAULT_WAIT, ClaimMap, Claims
from .backends.modal_mounted import MountedVolumeBackend, VolumeHandle
from .backends.modal_remote import RemoteVolume, RemoteVolumeBackend

if TYPE_CHECKING:
    from .aio import AsyncStore

Mode = Literal["auto", "mounted", "remote"]

INSTALL_HINT = "volstore's Modal support needs the modal package: " + install_hint("modal", "modal")


class ModalUnavailableError(VolstoreError, ImportError):
    """The ``modal`` package is not installed."""


def _import_modal() -> Any:
    try:
        import modal
    except ImportError as exc:
        raise ModalUnavailableError(INSTALL_HINT) from exc
    return modal


def in_modal_container() -> bool:
    """Whether this code runs inside a Modal function container.

    ``MODAL_IS_REMOTE=1`` is set in function containers; when it is absent,
    ``modal.is_local()`` decides if modal is installed. Without modal, the
    answer is no.
    """
    if os.environ.get("MODAL_IS_REMOTE") == "1":
        return True
    try:
        modal = _import_modal()
    except ModalUnavailableError:
        return False
    return not modal.is_local()


ClaimsArg = Claims | ClaimMap | Literal["auto"] | None
"""Where compare-and-swap keeps its claims: see ``volume_backend``."""


def claims_dict_name(volume_name: str) -> str:
    """The name of the ``modal.Dict`` holding a volume's claims (a valid Modal name)."""
    name = f"{volume_name}-volstore-claims"
    if len(name) < 64:
        return name
    digest = hashlib.sha256(volume_name.encode()).hexdigest()[:12]
    return f"{volume_name[:35]}-{digest}-volstore-claims"


def volume_claims(
    volume: Any,
    claims: ClaimsArg = "auto",
    *,
    environment_name: str | None = None,
    lease: float = DEFAULT_LEASE,
    wait: float = DEFAULT_WAIT,
) -> Claims | None:
    """The claims that make compare-and-swap safe across containers on ``volume``.

    ``"auto"`` (the default): a ``modal.Dict`` named after the volume
    (``<volume>-volstore-claims``, created on first use), or the emulator's
    Dict for an emulated volume. A ``modal.Dict`` (or any map with ``put``
    with ``skip_if_exists``, ``get`` and ``pop``) is used as given; a
    :class:`~volstore.backends._claims.Claims` as it is; None turns
    compare-and-swap off (versioned writes are then refused). The Dict is
    reached only by the first versioned write. ``lease``: seconds after which
    an abandoned claim (its writer died) is broken; ``wait``: how long a
    writer waits for another's claim.
    """
    if claims is None or isinstance(claims, Claims):
        return claims
    name = getattr(volume, "name", None)
    namespace = f"volstore:{name or id(volume)}"
    if claims != "auto":
        return Claims(claims, namespace=namespace, lease=lease, wait=wait)
    if not name:
        return None  # an anonymous volume: no Dict can be named after it

    def lookup() -> ClaimMap:
        emulator = getattr(volume, "emulator", None)
        factory = getattr(emulator, "Dict", None) or _import_modal().Dict
        handle: ClaimMap = factory.from_name(
            claims_dict_name(name), environment_name=environment_name, create_if_missing=True
        )
        return handle

    return Claims(lookup, namespace=namespace, lease=lease, wait=wait)


def volume_backend(
    volume: Any,
    *,
    mount_path: str | os.PathLike[str] | None = None,
    mode: Mode = "auto",
    claims: ClaimsArg = "auto",
    environment_name: str | None = None,
) -> Backend:
    """The backend for ``volume``: mounted inside a container, remote outside.

    ``mode="mounted"`` or ``"remote"`` overrides the choice. The mounted
    backend needs ``mount_path``, the folder the volume is mounted at.
    Inside a container without ``mount_path``, ``mode="auto"`` raises
    ValueError (the client API would bypass the mount). ``claims``: where
    compare-and-swap keeps its claims (see ``volume_claims``).
    """
    if mode not in ("auto", "mounted", "remote"):
        raise ValueError(f"mode must be 'auto', 'mounted' or 'remote', not {mode!r}")
    if mode == "auto":
        if in_modal_container():
            if mount_path is None:
                # The remote client works in a container too, but it bypasses the
                # mount: its writes never show in this container's files, and
                # they cost a round trip each. Almost always a forgotten argument.
                raise ValueError(
                    "inside a Modal container volume_store() needs mount_path=, the path the "
                    "volume is mounted at (volumes={path: volume}); pass mode='remote' to "
                    "use the client API on purpose"
                )
            mode = "mounted"
        else:
            mode = "remote"
    resolved = volume_claims(volume, claims, environment_name=environment_name)
    if mode == "mounted":
        if mount_path is None:
            raise ValueError("the mounted backend needs mount_path: where the volume is mounted")
        handle: VolumeHandle = volume
        return MountedVolumeBackend(mount_path, handle, claims=resolved)
    remote: RemoteVolume = volume
    return RemoteVolumeBackend(remote, claims=resolved)


def volume_store(
    volume: Any,
    *,
    mount_path: str | os.PathLike[str] | None = None,
    mode: Mode = "auto",
    claims: ClaimsArg = "auto",
    environment_name: str | None = None,
    **store_options: Any,
) -> Store:
    """A Store on a Modal Volume (or an emulated one); see ``volume_backend``.

    ``volume`` is a ``modal.Volume`` (or ``volstore.testing.EmulatedVolume``);
    ``store_options`` go to ``volstore.Store`` (``reload=``, ...).
    """
    backend = volume_backend(
        volume, mount_path=mount_path, mode=mode, claims=claims, environment_name=environment_name
    )
    return Store(backend, **store_options)


def async_volume_store(
    volume: Any,
    *,
    mount_path: str | os.PathLike[str] | None = None,
    mode: Mode = "auto",
    claims: ClaimsArg = "auto",
    environment_name: str | None = None,
    **store_options: Any,
) -> AsyncStore:
    """An AsyncStore on a Modal Volume (or an emulated one); see ``volume_store``.

    The backend is the same as ``volume_store``'s: inside a container file
    I/O runs in the store's worker threads and ``commit``/``reload`` await
    ``volume.commit.aio()``/``volume.reload.aio()``; outside, every client
    API call is awaited through its ``.aio`` form. ``store_options`` go to
    :class:`volstore.aio.AsyncStore` (``threads=``, ``reload=``, ...).
    Raises AsyncUnavailableError (an install hint) when greenlet is missing.
    """
    from .aio import AsyncStore

    backend = volume_backend(
        volume, mount_path=mount_path, mode=mode, claims=claims, environment_name=environment_name
    )
    return AsyncStore(backend, **store_options)


def volume_from_name(
    name: str,
    *,
    environment_name: str | None = None,
    create_if_missing: bool = False,
    version: int | None = None,
) -> Any:
    """``modal.Volume.from_name(...)``: the handle of the Modal Volume called ``name``.

    ``version=2`` asks for a v2 volume when one is created (recommended: no
    total file limit, faster commits). Raises ModalUnavailableError with an
    install hint when modal is missing.
    """
    modal = _import_modal()
    options: dict[str, Any] = {
        "environment_name": environment_name,
        "create_if_missing": create_if_missing,
    }
    if version is not None:
        options["version"] = version
    return modal.Volume.from_name(name, **options)


def store_from_name(
    name: str,
    *,
    mount_path: str | os.PathLike[str] | None = None,
    mode: Mode = "auto",
    create_if_missing: bool = False,
    environment_name: str | None = None,
    version: int | None = None,
    **store_options: Any,
) -> Store:
    """A Store on the Modal Volume called ``name`` (see ``volume_from_name``, ``volume_store``).

    Raises ModalUnavailableError with an install hint when modal is missing.
    """
    volume = volume_from_name(
        name,
        environment_name=environment_name,
        create_if_missing=create_if_missing,
        version=version,
    )
    return volume_store(
        volume,
        mount_path=mount_path,
        mode=mode,
        environment_name=environment_name,
        **store_options,
    )


__all__ = [
    "INSTALL_HINT",
    "ModalUnavailableError",
    "MountedVolumeBackend",
    "RemoteVolumeBackend",
    "async_volume_store",
    "claims_dict_name",
    "in_modal_container",
    "store_from_name",
    "volume_backend",
    "volume_claims",
    "volume_from_name",
    "volume_store",
]
