"""The emulator's public API has exactly the installed ``modal``'s signatures.

Parameter names, kinds and defaults must match so that code written against
``modal.Volume`` and ``modal.Dict`` runs unchanged against the emulator;
annotations may differ. Every public member of modal's classes is either emulated
(and checked here) or listed as not emulated, so a new modal member fails a test
until someone decides.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import inspect
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from volstore.testing import errors
from volstore.testing._emulator import (
    DictInfo,
    EmulatedDict,
    EmulatedUploadBatch,
    EmulatedVolume,
    FileEntry,
    FileEntryType,
    VolumeEmulator,
    VolumeInfo,
)

modal = pytest.importorskip("modal")

ROOT = Path(__file__).resolve().parents[2]

# Methods called on a handle (compared with their ``self``).
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
    "read_only",
    "with_mount_options",
    "hydrate",
    "info",
]
# Called on the class (modal: staticmethods, or classmethods whose cls synchronicity shows).
VOLUME_CONSTRUCTORS = ["from_name", "from_id", "ephemeral"]
VOLUME_PROPERTIES = ["name", "object_id"]
VOLUME_NOT_EMULATED = {
    "client": "a modal.Client; the emulator has none",
    "get_dashboard_url": "no dashboard offline",
    "objects": "the VolumeManager (create/list/delete by name): not needed by volstore",
    "rename": "renaming volumes: not needed by volstore",
}
# Emulated members with a .aio form (modal: every synchronicity-wrapped method).
VOLUME_AIO = [
    "commit",
    "reload",
    "listdir",
    "iterdir",
    "read_file",
    "read_file_into_fileobj",
    "remove_file",
    "copy_files",
    "batch_upload",
    "hydrate",
    "info",
    "ephemeral",
]

DICT_METHODS = [
    "clear",
    "get",
    "contains",
    "len",
    "__getitem__",
    "update",
    "put",
    "__setitem__",
    "pop",
    "__delitem__",
    "__contains__",
    "keys",
    "values",
    "items",
    "hydrate",
    "info",
]
DICT_CONSTRUCTORS = ["from_name", "from_id", "ephemeral"]
DICT_PROPERTIES = ["name", "object_id"]
DICT_NOT_EMULATED = {
    "client": "a modal.Client; the emulator has none",
    "get_dashboard_url": "no dashboard offline",
    "objects": "the DictManager (create/list/delete by name): not needed by volstore",
}
DICT_AIO = [*DICT_METHODS, "ephemeral"]


def _shape(func: Callable[..., Any]) -> list[tuple[str, inspect._ParameterKind, str]]:
    """A signature without annotations: (name, kind, repr of default) per parameter.

    Defaults are compared by repr: modal.Dict.pop's sentinel default is an object
    whose repr is "...", as is the emulator's.
    """
    return [(p.name, p.kind, repr(p.default)) for p in inspect.signature(func).parameters.values()]


def _class_shape(func: Callable[..., Any]) -> list[tuple[str, inspect._ParameterKind, str]]:
    """The shape of a method called on the class, without a leading ``cls``."""
    shape = _shape(func)
    return shape[1:] if shape and shape[0][0] == "cls" else shape


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize("name", VOLUME_METHODS)
def test_volume_method_signature_matches_modal(name: str) -> None:
    assert _shape(getattr(EmulatedVolume, name)) == _shape(getattr(modal.Volume, name))


@pytest.mark.parametrize("name", VOLUME_METHODS + VOLUME_CONSTRUCTORS)
def test_bound_volume_class_keeps_the_signatures(name: str, emulator: VolumeEmulator) -> None:
    """``emulator.Volume`` is what users call; it must look like ``modal.Volume`` too."""
    ours, theirs = getattr(emulator.Volume, name), getattr(modal.Volume, name)
    if name in VOLUME_CONSTRUCTORS:
        assert _class_shape(ours) == _class_shape(theirs)
    else:
        assert _shape(ours) == _shape(theirs)


@pytest.mark.parametrize("name", VOLUME_CONSTRUCTORS)
def test_volume_constructor_signatures_match_modal(name: str) -> None:
    """modal-volumes.md: "Volume.ephemeral() (a context manager), from_id, object_id,
    hydrate exist"; from_name / from_id are called on the class without ``self``."""
    assert _class_shape(getattr(EmulatedVolume, name)) == _class_shape(getattr(modal.Volume, name))


