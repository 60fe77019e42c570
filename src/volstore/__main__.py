"""``python -m volstore``: the volstore command line (see the ``volstore.cli`` package)."""

from __future__ import annotations

import sys


def _run() -> None:
    try:
        from volstore.cli import main
    except ImportError as exc:
        if "volstore[cli]" not in str(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    main()


if __name__ == "__main__":
    _run()
