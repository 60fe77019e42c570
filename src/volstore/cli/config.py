"""What a command works on: the global options, the project's models, and the store they open.

Models come from ``--models`` (or ``$VOLSTORE_MODELS``), else from
``[tool.volstore] models`` of the nearest ``pyproject.toml`` that has that table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from .._model import ModelSpec
from .._store import DEFAULT_ROOT, DEFAULT_ROOT_ENV, Store
from . import _files
from .errors import EXIT_USAGE, CliError, StoreUnavailableError, first_line, reporting

EMULATOR_ROOT_ENV = "VOLSTORE_EMULATOR_ROOT"
VOLUME_ENV = "VOLSTORE_VOLUME"
MODELS_ENV = "VOLSTORE_MODELS"
DEFAULT_CONNECT_TIMEOUT = 30.0


@dataclasses.dataclass
class Options:
    """The global options, kept on the typer context for the commands."""

    root: Path | None = None
    volume: str | None = None
    environment: str | None = None
    emulator_root: Path | None = None
    models: list[str] = dataclasses.field(default_factory=list)
    json: bool = False
    user_hash_key: str | None = None
    progress: bool | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    verbose: bool = False


def options(ctx: typer.Context, json_flag: bool = False) -> Options:
    """The global options of this invocation (``--json`` after the command included)."""
    opts = ctx.find_object(Options)
    if opts is None:  # a command invoked without the group (not through the app)
        opts = Options()
        ctx.obj = opts
    if json_flag:
        opts.json = True
    return opts


JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json", help="Machine-readable JSON on stdout (also accepted before the command)."
    ),
]
SkipInvalid = Annotated[
    bool,
    typer.Option(
        "--skip-invalid",
        help="Skip stored files that do not parse or validate (counted on stderr) "
        "instead of stopping with exit code 4.",
    ),
]


# -- the project's pyproject.toml ----------------------------------------------------------------


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        toml = importlib.import_module("tomllib")
    except ImportError:  # Python 3.10
        try:
            toml = importlib.import_module("tomli")
        except ImportError:
            raise CliError(
                f"reading {path} needs Python 3.11 or the tomli package (pip install tomli); "
                "or pass --models",
                EXIT_USAGE,
            ) from None
    try:
        with path.open("rb") as f:
            document: dict[str, Any] = toml.load(f)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}", EXIT_USAGE) from exc
    return document


def configured_models(start: Path | None = None) -> tuple[list[str], Path | None]:
    """``[tool.volstore] models`` of the nearest pyproject.toml with that table, and its folder."""
    folder = (start or Path.cwd()).absolute()
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if not pyproject.is_file():
            continue
        table = _load_toml(pyproject).get("tool", {}).get("volstore")
        if table is None:
            continue
        models = table.get("models", []) if isinstance(table, dict) else None
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise CliError(
                f"{pyproject}: [tool.volstore] models must be a list of import paths", EXIT_USAGE
            )
        return list(models), candidate
    return [], None


# -- importing models --------------------------------------------------------------------------


def _model_classes(value: Any) -> Iterator[type[Any]]:
    """The volstore model classes among a module's attributes (or the object itself)."""
    if isinstance(value, type):
        if isinstance(value.__dict__.get("__volstore__"), ModelSpec):
            yield value
        return
    for attribute in vars(value).values():
        if isinstance(attribute, type) and isinstance(
            attribute.__dict__.get("__volstore__"), ModelSpec
        ):
            yield attribute


def load_models(paths: Sequence[str], base: Path | None = None) -> list[type[Any]]:
    """Import ``module`` or ``module:Class`` paths; return the model classes they hold.

    ``base`` (default: the working directory) goes on ``sys.path`` first, so
    the project's own packages import as they would from its root.
    """
    folder = str((base or Path.cwd()).absolute())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    found: dict[int, type[Any]] = {}
    for raw in paths:
        path = raw.strip()
        if not path:
            continue
        module_name, _, attribute = path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise CliError(f"cannot import models from {path!r}: {exc}", EXIT_USAGE) from exc
        target: Any = module
        for part in attribute.split(".") if attribute else ():
            try:
                target = getattr(target, part)
            except AttributeError:
                raise CliError(
                    f"{module_name} has no attribute {attribute!r}", EXIT_USAGE
                ) from None
        classes = list(_model_classes(target))
        if attribute and not classes:
            raise CliError(f"{path} is not a volstore model", EXIT_USAGE)
        for cls in classes:
            found.setdefault(id(cls), cls)
    return list(found.values())


def _models_for(opts: Options) -> list[type[Any]]:
    if opts.models:
        return load_models(opts.models)
    paths, base = configured_models()
    return load_models(paths, base) if paths else []


# -- opening the store -------------------------------------------------------------------------


