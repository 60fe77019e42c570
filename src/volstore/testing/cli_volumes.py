"""The emulator as a volume source of the command line (``volstore --emulator-root DIR``).

The CLI never imports the testing kit: it finds this function through the
``volstore.volumes`` entry point group (see ``pyproject.toml``), the way
pytest finds its plugins, so a volstore without its testing kit simply has no
``--emulator-root``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import VolumeEmulator


def emulated_volume(root: Path, name: str, environment_name: str | None) -> Any:
    """The handle of the emulated volume ``name`` of the emulator at ``root`` (lazy, as Modal's)."""
    return VolumeEmulator(root).Volume.from_name(name, environment_name=environment_name)


__all__ = ["emulated_volume"]