@pytest.mark.parametrize("name", VOLUME_PROPERTIES)
def test_volume_properties_exist_like_modal(name: str) -> None:
    assert isinstance(inspect.getattr_static(modal.Volume, name), property)
    assert isinstance(inspect.getattr_static(EmulatedVolume, name), property)


def test_every_public_member_of_modal_volume_is_emulated_or_listed() -> None:
    emulated = set(VOLUME_METHODS + VOLUME_CONSTRUCTORS + VOLUME_PROPERTIES)
    assert _public(modal.Volume) == emulated | set(VOLUME_NOT_EMULATED)
    assert emulated <= _public(EmulatedVolume)


@pytest.mark.parametrize("name", VOLUME_AIO)
def test_volume_members_have_an_aio_form_with_the_same_signature(name: str) -> None:
    """modal-volumes.md: "every method also has an async form .aio (synchronicity)"."""
    ours, theirs = getattr(EmulatedVolume, name), getattr(modal.Volume, name)
    assert hasattr(theirs, "aio")
    shape = _class_shape if name in VOLUME_CONSTRUCTORS else _shape
    assert shape(ours.aio) == shape(ours)


@pytest.mark.parametrize("name", DICT_METHODS)
def test_dict_method_signature_matches_modal(name: str) -> None:
    """modal/dict.py: the methods of ``_Dict`` (put's keyword-only skip_if_exists,
    pop's sentinel default, update's positional-only mapping)."""
    assert _shape(getattr(EmulatedDict, name)) == _shape(getattr(modal.Dict, name))


@pytest.mark.parametrize("name", DICT_CONSTRUCTORS)
def test_dict_constructor_signatures_match_modal(name: str, emulator: VolumeEmulator) -> None:
    assert _class_shape(getattr(EmulatedDict, name)) == _class_shape(getattr(modal.Dict, name))
    assert _class_shape(getattr(emulator.Dict, name)) == _class_shape(getattr(modal.Dict, name))


@pytest.mark.parametrize("name", DICT_PROPERTIES)
def test_dict_properties_exist_like_modal(name: str) -> None:
    assert isinstance(inspect.getattr_static(modal.Dict, name), property)
    assert isinstance(inspect.getattr_static(EmulatedDict, name), property)


def test_every_public_member_of_modal_dict_is_emulated_or_listed() -> None:
    emulated = {m for m in DICT_METHODS if not m.startswith("_")}
    emulated |= set(DICT_CONSTRUCTORS + DICT_PROPERTIES)
    assert _public(modal.Dict) == emulated | set(DICT_NOT_EMULATED)
    assert emulated <= _public(EmulatedDict)
    dunders = {m for m in DICT_METHODS if m.startswith("__")}
    assert all(callable(getattr(modal.Dict, d)) for d in dunders)


@pytest.mark.parametrize("name", DICT_AIO)
def test_dict_members_have_an_aio_form_with_the_same_signature(name: str) -> None:
    """modal/dict.py: "these methods ... can be safely called in an asynchronous context
    by using the .aio suffix on the method"."""
    ours, theirs = getattr(EmulatedDict, name), getattr(modal.Dict, name)
    assert hasattr(theirs, "aio")
    shape = _class_shape if name in DICT_CONSTRUCTORS else _shape
    assert shape(ours.aio) == shape(ours)


def test_the_dict_constructor_is_refused_like_modals() -> None:
    """modal/dict.py ``_Dict.__init__``: "`Dict(...)` constructor is not allowed"."""
    with pytest.raises(RuntimeError, match=r"`Dict\(\.\.\.\)` constructor is not allowed"):
        EmulatedDict()


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


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (FileEntry, "FileEntry"),
        (VolumeInfo, "VolumeInfo"),
        (DictInfo, "DictInfo"),
    ],
)
def test_value_type_fields_match_modal(ours: type, theirs: str) -> None:
    modal_type = getattr(modal.types, theirs)
    assert [f.name for f in dataclasses.fields(ours)] == [
        f.name for f in dataclasses.fields(modal_type)
    ]
    assert ours.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_file_entry_type_members_match_modal() -> None:
    ours = {member.name: member.value for member in FileEntryType}
    theirs = {member.name: member.value for member in modal.types.FileEntryType}
    assert ours == theirs


