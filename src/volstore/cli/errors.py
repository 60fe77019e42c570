"""Exit codes, and the one place that turns an error into the line the command line prints."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

import typer

from .._errors import BackendError, CorruptObjectError, LayoutMismatchError, ModelDefinitionError
from .output import note

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_BAD_DATA = 4
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away


class CliError(Exception):
    """An error the CLI reports in one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailableError(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNAVAILABLE)


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    note(f"error: {message}")
    raise typer.Exit(code)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (Modal's and the OS's errors say it there)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_modal_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("modal", "grpclib", "synchronicity")


@contextlib.contextmanager
def reporting() -> Iterator[None]:
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
        fail(str(exc), exc.code)
    except LayoutMismatchError as exc:
        fail(f"cannot open the store: {exc}", EXIT_UNAVAILABLE)
    except CorruptObjectError as exc:
        fail(f"bad stored data: {exc} (pass --skip-invalid to skip such files)", EXIT_BAD_DATA)
    except ModelDefinitionError as exc:
        fail(str(exc), EXIT_USAGE)
    except (BackendError, OSError) as exc:
        fail(f"storage error: {first_line(exc)}", EXIT_UNAVAILABLE)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:
        if _is_modal_error(exc):
            fail(f"Modal error: {first_line(exc)}", EXIT_UNAVAILABLE)
        raise


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
    "fail",
    "first_line",
    "reporting",
]
