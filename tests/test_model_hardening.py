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
