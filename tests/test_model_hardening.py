"""The model layer refuses what it could not read back (issue 13: items 1, 2, 12 and 18)."""

from __future__ import annotations

import attrs
import pytest

import volstore

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
