"""The typer app: global options, the commands, and ``main`` (the ``volstore`` console script)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from .._store import DEFAULT_ROOT, DEFAULT_ROOT_ENV, USER_HASH_KEY_ENV
from .config import (
    DEFAULT_CONNECT_TIMEOUT,
    EMULATOR_ROOT_ENV,
    MODELS_ENV,
    S3_ENV,
    VOLUME_ENV,
    JsonFlag,
    Options,
)
from .errors import EXIT_USAGE, usage_line
from .export import export_command
from .find import find_command, reindex_command
from .inspect import ls_command, show_command, stats_command
from .maintain import check_command, gc_command, migrate_command
from .output import note


def _hide_flag_types(params: Sequence[Any]) -> None:
    # typer prints a type after every option, "<bool>" on flags too; a flag takes no value.
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class _Command(TyperCommand):
    """A command whose help shows no type on flags."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _hide_flag_types([*self.params, self.get_help_option(ctx)])
        super().format_help(ctx, formatter)


class _Group(TyperGroup):
    """The ``volstore`` group: no types on flags in help, and usage errors on one line."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _hide_flag_types([*self.params, self.get_help_option(ctx)])
        super().format_help(ctx, formatter)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; a usage error is one line on stderr (exit code 2), as every error is."""
        if not standalone_mode:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.Abort:
            note("aborted")
            sys.exit(1)
        except typer.TyperException as exc:  # click's exceptions, as typer vendors them
            if type(exc).__name__ != "NoArgsIsHelpError":  # the help was printed instead
                note(f"error: {usage_line(exc)}")
            sys.exit(getattr(exc, "exit_code", EXIT_USAGE))
        sys.exit(code if isinstance(code, int) else 0)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"volstore {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="volstore",
    cls=_Group,
    help="Inspect and maintain a volstore store: a local folder, a Modal Volume or an S3 bucket.",
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
            metavar="PATH",
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
            metavar="NAME",
            envvar=VOLUME_ENV,
            help="A Modal Volume by name, reached through Modal's client API (instead of --root).",
        ),
    ] = None,
    environment: Annotated[
        str | None,
        typer.Option(
            "--env", metavar="NAME", help="The Modal environment of --volume \\[default: Modal's]."
        ),
    ] = None,
    emulator_root: Annotated[
        Path | None,
        typer.Option(
            "--emulator-root",
            metavar="PATH",
            envvar=EMULATOR_ROOT_ENV,
            help="Testing aid: --volume names a volume of the offline Modal emulator "
            "rooted here (volstore.testing.VolumeEmulator), not a real Modal Volume.",
            file_okay=False,
        ),
    ] = None,
    s3: Annotated[
        str | None,
        typer.Option(
            "--s3",
            metavar="URL",
            envvar=S3_ENV,
            help="s3://BUCKET/PREFIX: a store in S3-compatible object storage (instead of "
            "--root); credentials come from the AWS environment variables or profiles.",
        ),
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            metavar="URL",
            envvar=["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
            help="The S3-compatible server of --s3 (R2, MinIO, SeaweedFS, ...) \\[default: AWS].",
            show_default=False,
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            metavar="NAME",
            envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
            help="The region of the --s3 bucket \\[default: the AWS profile's].",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            envvar="AWS_PROFILE",
            help="The AWS profile whose credentials --s3 uses.",
            show_default=False,
        ),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            metavar="IMPORT.PATH",
            help="A module (or module:Class) whose volstore models to use; repeatable "
            f"\\[default: ${MODELS_ENV} (comma-separated), else \\[tool.volstore] models in "
            "the project's pyproject.toml].",
            show_default=False,
        ),
    ] = None,
    json_flag: JsonFlag = False,
    user_hash_key: Annotated[
        str | None,
        typer.Option(
            "--user-hash-key",
            metavar="KEY",
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
            metavar="SECONDS",
            min=0.1,
            help="Seconds to wait for Modal to answer, or to connect to the --s3 server, "
            "before giving up (exit code 3).",
        ),
    ] = DEFAULT_CONNECT_TIMEOUT,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Say where the models came from and which store is open; "
            "print errors in full below their one line.",
        ),
    ] = False,
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
    """Inspect and maintain a volstore store: a local folder (--root), a Modal Volume (--volume)
    or an S3 bucket (--s3).

    Exit codes: 0 ok, 1 findings, 2 usage error, 3 store unavailable, 4 bad stored data.
    """
    del version
    if volume is not None and root is not None:
        raise typer.BadParameter("give --root or --volume, not both", param_hint="'--volume'")
    if s3 is not None and (root is not None or volume is not None):
        raise typer.BadParameter("give --s3 or --root or --volume, one only", param_hint="'--s3'")
    if root is None and os.environ.get(DEFAULT_ROOT_ENV):
        root = Path(os.environ[DEFAULT_ROOT_ENV])
    env_models = os.environ.get(MODELS_ENV)
    ctx.obj = Options(
        root=root,
        volume=volume,
        environment=environment,
        emulator_root=emulator_root,
        s3=s3,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        models=list(models or (env_models.split(",") if env_models else [])),
        models_option="--models" if models else f"${MODELS_ENV}",
        json=json_flag,
        user_hash_key=user_hash_key or None,
        progress=progress,
        connect_timeout=connect_timeout,
        verbose=verbose,
    )


# In the order of `volstore --help`.
for _name, _function in (
    ("ls", ls_command),
    ("show", show_command),
    ("stats", stats_command),
    ("find", find_command),
    ("check", check_command),
    ("reindex", reindex_command),
    ("gc", gc_command),
    ("export", export_command),
    ("migrate", migrate_command),
):
    app.command(_name, cls=_Command)(_function)


def main() -> None:
    """The ``volstore`` console script (and ``python -m volstore``)."""
    app(prog_name="volstore")


__all__ = ["app", "main"]
