"""The ``volstore`` command line: inspect and maintain a store on a local folder or a Modal Volume.

    volstore --root data ls                      # resource types and object counts
    volstore --root data ls schedules            # user folders of a type
    volstore --root data ls schedules --user ada # one user's ids
    volstore --volume app-data stats --top 5     # a Modal Volume, through the client API
    volstore --root data export schedules --format csv --output schedules.csv

Models come from ``--models IMPORT.PATH`` (repeatable) or from
``[tool.volstore] models = [...]`` in the nearest ``pyproject.toml``.

Exit codes: 0 ok; 1 findings (``check`` found problems, ``show`` found
nothing); 2 usage error; 3 the store cannot be opened or reached; 4 bad stored
data met without ``--skip-invalid``. See docs/cli.md.

The CLI is thin: it calls the library. The few helpers below that look at
files (sizes, user folders) use the backends' public calls.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import enum
import errno
import glob
import heapq
import importlib
import json
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

try:
    import typer
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table
    from rich.text import Text
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the volstore command line needs typer and rich: pip install 'volstore[cli]'"
    ) from exc

from . import __version__
from ._errors import (
    BackendError,
    CorruptObjectError,
    InvalidKeyError,
    LayoutMismatchError,
    ModelDefinitionError,
)
from ._keys import id_from_file_name, is_user_folder, is_valid_id
from ._model import ModelSpec
from ._store import DEFAULT_ROOT, DEFAULT_ROOT_ENV, USER_HASH_KEY_ENV, Store
from .backends.local import LocalBackend
from .backends.modal_remote import RemoteVolumeBackend

# -- exit codes ------------------------------------------------------------------------------

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_BAD_DATA = 4
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away

EMULATOR_ROOT_ENV = "VOLSTORE_EMULATOR_ROOT"
VOLUME_ENV = "VOLSTORE_VOLUME"
MODELS_ENV = "VOLSTORE_MODELS"
DEFAULT_CONNECT_TIMEOUT = 30.0


class CliError(Exception):
    """An error the CLI reports in one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailableError(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNAVAILABLE)


# -- options shared by every command -----------------------------------------------------------


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


