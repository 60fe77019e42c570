"""Queries from the command line: ``find`` and ``reindex``.

    volstore find jobs --where 'status=open' --where 'next_run<2026-01-01' --order-by -next_run
    volstore find jobs --user ada --where 'tags contains urgent' --limit 20 --json
    volstore reindex jobs

A ``--where`` is ``FIELD OP VALUE`` with ``=``, ``!=``, ``<``, ``<=``, ``>``,
``>=``, or ``FIELD in A,B,C``, ``FIELD startswith TEXT``, ``FIELD contains
ITEM``; the value is read as the field's type (``null`` is None; a time
without an offset is in UTC). Without
``--user`` a query covers every user; one that no index serves reads every
object of the type, and says so, with its progress and the files it read.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .._conditions import Condition, compare, contains, is_in, starts_with
from .._errors import CorruptObjectError, InvalidKeyError, QueryError
from .._fields import field_ref
from .._model import ModelSpec
from .._order import DATETIME
from .._reindex import reindex
from .config import JsonFlag, SkipInvalid, repository, session, spec_of_type
from .errors import EXIT_FINDINGS, note_skipped
from .output import ProgressBars, emit_json, jsonable, note, plural, stdout

_SYMBOL = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(!=|<=|>=|==|=|<|>)\s*(.*?)\s*$", re.DOTALL)
_WORD = re.compile(r"^\s*([A-Za-z_][\w.]*)\s+(in|startswith|contains)\s+(.*?)\s*$", re.DOTALL)


def parse_where(spec: ModelSpec, text: str) -> Condition:
    """One ``--where`` expression as a condition; QueryError naming what is wrong."""
    match = _SYMBOL.match(text) or _WORD.match(text)
    if match is None:
        raise QueryError(
            f"{text!r} is not FIELD OP VALUE (OP: = != < <= > >=, or the words "
            "in, startswith, contains)"
        )
    name, op, value = match.groups()
    field = field_ref(spec, name)
    times = field.kinds is not None and DATETIME in field.kinds
    if op == "in":
        return is_in(field, [_value(part, times) for part in value.split(",")])
    if op == "startswith":
        return starts_with(field, value)
    if op == "contains":
        return contains(field, _value(value, False))
    return compare(field, "==" if op in ("=", "==") else op, _value(value, times))


def _value(text: str, times: bool) -> Any:
    """A value as typed: ``null`` is None; a time without an offset is in UTC."""
    if text == "null":
        return None
    if times:
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text  # the field's own validation says what is wrong
        return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    return text


def find_command(
    ctx: typer.Context,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="A resource type.")],
    user: Annotated[
        str | None,
        typer.Option("--user", "-u", help="Only this user's objects (default: every user)."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            "-w",
            metavar="EXPR",
            help="A condition, FIELD OP VALUE (repeatable; all must hold): "
            "'status=open', 'due<2026-01-01', 'status in open,late', "
            "'name startswith rep', 'tags contains x'.",
            show_default=False,
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            "-o",
            metavar="FIELD",
            help="Sort by this field; -FIELD for descending (repeatable). Ties: by id.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=0, help="At most this many objects (a page)."),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Resume after the last page (the cursor it printed)."),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Say how the query would run, and stop.")
    ] = False,
    skip_invalid: SkipInvalid = False,
    json_flag: JsonFlag = False,
) -> None:
    """Find the objects of a type whose fields match, in order (exit code 1 when none).

    Uses the model's indexes where a condition allows; prints the files read.
    """
    with session(ctx, json_flag) as (opts, store):
        spec = spec_of_type(store, type_name, opts)
        repo = repository(store, spec)
        skipped: list[CorruptObjectError] = []
        try:
            query = repo.query(user) if user is not None else repo.query(all_users=True)
        except InvalidKeyError as exc:
            raise typer.BadParameter(str(exc), param_hint="--user") from None
        try:
            query = query.where(*(parse_where(spec, text) for text in where or ()))
        except QueryError as exc:
            raise typer.BadParameter(str(exc), param_hint="--where") from None
        try:
            query = query.order_by(*(order_by or ())).after(cursor)
        except QueryError as exc:
            hint = "--cursor" if "cursor" in str(exc) else "--order-by"
            raise typer.BadParameter(str(exc), param_hint=hint) from None
        plan = query.explain()
        if explain:
            if opts.json:
                emit_json({"plan": str(plan), "index": plan.index, "scope": plan.scope})
            else:
                stdout().print(Text(str(plan)))
            return
        if plan.index is None and user is None:
            note(f"no index serves this query: reading every {spec.resource_type} object")
        reads_before = store.stats.reads
        with ProgressBars(opts) as progress:
            task = progress.task(f"reading {spec.resource_type}")
            query = query.progress(lambda done: progress.update(task, done, None))
            query = query.on_error(skipped.append if skip_invalid else "raise")
            if limit is None:
                found, next_cursor = query.all(), None
            else:
                page = query.page(limit) if limit > 0 else None
                found = page.items if page is not None else []
                next_cursor = page.cursor if page is not None else None
            progress.done(task)
        files_read = store.stats.reads - reads_before
        note_skipped(skipped, verbose=opts.verbose)
        _print(opts.json, spec, query, found, next_cursor, files_read, str(plan))
        if not found:
            raise typer.Exit(EXIT_FINDINGS)


def _print(
    as_json: bool,
    spec: ModelSpec,
    query: Any,
    found: list[Any],
    cursor: str | None,
    files_read: int,
    plan: str,
) -> None:
    adapter = spec.adapter
    documents = [adapter.dump_python(obj, mode="json", by_alias=True) for obj in found]
    if as_json:
        emit_json({"objects": documents, "cursor": cursor, "files_read": files_read, "plan": plan})
        return
    fields = [f for f in _shown_fields(query) if f not in (spec.owner_field, spec.id_field)]
    table = Table(box=None, header_style="bold")
    for column in ["USER", "ID", *(f.upper() for f in fields)]:
        table.add_column(column, overflow="fold")
    for obj, document in zip(found, documents, strict=True):
        row = [str(spec.owner(obj)), str(spec.object_id(obj))]
        row += [_cell(_dig(document, f)) for f in fields]
        table.add_row(*(Text(cell) for cell in row))
    if found:
        stdout().print(table)
    note(f"{plural(len(found), 'object')}; read {plural(files_read, 'file')} ({plan})")
    if cursor is not None:
        note(f"more: --cursor {cursor}")


def _shown_fields(query: Any) -> list[str]:
    """The fields a query names (conditions, then order), each once, in order."""
    names: list[str] = []
    for field in [*query._condition.fields(), *(o.field for o in query._order)]:
        if field.name not in names:
            names.append(field.name)
    return names


def _dig(document: Any, path: str) -> Any:
    for step in path.split("."):
        document = document.get(step) if isinstance(document, dict) else None
    return document


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(jsonable(value), ensure_ascii=False)
    return str(value)


def reindex_command(
    ctx: typer.Context,
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="A resource type.")],
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Start over instead of resuming a reindex that stopped."),
    ] = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Entries written or removed per commit.")
    ] = 500,
    min_age: Annotated[
        float,
        typer.Option(
            "--min-age",
            min=0,
            metavar="SECONDS",
            help="Leave stale-looking entries younger than this (a writer may be mid-flush).",
        ),
    ] = 60.0,
    skip_invalid: SkipInvalid = False,
    json_flag: JsonFlag = False,
) -> None:
    """Rebuild a type's indexes: write missing entries, remove stale ones (resumable).

    Streams folder by folder and commits every chunk with a checkpoint: run it
    again after an interruption and it goes on where it stopped. Exit code 1
    when a unique value is held by two objects (listed on stderr).
    """
    with session(ctx, json_flag) as (opts, store):
        spec = spec_of_type(store, type_name, opts)
        if not store.engine.indexes(spec):
            note(f"{spec.cls.__name__} declares no index: removing any index folders it left")
        with ProgressBars(opts) as progress:
            tasks = {
                "objects": progress.task(f"{spec.resource_type}: objects read"),
                "entries": progress.task(f"{spec.resource_type}: entries checked"),
            }
            report = reindex(
                store,
                spec.cls,
                chunk_size=chunk_size,
                progress=lambda phase, done: progress.update(tasks[phase], done, None),
                on_error="skip" if skip_invalid else "raise",
                restart=restart,
                min_age=min_age,
            )
            for task in tasks.values():
                progress.done(task)
        if opts.json:
            emit_json(report)
        else:
            resumed = " (resumed)" if report.resumed else ""
            stdout().print(
                Text(
                    f"{spec.resource_type}{resumed}: {plural(report.objects, 'object')} read, "
                    f"{plural(report.written, 'entry', 'entries')} written, "
                    f"{report.removed} removed, {report.young} left (younger than {min_age:g} s), "
                    f"{plural(len(report.conflicts), 'conflict')}, "
                    f"{plural(report.commits, 'commit')}"
                )
            )
            for name in report.removed_indexes:
                note(f"removed index folder {name!r}: {spec.cls.__name__} no longer declares it")
        note_skipped(report.errors, verbose=opts.verbose)
        for path in report.conflicts:
            note(f"conflict: {path} holds a value of a unique index another object holds")
        if report.conflicts:
            raise typer.Exit(EXIT_FINDINGS)


__all__ = ["find_command", "parse_where", "reindex_command"]
