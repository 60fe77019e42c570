"""Run the benchmarks: ``python -m benchmarks [--smoke] [--no-check] [names...] [-- args]``.

Every module ``benchmarks/bench_<name>.py`` with a ``main(argv: list[str]) -> int``
function is a benchmark. With no names all of them run; a name is given with or
without its ``bench_`` prefix (``core`` or ``bench_core``). Each runs in its own
Python process, so one benchmark's heap and caches do not colour the next one's
figures. ``--smoke`` and ``--no-check`` are passed on to each; so is everything
after ``--``. The exit code is non-zero when any benchmark fails (an error, or
a missed target outside smoke and --no-check runs).
"""

from __future__ import annotations

import argparse
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._cli import add_mode_options

PACKAGE_DIR = Path(__file__).resolve().parent
PREFIX = "bench_"

# The child imports the module and calls its main: a benchmark needs no
# ``if __name__ == "__main__"`` block of its own.
_CHILD = """
import sys
from importlib import import_module

module = import_module(sys.argv[1])
main = getattr(module, "main", None)
if not callable(main):
    sys.exit(f"{sys.argv[1]} has no main(argv) function")
sys.exit(main(sys.argv[2:]))
"""


def discover() -> list[str]:
    """The benchmark names (``bench_*`` modules of this package), sorted."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(PACKAGE_DIR)])
        if info.name.startswith(PREFIX)
    )


def resolve(names: list[str], available: list[str]) -> list[str]:
    """The modules the names stand for; raises ValueError for an unknown name."""
    if not names:
        return available
    chosen = []
    for name in names:
        module = name if name.startswith(PREFIX) else PREFIX + name
        module = module.removesuffix(".py")
        if module not in available:
            raise ValueError(f"no benchmark {name!r}; available: {', '.join(available) or 'none'}")
        if module not in chosen:
            chosen.append(module)
    return chosen


def run_one(module: str, argv: list[str]) -> int:
    """Run one benchmark in a fresh interpreter; return its exit code."""
    env = dict(os.environ)
    # The child must import this package and the project's ``models`` package.
    root = str(PACKAGE_DIR.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), root) if p)
    command = [sys.executable, "-c", _CHILD, f"{PACKAGE_DIR.name}.{module}", *argv]
    return subprocess.run(command, env=env).returncode


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    passed: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passed = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run volstore's benchmarks (benchmarks/bench_*.py), each in its own process.",
        epilog="Arguments after -- go to every benchmark, e.g. -- --json results.json",
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    add_mode_options(parser)  # the benchmarks' own --smoke and --no-check, passed on
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv), passed


def main(argv: list[str]) -> int:
    args, passed = parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    try:
        modules = resolve(args.names, available)
    except ValueError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    if not modules:
        print("benchmarks: no benchmark found", file=sys.stderr)
        return 2
    forwarded = [*(["--smoke"] if args.smoke else []), *(["--no-check"] if args.no_check else [])]
    outcomes: list[tuple[str, int, float]] = []
    for module in modules:
        print(f"== {module} {' '.join([*forwarded, *passed])}".rstrip(), flush=True)
        start = time.perf_counter()
        code = run_one(module, [*forwarded, *passed])
        outcomes.append((module, code, time.perf_counter() - start))
    print("\n== summary")
    for module, code, seconds in outcomes:
        print(f"{module:<24} {'ok' if code == 0 else f'FAILED (exit {code})':<18} {seconds:6.1f} s")
    return 1 if any(code for _, code, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
