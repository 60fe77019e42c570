"""The emulator's public API has exactly the installed ``modal``'s signatures.

Parameter names, kinds and defaults must match so that code written against
``modal.Volume`` runs unchanged against the emulator; annotations may differ.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from volstore.testing._emulator import (
    EmulatedUploadBatch,
    EmulatedVolume,
    FileEntry,
    FileEntryType,
    VolumeEmulator,
)

modal = pytest.importorskip("modal")

VOLUME_METHODS = [
    "commit",
    "reload",
    "listdir",
    "iterdir",
    "read_file",
    "read_file_into_fileobj",
    "remove_file",
    "copy_files",
    "batch_upload",
    "from_name",
    "read_only",
]


def _shape(func: Callable[..., Any]) -> list[tuple[str, inspect._ParameterKind, object]]:
    """A signature without annotations: (name, kind, default) per parameter."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize("name", VOLUME_METHODS)
def test_volume_method_signature_matches_modal(name: str) -> None:
    assert _shape(getattr(EmulatedVolume, name)) == _shape(getattr(modal.Volume, name))


@pytest.mark.parametrize("name", VOLUME_METHODS)
def test_bound_volume_class_keeps_the_signatures(name: str, emulator: VolumeEmulator) -> None:
    """``emulator.Volume`` is what users call; it must look like ``modal.Volume`` too."""
    assert _shape(getattr(emulator.Volume, name)) == _shape(getattr(modal.Volume, name))


def test_from_name_is_callable_on_the_class_like_modal() -> None:
    # modal.Volume.from_name is a staticmethod; ours is a classmethod so the bound
    # subclass can carry its emulator. Both are called on the class without `self`.
    assert "self" not in inspect.signature(EmulatedVolume.from_name).parameters
    assert "cls" not in inspect.signature(EmulatedVolume.from_name).parameters


def _upload_context_manager_classes() -> list[type]:
    import modal.volume

    names = [
        "AbstractVolumeUploadContextManager",
        "VolumeUploadContextManager",
        "VolumeUploadContextManager2",
    ]
    found = [getattr(modal.volume, n) for n in names if hasattr(modal.volume, n)]
    assert found, "the installed modal exposes no upload context manager class"
    return found


@pytest.mark.parametrize("method", ["put_file", "put_directory"])
def test_upload_batch_signatures_match_modal(method: str) -> None:
    ours = _shape(getattr(EmulatedUploadBatch, method))
    for cls in _upload_context_manager_classes():
        assert ours == _shape(getattr(cls, method)), cls


def test_file_entry_fields_match_modal() -> None:
    ours = [f.name for f in dataclasses.fields(FileEntry)]
    theirs = [f.name for f in dataclasses.fields(modal.types.FileEntry)]
    assert ours == theirs
    assert FileEntry.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert modal.types.FileEntry.__dataclass_params__.frozen


def test_file_entry_type_members_match_modal() -> None:
    ours = {member.name: member.value for member in FileEntryType}
    theirs = {member.name: member.value for member in modal.types.FileEntryType}
    assert ours == theirs


def test_exceptions_have_modals_names_but_are_not_modals() -> None:
    import modal.exception

    from volstore.testing import _emulator

    for name in ["InvalidError", "NotFoundError"]:
        ours = getattr(_emulator, name)
        theirs = getattr(modal.exception, name)
        assert ours.__name__ == theirs.__name__
        assert not issubclass(ours, theirs)
        assert issubclass(ours, Exception)


def test_emulator_module_does_not_import_modal() -> None:
    """modal is optional: the emulator must work where it is not installed."""
    import ast

    from volstore.testing import _emulator

    assert _emulator.__file__ is not None
    with open(_emulator.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "modal" not in imported