def _options(ctx: typer.Context, json_flag: bool = False) -> Options:
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


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"volstore {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="volstore",
    help="Inspect and maintain a volstore store: a local folder or a Modal Volume.",
    epilog="Exit codes: 0 ok, 1 findings (check found problems, show found nothing), "
    "2 usage error, 3 the store cannot be opened or reached, 4 bad stored data. "
    "Docs: docs/cli.md.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _main(
    ctx: typer.Context,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="The store's local folder "
            f"\\[default: ${DEFAULT_ROOT_ENV}, else ./{DEFAULT_ROOT}].",
            show_default=False,
            file_okay=False,
        ),
    ] = None,
    volume: Annotated[
        str | None,
        typer.Option(
            "--volume",
            envvar=VOLUME_ENV,
            help="A Modal Volume by name, reached through Modal's client API (instead of --root).",
        ),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option("--env", help="The Modal environment of --volume \\[default: Modal's]."),
    ] = None,
    emulator_root: Annotated[
        Path | None,
        typer.Option(
            "--emulator-root",
            envvar=EMULATOR_ROOT_ENV,
            help="Testing aid: --volume names a volume of the offline Modal emulator "
            "rooted here (volstore.testing.VolumeEmulator), not a real Modal Volume.",
            file_okay=False,
        ),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            help="A module (or module:Class) whose volstore models to use; repeatable "
            "\\[default: \\[tool.volstore] models in the nearest pyproject.toml].",
            show_default=False,
        ),
    ] = None,
    json_flag: JsonFlag = False,
    user_hash_key: Annotated[
        str | None,
        typer.Option(
            "--user-hash-key",
            envvar=USER_HASH_KEY_ENV,
            help="The secret of keyed user folders (prefer the environment variable: "
            "command lines are visible to other users).",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bars on stderr \\[default: when stderr is a terminal and not --json].",
            show_default=False,
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            min=0.1,
            help="Seconds to wait for Modal to answer before giving up (exit code 3).",
        ),
    ] = DEFAULT_CONNECT_TIMEOUT,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Inspect and maintain a volstore store: a local folder (--root) or a Modal Volume (--volume).

    Exit codes: 0 ok, 1 findings, 2 usage error, 3 store unavailable, 4 bad stored data.
    """
    del version
    if volume is not None and root is not None:
        raise typer.BadParameter("give --root or --volume, not both", param_hint="'--volume'")
    if root is None and os.environ.get(DEFAULT_ROOT_ENV):
        root = Path(os.environ[DEFAULT_ROOT_ENV])
    env_models = os.environ.get(MODELS_ENV)
    ctx.obj = Options(
        root=root,
        volume=volume,
        environment=environment,
        emulator_root=emulator_root,
        models=list(models or (env_models.split(",") if env_models else [])),
        json=json_flag,
        user_hash_key=user_hash_key or None,
        progress=progress,
        connect_timeout=connect_timeout,
    )


def main() -> None:
    """The ``volstore`` console script (and ``python -m volstore``)."""
    app(prog_name="volstore")


# -- output -------------------------------------------------------------------------------------


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _emit_json(document: Any) -> None:
    typer.echo(json.dumps(_jsonable(document), ensure_ascii=False))


def _note(message: str) -> None:
    """A line on stderr for people (never mixed into stdout)."""
    typer.echo(message, err=True)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, BaseException):
        return str(value)
    return str(value)


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class _Progress:
    """rich progress bars on stderr, or nothing (not a terminal, --json, --no-progress)."""

    def __init__(self, opts: Options) -> None:
        enabled = opts.progress
        if enabled is None:
            enabled = not opts.json and sys.stderr.isatty()
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=_stderr(),
                transient=True,
            )

    def __enter__(self) -> _Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def task(self, description: str, total: int | None = None) -> TaskID | None:
        if self._progress is None:
            return None
        return self._progress.add_task(description, total=total)

    def advance(self, task: TaskID | None, amount: int = 1) -> None:
        if self._progress is not None and task is not None:
            self._progress.advance(task, amount)

    def update(self, task: TaskID | None, completed: int, total: int | None) -> None:
        if self._progress is not None and task is not None:
            self._progress.update(task, completed=completed, total=total)

    def done(self, task: TaskID | None) -> None:
        if self._progress is not None and task is not None:
            self._progress.remove_task(task)


# -- errors -----------------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    _note(f"error: {message}")
    raise typer.Exit(code)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_modal_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("modal", "grpclib", "synchronicity")


@contextlib.contextmanager
def _reporting() -> Iterator[None]:
    """Turn the errors a command expects into one line on stderr and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except BrokenPipeError:
        # The reader went away (``volstore export t | head``): stop quietly, like any
        # Unix tool, and keep the interpreter from complaining when it flushes stdout.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except CliError as exc:
        _fail(str(exc), exc.code)
    except LayoutMismatchError as exc:
        _fail(f"cannot open the store: {exc}", EXIT_UNAVAILABLE)
    except CorruptObjectError as exc:
        _fail(f"bad stored data: {exc} (pass --skip-invalid to skip such files)", EXIT_BAD_DATA)
    except ModelDefinitionError as exc:
        _fail(str(exc), EXIT_USAGE)
    except (BackendError, OSError) as exc:
        _fail(f"storage error: {_first_line(exc)}", EXIT_UNAVAILABLE)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        if _is_modal_error(exc):
            _fail(f"Modal error: {_first_line(exc)}", EXIT_UNAVAILABLE)
        raise


# -- models ------------------------------------------------------------------------------------


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


# -- opening the store -------------------------------------------------------------------------


def _models_for(opts: Options) -> list[type[Any]]:
    if opts.models:
        return load_models(opts.models)
    paths, base = configured_models()
    return load_models(paths, base) if paths else []


def open_store(opts: Options) -> Store:
    """The store the global options name, its models registered and its layout checked.

    Raises CliError (exit code 3) when it cannot be opened: no such folder, no
    Modal package, credentials or network, no such volume, another layout.
    """
    models = _models_for(opts)
    options: dict[str, Any] = {"models": models, "user_hash_key": opts.user_hash_key}
    try:
        if opts.volume is not None:
            store = _open_volume(opts, options)
        else:
            root = opts.root or Path(DEFAULT_ROOT)
            if not root.is_dir():
                hint = (
                    ""
                    if opts.root is not None
                    else f"; give --root PATH or set ${DEFAULT_ROOT_ENV}"
                )
                raise StoreUnavailableError(f"no store at {root}: no such folder{hint}")
            store = Store(LocalBackend(root), **options)
    except ValueError as exc:  # a user hash key too short, say
        raise CliError(str(exc), EXIT_USAGE) from exc
    store.check_layout()
    return store


