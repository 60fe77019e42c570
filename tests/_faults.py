"""Fault injection for tests: replace ``os`` functions inside one volstore module only.

``patch_os(monkeypatch, volstore.backends.local, write=...)`` swaps the module's
``os`` for a proxy whose named functions are replaced and whose other
attributes are the real ones, so pytest and the rest of the process keep the
real ``os``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest


class _OsProxy:
    def __init__(self, overrides: dict[str, Callable[..., Any]]) -> None:
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        override = self._overrides.get(name)
        return override if override is not None else getattr(os, name)


def patch_os(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, **overrides: Callable[..., Any]
) -> None:
    """Make ``module.os.<name>`` call ``overrides[name]`` until the test ends."""
    monkeypatch.setattr(module, "os", _OsProxy(overrides))


def refuse_opens(monkeypatch: pytest.MonkeyPatch, module: ModuleType, suffix: str) -> None:
    """Make ``module``'s opens of a path ending with ``suffix`` fail with EACCES.

    Root reads any file whatever its mode: this makes the open fail as it
    would for a user without permission. Both ways the local backend opens a
    file are covered: a whole path (``open_nofollow``) and a name in a folder
    opened before (``os.open`` with ``dir_fd``, as a listing's batch read does).
    """
    real = module.open_nofollow
    name = suffix.rpartition("/")[2]

    def refuse(path: str, flags: int) -> int:
        if str(path).endswith(suffix):
            raise PermissionError(13, "Permission denied", path)
        result: int = real(path, flags)
        return result

    def refuse_relative(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if kwargs.get("dir_fd") is not None and str(path) == name:
            raise PermissionError(13, "Permission denied", path)
        return os.open(path, flags, *args, **kwargs)

    monkeypatch.setattr(module, "open_nofollow", refuse)
    patch_os(monkeypatch, module, open=refuse_relative)
