"""Looking at a store without changing it: ``ls``, ``show`` and ``stats``."""

from __future__ import annotations

import glob
import heapq
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .._errors import InvalidKeyError
from .._model import ModelSpec
from .._store import Store
from .config import (
    JsonFlag,
    Options,
    no_models_hint,
    qualname,
    repository,
    session,
    spec_of_type,
)
from .errors import EXIT_FINDINGS
from .output import ProgressBars, emit_json, human_bytes, note, plural, stdout

# -- the files of a type ----------------------------------------------------------------------


def objects(
    store: Store, resource_type: str, spec: ModelSpec | None, *, sizes: bool
) -> Iterator[tuple[str, str | None, int]]:
    """``(path, user folder or None, size)`` of each object file of a type folder.

    Without a model every file counts; with one, files named ``<valid id><ext>``
    for the extensions it reads (its codec's, and any previous codecs').
    """
    layout = store.engine.layout
    for path, size in _files(store, resource_type, sizes=sizes):
        parts = path.split("/")
        if spec is not None and layout.object_id_of(spec, parts[-1]) is None:
            continue
        user = parts[-2] if len(parts) >= 3 and layout.is_level_name("user", parts[-2]) else None
        yield path, user, size


def _files(store: Store, prefix: str, *, sizes: bool) -> Iterator[tuple[str, int]]:
    """``(path, size)`` of every file below ``prefix``, depth first, folder by folder.

    Names starting with ``.`` (temporary files) are left out; sizes come from
    the listings (0 when not asked for).
    """
    entries = sorted(store.engine.list(prefix, details=sizes), key=lambda e: e.name)
    for entry in entries:
        path = f"{prefix}/{entry.name}"
        if entry.is_dir:
            yield from _files(store, path, sizes=sizes)
        else:
            yield path, entry.size or 0


def type_folders(store: Store) -> list[str]:
    """The top-level folders of the store (resource types with or without a model)."""
    return sorted(e.name for e in store.engine.list("") if e.is_dir)


def note_unclaimed(opts: Options, names: Sequence[str]) -> None:
    """A hint when folders have no model: how to name the models, and where the CLI looked."""
    if not names:
        return
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    note(f"hint: no model claims {shown}; {no_models_hint(opts)}")


# -- ls ------------------------------------------------------------------------------------------


