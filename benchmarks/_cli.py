"""The command line every benchmark shares: one parser, size overrides, where the data goes.

Each benchmark (``bench_*.py``) builds its parser with ``benchmark_parser``, so
``--smoke``, ``--no-check`` and ``--dir`` mean the same everywhere; the runner
(``python -m benchmarks``) takes ``--smoke`` and ``--no-check`` from
``add_mode_options`` and passes them on to each benchmark.

    parser = benchmark_parser("bench_core", __doc__)
    add_size_options(parser, {"objects": "objects written and read"})
    args = parser.parse_args(argv)
    sizes = sizes_from(args, full=FULL, smoke=SMOKE)
    root, storage = storage_root(args.dir, prefix="volstore-bench-")
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def add_mode_options(parser: argparse.ArgumentParser) -> None:
    """``--smoke`` and ``--no-check``: how a run is judged (the runner forwards both)."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick run with small sizes (CI): checks that everything runs, not speed",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="exit 0 even when a speed target is missed"
    )


def benchmark_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of benchmark ``module``: the mode options and ``--dir``.

    ``doc`` is the benchmark's docstring; its first paragraph describes it.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{module}",
        description=(doc or "").split("\n\n")[0] or None,
    )
    add_mode_options(parser)
    parser.add_argument(
        "--dir",
        metavar="PATH",
        help="where to put the data (default: /dev/shm if present, else the temporary folder)",
    )
    return parser


def add_size_options(parser: argparse.ArgumentParser, sizes: Mapping[str, str]) -> None:
    """An integer option per size (``{"big_store": help}`` gives ``--big-store N``)."""
    for name, text in sizes.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, metavar="N", help=text)


def sizes_from(
    args: argparse.Namespace, *, full: Mapping[str, Any], smoke: Mapping[str, Any]
) -> dict[str, Any]:
    """The mode's sizes (``smoke`` with ``--smoke``, else ``full``), overridden by the options."""
    sizes = dict(smoke if args.smoke else full)
    for name in sizes:
        value = getattr(args, name, None)
        if value is not None:
            sizes[name] = value
    return sizes


def mode(args: argparse.Namespace) -> str:
    """``"smoke"`` or ``"full"``: the mode recorded with the results."""
    return "smoke" if args.smoke else "full"


def storage_root(requested: str | None, prefix: str = "volstore-bench-") -> tuple[Path, str]:
    """A fresh folder for the run, on tmpfs when the machine has one; and what it is on."""
    if requested:
        base, kind = Path(requested), "given by --dir"
    elif os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        base, kind = Path("/dev/shm"), "tmpfs (/dev/shm)"
    else:
        base, kind = Path(tempfile.gettempdir()), "no tmpfs: the temporary folder (a disk?)"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base)), f"{base} - {kind}"