def _open_volume(opts: Options, options: dict[str, Any]) -> Store:
    from . import modal as volstore_modal

    name = opts.volume
    assert name is not None
    if opts.emulator_root is not None:
        from .testing import VolumeEmulator

        handle: Any = VolumeEmulator(opts.emulator_root).Volume.from_name(
            name, environment_name=opts.environment
        )
        store = volstore_modal.volume_store(handle, mode="remote", **options)
        try:
            handle.listdir("/")
        except Exception as exc:
            emulator = f"the Modal emulator at {opts.emulator_root}"
            if type(exc).__name__ == "NotFoundError":
                raise StoreUnavailableError(f"no volume named {name!r} in {emulator}") from None
            raise StoreUnavailableError(
                f"cannot reach volume {name!r} of {emulator}: {_first_line(exc)}"
            ) from None
        return store
    try:
        store = volstore_modal.store_from_name(
            name, mode="remote", environment_name=opts.environment, **options
        )
    except volstore_modal.ModalUnavailableError as exc:
        raise StoreUnavailableError(str(exc)) from None
    except Exception as exc:
        raise StoreUnavailableError(_modal_reason(name, exc)) from None
    backend = store.backend
    assert isinstance(backend, RemoteVolumeBackend)
    _probe(backend.volume, name, opts.connect_timeout)
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
            f"cannot reach Modal volume {name!r}: Modal refused the credentials: {_first_line(exc)}"
        )
    if kind == "NotFoundError":
        return (
            f"no Modal volume named {name!r} ({_first_line(exc)}); "
            f"create it with `modal volume create {name}`"
        )
    return f"cannot reach Modal volume {name!r}: {_first_line(exc)}"


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
def _session(ctx: typer.Context, json_flag: bool = False) -> Iterator[tuple[Options, Store]]:
    """Open the store for one command, report its errors, close it at the end."""
    opts = _options(ctx, json_flag)
    with _reporting():
        store = open_store(opts)
        try:
            yield opts, store
        finally:
            store.backend.close()


def _spec_of_type(store: Store, name: str) -> ModelSpec:
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


def _repository(store: Store, spec: ModelSpec) -> Any:
    """The model's repository: the bucketed one for a time-bucketed model."""
    if spec.time_field is not None:
        from ._events import bucketed

        return bucketed(store, spec.cls)
    return store.repository(spec.cls)


def _qualname(spec: ModelSpec) -> str:
    return f"{spec.cls.__module__}.{spec.cls.__qualname__}"


# -- looking at files: sizes and user folders ------------------------------------------------------


def _files(store: Store, prefix: str, *, sizes: bool) -> Iterator[tuple[str, int]]:
    """``(path, size)`` of every file below ``prefix``, depth first, folder by folder.

    Local folders and remote volumes give sizes from their listings; another
    backend reads each file when ``sizes`` is asked (else size is 0).
    """
    backend = store.backend
    if isinstance(backend, LocalBackend):
        yield from _local_files(backend, prefix, sizes)
    elif isinstance(backend, RemoteVolumeBackend):
        yield from _remote_files(backend, prefix)
    else:
        for path in store.walk(prefix):
            data = store.read_bytes(path) if sizes else None
            yield path, len(data or b"")


def _local_files(backend: LocalBackend, prefix: str, sizes: bool) -> Iterator[tuple[str, int]]:
    try:
        with os.scandir(backend.path_of(prefix)) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        path = f"{prefix}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _local_files(backend, path, sizes)
        else:
            size = 0
            if sizes:
                with contextlib.suppress(FileNotFoundError):
                    size = entry.stat(follow_symlinks=False).st_size
            yield path, size


def _remote_files(backend: RemoteVolumeBackend, prefix: str) -> Iterator[tuple[str, int]]:
    try:
        listed = backend.volume.listdir(prefix)
    except Exception as exc:
        if isinstance(exc, FileNotFoundError) or type(exc).__name__ == "NotFoundError":
            return
        raise
    entries = []
    for entry in listed:
        name = entry.path.rstrip("/").rpartition("/")[2]
        if name and not name.startswith("."):
            entries.append((name, int(entry.type) == 2, int(getattr(entry, "size", 0) or 0)))
    for name, is_dir, size in sorted(entries):
        path = f"{prefix}/{name}"
        if is_dir:
            yield from _remote_files(backend, path)
        else:
            yield path, size