def ls_command(
    ctx: typer.Context,
    type_name: Annotated[
        str | None,
        typer.Argument(
            metavar="TYPE", help="A resource type (or model class name).", show_default=False
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
    with session(ctx, json_flag) as (opts, store):
        if type_name is None:
            if user is not None:
                raise typer.BadParameter("--user needs a TYPE", param_hint="--user")
            _ls_types(opts, store)
        else:
            spec = spec_of_type(store, type_name, opts)
            if user is None:
                _ls_users(opts, store, spec)
            else:
                _ls_ids(opts, store, spec, user, limit, after)


def _ls_types(opts: Options, store: Store) -> None:
    models = store.models
    names = sorted(set(type_folders(store)) | set(models))
    rows: list[dict[str, Any]] = []
    with ProgressBars(opts) as progress:
        for name in names:
            spec = models.get(name)
            task = progress.task(f"counting {name}")
            count = 0
            for _ in objects(store, name, spec, sizes=False):
                count += 1
                progress.advance(task)
            progress.done(task)
            rows.append(
                {
                    "type": name,
                    "model": qualname(spec) if spec else None,
                    "bucketed": bool(spec and spec.time_field),
                    "objects": count,
                }
            )
    unclaimed = [str(row["type"]) for row in rows if row["model"] is None]
    if opts.json:
        emit_json({"types": rows})
        note_unclaimed(opts, unclaimed)
        return
    if not rows:
        note("no resource types: the store is empty and no models are registered")
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
    stdout().print(table)
    note_unclaimed(opts, unclaimed)


def _ls_users(opts: Options, store: Store, spec: ModelSpec) -> None:
    counts: dict[str, int] = {}
    with ProgressBars(opts) as progress:
        task = progress.task(f"listing {spec.resource_type}")
        for _, user, _ in objects(store, spec.resource_type, spec, sizes=False):
            if user is not None:
                counts[user] = counts.get(user, 0) + 1
            progress.advance(task)
    rows = [{"user_folder": u, "objects": n} for u, n in sorted(counts.items())]
    if opts.json:
        emit_json({"type": spec.resource_type, "users": rows})
        return
    if not rows:
        note(f"no {spec.resource_type} objects")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("USER FOLDER", no_wrap=True)
    table.add_column("OBJECTS", justify="right")
    for row in rows:
        table.add_row(str(row["user_folder"]), str(row["objects"]))
    stdout().print(table)
    note(
        f"{plural(len(rows), 'user')}, {plural(sum(counts.values()), 'object')} "
        "(user folders are hashes of user ids; list a user's ids with --user USER)"
    )


def _ls_ids(
    opts: Options, store: Store, spec: ModelSpec, user: str, limit: int, after: str | None
) -> None:
    repo = repository(store, spec)
    try:
        ids: list[str] = repo.ids(user, after=after, limit=(limit + 1) if limit else None)
    except InvalidKeyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--user") from None
    more = bool(limit) and len(ids) > limit
    if more:
        ids = ids[:limit]
    next_after = ids[-1] if more else None
    if opts.json:
        emit_json(
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
        note(f"more ids follow: --after {next_after}")
    elif not ids:
        note(f"{user!r} has no {spec.resource_type} objects")


# -- show ----------------------------------------------------------------------------------------


def _parse_time(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (2024-02-29T23:00:00+00:00)", param_hint="--at"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


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
    with session(ctx, json_flag) as (opts, store):
        spec = spec_of_type(store, type_name, opts)
        repo = repository(store, spec)
        try:
            if spec.time_field is None:
                obj = repo.get(user, object_id)
            elif at is not None:
                obj = repo.get(user, object_id, _parse_time(at))
            else:
                pattern = glob.escape(object_id)
                obj = next(iter(repo.iter(user, pattern=pattern)), None)
        except InvalidKeyError as exc:
            raise typer.BadParameter(str(exc)) from None
        if obj is None:
            note(f"not found: no {spec.resource_type} object {object_id!r} for user {user!r}")
            raise typer.Exit(EXIT_FINDINGS)
        document = spec.adapter.dump_python(obj, mode="json", by_alias=True)
        if opts.json:
            emit_json(document)
        else:
            stdout().print_json(json.dumps(document, ensure_ascii=False))


# -- stats ---------------------------------------------------------------------------------------


def stats_command(
    ctx: typer.Context,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type", "-t", metavar="TYPE", help="Only this type (repeatable).", show_default=False
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=0, help="How many of the biggest users to show.")
    ] = 10,
    json_flag: JsonFlag = False,
) -> None:
    """Objects and bytes per type, and the biggest users (by bytes, over all types)."""
    with session(ctx, json_flag) as (opts, store):
        models = store.models
        if types:
            names = [spec_of_type(store, t, opts).resource_type for t in types]
        else:
            names = sorted(set(type_folders(store)) | set(models))
        per_type: list[dict[str, Any]] = []
        users: dict[str, list[int]] = {}  # folder -> [objects, bytes]; memory: one entry per user
        with ProgressBars(opts) as progress:
            for name in names:
                spec = models.get(name)
                task = progress.task(f"measuring {name}")
                count = size = 0
                type_users: set[str] = set()
                for _, user, nbytes in objects(store, name, spec, sizes=True):
                    count += 1
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
                        "model": qualname(spec) if spec else None,
                        "objects": count,
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
        unclaimed = [str(row["type"]) for row in per_type if row["model"] is None]
        if opts.json:
            emit_json(
                {
                    "store": store.backend.describe(),
                    "types": per_type,
                    "total": total,
                    "top_users": top_users,
                }
            )
        else:
            _print_stats(store, per_type, total, top_users)
        note_unclaimed(opts, unclaimed)


def _print_stats(
    store: Store,
    per_type: list[dict[str, Any]],
    total: dict[str, int],
    top_users: list[dict[str, Any]],
) -> None:
    out = stdout()
    table = Table(title=Text(store.backend.describe()), box=None, header_style="bold")
    table.add_column("TYPE", no_wrap=True)
    table.add_column("OBJECTS", justify="right")
    table.add_column("BYTES", justify="right")
    table.add_column("USERS", justify="right")
    for row in per_type:
        name = str(row["type"]) + ("" if row["model"] else " (no model)")
        table.add_row(Text(name), str(row["objects"]), human_bytes(row["bytes"]), str(row["users"]))
    table.add_section()
    table.add_row("total", str(total["objects"]), human_bytes(total["bytes"]), str(total["users"]))
    out.print(table)
    if top_users:
        users_table = Table(title="biggest users", box=None, header_style="bold")
        users_table.add_column("USER FOLDER", no_wrap=True)
        users_table.add_column("OBJECTS", justify="right")
        users_table.add_column("BYTES", justify="right")
        for row in top_users:
            users_table.add_row(
                str(row["user_folder"]), str(row["objects"]), human_bytes(row["bytes"])
            )
        out.print()
        out.print(users_table)


__all__ = [
    "ls_command",
    "note_unclaimed",
    "objects",
    "show_command",
    "stats_command",
    "type_folders",
]