# --------------------------------------------------------------------------- exceptions


ERROR_NAMES = [
    "Error",
    "AlreadyExistsError",
    "ConflictError",
    "ConnectionError",
    "InternalError",
    "InvalidError",
    "NotFoundError",
    "ResourceExhaustedError",
    "ServiceError",
    "SerializationError",
    "DeserializationError",
    "AsyncUsageWarning",
]


@pytest.mark.parametrize("name", ERROR_NAMES)
def test_with_modal_installed_the_errors_are_modals_own(name: str) -> None:
    """Issue 11: "When modal is installed, raise modal's own exception classes", so user
    code catching ``modal.exception.*`` is exercised."""
    import modal.exception

    assert getattr(errors, name) is getattr(modal.exception, name)


def test_the_emulator_raises_modals_own_classes(emulator: VolumeEmulator) -> None:
    """modal-volumes.md: "missing volume: modal.exception.NotFoundError"; glob paths
    raise InvalidError (modal/volume.py ``iterdir``)."""
    import modal.exception

    with pytest.raises(modal.exception.NotFoundError):
        emulator.Volume.from_name("missing").listdir("/")
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    with pytest.raises(modal.exception.InvalidError):
        volume.listdir("dir/*")
    with pytest.raises(modal.exception.NotFoundError):
        emulator.Dict.from_name("missing").get("k")
    with pytest.raises(modal.exception.InvalidError):
        emulator.Volume.from_name("bad name")


_WITHOUT_MODAL = textwrap.dedent(
    """
    import sys, tempfile
    sys.modules["modal"] = None  # `import modal` raises ImportError
    from volstore.testing import VolumeEmulator, errors
    e = errors
    assert e.NotFoundError.__module__ == "volstore.testing._emulator._errors"
    assert issubclass(e.ConflictError, e.InvalidError) and issubclass(e.InvalidError, e.Error)
    assert issubclass(e.NotFoundError, e.Error) and issubclass(e.Error, Exception)
    assert issubclass(e.AsyncUsageWarning, UserWarning)
    emulator = VolumeEmulator(tempfile.mkdtemp())
    try:
        emulator.Volume.from_name("missing").listdir("/")
    except e.NotFoundError as exc:
        assert type(exc).__name__ == "NotFoundError"
    else:
        raise AssertionError("no NotFoundError")
    print("look-alikes ok")
    """
)


def test_without_modal_the_errors_are_look_alikes_with_the_same_names() -> None:
    """Issue 11: "otherwise look-alikes with the same names" and modal's hierarchy
    (modal/exception.py: ConflictError(InvalidError), every class an Error)."""
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_MODAL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "look-alikes ok" in result.stdout


def test_the_emulator_never_imports_modal_at_module_level() -> None:
    """modal is optional: the emulator must work where it is not installed, and
    ``import volstore.testing`` must not import it (it only does so lazily, inside
    ``_errors.modal_class``, through importlib)."""
    package = ROOT / "src" / "volstore" / "testing"
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "modal" for a in node.names), path
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.split(".")[0] != "modal", path


def test_aio_forms_are_coroutines_async_generators_and_async_context_managers(
    emulator: VolumeEmulator,
) -> None:
    volume = emulator.Volume.from_name("v", create_if_missing=True)
    assert inspect.iscoroutinefunction(EmulatedVolume.listdir.aio)
    assert inspect.isasyncgenfunction(EmulatedVolume.iterdir.aio)

    async def use() -> list[str]:
        async with volume.batch_upload.aio() as batch:
            batch.put_file(__file__, "/here.py")
        return [e.path async for e in volume.iterdir.aio("/")]

    assert asyncio.run(use()) == ["here.py"]
