"""``export``: stream every object of a type as JSON lines or CSV."""

from __future__ import annotations

import contextlib
import csv
import enum
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from .._errors import CorruptObjectError, InvalidKeyError
from .._model import ModelSpec
from .config import JsonFlag, SkipInvalid, repository, session, spec_of_type
from .errors import EXIT_USAGE, CliError, note_skipped
from .output import ProgressBars, note, plural


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
    json_flag: JsonFlag = False,
) -> None:
    """Stream every object of a type as JSON lines or CSV (nested values as JSON strings).

    The output is always the chosen format; --json is accepted like on every
    command and changes nothing here.
    """
    with session(ctx, json_flag) as (opts, store):
        spec = spec_of_type(store, type_name, opts)
        repo = repository(store, spec)
        skipped: list[CorruptObjectError] = []
        on_error: Any = skipped.append if skip_invalid else "raise"
        try:
            if user is not None:
                store.hasher(user)  # checks the user id now: iter() is lazy
            objects: Iterable[Any] = (
                repo.scan(on_error=on_error) if user is None else repo.iter(user, on_error=on_error)
            )
        except InvalidKeyError as exc:
            raise typer.BadParameter(str(exc), param_hint="--user") from None
        count = 0
        serializer = spec.adapter
        with ProgressBars(opts) as progress, _output(output) as out:
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
        note_skipped(skipped, verbose=opts.verbose)
        if output is not None:
            note(f"exported {plural(count, f'{spec.resource_type} object')} to {output}")


__all__ = ["ExportFormat", "export_command"]
