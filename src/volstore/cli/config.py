"""What a command works on: the global options, the project's models, and the store they open.

Models come from ``--models`` (or ``$VOLSTORE_MODELS``), else from
``[tool.volstore] models`` of the project's ``pyproject.toml``: the one in the
working directory or the nearest folder above it, never above the project's
root (the first folder holding a ``pyproject.toml``, or a version-control
root). Where they came from is said by ``--verbose`` and by every hint about
missing models.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
import threading
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer

from .._model import ModelSpec
from .._store import DEFAULT_ROOT, DEFAULT_ROOT_ENV, Store
from .errors import EXIT_USAGE, CliError, StoreUnavailableError, first_line, reporting
from .output import note

EMULATOR_ROOT_ENV = "VOLSTORE_EMULATOR_ROOT"
VOLUME_ENV = "VOLSTORE_VOLUME"
S3_ENV = "VOLSTORE_S3"
MODELS_ENV = "VOLSTORE_MODELS"
DEFAULT_CONNECT_TIMEOUT = 30.0

# Folders that mark a project's root when it has no pyproject.toml.
VCS_MARKERS = (".git", ".hg", ".svn")

MODELS_HINT = (
    "name the module that declares them with --models/-m IMPORT.PATH, "
    "or list it in [tool.volstore] models of the project's pyproject.toml"
)


@dataclasses.dataclass
class Options:
    """The global options, kept on the typer context for the commands."""

    root: Path | None = None
    volume: str | None = None
    environment: str | None = None
    emulator_root: Path | None = None
    s3: str | None = None  # s3://bucket/prefix
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    models: list[str] = dataclasses.field(default_factory=list)
    models_option: str = "--models"  # where ``models`` came from: the option or the variable
    json: bool = False
    user_hash_key: str | None = None
    progress: bool | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    verbose: bool = False
    models_source: str = ""  # where the models came from, set when the store opens


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


@dataclasses.dataclass(frozen=True)
class Project:
    """The project a folder belongs to: its root, its pyproject.toml and the models it names."""

    root: Path | None  # None: no project root up to the file system's root
    pyproject: Path | None  # None: the project has no pyproject.toml
    models: list[str]

    def describe(self, start: Path) -> str:
        """Where models were looked for, for hints and ``--verbose``."""
        if self.pyproject is None:
            where = f"up to the project root {self.root}" if self.root else "or above"
            return f"none: no pyproject.toml in {start} {where}"
        if not self.models:
            return f"none: {self.pyproject} has no [tool.volstore] models"
        return f"[tool.volstore] models of {self.pyproject}: {', '.join(self.models)}"


def find_project(start: Path | None = None) -> Project:
    """The project of ``start`` (default: the working directory).

    Walks up to the first folder holding a ``pyproject.toml`` (the project's
    root) or a version-control root (``.git``, ``.hg``, ``.svn``), and stops
    there: a ``pyproject.toml`` above the project is another project's.
    Raises CliError (exit code 2) when the file is unreadable or its
    ``[tool.volstore] models`` is not a list of import paths.
    """
    folder = (start or Path.cwd()).absolute()
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            return Project(candidate, pyproject, _configured(pyproject))
        if any((candidate / marker).exists() for marker in VCS_MARKERS):
            return Project(candidate, None, [])
    return Project(None, None, [])


def configured_models(start: Path | None = None) -> tuple[list[str], Path | None]:
    """``[tool.volstore] models`` of the project's pyproject.toml, and that file's folder.

    ``([], None)`` when the project has no pyproject.toml (see ``find_project``).
    """
    project = find_project(start)
    return project.models, project.pyproject.parent if project.pyproject else None


def _configured(pyproject: Path) -> list[str]:
    table = _load_toml(pyproject).get("tool", {}).get("volstore")
    if table is None:
        return []
    models = table.get("models", []) if isinstance(table, dict) else None
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise CliError(
            f"{pyproject}: [tool.volstore] models must be a list of import paths", EXIT_USAGE
        )
    return list(models)


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
    the project's own packages import as they would from its root. Raises
    CliError (exit code 2) when a path does not import or names no model.
    """
    return _import_models(paths, base)[0]


def _import_models(
    paths: Sequence[str], base: Path | None = None
) -> tuple[list[type[Any]], list[str]]:
    """``load_models``, and the module paths that held no model at all."""
    folder = str((base or Path.cwd()).absolute())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    found: dict[int, type[Any]] = {}
    empty: list[str] = []
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
        if not classes:
            empty.append(path)
        for cls in classes:
            found.setdefault(id(cls), cls)
    return list(found.values()), empty


