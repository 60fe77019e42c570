"""Keys: validating ids and user ids, hashing users into folders, building paths.

A stored object lives at ``<resource_type>/<user_hash>/<id><ext>`` below the
store root. Everything that ends up in a path passes through this module, and
nothing here can produce a path that leaves the root: ids and user ids are
single path components that are never empty, ``.``, ``..``, start with ``.``
(reserved for volstore's temporary files), or hold ``/``, ``\\``, NUL or other
control characters.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable

from ._errors import InvalidKeyError

MAX_ID_BYTES = 200
RESOURCE_TYPE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
DEFAULT_USER_HASH_LENGTH = 16
MIN_USER_HASH_LENGTH = 16
"""The shortest user folder name allowed: 16 hex digits, 64 bits (see docs/security.md).

Two user ids whose hashes share their first ``length`` digits share a folder.
At 8 digits (32 bits) a colliding pair turns up within some tens of
thousands of hashes (a fraction of a second), and an id landing in one given
user's folder within about 4 billion (minutes on a CPU, a second on a GPU).
At 16 digits that search takes 2**64 hashes (decades on a GPU), and an
accidental collision among a million users has a chance of about 3 in 100
million.
"""
MAX_USER_HASH_LENGTH = 64

# C0 and C1 controls and DEL: harmless to most filesystems but a trap for every
# tool that prints a path, so they are refused along with the separators.
_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")


def validate_resource_type(resource_type: object) -> str:
    """Return ``resource_type`` if it is a valid folder name for a model.

    Raises InvalidKeyError for anything but lowercase letters, digits, ``_`` and
    ``-`` (1 to 64 characters, starting with a letter or digit).
    """
    if not isinstance(resource_type, str) or not RESOURCE_TYPE_PATTERN.fullmatch(resource_type):
        raise InvalidKeyError(
            f"invalid resource type {resource_type!r}: use 1 to 64 lowercase letters, digits, "
            "'_' or '-', starting with a letter or digit"
        )
    return resource_type


def _validate_component(kind: str, value: object, max_bytes: int | None) -> str:
    if not isinstance(value, str):
        raise InvalidKeyError(f"{kind} must be a string, not {type(value).__name__}: {value!r}")
    if not value:
        raise InvalidKeyError(f"{kind} must not be empty")
    bad = _FORBIDDEN.search(value)
    if bad:
        raise InvalidKeyError(
            f"{kind} {value!r} contains {bad.group()!r}; '/', '\\' and control characters "
            "are not allowed"
        )
    if value in (".", ".."):
        raise InvalidKeyError(f"{kind} {value!r} is a reserved path name")
    if value[0] == ".":
        raise InvalidKeyError(
            f"{kind} {value!r} starts with '.', which volstore reserves for temporary files"
        )
    if value.isascii():  # the usual id: NFC already, one UTF-8 byte a character
        size = len(value)
    else:
        if not unicodedata.is_normalized("NFC", value):
            # Two spellings of one visible name would be two files (and one on
            # filesystems that normalise): refuse rather than guess.
            raise InvalidKeyError(
                f"{kind} {value!r} is not in Unicode NFC form; "
                f"use {unicodedata.normalize('NFC', value)!r}"
            )
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            # A lone surrogate: no UTF-8 spelling, so no file name and no user hash.
            raise InvalidKeyError(f"{kind} {value!r} is not valid Unicode text") from None
    if max_bytes is not None and size > max_bytes:
        raise InvalidKeyError(f"{kind} is {size} UTF-8 bytes long; at most {max_bytes} allowed")
    return value


VALID_IDS: set[str] = set()
"""Ids found valid (a set, not an LRU: a lookup is the hot path of every key)."""
_MAX_VALID_IDS = 262_144


def validate_id(object_id: str) -> str:
    """Return ``object_id`` if it is allowed as an object id, else raise InvalidKeyError."""
    if object_id in VALID_IDS:
        return object_id
    _validate_component("id", object_id, MAX_ID_BYTES)
    if len(VALID_IDS) >= _MAX_VALID_IDS:
        VALID_IDS.clear()
    VALID_IDS.add(object_id)
    return object_id


def validate_user_id(user_id: str) -> str:
    """Return ``user_id`` if it is allowed as a user id, else raise InvalidKeyError.

    User ids are hashed before they reach a path, so their length is not limited;
    they follow the same rules as ids otherwise, so that logs and errors stay sane.
    """
    return _validate_component("user id", user_id, None)


def check_id(object_id: object) -> str:
    """Validate an id of any type (the cache in validate_id needs hashable strings)."""
    if object_id.__class__ is not str and not isinstance(object_id, str):
        raise InvalidKeyError(f"id must be a string, not {type(object_id).__name__}: {object_id!r}")
    return validate_id(object_id)


def is_valid_id(object_id: str) -> bool:
    """Whether ``object_id`` is allowed as an id (a file whose name is not cannot be addressed)."""
    try:
        check_id(object_id)
    except InvalidKeyError:
        return False
    return True


def id_from_file_name(name: str, extensions: Iterable[str]) -> str | None:
    """The id part of a file name ending with one of ``extensions``, else None."""
    for extension in extensions:
        if name.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return None


class UserHasher:
    """Maps a user id to its folder name: the first ``length`` hex digits of SHA-256.

    This is the seed's documented pattern (``sha256(user_id)[:16]``), so volumes
    written by hand in that pattern are read without migration. Raises
    ValueError for a ``length`` outside 16 to 64 (``MIN_USER_HASH_LENGTH``: a
    shorter one lets user ids collide).
    """

    def __init__(self, length: int = DEFAULT_USER_HASH_LENGTH) -> None:
        if (
            not isinstance(length, int)
            or isinstance(length, bool)
            or not MIN_USER_HASH_LENGTH <= length <= MAX_USER_HASH_LENGTH
        ):
            raise ValueError(
                f"user hash length must be an integer from {MIN_USER_HASH_LENGTH} to "
                f"{MAX_USER_HASH_LENGTH}, not {length!r}: shorter user folder names let "
                "different user ids share a folder (see the security page of the docs)"
            )
        self.length = length
        self._cache: dict[str, str] = {}

    def layout(self) -> dict[str, object]:
        """What the root marker file records of this hashing (nothing secret)."""
        return {"user_hash": "sha256", "length": self.length}

    def _digest(self, user_id: str) -> str:
        return hashlib.sha256(user_id.encode("utf-8")).hexdigest()

    def __call__(self, user_id: str) -> str:
        if not isinstance(user_id, str):
            validate_user_id(user_id)  # raises InvalidKeyError naming the type
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        validate_user_id(user_id)
        folder = self._digest(user_id)[: self.length]
        if len(self._cache) < 65536:
            self._cache[user_id] = folder
        return folder


class KeyedUserHasher(UserHasher):
    """Maps a user id to the first ``length`` hex digits of HMAC-SHA256 under a secret key.

    An unkeyed SHA-256 of a guessable id (an email, a sequential number) can be
    reversed by hashing guesses; without the key, these folder names cannot.
    """

    def __init__(self, key: str | bytes, length: int = DEFAULT_USER_HASH_LENGTH) -> None:
        super().__init__(length)
        secret = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if len(secret) < 16:
            raise ValueError("a user hash key must be at least 16 bytes long")
        self._key = secret

    def layout(self) -> dict[str, object]:
        # The key id identifies the key without revealing it (an HMAC of a constant).
        key_id = hmac.new(self._key, b"volstore/key-id", hashlib.sha256).hexdigest()[:16]
        return {"user_hash": "hmac-sha256", "length": self.length, "key_id": key_id}

    def _digest(self, user_id: str) -> str:
        return hmac.new(self._key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def is_user_folder(name: str, length: int) -> bool:
    """Whether ``name`` looks like a user folder made by a hasher of that length."""
    return len(name) == length and all(c in "0123456789abcdef" for c in name)


_CLEAN_FOLDERS: set[str] = set()
_MAX_CLEAN_FOLDERS = 100_000


def check_relative_path(path: str) -> str:
    """Raise InvalidKeyError unless ``path`` is a clean relative path below a root.

    The backends call this on every path they touch: a second line of defence
    behind the key validation above. Folders already found clean are
    remembered, so the usual check is of the file name alone.
    """
    folder, _, name = path.rpartition("/")
    if (
        folder in _CLEAN_FOLDERS
        and name
        and name != "."
        and name != ".."
        and "\\" not in name
        and "\x00" not in name
    ):
        return path
    _check_whole(path)
    if folder:
        # A clean path's folder is clean too (any flaw in it shows in the path).
        if len(_CLEAN_FOLDERS) >= _MAX_CLEAN_FOLDERS:
            _CLEAN_FOLDERS.clear()
        _CLEAN_FOLDERS.add(folder)
    return path


def group_by_folder(paths: Iterable[str]) -> dict[str, list[str]]:
    """Check every path as ``check_relative_path`` does; group them by folder, in order.

    A batch's paths usually come folder by folder: a path in the last path's
    folder (clean: it was checked) is told by its prefix, and only its name
    is checked, without splitting it.
    """
    groups: dict[str, list[str]] = {}
    prefix: str | None = None  # the last path's folder, with its "/"
    members: list[str] = []
    for path in paths:
        if prefix is not None and path.startswith(prefix) and path.find("/", len(prefix)) < 0:
            name = path[len(prefix) :]
            if name and name != "." and name != ".." and "\\" not in name and "\x00" not in name:
                members.append(path)
                continue
        check_relative_path(path)
        folder = path.rpartition("/")[0]
        prefix = f"{folder}/" if folder else None  # top-level names: checked one by one
        members = groups.setdefault(folder, [])
        members.append(path)
    return groups


def _check_whole(path: str) -> None:
    # Substring tests, cheaper than a regular expression.
    if (
        not path
        or path[0] == "/"
        or path[-1] == "/"
        or "//" in path
        or "\\" in path
        or "\x00" in path
        or "/./" in path
        or "/../" in path
        or path.startswith(("./", "../"))
        or path.endswith(("/.", "/.."))
        or path in (".", "..")
    ):
        raise InvalidKeyError(f"storage path {path!r} is not a clean relative path")
