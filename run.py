#!/usr/bin/env python3
"""Set up a virtual environment and run one of the project's jobs.

Needs only ``python3`` (3.10 or newer). The first call creates ``.venv`` and
installs volstore with its development extras into it; later calls reinstall
only when ``pyproject.toml`` changed.

    python3 run.py demo          # the demo, on a local folder
    python3 run.py test          # pytest, then mypy (strict), ruff, mkdocs build --strict
    python3 run.py pytest ARGS   # pytest alone, with your arguments
    python3 run.py lint          # mypy, ruff and the docs site build alone
    python3 run.py bench [ARGS]  # the benchmarks (see docs/benchmarks.md)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".volstore-installed"
EXTRAS = "dev"


def _install_fingerprint() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(EXTRAS.encode())
    return digest.hexdigest()


def ensure_env() -> None:
    if sys.version_info < (3, 10):
        sys.exit(f"volstore needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"run.py: creating {VENV.relative_to(ROOT)}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    fingerprint = _install_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("run.py: installing volstore and its development tools", flush=True)
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f".[{EXTRAS}]"], check=True, cwd=ROOT)
    STAMP.write_text(fingerprint)


def run(*args: str) -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT))  # so `import models` works everywhere
    env.setdefault("NO_MKDOCS_2_WARNING", "1")  # mkdocs-material's banner, not a finding
    return subprocess.run([str(PY), *args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    job, rest = argv[0], argv[1:]
    jobs = {"demo", "test", "pytest", "lint", "bench"}
    if job not in jobs:
        print(f"run.py: unknown job {job!r}; choose one of {', '.join(sorted(jobs))}")
        return 2
    ensure_env()
    if job == "demo":
        return run("examples/demo.py", *rest)
    if job == "pytest":
        return run("-m", "pytest", *rest)
    if job == "bench":
        return run("-m", "benchmarks", *rest)
    if job == "lint":
        return lint()
    code = run("-m", "pytest", *rest)
    return code or lint()


def lint() -> int:
    checks = [
        ("mypy --strict", ("-m", "mypy")),
        ("ruff check", ("-m", "ruff", "check", ".")),
        ("ruff format --check", ("-m", "ruff", "format", "--check", ".")),
        ("mkdocs build --strict", ("-m", "mkdocs", "build", "--strict", "--quiet")),
    ]
    for name, args in checks:
        print(f"run.py: {name}", flush=True)
        code = run(*args)
        if code:
            print(f"run.py: {name} failed")
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
