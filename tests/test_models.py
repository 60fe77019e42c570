"""Declaring models, and round trips of pydantic and attrs models through every backend."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

import volstore
from models import Profile, Result, Schedule
from tests import strategies
from volstore import Store


def test_pydantic_declaration_carries_a_spec() -> None:
    spec = volstore.spec_of(Schedule)
    assert (spec.resource_type, spec.id_field, spec.owner_field, spec.kind) == (
        "schedules",
        "id",
        "user_id",
        "pydantic",
    )


def test_attrs_declaration_carries_a_spec() -> None:
    spec = volstore.spec_of(Profile)
    assert (spec.resource_type, spec.kind) == ("profiles", "attrs")


def test_custom_id_and_owner_fields(store: Store) -> None:
    class Doc(volstore.Model, resource_type="docs", id_field="slug", owner_field="tenant"):
        slug: str
        tenant: str
        body: str = ""

    repo = store.repository(Doc)
    repo.put(Doc(slug="intro", tenant="acme", body="hi"))
    assert repo.get_one("acme", "intro").body == "hi"


def test_missing_id_field_is_an_error_at_class_definition() -> None:
    with pytest.raises(volstore.ModelDefinitionError, match="no such field"):

        class NoId(volstore.Model, resource_type="noid"):
            user_id: str


def test_abstract_base_models_cannot_be_stored(store: Store) -> None:
    class Base(volstore.Model):
        id: str
        user_id: str

    with pytest.raises(volstore.ModelDefinitionError, match="not a volstore model"):
        store.repository(Base)


def test_resource_decorator_needs_an_attrs_class() -> None:
    class Plain:
        id: str
        user_id: str

    with pytest.raises(volstore.ModelDefinitionError, match="attrs class"):
        volstore.resource("plain")(Plain)


def test_attrs_decorator_validates_fields_and_type() -> None:
    with pytest.raises(volstore.ModelDefinitionError, match="invalid resource type"):

        @volstore.resource("Bad Name")
        @attrs.define
        class A:
            id: str
            user_id: str

    with pytest.raises(volstore.ModelDefinitionError, match="owner field"):

        @volstore.resource("nouser")
        @attrs.define
        class B:
            id: str


def test_attrs_private_fields_and_frozen_classes_round_trip(store: Store) -> None:
    @volstore.resource("frozen-things")
    @attrs.frozen
    class Thing:
        id: str
        user_id: str
        _secret: int = 0
        items: tuple[str, ...] = ()

    repo = store.repository(Thing)
    repo.put(Thing(id="t", user_id="ada", secret=7, items=("a", "b")))
    assert repo.get_one("ada", "t") == Thing(id="t", user_id="ada", secret=7, items=("a", "b"))


def test_frozen_model_without_id_gets_a_clear_error(store: Store) -> None:
    @volstore.resource("frozen-noid")
    @attrs.frozen
    class Thing:
        user_id: str
        id: str | None = None

    with pytest.raises(volstore.InvalidKeyError, match="frozen"):
        store.repository(Thing).put(Thing(user_id="ada"))


ROUND_TRIP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)


@ROUND_TRIP
@given(obj=strategies.schedules())
def test_pydantic_round_trip(store: Store, obj: Schedule) -> None:
    repo = store.repository(Schedule)
    repo.put(obj)
    assert repo.get(obj.user_id, obj.id) == obj


@ROUND_TRIP
@given(obj=strategies.results())
def test_pydantic_round_trip_with_optional_datetimes(store: Store, obj: Result) -> None:
    repo = store.repository(Result)
    repo.put(obj)
    assert repo.get(obj.user_id, obj.id) == obj


@ROUND_TRIP
@given(obj=strategies.profiles())
def test_attrs_round_trip_with_nested_types_and_datetimes(store: Store, obj: Profile) -> None:
    repo = store.repository(Profile)
    repo.put(obj)
    got = repo.get(obj.user_id, obj.id)
    assert got == obj
    assert got is not None
    assert got.created_at.utcoffset() == obj.created_at.utcoffset()
    assert type(got.notifications) is type(obj.notifications)
