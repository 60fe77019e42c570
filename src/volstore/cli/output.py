"""What the command line prints: results on stdout, notes and progress on stderr.

Results (tables, ids, JSON documents) go to stdout; notes, warnings, progress
bars and errors go to stderr, so a pipe gets data only.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from datetime import date, datetime, timedelta
from typing import Any, Protocol

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


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def note(message: str) -> None:
    """A line on stderr for people (never mixed into stdout)."""
    typer.echo(message, err=True)


def emit_json(document: Any) -> None:
    """One JSON document on stdout (``--json``)."""
    typer.echo(json.dumps(jsonable(document), ensure_ascii=False))


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dataclasses, enums, times and errors included."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``"1 user"``, ``"2 users"``: a count with its noun in the right number."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural_noun or noun + 's'}"


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class OutputOptions(Protocol):
    """The global options that decide how output looks (see ``config.Options``)."""

    json: bool
    progress: bool | None


class ProgressBars:
    """rich progress bars on stderr, or nothing (not a terminal, --json, --no-progress)."""

    def __init__(self, opts: OutputOptions) -> None:
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
                console=stderr(),
                transient=True,
            )

    def __enter__(self) -> ProgressBars:
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


__all__ = [
    "OutputOptions",
    "ProgressBars",
    "emit_json",
    "human_bytes",
    "jsonable",
    "note",
    "plural",
    "stderr",
    "stdout",
]
