"""Keys: validation, user hashing, and that no key ever leaves the root."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import volstore
from models import Schedule
from volstore._keys import UserHasher, check_relative_path, validate_id, validate_user_id

BAD_IDS = [
    ("", "empty"),
    (".", "reserved"),
    ("..", "reserved"),
    ("../x", "contains '/'"),
    ("a/b", "contains '/'"),
    ("a\\b", "contains"),
    ("a\x00b", "contains"),
    ("line\nbreak", "contains"),
    (".hidden", "starts with '.'"),
    ("x" * 201, "at most 200"),
    ("é" * 101, "at most 200"),  # 202 UTF-8 bytes
    ("e\u0301", "NFC"),  # 'é' spelled as e + combining accent
]


@pytest.mark.parametrize(("bad", "reason"), BAD_IDS)
def test_bad_ids_are_refused_with_a_reason(bad: str, reason: str) -> None:
    with pytest.raises(volstore.InvalidKeyError, match=reason):
        validate_id(bad)


def test_invalid_key_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        validate_id("")


def test_longest_allowed_id_is_200_utf8_bytes() -> None:
    assert validate_id("x" * 200) == "x" * 200
    assert validate_id("é" * 100) == "é" * 100


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "\x00", ".x"])
def test_bad_user_ids_are_refused(bad: str) -> None:
    with pytest.raises(volstore.InvalidKeyError):
        validate_user_id(bad)


def test_user_ids_are_not_length_limited() -> None:
    assert validate_user_id("u" * 1000) == "u" * 1000


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(volstore.InvalidKeyError, match="must be a string"):
        UserHasher()(123)  # type: ignore[arg-type]


def test_user_hash_is_the_seeds_sha256_prefix() -> None:
    user = "ada@example.com"
    assert UserHasher()(user) == hashlib.sha256(user.encode()).hexdigest()[:16]


def test_user_hash_length_is_configurable(tmp_path: Path) -> None:
    store = volstore.Store(tmp_path, user_hash_length=24)
    store.repository(Schedule).put(Schedule(id="s", user_id="ada", name="n", cron="* * * * *"))
    (folder,) = os.listdir(tmp_path / "schedules")
    assert folder == hashlib.sha256(b"ada").hexdigest()[:24]


@pytest.mark.parametrize("length", [0, 7, 8, 15, 65, "16", True])
def test_bad_hash_lengths_are_refused(length: object) -> None:
    with pytest.raises(ValueError, match="from 16 to 64"):
        UserHasher(length)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path", ["", "/abs", "a//b", "a/../b", "./a", "a/.", "a\\b", "a\x00", "..", "a/"]
)
def test_backends_refuse_unclean_paths(path: str) -> None:
    with pytest.raises(volstore.InvalidKeyError):
        check_relative_path(path)


@pytest.mark.parametrize("resource_type", ["", "Schedules", "a b", "a/b", "-x", "x" * 65, "é"])
def test_bad_resource_types_fail_at_class_definition(resource_type: str) -> None:
    with pytest.raises(volstore.ModelDefinitionError, match="invalid resource type"):

        class Bad(volstore.Model, resource_type=resource_type):
            id: str
            user_id: str


def _files_below(root: Path) -> set[Path]:
    """Object files (the .volstore.json layout marker aside)."""
    return {p for p in root.rglob("*") if p.is_file() and p.name != ".volstore.json"}


@given(object_id=st.text(max_size=60), user_id=st.text(max_size=20))
def test_any_text_key_is_refused_or_stored_inside_the_root(
    tmp_path_factory: pytest.TempPathFactory, object_id: str, user_id: str
) -> None:
    """A key is rejected with the typed error, or stored and read back; nothing leaves the root."""
    base = tmp_path_factory.mktemp("keys")
    root = base / "root"
    store = volstore.Store(root)
    repo = store.repository(Schedule)
    try:
        repo.put(Schedule(id=object_id, user_id=user_id, name="n", cron="* * * * *"))
    except volstore.InvalidKeyError:
        assert _files_below(base) == set()
        return
    got = repo.get(user_id, object_id)
    assert got is not None
    assert got.id == object_id
    assert repo.ids(user_id) == [object_id]
    files = _files_below(base)
    assert len(files) == 1
    (only,) = files
    assert only.resolve().is_relative_to(root.resolve())
    assert only.parent.parent.parent == root


@pytest.mark.parametrize("bad", ["a\x85b", "a\x9fb", "a\x80"])
def test_c1_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(volstore.InvalidKeyError, match="control characters"):
        validate_id(bad)
