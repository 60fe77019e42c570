"""The ``volstore`` command line: inspect and maintain a store on a local folder or a Modal Volume.

    volstore --root data ls                      # resource types and object counts
    volstore --root data ls schedules            # user folders of a type
    volstore --root data ls schedules --user ada # one user's ids
    volstore --volume app-data stats --top 5     # a Modal Volume, through the client API
    volstore --root data export schedules --format csv --output schedules.csv

Models come from ``--models IMPORT.PATH`` (repeatable) or from
``[tool.volstore] models = [...]`` in the project's ``pyproject.toml``.

Exit codes: 0 ok; 1 findings (``check`` found problems, ``show`` found
nothing); 2 usage error; 3 the store cannot be opened or reached; 4 bad stored
data met without ``--skip-invalid``. See docs/cli.md.

The CLI is thin: it calls the library. Its modules:

- ``app``: the typer app, the global options, ``main``;
- ``output``: stdout and stderr, JSON, progress bars;
- ``errors``: exit codes and the one formatter of error lines;
- ``config``: the options, the project's models, opening the store;
- ``inspect``: ``ls``, ``show``, ``stats``; ``maintain``: ``check``, ``gc``,
  ``migrate``; ``export``: ``export``.

It uses the store's engine and the backend contract only: no backend's type
or private attributes.
"""

from __future__ import annotations

from .._errors import install_hint

try:
    import rich  # noqa: F401
    import typer  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the volstore command line needs typer and rich: " + install_hint("cli")
    ) from exc

from .app import app, main
from .config import Options, configured_models, find_project, load_models, open_store
from .errors import EXIT_BAD_DATA, EXIT_FINDINGS, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE

__all__ = [
    "EXIT_BAD_DATA",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "Options",
    "app",
    "configured_models",
    "find_project",
    "load_models",
    "main",
    "open_store",
]