def _extensions(spec: ModelSpec) -> tuple[str, ...]:
    """The file extensions a model reads (its codec's, and any previous codecs')."""
    return tuple(spec.read_codecs)


def _object_id(name: str, extensions: tuple[str, ...]) -> str | None:
    object_id = id_from_file_name(name, extensions)
    return object_id if object_id is not None and is_valid_id(object_id) else None


def _objects(
    store: Store, resource_type: str, spec: ModelSpec | None, *, sizes: bool
) -> Iterator[tuple[str, str | None, int]]:
    """``(path, user folder or None, size)`` of each object file of a type folder.

    Without a model every file counts; with one, files named ``<valid id><ext>``.
    """
    extensions = _extensions(spec) if spec is not None else None
    length = store.hasher.length
    for path, size in _files(store, resource_type, sizes=sizes):
        parts = path.split("/")
        if extensions is not None and _object_id(parts[-1], extensions) is None:
            continue
        user = parts[-2] if len(parts) >= 3 and is_user_folder(parts[-2], length) else None
        yield path, user, size


def _type_folders(store: Store) -> list[str]:
    """The top-level folders of the store (resource types with or without a model)."""
    return sorted(e.name for e in store.list_folder("") if e.is_dir)


# -- ls ------------------------------------------------------------------------------------------


