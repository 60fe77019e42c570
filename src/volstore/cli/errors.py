"""Exit codes, and the one place that turns an error into the line the command line prints.

Every error is one line on stderr, ``error: ...``, never a traceback nor a
library's multi-line dump; ``--verbose`` adds the full text below it. Bad
stored data reads ``path: field: reason``: a pydantic ValidationError becomes
its fields and messages, without pydantic's internals (schema names,
``[type=...]`` tags, documentation links). Lines are bounded, so a huge
corrupt file cannot flood the terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

import typer

from .._errors import (
    BackendError,
    CorruptObjectError,
    InvalidKeyError,
    LayoutMismatchError,
    ModelDefinitionError,
)
from .._store import USER_HASH_KEY_ENV
from .output import note

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_BAD_DATA = 4
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away

MAX_LINE = 300  # characters of a reason on one line (the file's path comes on top)


class CliError(Exception):
    """An error the CLI reports in one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailableError(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNAVAILABLE)


# -- one line per error --------------------------------------------------------------------------


def describe(exc: BaseException) -> str:
    """An error on one bounded line; bad stored data as ``path: field: reason``.

    The library words a stored file's reason already (``volstore._errors.short_reason``:
    fields and messages, bounded); this only keeps any text on one line.
    """
    if isinstance(exc, CorruptObjectError):
        return f"{exc.path}: {one_line(exc.reason)}"
    return one_line(str(exc)) or type(exc).__name__


def reason_line(reason: str) -> str:
    """A stored file's reason (as ``CheckReport`` findings carry it) on one bounded line."""
    return one_line(reason)


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Any text on one bounded line: lines joined with ``"; "``, documentation links dropped."""
    lines = (line.strip() for line in text.splitlines())
    return _bound("; ".join(line for line in lines if line and not _is_link(line)), limit)


def details(exc: BaseException) -> str:
    """The full text of an error and of the errors that caused it (for ``--verbose``)."""
    if isinstance(exc, CorruptObjectError):
        # Its reason is the cause's text, shortened: say the cause's in full, once.
        cause = exc.__cause__
        return f"{exc.path}: {cause if cause is not None else exc.reason}"
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        prefix = "caused by " if parts else ""
        parts.append(f"{prefix}{kind.__module__}.{kind.__qualname__}: {current}")
        current = current.__cause__
    return "\n".join(parts)


def _bound(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 4].rstrip() + " ..."


def _is_link(line: str) -> bool:
    return line.startswith("For further inform")  # pydantic's documentation link, maybe cut


def note_skipped(errors: Iterable[CorruptObjectError], *, verbose: bool) -> None:
    """One ``skipped: path: field: reason`` line per file left out (``--skip-invalid``)."""
    for error in errors:
        note(f"skipped: {describe(error)}")
        if verbose:
            note(_indent(details(error)))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# -- turning errors into exit codes ----------------------------------------------------------------


def fail(
    message: str, code: int, exc: BaseException | None = None, *, verbose: bool = False
) -> NoReturn:
    """Print ``error: message`` (one line; with ``verbose``, ``exc`` in full below) and exit."""
    # The parts of a message are bounded already; this bound only keeps a line a line.
    note(f"error: {one_line(message, limit=4 * MAX_LINE)}")
    if verbose and exc is not None:
        note(_indent(details(exc)))
    raise typer.Exit(code)


def _is_modal_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("modal", "grpclib", "synchronicity")


# A library hint that names the Python keyword (``user_hash_key=``): on the
# command line the key is an option or an environment variable.
_PYTHON_KEY_HINT = re.compile(r"\s*\([^()]*user_hash_key=[^()]*\)")


def layout_message(exc: LayoutMismatchError, *, key_given: bool) -> str:
    """Why the store cannot be opened, with the hint a command-line user can follow."""
    text = str(exc)
    if _PYTHON_KEY_HINT.search(text):
        text = _PYTHON_KEY_HINT.sub("", text)
        text += f" (give its key with --user-hash-key or ${USER_HASH_KEY_ENV})"
    elif key_given:
        text += f" (the key came from --user-hash-key or ${USER_HASH_KEY_ENV})"
    return f"cannot open the store: {text}"


@contextlib.contextmanager
def reporting(*, verbose: bool = False, key_given: bool = False) -> Iterator[None]:
    """Turn the errors a command expects into one line on stderr and an exit code.

    ``verbose`` prints each error in full below its line; ``key_given`` says
    whether a user hash key was given (for the hint of a layout mismatch).
    """
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
        fail(str(exc), exc.code, exc, verbose=verbose)
    except LayoutMismatchError as exc:
        fail(layout_message(exc, key_given=key_given), EXIT_UNAVAILABLE, exc, verbose=verbose)
    except CorruptObjectError as exc:
        fail(
            f"bad stored data: {describe(exc)} (pass --skip-invalid to skip such files)",
            EXIT_BAD_DATA,
            exc,
            verbose=verbose,
        )
    except (ModelDefinitionError, InvalidKeyError) as exc:  # a model, or a key given
        fail(describe(exc), EXIT_USAGE, exc, verbose=verbose)
    except (BackendError, OSError) as exc:
        fail(f"storage error: {first_line(exc)}", EXIT_UNAVAILABLE, exc, verbose=verbose)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        if _is_modal_error(exc):
            fail(f"Modal error: {first_line(exc)}", EXIT_UNAVAILABLE, exc, verbose=verbose)
        raise


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (Modal's and the OS's errors say it there)."""
    text = str(exc).strip()
    return _bound(text.splitlines()[0]) if text else type(exc).__name__


def usage_line(exc: Any) -> str:
    """A usage error (typer's) on one line, with where to find help."""
    message = one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.help_option_names:
        message += f" (see '{ctx.command_path} {ctx.help_option_names[0]}')"
    return message


__all__ = [
    "EXIT_BAD_DATA",
    "EXIT_BROKEN_PIPE",
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CliError",
    "StoreUnavailableError",
    "describe",
    "details",
    "fail",
    "first_line",
    "layout_message",
    "note_skipped",
    "one_line",
    "reason_line",
    "reporting",
    "usage_line",
]
