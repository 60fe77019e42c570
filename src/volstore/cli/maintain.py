"""Keeping a store healthy: ``check``, ``gc`` and ``migrate``."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .._check import DEFAULT_TEMPORARY_MIN_AGE
from .._errors import CorruptObjectError
from .._model import ModelSpec
from .._retention import remove_empty_folders
from .._store import Store
from .config import JsonFlag, Options, SkipInvalid, no_models_hint, repository, session
from .config import spec_of_type as _spec_of_type
from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, CliError, note_skipped, reason_line
from .inspect import type_folders
from .output import ProgressBars, emit_json, jsonable, note, plural, stdout

# -- check ---------------------------------------------------------------------------------------


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
    min_age: Annotated[
        float,
        typer.Option(
            "--min-age",
            min=0,
            help="Seconds before --repair touches what a live writer may still use "
            "(temporary files of other machines, the copies of a duplicate); 0 when "
            "no writer is running.",
        ),
    ] = DEFAULT_TEMPORARY_MIN_AGE,
    json_flag: JsonFlag = False,
) -> None:
    """Check the store's integrity: corrupt, temporary, misplaced, duplicate and unknown files.

    Exit code 1 when anything was found (also after --repair: it reports what it repaired).
    """
    from .._check import check_store

    with session(ctx, json_flag) as (opts, store):
        if not store.models:
            note(
                "warning: no models are registered, so every file is reported as unknown; "
                + no_models_hint(opts)
            )
        with ProgressBars(opts) as progress:
            task = progress.task("checking the store")
            report = check_store(
                store, repair=repair, max_findings=max_findings, temporary_min_age=min_age
            )
            progress.done(task)
        if opts.json:
            emit_json(
                {
                    "ok": report.ok,
                    "summary": report.summary(),
                    "truncated": report.truncated,
                    **jsonable(report),
                }
            )
        else:
            _print_check(report, verbose=opts.verbose)
        if not report.ok:
            raise typer.Exit(EXIT_FINDINGS)


def _print_check(report: Any, *, verbose: bool) -> None:
    findings = report.findings()
    if findings:
        table = Table(box=None, header_style="bold")
        table.add_column("KIND", no_wrap=True)
        table.add_column("PATH", overflow="fold")
        table.add_column("REASON", overflow="fold")
        if report.repaired:
            table.add_column("ACTION", overflow="fold")
        for finding in findings:
            # One line of reason per file (``path: field: reason``); --verbose: all of it.
            reason = finding.reason if verbose else reason_line(finding.reason)
            row = [Text(finding.kind), Text(finding.path), Text(reason)]
            if report.repaired:
                row.append(Text(finding.action or ""))
            table.add_row(*row)
        stdout().print(table)
    if report.truncated:
        note("some findings were counted but not listed: raise --max-findings")
    note(("ok: " if report.ok else "problems found: ") + _check_summary(report))


def _check_summary(report: Any) -> str:
    """``CheckReport.summary()`` in words, each count with its noun in the right number."""
    found = ", ".join(f"{count} {kind}" for kind, count in report.totals.items())
    checked = (
        f"checked {plural(report.files_checked, 'file')} "
        f"({plural(report.objects_checked, 'object')}): {found}"
    )
    if report.repaired:
        checked += f"; removed {report.removed}, quarantined {report.quarantined}"
    return checked


# -- gc ------------------------------------------------------------------------------------------


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
        typer.Option(
            "--type", "-t", metavar="TYPE", help="Only this type (repeatable).", show_default=False
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before deleting (scripts).")
    ] = False,
    skip_invalid: SkipInvalid = False,
    json_flag: JsonFlag = False,
) -> None:
    """Retention (--older-than DAYS, time-bucketed types) and empty-folder cleanup (every type)."""
    with session(ctx, json_flag) as (opts, store):
        models = store.models
        specs = (
            [_spec_of_type(store, t, opts) for t in types]
            if types
            else [models[name] for name in sorted(models)]
        )
        if not specs:
            raise CliError(f"no models are registered: {no_models_hint(opts)}", EXIT_USAGE)
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
                note("no time-bucketed types: --older-than has nothing to delete")
            elif not yes:
                _confirm_retention(retained, cutoff)
        skipped_files: list[CorruptObjectError] = []
        on_error: Any = skipped_files.append if skip_invalid else "raise"
        results = []
        with ProgressBars(opts) as progress:
            for spec in specs:
                task = progress.task(f"collecting {spec.resource_type}")
                result: dict[str, Any] = {"type": spec.resource_type}
                if spec.time_field is not None:
                    repo = repository(store, spec)
                    if older_than is not None:
                        result["retention"] = repo.purge_older_than(cutoff, on_error=on_error)
                    result["cleanup"] = repo.remove_empty_folders()
                else:
                    result["cleanup"] = {"removed_folders": _remove_empty_user_folders(store, spec)}
                progress.done(task)
                results.append(jsonable(result))
        note_skipped(skipped_files, verbose=opts.verbose)
        skipped = sorted(set(type_folders(store)) - set(models)) if not types else []
        _report_gc(opts, results, skipped)


def _report_gc(opts: Options, results: list[dict[str, Any]], skipped: list[str]) -> None:
    removed_objects = sum(r.get("retention", {}).get("removed_objects", 0) for r in results)
    removed_folders = sum(
        len(r.get("retention", {}).get("removed_folders", ()))
        + len(r["cleanup"].get("removed_folders", ()))
        for r in results
    )
    if opts.json:
        emit_json(
            {
                "types": results,
                "removed_objects": removed_objects,
                "removed_folders": removed_folders,
                "skipped_types": skipped,
            }
        )
        return
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
    stdout().print(table)
    for r in results:
        for part in (r.get("retention") or {}, r["cleanup"]):
            for stray in (*part.get("stray_folders", ()), *part.get("stray_files", ())):
                note(f"warning: left alone (not part of the layout): {stray}")
    for name in skipped:
        note(f"skipped {name}: no model registered for it")
    note(f"removed {plural(removed_objects, 'object')} and {plural(removed_folders, 'folder')}")


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
        note("nothing deleted")
        raise typer.Exit(EXIT_OK)


def _remove_empty_user_folders(store: Store, spec: ModelSpec) -> list[str]:
    """Remove the empty user folders of a (not time-bucketed) type; return them; one commit."""
    return list(remove_empty_folders(store.engine, spec).removed_folders)


# -- migrate -------------------------------------------------------------------------------------


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
    Bad stored data stops it before anything is written (exit code 4), unless
    --skip-invalid leaves such files alone.
    """
    from .._migrate import migrate

    with session(ctx, json_flag) as (opts, store):
        spec = _spec_of_type(store, type_name, opts)
        with ProgressBars(opts) as progress:
            invalid = _invalid_files(store, spec, progress, skip_invalid=skip_invalid)
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
        report = _with_invalid(report, invalid)
        if opts.json:
            emit_json(report)
            return
        skipped = f", {len(report.errors)} skipped" if report.errors else ""
        stdout().print(
            Text(
                f"{spec.resource_type}: {plural(report.total, 'object')}, "
                f"{report.rewritten} rewritten, {report.already_current} already current"
                f"{skipped}, {plural(report.commits, 'commit')}"
            )
        )
        note_skipped(report.errors, verbose=opts.verbose)


def _invalid_files(
    store: Store, spec: ModelSpec, progress: ProgressBars, *, skip_invalid: bool
) -> list[CorruptObjectError]:
    """Read and validate every object of the type first; raise (or, skipping, collect) bad ones.

    ``volstore.migrate`` counts a file already in the current codec and schema
    version as "already current" without validating it, so a corrupt file
    there would pass unnoticed (exit code 0). This pass makes bad stored data
    stop the command before anything is written, as every other command does.
    """
    invalid: list[CorruptObjectError] = []
    task = progress.task(f"validating {spec.resource_type}")
    on_error: Any = invalid.append if skip_invalid else "raise"
    for _ in store.repository(spec.cls).scan(on_error=on_error):
        progress.advance(task)
    progress.done(task)
    return invalid


def _with_invalid(report: Any, invalid: list[CorruptObjectError]) -> Any:
    """The migration's report with the bad files found first: skipped, not "already current"."""
    reported = {error.path for error in report.errors}
    unreported = [error for error in invalid if error.path not in reported]
    return dataclasses.replace(
        report,
        already_current=max(0, report.already_current - len(unreported)),
        errors=[*report.errors, *unreported],
    )


__all__ = ["check_command", "gc_command", "migrate_command"]