@app.command("ls")
def ls_command(
    ctx: typer.Context,
    type_name: Annotated[
        str | None,
        typer.Argument(
            metavar="[TYPE]", help="A resource type (or model class name).", show_default=False
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="List this user's object ids.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="At most this many ids (0: all).")
    ] = 100,
    after: Annotated[
        str | None, typer.Option("--after", help="Start after this id (the previous page's last).")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """List resource types with object counts; a type's user folders; or a user's ids (--user)."""
    with _session(ctx, json_flag) as (opts, store):
        if type_name is None:
            if user is not None:
                raise typer.BadParameter("--user needs a TYPE", param_hint="--user")
            _ls_types(opts, store)
        else:
            spec = _spec_of_type(store, type_name)
            if user is None:
                _ls_users(opts, store, spec)
            else:
                _ls_ids(opts, store, spec, user, limit, after)


def _ls_types(opts: Options, store: Store) -> None:
    models = store.models
    names = sorted(set(_type_folders(store)) | set(models))
    rows: list[dict[str, Any]] = []
    with _Progress(opts) as progress:
        for name in names:
            spec = models.get(name)
            task = progress.task(f"counting {name}")
            count = 0
            for _ in _objects(store, name, spec, sizes=False):
                count += 1
                progress.advance(task)
            progress.done(task)
            rows.append(
                {
                    "type": name,
                    "model": _qualname(spec) if spec else None,
                    "bucketed": bool(spec and spec.time_field),
                    "objects": count,
                }
            )
    if opts.json:
        _emit_json({"types": rows})
        return
    if not rows:
        _note("no resource types: the store is empty and no models are registered")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("TYPE", no_wrap=True)
    table.add_column("OBJECTS", justify="right")
    table.add_column("MODEL")
    for row in rows:
        model = row["model"] or "(no model)"
        if row["bucketed"]:
            model += " (time-bucketed)"
        table.add_row(Text(str(row["type"])), str(row["objects"]), Text(str(model)))
    _stdout().print(table)


def _ls_users(opts: Options, store: Store, spec: ModelSpec) -> None:
    counts: dict[str, int] = {}
    with _Progress(opts) as progress:
        task = progress.task(f"listing {spec.resource_type}")
        for _, user, _ in _objects(store, spec.resource_type, spec, sizes=False):
            if user is not None:
                counts[user] = counts.get(user, 0) + 1
            progress.advance(task)
    rows = [{"user_folder": u, "objects": n} for u, n in sorted(counts.items())]
    if opts.json:
        _emit_json({"type": spec.resource_type, "users": rows})
        return
    if not rows:
        _note(f"no {spec.resource_type} objects")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("USER FOLDER", no_wrap=True)
    table.add_column("OBJECTS", justify="right")
    for row in rows:
        table.add_row(str(row["user_folder"]), str(row["objects"]))
    _stdout().print(table)
    _note(
        f"{len(rows)} users, {sum(counts.values())} objects "
        "(user folders are hashes of user ids; list a user's ids with --user USER)"
    )


def _ls_ids(
    opts: Options, store: Store, spec: ModelSpec, user: str, limit: int, after: str | None
) -> None:
    repository = _repository(store, spec)
    try:
        ids: list[str] = repository.ids(user, after=after, limit=(limit + 1) if limit else None)
    except InvalidKeyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--user") from None
    more = bool(limit) and len(ids) > limit
    if more:
        ids = ids[:limit]
    next_after = ids[-1] if more else None
    if opts.json:
        _emit_json(
            {
                "type": spec.resource_type,
                "user": user,
                "user_folder": store.hasher(user),
                "ids": ids,
                "next_after": next_after,
            }
        )
        return
    for object_id in ids:
        typer.echo(object_id)
    if more:
        _note(f"more ids follow: --after {next_after}")
    elif not ids:
        _note(f"{user!r} has no {spec.resource_type} objects")


# -- show ----------------------------------------------------------------------------------------


def _parse_time(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (2024-02-29T23:00:00+00:00)", param_hint="--at"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


@app.command("show")
def show_command(
    ctx: typer.Context,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="A resource type.")],
    user: Annotated[str, typer.Argument(metavar="USER", help="The owner's user id.")],
    object_id: Annotated[str, typer.Argument(metavar="ID", help="The object's id.")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Time-bucketed types: the object's timestamp, or any time in its bucket "
            "(ISO 8601; UTC when no offset). Without it the user's buckets are searched.",
        ),
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Print one object as JSON (exit code 1 when there is none)."""
    with _session(ctx, json_flag) as (opts, store):
        spec = _spec_of_type(store, type_name)
        repository = _repository(store, spec)
        try:
            if spec.time_field is None:
                obj = repository.get(user, object_id)
            elif at is not None:
                obj = repository.get(user, object_id, _parse_time(at))
            else:
                pattern = glob.escape(object_id)
                obj = next(iter(repository.iter(user, pattern=pattern)), None)
        except InvalidKeyError as exc:
            raise typer.BadParameter(str(exc)) from None
        if obj is None:
            _note(f"not found: no {spec.resource_type} object {object_id!r} for user {user!r}")
            raise typer.Exit(EXIT_FINDINGS)
        document = spec.adapter.dump_python(obj, mode="json", by_alias=True)
        if opts.json:
            _emit_json(document)
        else:
            _stdout().print_json(json.dumps(document, ensure_ascii=False))


# -- stats ---------------------------------------------------------------------------------------


@app.command("stats")
def stats_command(
    ctx: typer.Context,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only this type (repeatable).", show_default=False),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=0, help="How many of the biggest users to show.")
    ] = 10,
    json_flag: JsonFlag = False,
) -> None:
    """Objects and bytes per type, and the biggest users (by bytes, over all types)."""
    with _session(ctx, json_flag) as (opts, store):
        models = store.models
        if types:
            names = [_spec_of_type(store, t).resource_type for t in types]
        else:
            names = sorted(set(_type_folders(store)) | set(models))
        per_type: list[dict[str, Any]] = []
        users: dict[str, list[int]] = {}  # folder -> [objects, bytes]; memory: one entry per user
        with _Progress(opts) as progress:
            for name in names:
                spec = models.get(name)
                task = progress.task(f"measuring {name}")
                objects = size = 0
                type_users: set[str] = set()
                for _, user, nbytes in _objects(store, name, spec, sizes=True):
                    objects += 1
                    size += nbytes
                    if user is not None:
                        type_users.add(user)
                        totals = users.setdefault(user, [0, 0])
                        totals[0] += 1
                        totals[1] += nbytes
                    progress.advance(task)
                progress.done(task)
                per_type.append(
                    {
                        "type": name,
                        "model": _qualname(spec) if spec else None,
                        "objects": objects,
                        "bytes": size,
                        "users": len(type_users),
                    }
                )
        biggest = heapq.nlargest(top, users.items(), key=lambda item: (item[1][1], item[0]))
        top_users: list[dict[str, Any]] = [
            {"user_folder": u, "objects": n, "bytes": b} for u, (n, b) in biggest
        ]
        total = {
            "objects": sum(t["objects"] for t in per_type),
            "bytes": sum(t["bytes"] for t in per_type),
            "users": len(users),
        }
        if opts.json:
            _emit_json(
                {
                    "store": store.backend.describe(),
                    "types": per_type,
                    "total": total,
                    "top_users": top_users,
                }
            )
            return
        out = _stdout()
        table = Table(title=Text(store.backend.describe()), box=None, header_style="bold")
        table.add_column("TYPE", no_wrap=True)
        table.add_column("OBJECTS", justify="right")
        table.add_column("BYTES", justify="right")
        table.add_column("USERS", justify="right")
        for row in per_type:
            name = str(row["type"]) + ("" if row["model"] else " (no model)")
            table.add_row(
                Text(name), str(row["objects"]), _human_bytes(row["bytes"]), str(row["users"])
            )
        table.add_section()
        table.add_row(
            "total", str(total["objects"]), _human_bytes(total["bytes"]), str(total["users"])
        )
        out.print(table)
        if top_users:
            users_table = Table(title="biggest users", box=None, header_style="bold")
            users_table.add_column("USER FOLDER", no_wrap=True)
            users_table.add_column("OBJECTS", justify="right")
            users_table.add_column("BYTES", justify="right")
            for row in top_users:
                users_table.add_row(
                    str(row["user_folder"]),
                    str(row["objects"]),
                    _human_bytes(row["bytes"]),
                )
            out.print()
            out.print(users_table)


# -- check ---------------------------------------------------------------------------------------


@app.command("check")
def check_command(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Remove temporary files; move corrupt and misplaced files into the "
            "quarantine folder (never deleted).",
        ),
    ] = False,
    max_findings: Annotated[
        int,
        typer.Option("--max-findings", min=0, help="Findings kept per kind (all are counted)."),
    ] = 1000,
    json_flag: JsonFlag = False,
) -> None:
    """Check the store's integrity: corrupt, temporary, misplaced and unknown files.

    Exit code 1 when anything was found (also after --repair: it reports what it repaired).
    """
    from ._check import check_store

    with _session(ctx, json_flag) as (opts, store):
        if not store.models:
            _note(
                "warning: no models are registered, so every file is reported as unknown "
                "(pass --models IMPORT.PATH or set [tool.volstore] models in pyproject.toml)"
            )
        with _Progress(opts) as progress:
            task = progress.task("checking the store")
            report = check_store(store, repair=repair, max_findings=max_findings)
            progress.done(task)
        if opts.json:
            _emit_json(
                {
                    "ok": report.ok,
                    "summary": report.summary(),
                    "truncated": report.truncated,
                    **_jsonable(report),
                }
            )
        else:
            _render_check(report)
        if not report.ok:
            raise typer.Exit(EXIT_FINDINGS)


def _render_check(report: Any) -> None:
    findings = report.findings()
    out = _stdout()
    if findings:
        table = Table(box=None, header_style="bold")
        table.add_column("KIND", no_wrap=True)
        table.add_column("PATH", overflow="fold")
        table.add_column("REASON", overflow="fold")
        if report.repaired:
            table.add_column("ACTION", overflow="fold")
        for finding in findings:
            row = [Text(finding.kind), Text(finding.path), Text(finding.reason)]
            if report.repaired:
                row.append(Text(finding.action or ""))
            table.add_row(*row)
        out.print(table)
    if report.truncated:
        _note("some findings were counted but not listed: raise --max-findings")
    _note(("ok: " if report.ok else "problems found: ") + report.summary())


# -- gc ------------------------------------------------------------------------------------------


@app.command("gc")
def gc_command(
    ctx: typer.Context,
    older_than: Annotated[
        float | None,
        typer.Option(
            "--older-than",
            min=0,
            metavar="DAYS",
            help="Retention: delete objects of time-bucketed types older than this many days.",
            show_default=False,
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Only this type (repeatable).", show_default=False),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before deleting (scripts).")
    ] = False,
    skip_invalid: SkipInvalid = False,
    json_flag: JsonFlag = False,
) -> None:
    """Retention (--older-than DAYS, time-bucketed types) and empty-folder cleanup (every type)."""
    with _session(ctx, json_flag) as (opts, store):
        models = store.models
        specs = (
            [_spec_of_type(store, t) for t in types]
            if types
            else [models[name] for name in sorted(models)]
        )
        if not specs:
            raise CliError(
                "no models are registered: pass --models IMPORT.PATH or set "
                "[tool.volstore] models in pyproject.toml",
                EXIT_USAGE,
            )
        retained = [s for s in specs if s.time_field is not None]
        cutoff = datetime.now(timezone.utc) - timedelta(days=older_than or 0)
        if older_than is not None:
            if types and len(retained) < len(specs):
                flat = ", ".join(s.resource_type for s in specs if s.time_field is None)
                raise typer.BadParameter(
                    f"{flat}: not time-bucketed; retention applies to time-bucketed types only",
                    param_hint="--older-than",
                )
            if not retained:
                _note("no time-bucketed types: --older-than has nothing to delete")
            elif not yes:
                _confirm_retention(retained, cutoff)
        skipped_files: list[CorruptObjectError] = []
        on_error: Any = skipped_files.append if skip_invalid else "raise"
        results = []
        with _Progress(opts) as progress:
            for spec in specs:
                task = progress.task(f"collecting {spec.resource_type}")
                result: dict[str, Any] = {"type": spec.resource_type}
                if spec.time_field is not None:
                    repository = _repository(store, spec)
                    if older_than is not None:
                        result["retention"] = repository.purge_older_than(cutoff, on_error=on_error)
                    result["cleanup"] = repository.remove_empty_folders()
                else:
                    result["cleanup"] = {"removed_folders": _remove_empty_user_folders(store, spec)}
                progress.done(task)
                results.append(_jsonable(result))
        for error in skipped_files:
            _note(f"skipped: {error}")
        skipped = sorted(set(_type_folders(store)) - set(models)) if not types else []
        removed_objects = sum(r.get("retention", {}).get("removed_objects", 0) for r in results)
        removed_folders = sum(
            len(r.get("retention", {}).get("removed_folders", ()))
            + len(r["cleanup"].get("removed_folders", ()))
            for r in results
        )
        if opts.json:
            _emit_json(
                {
                    "types": results,
                    "removed_objects": removed_objects,
                    "removed_folders": removed_folders,
                    "skipped_types": skipped,
                }
            )
            return
        out = _stdout()
        table = Table(box=None, header_style="bold")
        table.add_column("TYPE", no_wrap=True)
        table.add_column("OBJECTS REMOVED", justify="right")
        table.add_column("BUCKETS REMOVED", justify="right")
        table.add_column("EMPTY FOLDERS REMOVED", justify="right")
        for r in results:
            retention = r.get("retention")
            table.add_row(
                Text(r["type"]),
                str(retention["removed_objects"]) if retention else "-",
                str(len(retention["removed_folders"])) if retention else "-",
                str(len(r["cleanup"].get("removed_folders", ()))),
            )
        out.print(table)
        for r in results:
            for part in (r.get("retention") or {}, r["cleanup"]):
                for stray in (*part.get("stray_folders", ()), *part.get("stray_files", ())):
                    _note(f"warning: left alone (not part of the layout): {stray}")
        for name in skipped:
            _note(f"skipped {name}: no model registered for it")
        _note(f"removed {removed_objects} objects and {removed_folders} folders")


def _interactive() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


def _confirm_retention(specs: Sequence[ModelSpec], cutoff: datetime) -> None:
    what = ", ".join(s.resource_type for s in specs)
    question = f"Delete every {what} object older than {cutoff:%Y-%m-%d %H:%M} UTC?"
    if not _interactive():
        raise CliError(
            f"gc --older-than deletes data ({what} before {cutoff:%Y-%m-%d %H:%M} UTC): "
            "pass --yes to confirm",
            EXIT_USAGE,
        )
    if not typer.confirm(question, default=False, err=True):
        _note("nothing deleted")
        raise typer.Exit(EXIT_OK)


def _remove_empty_user_folders(store: Store, spec: ModelSpec) -> list[str]:
    """Remove the empty user folders of a (not time-bucketed) type; return them; one commit.

    On a local folder ``rmdir`` removes a folder only while it is empty, so a
    concurrent write is never lost. Other backends have no such call: a
    folder that lists empty is removed whole.
    """
    root = spec.resource_type
    length = store.hasher.length
    backend = store.backend
    removed: list[str] = []
    for entry in sorted(store.list_folder(root), key=lambda e: e.name):
        if not entry.is_dir or not is_user_folder(entry.name, length):
            continue
        path = f"{root}/{entry.name}"
        if store.list_folder(path):
            continue
        if isinstance(backend, LocalBackend):
            try:
                os.rmdir(backend.path_of(path))
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    continue
                raise
        else:
            backend.delete_tree(path)
        removed.append(path)
    if removed:
        store.commit()
    return removed


# -- export --------------------------------------------------------------------------------------


class ExportFormat(str, enum.Enum):
    jsonl = "jsonl"
    csv = "csv"


def _columns(spec: ModelSpec) -> list[str]:
    """The CSV columns of a model: its fields (pydantic aliases where set), in order."""
    fields = getattr(spec.cls, "model_fields", None)
    if isinstance(fields, dict):
        return [info.alias or name for name, info in fields.items()]
    import attrs

    return [field.name for field in attrs.fields(spec.cls)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file written under a temporary name and renamed into place when complete."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            f = temporary.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise CliError(f"cannot write {path}: {exc.strerror or exc}", EXIT_USAGE) from exc
        with f:
            yield f
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


@app.command("export")
def export_command(
    ctx: typer.Context,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="A resource type.")],
    format_: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="JSON lines, or CSV with a header.")
    ] = ExportFormat.jsonl,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of stdout.", dir_okay=False
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user's objects.")
    ] = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Stream every object of a type as JSON lines or CSV (nested values as JSON strings)."""
    with _session(ctx) as (opts, store):
        spec = _spec_of_type(store, type_name)
        repository = _repository(store, spec)
        skipped: list[CorruptObjectError] = []
        on_error: Any = skipped.append if skip_invalid else "raise"
        try:
            objects: Iterable[Any] = (
                repository.scan(on_error=on_error)
                if user is None
                else repository.iter(user, on_error=on_error)
            )
        except InvalidKeyError as exc:
            raise typer.BadParameter(str(exc), param_hint="--user") from None
        count = 0
        serializer = spec.adapter
        with _Progress(opts) as progress, _output(output) as out:
            task = progress.task(f"exporting {spec.resource_type}")
            if format_ is ExportFormat.jsonl:
                for obj in objects:
                    out.write(serializer.dump_json(obj, by_alias=True).decode("utf-8"))
                    out.write("\n")
                    count += 1
                    progress.advance(task)
            else:
                columns = _columns(spec)
                writer = csv.writer(out)
                writer.writerow(columns)
                for obj in objects:
                    document = serializer.dump_python(obj, mode="json", by_alias=True)
                    writer.writerow([_cell(document.get(column)) for column in columns])
                    count += 1
                    progress.advance(task)
        for error in skipped:
            _note(f"skipped: {error}")
        if output is not None:
            _note(f"exported {count} {spec.resource_type} objects to {output}")


# -- migrate -------------------------------------------------------------------------------------


@app.command("migrate")
def migrate_command(
    ctx: typer.Context,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="A resource type.")],
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Objects rewritten per commit.")
    ] = 500,
    skip_invalid: SkipInvalid = False,
    json_flag: JsonFlag = False,
) -> None:
    """Rewrite every object of a type in its current schema version and codec.

    One commit per chunk; a migration stopped part way is simply run again.
    """
    from ._migrate import migrate

    with _session(ctx, json_flag) as (opts, store):
        spec = _spec_of_type(store, type_name)
        with _Progress(opts) as progress:
            task = progress.task(f"migrating {spec.resource_type}")

            def report_progress(done: int, total: int) -> None:
                progress.update(task, done, total)

            report = migrate(
                store,
                spec.cls,
                chunk_size=chunk_size,
                progress=report_progress,
                on_error="skip" if skip_invalid else "raise",
            )
        if opts.json:
            _emit_json(report)
            return
        _stdout().print(
            Text(
                f"{spec.resource_type}: {report.total} objects, {report.rewritten} rewritten, "
                f"{report.already_current} already current, {report.commits} commits"
            )
        )
        for error in report.errors:
            _note(f"skipped: {error}")


__all__ = [
    "EXIT_BAD_DATA",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "app",
    "configured_models",
    "load_models",
    "main",
    "open_store",
]