def _models_for(opts: Options) -> list[type[Any]]:
    """The models the options name; sets ``opts.models_source``; warns of empty modules."""
    if opts.models:
        classes, empty = _import_models(opts.models)
        opts.models_source = f"{opts.models_option} {', '.join(opts.models)}"
    else:
        start = Path.cwd()
        project = find_project(start)
        opts.models_source = project.describe(start)
        base = project.root if project.pyproject else None
        classes, empty = _import_models(project.models, base) if project.models else ([], [])
    for path in empty:
        note(
            f"warning: {path!r} holds no volstore models "
            "(name the module that declares them, or module:Class)"
        )
    if opts.verbose:
        note(f"models: {opts.models_source}")
    return classes


def no_models_hint(opts: Options) -> str:
    """What to do when models are missing, and where the CLI looked for them."""
    return f"{MODELS_HINT} (models: {opts.models_source or 'none'})"


# -- opening the store -------------------------------------------------------------------------


def open_store(opts: Options) -> Store:
    """The store the global options name, its models registered and its layout checked.

    Raises CliError (exit code 3) when it cannot be opened: no such folder, no
    Modal or boto3 package, credentials or network, no such volume or bucket,
    another layout; exit code 2 for a malformed S3 URL.
    """
    models = _models_for(opts)
    store_options: dict[str, Any] = {"models": models, "user_hash_key": opts.user_hash_key}
    try:
        if opts.s3 is not None:
            store = _open_s3(opts, store_options)
        elif opts.volume is not None:
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
    if opts.verbose:
        note(f"store: {store.backend.describe()}")
    store.engine.check_layout()
    return store


def _open_s3(opts: Options, store_options: dict[str, Any]) -> Store:
    """A store on ``--s3 s3://bucket/prefix``, through ``volstore.s3`` (boto3 is imported there).

    Failed requests are tried 3 times, not the library's 8: a command line
    answers soon when the bucket cannot be reached.
    """
    from .. import s3 as volstore_s3

    assert opts.s3 is not None
    try:
        return volstore_s3.s3_store(
            opts.s3,
            endpoint_url=opts.endpoint_url,
            region=opts.region,
            profile=opts.profile,
            max_attempts=3,
            connect_timeout=opts.connect_timeout,
            **store_options,
        )
    except volstore_s3.S3UnavailableError as exc:
        raise StoreUnavailableError(str(exc)) from None


def _open_volume(opts: Options, store_options: dict[str, Any]) -> Store:
    from .. import modal as volstore_modal

    name = opts.volume
    assert name is not None
    if opts.emulator_root is not None:
        handle: Any = _volume_source("emulator")(opts.emulator_root, name, opts.environment)
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
        volume = volstore_modal.volume_from_name(name, environment_name=opts.environment)
    except volstore_modal.ModalUnavailableError as exc:
        raise StoreUnavailableError(str(exc)) from None
    except Exception as exc:
        raise StoreUnavailableError(_modal_reason(name, exc)) from None
    _probe(volume, name, opts.connect_timeout)
    return volstore_modal.volume_store(volume, mode="remote", **store_options)


def _volume_source(kind: str) -> Any:
    """A volume source registered under the ``volstore.volumes`` entry points (plugins).

    The testing kit registers ``emulator``; the CLI never imports it.
    """
    for entry in entry_points(group="volstore.volumes"):
        if entry.name == kind:
            return entry.load()
    raise StoreUnavailableError(
        f"no {kind} volume source is installed (it comes with volstore's testing kit: "
        "reinstall volstore)"
    )


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
    with reporting(verbose=opts.verbose, key_given=opts.user_hash_key is not None):
        store = open_store(opts)
        try:
            yield opts, store
        finally:
            store.backend.close()


# -- the models of the store -------------------------------------------------------------------


def spec_of_type(store: Store, name: str, opts: Options | None = None) -> ModelSpec:
    """The registered model for a resource type or a class name; BadParameter otherwise."""
    models = store.models
    if name in models:
        return models[name]
    for spec in models.values():
        if spec.cls.__name__.lower() == name.lower():
            return spec
    known = ", ".join(sorted(models)) or "none"
    hint = "" if models else f"; {no_models_hint(opts or Options())}"
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
    "S3_ENV",
    "VOLUME_ENV",
    "JsonFlag",
    "Options",
    "Project",
    "SkipInvalid",
    "configured_models",
    "find_project",
    "load_models",
    "no_models_hint",
    "open_store",
    "options",
    "qualname",
    "repository",
    "session",
    "spec_of_type",
]
