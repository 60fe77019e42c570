"""An emulated ``modal.Dict``: file-based, shared by every process opening the root.

modal-volumes.md, "Coordination across containers": ``modal.Dict.put(key, value, *,
skip_if_exists=False) -> bool`` is a server-side put-if-absent (with
``skip_if_exists=True`` exactly one of several racing writers gets True), ``pop`` is
atomic, values are pickled, every method has ``.aio`` (modal/dict.py).

Here each dict is a folder; each entry one file named by a hash of the pickled key,
holding the pickled key and value. Every operation takes ``flock`` on the dict's lock
file (shared to read, exclusive to write), so put-if-absent, pop and update are atomic
across the threads and processes of one machine. Keys are compared by their pickled
bytes, as Modal compares serialized keys (so ``1`` and ``1.0`` are different keys).

Not modelled: entry expiry (7 days without reads or writes), request size limits,
and the ``objects`` manager.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from ._aio import emulated, emulated_class_context, emulated_generator
from ._errors import error
from ._faults import DICT_OPERATIONS, Faults
from ._files import flock, write_json_atomically
from ._protocols import Server
from ._types import (
    DictInfo,
    check_environment_name,
    check_object_name,
    created_at,
    new_object_id,
)

_D = TypeVar("_D", bound="EmulatedDict")

# modal/dict.py: len() "will return at most 100,000".
_LEN_CAP = 100_000
_PICKLE_PROTOCOL = 4  # fixed, so every process of a run encodes a key the same way


class _NoDefault:
    """Mirrors modal/dict.py ``_NO_DEFAULT`` (its repr is "...")."""

    def __repr__(self) -> str:
        return "..."


_NO_DEFAULT: Any = _NoDefault()


def _dumps(obj: Any, what: str) -> bytes:
    try:
        return pickle.dumps(obj, protocol=_PICKLE_PROTOCOL)
    except Exception as exc:
        raise error("SerializationError", f"could not serialize the {what} {obj!r}: {exc}") from exc


def _loads(data: bytes, what: str) -> Any:
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise error("DeserializationError", f"could not deserialize a {what}: {exc}") from exc


class _DictStore:
    """The server side of one dict: ``entries/<hash>`` files under one lock."""

    def __init__(self, folder: str, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        self.entries = os.path.join(folder, "entries")
        self.lock_path = os.path.join(folder, "lock")

    def _check_alive(self) -> None:
        if not os.path.exists(os.path.join(self.folder, "meta.json")):
            raise error("NotFoundError", f"Dict '{self.meta.get('name')}' was deleted")

    def _slot(self, key_bytes: bytes) -> tuple[str, bytes | None]:
        """The entry file of a key, and its stored bytes (None if absent). Keys whose
        hashes collide take the next free slot (``<hash>-1``, ...)."""
        digest = hashlib.blake2b(key_bytes, digest_size=20).hexdigest()
        for probe in range(1_000):
            path = os.path.join(self.entries, digest if probe == 0 else f"{digest}-{probe}")
            try:
                with open(path, "rb") as f:
                    stored_key, stored_value = pickle.loads(f.read())
            except FileNotFoundError:
                return path, None
            if stored_key == key_bytes:
                return path, stored_value
        raise RuntimeError("too many keys with one hash")  # pragma: no cover

    def _write(self, path: str, key_bytes: bytes, value_bytes: bytes) -> None:
        tmp = os.path.join(self.folder, f"tmp-{uuid.uuid4().hex}")
        with open(tmp, "wb") as f:
            f.write(pickle.dumps((key_bytes, value_bytes), protocol=_PICKLE_PROTOCOL))
        os.replace(tmp, path)

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        self._check_alive()
        with flock(self.lock_path, exclusive=exclusive):
            yield

    def get(self, key_bytes: bytes) -> bytes | None:
        with self.locked(exclusive=False):
            return self._slot(key_bytes)[1]

    def put(self, items: list[tuple[bytes, bytes]], *, skip_if_exists: bool) -> bool:
        with self.locked(exclusive=True):
            created = True
            for key_bytes, value_bytes in items:
                path, found = self._slot(key_bytes)
                if found is not None and skip_if_exists:
                    created = False
                    continue
                self._write(path, key_bytes, value_bytes)
            return created

    def pop(self, key_bytes: bytes) -> bytes | None:
        with self.locked(exclusive=True):
            path, found = self._slot(key_bytes)
            if found is not None:
                os.unlink(path)
            return found

    def clear(self) -> None:
        with self.locked(exclusive=True):
            doomed = os.path.join(self.folder, f"cleared-{uuid.uuid4().hex}")
            os.rename(self.entries, doomed)
            os.mkdir(self.entries)
        shutil.rmtree(doomed, ignore_errors=True)

    def count(self) -> int:
        with self.locked(exclusive=False):
            return len(os.listdir(self.entries))

    def contents(self) -> list[tuple[bytes, bytes]]:
        """Every (key, value) pair, as one snapshot."""
        with self.locked(exclusive=False):
            found = []
            for name in sorted(os.listdir(self.entries)):
                with (
                    contextlib.suppress(FileNotFoundError),
                    open(os.path.join(self.entries, name), "rb") as f,
                ):
                    found.append(pickle.loads(f.read()))
            return found


def _dicts_root(emulator: Server) -> str:
    return os.path.join(emulator.root, "dicts")


def _create_dict_folder(emulator: Server, folder: str, name: str | None) -> None:
    os.makedirs(os.path.join(folder, "entries"), exist_ok=True)
    object_id = new_object_id("di")
    meta = {"name": name, "created_at": time.time(), "object_id": object_id}
    write_json_atomically(os.path.join(folder, "meta.json"), json.dumps(meta))
    emulator._register_id(object_id, folder)


def _read_meta(folder: str) -> dict[str, Any]:
    with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
        meta: dict[str, Any] = json.load(f)
    return meta


def _get_or_create(
    emulator: Server, name: str, environment: str, create_if_missing: bool
) -> _DictStore:
    """Mirrors the server side of ``DictGetOrCreate``."""
    folder = os.path.join(_dicts_root(emulator), "named", environment, name)
    with flock(os.path.join(emulator.root, "lock"), exclusive=create_if_missing):
        if not os.path.exists(os.path.join(folder, "meta.json")):
            if not create_if_missing:
                raise error(
                    "NotFoundError", f"Dict '{name}' not found in environment '{environment}'"
                )
            _create_dict_folder(emulator, folder, name)
    return _DictStore(folder, _read_meta(folder))


def _by_id(emulator: Server, dict_id: str) -> _DictStore:
    folder = emulator._folder_of_id(dict_id, "di")
    if folder is None or not os.path.exists(os.path.join(folder, "meta.json")):
        raise error("NotFoundError", f"Dict with id '{dict_id}' not found")
    return _DictStore(folder, _read_meta(folder))


@contextlib.contextmanager
def _ephemeral(
    cls: type[EmulatedDict],
    *,
    client: object | None = None,
    environment_name: str | None = None,
    _heartbeat_sleep: float = 300,
) -> Iterator[EmulatedDict]:
    """A dict without a name that exists for the duration of the ``with`` (or ``async
    with``) block (mirrors ``modal.Dict.ephemeral``); deleted after."""
    del client, _heartbeat_sleep
    emulator = cls._emulator_for()
    if environment_name is not None:
        check_environment_name(environment_name)
    with flock(os.path.join(emulator.root, "lock"), exclusive=True):
        folder = os.path.join(_dicts_root(emulator), "ephemeral", uuid.uuid4().hex)
        _create_dict_folder(emulator, folder, None)
    store = _DictStore(folder, _read_meta(folder))
    handle = cls._make(emulator, None, lambda: store)
    handle._store_cache = store
    try:
        yield handle
    finally:
        with flock(os.path.join(emulator.root, "lock"), exclusive=True):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(emulator.root, "ids", store.meta["object_id"]))
            doomed = f"{folder}.deleted"
            os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


class EmulatedDict:
    """A handle on an emulated dict, with ``modal.Dict``'s public API.

    Get one with ``emulator.Dict.from_name(name, create_if_missing=True)``,
    ``emulator.Dict.from_id(...)`` or ``with emulator.Dict.ephemeral() as d``. Every
    process that opens the same emulator root sees the same dicts; ``put(key, value,
    skip_if_exists=True)`` is atomic across them (exactly one racing writer gets
    True), and so are ``pop`` and ``update``. Values are pickled: ``get`` returns a
    copy. Every method has ``.aio``; ``d.faults`` injects failures and delays.
    """

    _bound_emulator: ClassVar[Server | None] = None

    def __init__(self) -> None:
        """Not allowed, as in modal/dict.py: use from_name, from_id or ephemeral."""
        raise RuntimeError(
            "`Dict(...)` constructor is not allowed. Please use `Dict.from_name` or "
            "`Dict.ephemeral` instead"
        )

    @classmethod
    def _make(
        cls: type[_D],
        emulator: Server,
        name: str | None,
        lookup: Any,
    ) -> _D:
        handle = object.__new__(cls)
        handle._emulator = emulator
        handle._name = name
        handle._lookup = lookup
        handle._store_cache = None
        handle.faults = Faults(DICT_OPERATIONS, f"dict {name!r}")
        return handle

    _emulator: Server
    _name: str | None
    _lookup: Any
    _store_cache: _DictStore | None
    faults: Faults
    """Faults for the next calls of this handle (see ``Faults``)."""

    def __repr__(self) -> str:
        return f"EmulatedDict({self._name!r}) on {self._emulator!r}"

    def _fault_sources(self) -> tuple[Faults, ...]:
        return (self.faults, self._emulator.faults)

    def _store(self) -> _DictStore:
        if self._store_cache is None:
            self._store_cache = self._lookup()
        return self._store_cache

    @classmethod
    def _emulator_for(cls) -> Server:
        emulator = cls._bound_emulator
        if emulator is None:
            raise RuntimeError(
                "EmulatedDict needs an emulator: use VolumeEmulator(root).Dict.from_name(...)"
            )
        return emulator

    # -- constructors and identity

    @classmethod
    def from_name(
        cls: type[_D],
        name: str,
        *,
        environment_name: str | None = None,
        create_if_missing: bool = False,
        client: object | None = None,
    ) -> _D:
        """Reference a dict by name (mirrors ``modal.Dict.from_name``). Lazy: looked
        up, or created with ``create_if_missing``, on first use, which raises
        NotFoundError if it does not exist. InvalidError for a bad name."""
        del client
        emulator = cls._emulator_for()
        check_object_name(name, "Dict")
        environment = "main" if environment_name is None else environment_name
        check_environment_name(environment)
        return cls._make(
            emulator, name, lambda: _get_or_create(emulator, name, environment, create_if_missing)
        )

    @classmethod
    def from_id(cls: type[_D], dict_id: str, client: object | None = None) -> _D:
        """Reference a dict by its ``object_id`` (mirrors ``modal.Dict.from_id``);
        NotFoundError on first use if there is none."""
        del client
        emulator = cls._emulator_for()
        return cls._make(emulator, None, lambda: _by_id(emulator, dict_id))

    ephemeral = emulated_class_context(_ephemeral)

    @property
    def name(self) -> str | None:
        """The dict's name; None for an ephemeral dict."""
        if self._name is None and self._store_cache is not None:
            return self._store_cache.meta.get("name")
        return self._name

    @property
    def object_id(self) -> str:
        """The dict's id, ``di-...``; AttributeError until hydrated (as in modal)."""
        if self._store_cache is None:
            raise AttributeError(f"Attempting to get object_id of unhydrated {self!r}")
        return str(self._store_cache.meta["object_id"])

    @emulated("hydrate")
    def hydrate(self, client: object | None = None) -> EmulatedDict:
        """Look the dict up now; NotFoundError if it does not exist."""
        del client
        self._store()
        return self

    @emulated("info")
    def info(self) -> DictInfo:
        """The dict's name and creation time (mirrors ``Dict.info``)."""
        meta = self._store().meta
        return DictInfo(meta.get("name"), created_at(meta["created_at"]), None)

    # -- the mapping

    @emulated("clear")
    def clear(self) -> None:
        """Remove every entry."""
        self._store().clear()

    def _get(self, key: Any, default: Any) -> Any:
        found = self._store().get(_dumps(key, "key"))
        return default if found is None else _loads(found, "value")

    @emulated("get")
    def get(self, key: Any, default: Any | None = None) -> Any:
        """The value of ``key`` (a copy: values are pickled), or ``default``."""
        return self._get(key, default)

    @emulated("contains")
    def contains(self, key: Any) -> bool:
        """Whether ``key`` is present."""
        return self._store().get(_dumps(key, "key")) is not None

    @emulated("len")
    def len(self) -> int:
        """The number of entries (modal/dict.py: "will return at most 100,000")."""
        return min(self._store().count(), _LEN_CAP)

    @emulated("get")
    def __getitem__(self, key: Any) -> Any:
        """The value of ``key``; KeyError (modal's wording) if absent."""
        missing = object()
        value = self._get(key, missing)
        if value is missing:
            raise KeyError(f"{key} not in dict {self.object_id}")
        return value

    @emulated("update")
    def update(self, other: Mapping[Any, Any] | None = None, /, **kwargs: Any) -> None:
        """Put every item of ``other`` and ``kwargs``, atomically."""
        contents: dict[Any, Any] = {}
        if other:
            contents.update({k: other[k] for k in other.keys()})  # noqa: SIM118 - modal's code
        contents.update(kwargs)
        items = [(_dumps(k, "key"), _dumps(v, "value")) for k, v in contents.items()]
        self._store().put(items, skip_if_exists=False)

    def _put(self, key: Any, value: Any, skip_if_exists: bool) -> bool:
        items = [(_dumps(key, "key"), _dumps(value, "value"))]
        return self._store().put(items, skip_if_exists=skip_if_exists)

    @emulated("put")
    def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        """Set ``key`` to ``value``; return True. With ``skip_if_exists=True`` a key
        already present is left alone and False returned: an atomic put-if-absent
        across threads and processes (exactly one racing writer gets True)."""
        return self._put(key, value, skip_if_exists)

    @emulated("put")
    def __setitem__(self, key: Any, value: Any) -> None:
        """Set ``key`` to ``value``."""
        self._put(key, value, False)

    def _pop(self, key: Any, default: Any) -> Any:
        found = self._store().pop(_dumps(key, "key"))
        if found is None:
            if default is not _NO_DEFAULT:
                return default
            raise KeyError(f"{key} not in dict {self.object_id}")
        return _loads(found, "value")

    @emulated("pop")
    def pop(self, key: Any, default: Any = _NO_DEFAULT) -> Any:
        """Remove ``key`` and return its value, atomically; ``default`` if absent, or
        KeyError without one."""
        return self._pop(key, default)

    @emulated("pop")
    def __delitem__(self, key: Any) -> Any:
        """Remove ``key`` (returning its value, as modal's does); KeyError if absent."""
        return self._pop(key, _NO_DEFAULT)

    @emulated("contains")
    def __contains__(self, key: Any) -> bool:
        """Whether ``key`` is present (``key in d``)."""
        return self._store().get(_dumps(key, "key")) is not None

    @emulated_generator("keys")
    def keys(self) -> Iterator[Any]:
        """The keys, as a one-pass iterator (unordered, as in Modal)."""
        for key_bytes, _ in self._store().contents():
            yield _loads(key_bytes, "key")

    @emulated_generator("values")
    def values(self) -> Iterator[Any]:
        """The values, as a one-pass iterator (unordered)."""
        for _, value_bytes in self._store().contents():
            yield _loads(value_bytes, "value")

    @emulated_generator("items")
    def items(self) -> Iterator[tuple[Any, Any]]:
        """The (key, value) pairs, as a one-pass iterator (unordered)."""
        for key_bytes, value_bytes in self._store().contents():
            yield _loads(key_bytes, "key"), _loads(value_bytes, "value")
