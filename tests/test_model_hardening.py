"""The model layer refuses what it could not read back (issue 13: items 1, 2, 12 and 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import attrs
import msgpack
import pydantic
import pydantic_core
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import volstore
from volstore._codec import (
    JSON_MAX_DEPTH,
    JSON_MAX_INT_DIGITS,
    MSGPACK_MAX_DEPTH,
    json_unreadable,
)


def _files(store: volstore.Store) -> list[str]:
    """Every object file below the root (the layout marker aside)."""
    found, folders = [], [""]
    while folders:
        folder = folders.pop()
        for entry in store.backend.list(folder):
            path = f"{folder}/{entry.name}" if folder else entry.name
            (folders if entry.is_dir else found).append(path)
    return sorted(found)


def _nested(depth: int, inner: Any = 1) -> Any:
    """``inner`` inside ``depth`` lists."""
    value = inner
    for _ in range(depth):
        value = [value]
    return value


# -- item 12: a misspelt declaration keyword ---------------------------------------------


def _pydantic_typo() -> None:
    class Typo(volstore.Model, resource_type="typos", schema_verison=2):
        id: str
        user_id: str


def _attrs_typo() -> None:
    @volstore.resource("typos", schema_verison=2)
    @attrs.define
    class Typo:
        id: str
        user_id: str


def test_declaration_typo_gets_the_same_error_for_pydantic_and_attrs() -> None:
    messages = []
    for declare in (_pydantic_typo, _attrs_typo):
        with pytest.raises(volstore.ModelDefinitionError) as info:
            declare()
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "'schema_verison' (did you mean 'schema_version'?)" in messages[0]
    assert messages[0].startswith("Typo: unknown declaration keyword")
    assert "\n" not in messages[0]


def test_declaration_typo_on_an_abstract_pydantic_base_is_named() -> None:
    with pytest.raises(volstore.ModelDefinitionError, match="did you mean 'owner_field'"):

        class Base(volstore.Model, ownr_field="tenant"):
            tenant: str


def test_pydantic_config_keywords_still_reach_pydantic() -> None:
    class Frozen(volstore.Model, resource_type="frozen_things", frozen=True):
        id: str
        user_id: str

    assert Frozen.model_config.get("frozen") is True


# -- item 18: generated ids for attrs models -----------------------------------------------


@volstore.resource("notes")
@attrs.define
class Note:
    id: str = volstore.attrs_id_field()  # keyword-only: may precede fields without defaults
    user_id: str
    text: str


def test_attrs_id_field_generates_time_sortable_ids_and_stores_them() -> None:
    first, second = Note(user_id="ada", text="a"), Note(user_id="ada", text="b")
    assert len(first.id) == 26
    assert first.id < second.id
    store = volstore.Store(volstore.MemoryBackend())
    store.repository(Note).put_all([first, second])
    assert len(_files(store)) == 2
    assert [n.text for n in store.repository(Note).list("ada")] == ["a", "b"]


def test_attrs_id_field_takes_an_explicit_id_by_keyword() -> None:
    assert Note(id="n1", user_id="ada", text="a").id == "n1"
    with pytest.raises(TypeError):
        Note("n1", "ada", "a")  # the id is keyword-only


def test_pydantic_id_field_in_an_attrs_class_is_a_definition_error() -> None:
    with pytest.raises(volstore.ModelDefinitionError, match="attrs_id_field"):

        @volstore.resource("wrong_ids")
        @attrs.define
        class Wrong:
            user_id: str
            id: str = volstore.id_field()


# -- item 1: attrs objects are validated before they are written ---------------------------


@volstore.resource("hardened_tasks")
@attrs.define
class Task:
    user_id: str
    title: str
    state: Literal["open", "done"] = "open"
    id: str = volstore.attrs_id_field()


@volstore.resource("hardened_packed_tasks", codec=volstore.MSGPACK)
@attrs.define
class PackedTask:
    user_id: str
    title: str
    id: str = volstore.attrs_id_field()


@volstore.resource("hardened_versioned_tasks", schema_version=2, migrations={1: dict})
@attrs.define
class VersionedTask:
    user_id: str
    title: str
    id: str = volstore.attrs_id_field()


def test_attrs_none_in_a_str_field_is_refused_before_any_byte_is_written() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(Task)
    with pytest.raises(volstore.SerializationError) as info:
        repo.put(Task(user_id="ada", title=None))  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("cannot store Task '")
    assert "title: Input should be a valid string, not None" in message
    assert "\n" not in message
    assert _files(store) == []


def test_attrs_literal_field_with_a_bad_value_is_refused() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    with pytest.raises(volstore.SerializationError, match=r"state: Input should be 'open' or"):
        store.repository(Task).put(Task(user_id="ada", title="t", state="closed"))  # type: ignore[arg-type]
    assert _files(store) == []


@pytest.mark.parametrize("model", [PackedTask, VersionedTask], ids=["msgpack", "versioned"])
def test_attrs_validation_on_write_covers_every_codec_path(model: Any) -> None:
    store = volstore.Store(volstore.MemoryBackend())
    with pytest.raises(volstore.SerializationError, match="title: Input should be a valid string"):
        store.repository(model).put(model(user_id="ada", title=None))
    assert _files(store) == []
    store.repository(model).put(model(id="ok", user_id="ada", title="fine"))
    assert store.repository(model).get_one("ada", "ok").title == "fine"


def test_a_session_with_one_invalid_attrs_object_writes_nothing() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    store.repository(Task).put(Task(id="kept", user_id="ada", title="before"))
    with pytest.raises(volstore.SerializationError, match="title"), store.session() as s:
        s.get_one(Task, "ada", "kept").title = "after"
        s.add(Task(user_id="ada", title=None))  # type: ignore[arg-type]
    assert [t.title for t in store.repository(Task).list("ada")] == ["before"]


def test_an_attrs_object_changed_in_place_is_validated_at_commit() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    store.repository(Task).put(Task(id="t", user_id="ada", title="before"))
    with pytest.raises(volstore.SerializationError, match="state"), store.session() as s:
        s.get_one(Task, "ada", "t").state = "lost"  # type: ignore[assignment]
    assert store.repository(Task).get_one("ada", "t").state == "open"


# -- item 2: values the reader would refuse are refused at write time ----------------------


def test_reader_limits_are_those_of_the_installed_parsers() -> None:
    # pydantic-core's JSON parser: JSON_MAX_DEPTH containers may enclose a value ...
    pydantic_core.from_json(b"[" * JSON_MAX_DEPTH + b"1" + b"]" * JSON_MAX_DEPTH)
    pydantic_core.from_json(b'{"a":' * JSON_MAX_DEPTH + b"1" + b"}" * JSON_MAX_DEPTH)
    pydantic_core.from_json(b"[" * (JSON_MAX_DEPTH + 1) + b"]" * (JSON_MAX_DEPTH + 1))
    for too_deep in (
        b"[" * (JSON_MAX_DEPTH + 1) + b"1" + b"]" * (JSON_MAX_DEPTH + 1),
        b'{"a":' * (JSON_MAX_DEPTH + 1) + b"1" + b"}" * (JSON_MAX_DEPTH + 1),
        b"[" * (JSON_MAX_DEPTH + 2) + b"]" * (JSON_MAX_DEPTH + 2),
    ):
        with pytest.raises(ValueError, match="recursion limit exceeded"):
            pydantic_core.from_json(too_deep)
    # ... and integers have at most JSON_MAX_INT_DIGITS digits.
    pydantic_core.from_json(b"-" + b"9" * JSON_MAX_INT_DIGITS)
    with pytest.raises(ValueError, match="number out of range"):
        pydantic_core.from_json(b"9" * (JSON_MAX_INT_DIGITS + 1))
    # msgpack's unpacker: MSGPACK_MAX_DEPTH containers, even empty ones.
    fixarray_of_one, empty_fixarray = b"\x91", b"\x90"
    msgpack.unpackb(fixarray_of_one * (MSGPACK_MAX_DEPTH - 1) + empty_fixarray)
    with pytest.raises(msgpack.exceptions.StackError):
        msgpack.unpackb(fixarray_of_one * MSGPACK_MAX_DEPTH + empty_fixarray)


def test_the_formats_page_states_the_limits_the_code_applies() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "formats.md").read_text()
    table = page[page.index("## The readers' limits") :]
    for figure in (JSON_MAX_DEPTH, JSON_MAX_INT_DIGITS, MSGPACK_MAX_DEPTH):
        assert f"{figure:,}" in table, figure


def test_the_json_check_agrees_with_the_parser_at_every_boundary() -> None:
    documents = [
        pydantic_core.to_json(_nested(depth, inner))
        for depth in range(JSON_MAX_DEPTH - 2, JSON_MAX_DEPTH + 3)
        for inner in (1, [], {}, {"k": [1, 2]}, "x")
    ]
    documents += [b"9" * digits for digits in (JSON_MAX_INT_DIGITS, JSON_MAX_INT_DIGITS + 1)]
    for data in documents:
        try:
            pydantic_core.from_json(data)
            readable = True
        except ValueError:
            readable = False
        assert (json_unreadable(data) is None) == readable, data[:40]


def test_brackets_and_digits_inside_strings_are_not_mistaken_for_structure() -> None:
    class Text(volstore.Model, resource_type="hardened_texts"):
        id: str
        user_id: str
        body: str
        digits: str

    store = volstore.Store(volstore.MemoryBackend())
    text = Text(id="t", user_id="ada", body='[{"\\' * 500, digits="7" * 10_000)
    store.repository(Text).put(text)
    assert store.repository(Text).get_one("ada", "t") == text


class Loose(volstore.Model, resource_type="hardened_loose"):
    id: str
    user_id: str
    number: int = 0
    value: Any = None


class PackedLoose(volstore.Model, resource_type="hardened_packed_loose", codec=volstore.MSGPACK):
    id: str
    user_id: str
    number: int = 0
    value: Any = None


class VersionedLoose(
    volstore.Model, resource_type="hardened_versioned_loose", schema_version=2, migrations={1: dict}
):
    id: str
    user_id: str
    number: int = 0
    value: Any = None


LOOSE_MODELS = [Loose, PackedLoose, VersionedLoose]


@pytest.mark.parametrize("model", LOOSE_MODELS, ids=["json", "msgpack", "versioned"])
def test_an_int_the_reader_would_refuse_is_refused_at_write_time(model: Any) -> None:
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(model)
    huge = 10**JSON_MAX_INT_DIGITS  # one digit too many
    for obj in (
        model(id="a", user_id="ada", number=huge),
        model(id="b", user_id="ada", value=huge),
    ):
        with pytest.raises(volstore.SerializationError) as info:
            repo.put(obj)
        assert "\n" not in str(info.value)
    assert _files(store) == []


def test_the_longest_json_int_is_stored_and_read_back() -> None:
    store = volstore.Store(volstore.MemoryBackend())
    largest = 10**JSON_MAX_INT_DIGITS - 1
    store.repository(Loose).put(Loose(id="a", user_id="ada", number=-largest, value=largest))
    found = store.repository(Loose).get_one("ada", "a")
    assert (found.number, found.value) == (-largest, largest)


@pytest.mark.parametrize("model", [Loose, VersionedLoose], ids=["json", "versioned"])
def test_a_nesting_the_json_reader_would_refuse_is_refused_at_write_time(model: Any) -> None:
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(model)
    # The stored object is the first level: its field may hold JSON_MAX_DEPTH - 1 more.
    repo.put(model(id="deepest", user_id="ada", value=_nested(JSON_MAX_DEPTH - 1)))
    assert repo.get_one("ada", "deepest").value == _nested(JSON_MAX_DEPTH - 1)
    for depth in (JSON_MAX_DEPTH, 230, 253, 300):
        with pytest.raises(
            volstore.SerializationError, match=r"more than 200 levels|depth exceeded"
        ):
            repo.put(model(id=f"d{depth}", user_id="ada", value=_nested(depth)))
    assert repo.ids("ada") == ["deepest"]


def test_msgpack_models_nest_as_deep_as_the_serializer_allows() -> None:
    # msgpack's reader goes deeper than pydantic's serializer: what encodes, reads back.
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(PackedLoose)
    repo.put(PackedLoose(id="deep", user_id="ada", value=_nested(253)))
    assert repo.get_one("ada", "deep").value == _nested(253)
    with pytest.raises(volstore.SerializationError, match="depth"):
        repo.put(PackedLoose(id="deeper", user_id="ada", value=_nested(300)))
    assert repo.ids("ada") == ["deep"]


def test_msgpack_documents_nested_past_the_unpacker_are_refused() -> None:
    codec = volstore.MSGPACK
    packed = codec.dump_document(_nested(MSGPACK_MAX_DEPTH - 1, []))  # the deepest it reads
    assert codec.dump_document(codec.load_document(packed)) == packed
    for too_deep in (_nested(MSGPACK_MAX_DEPTH, []), _nested(MSGPACK_MAX_DEPTH + 1, 1)):
        with pytest.raises(volstore.SerializationError, match="msgpack"):
            codec.dump_document(too_deep)


def test_json_documents_nested_past_the_reader_are_refused() -> None:
    with pytest.raises(volstore.SerializationError, match="more than 200 levels"):
        volstore.JSON.dump_document({"v": _nested(JSON_MAX_DEPTH)})
    deepest = {"v": _nested(JSON_MAX_DEPTH - 1)}
    assert volstore.JSON.load_document(volstore.JSON.dump_document(deepest)) == deepest


def test_pydantic_json_value_at_the_serializer_limit_is_refused() -> None:
    class Blob(volstore.Model, resource_type="hardened_blobs"):
        id: str
        user_id: str
        value: pydantic.JsonValue = None

    store = volstore.Store(volstore.MemoryBackend())
    with pytest.raises(volstore.SerializationError, match="more than 200 levels"):
        store.repository(Blob).put(Blob(id="b", user_id="ada", value=_nested(220)))
    assert _files(store) == []


# -- the property behind items 1 and 2: what is written reads back, or nothing is written --


@volstore.resource("hardened_attrs_loose")
@attrs.define
class AttrsLoose:
    user_id: str
    value: Any = None
    id: str = volstore.attrs_id_field()


@volstore.resource("hardened_attrs_packed_loose", codec=volstore.MSGPACK)
@attrs.define
class AttrsPackedLoose:
    user_id: str
    value: Any = None
    id: str = volstore.attrs_id_field()


def _digits(count: int) -> int:
    return 10 ** (count - 1)


pathological_ints = (
    st.integers(JSON_MAX_INT_DIGITS - 3, JSON_MAX_INT_DIGITS + 3).map(_digits)
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
    | st.integers()
)
pathological_values = st.one_of(
    pathological_ints,
    pathological_ints.map(lambda n: -n),
    st.tuples(st.integers(JSON_MAX_DEPTH - 4, 260), st.sampled_from([1, [], {}, "]]", None])).map(
        lambda shape: _nested(*shape)
    ),
    st.recursive(
        st.none() | st.booleans() | pathological_ints | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=6,
    ),
)


@given(
    value=pathological_values,
    model=st.sampled_from([Loose, PackedLoose, VersionedLoose, AttrsLoose, AttrsPackedLoose]),
)
def test_a_value_is_either_stored_and_read_back_or_refused_with_nothing_written(
    value: Any, model: Any
) -> None:
    store = volstore.Store(volstore.MemoryBackend())
    repo = store.repository(model)
    try:
        repo.put(model(id="v", user_id="ada", value=value))
    except volstore.SerializationError as exc:
        message = str(exc)
        assert "\n" not in message
        assert _files(store) == []
        event("refused")
        return
    event("stored")
    stored = repo.get_one("ada", "v").value
    again = model(id="v", user_id="ada", value=stored)
    assert volstore.spec_of(model).encode(again) == store.backend.read(_files(store)[0])