def open_store(opts: Options) -> Store:
    """The store the global options name, its models registered and its layout checked.

    Raises CliError (exit code 3) when it cannot be opened: no such folder, no
    Modal package, credentials or network, no such volume, another layout.
    """
    models = _models_for(opts)
    store_options: dict[str, Any] = {"models": models, "user_hash_key": opts.user_hash_key}
    try:
        if opts.volume is not None:
            store = _open_volume(opts, store_options)
        else:
            root = opts.root or Path(DEFAULT_ROOT)
            if not root.is_dir():
                hint = (
                    ""
                    if opts.root is not None
                    else f"; give --root PATH or set ${DEFAULT_ROOT_ENV}"
                )
                raise StoreUnavailableError(f"no store at {root}: no such folder{hint}")
            store = Store(root, **store_options)
    except ValueError as exc:  # a user hash key too short, say
        raise CliError(str(exc), EXIT_USAGE) from exc
    store.check_layout()
    return store


def _open_volume(opts: Options, store_options: dict[str, Any]) -> Store:
    from .. import modal as volstore_modal

    name = opts.volume
    assert name is not None
    if opts.emulator_root is not None:
        from ..testing import VolumeEmulator

        handle: Any = VolumeEmulator(opts.emulator_root).Volume.from_name(
            name, environment_name=opts.environment
        )
        store = volstore_modal.volume_store(handle, mode="remote", **store_options)
        try:
            handle.listdir("/")
        except Exception as exc:
            emulator = f"the Modal emulator at {opts.emulator_root}"
            if type(exc).__name__ == "NotFoundError":
                raise StoreUnavailableError(f"no volume named {name!r} in {emulator}") from None
            raise StoreUnavailableError(
                f"cannot reach volume {name!r} of {emulator}: {first_line(exc)}"
            ) from None
        return store
    try:
        store = volstore_modal.store_from_name(
            name, mode="remote", environment_name=opts.environment, **store_options
        )
    except volstore_modal.ModalUnavailableError as exc:
        raise StoreUnavailableError(str(exc)) from None
    except Exception as exc:
        raise StoreUnavailableError(_modal_reason(name, exc)) from None
    _probe(_files.volume_handle(store), name, opts.connect_timeout)
    return store


def _modal_reason(name: str, exc: BaseException) -> str:
    kind = type(exc).__name__
    if kind == "AuthError":
        text = str(exc).lower()
        if "missing" in text or "not configured" in text:
            return (
                f"cannot reach Modal volume {name!r}: no Modal credentials configured "
                "(run `modal token new`, or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET)"
            )
        return (
            f"cannot reach Modal volume {name!r}: Modal refused the credentials: {first_line(exc)}"
        )
    if kind == "NotFoundError":
        return (
            f"no Modal volume named {name!r} ({first_line(exc)}); "
            f"create it with `modal volume create {name}`"
        )
    return f"cannot reach Modal volume {name!r}: {first_line(exc)}"


def _probe(volume: Any, name: str, timeout: float) -> None:
    """Reach the volume once (Modal's handles are lazy), so failures surface here, in one line.

    The call runs in a daemon thread: an unreachable network does not hold the
    command for Modal's own, much longer, retry schedule.
    """
    outcome: list[BaseException | None] = []

    def reach() -> None:
        try:
            volume.listdir("/")
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=reach, name="volstore-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise StoreUnavailableError(
            f"cannot reach Modal volume {name!r}: no answer within {timeout:g}s "
            "(check the network, or raise --connect-timeout)"
        )
    error = outcome[0]
    if error is not None:
        if isinstance(error, KeyboardInterrupt):
            raise error
        raise StoreUnavailableError(_modal_reason(name, error))


@contextlib.contextmanager
def session(ctx: typer.Context, json_flag: bool = False) -> Iterator[tuple[Options, Store]]:
    """Open the store for one command, report its errors, close it at the end."""
    opts = options(ctx, json_flag)
    with reporting(verbose=opts.verbose):
        store = open_store(opts)
        try:
            yield opts, store
        finally:
            store.backend.close()


# -- the models of the store -------------------------------------------------------------------


def spec_of_type(store: Store, name: str) -> ModelSpec:
    """The registered model for a resource type or a class name; BadParameter otherwise."""
    models = store.models
    if name in models:
        return models[name]
    for spec in models.values():
        if spec.cls.__name__.lower() == name.lower():
            return spec
    known = ", ".join(sorted(models)) or "none"
    hint = (
        ""
        if models
        else " (no models are registered: pass --models IMPORT.PATH or set "
        "[tool.volstore] models in pyproject.toml)"
    )
    raise typer.BadParameter(f"no model for type {name!r}; registered types: {known}{hint}")


def repository(store: Store, spec: ModelSpec) -> Any:
    """The model's repository: the bucketed one for a time-bucketed model."""
    if spec.time_field is not None:
        from .._events import bucketed

        return bucketed(store, spec.cls)
    return store.repository(spec.cls)


def qualname(spec: ModelSpec) -> str:
    return f"{spec.cls.__module__}.{spec.cls.__qualname__}"


__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "EMULATOR_ROOT_ENV",
    "MODELS_ENV",
    "VOLUME_ENV",
    "JsonFlag",
    "Options",
    "SkipInvalid",
    "configured_models",
    "load_models",
    "open_store",
    "options",
    "qualname",
    "repository",
    "session",
    "spec_of_type",
]
