"""The testing kit users get: Hypothesis strategies for any model, and the pytest plugin.

The plugin tests run user test files through ``pytester`` (enabled in
tests/conftest.py), so the fixtures are checked exactly as a user meets them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib.metadata
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
import attrs
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, Field, NaiveDatetime, PositiveInt, model_validator

import volstore
from models import ALL_MODELS, Event, Profile, Schedule
from volstore.modal import volume_store
from volstore.testing import VolumeEmulator
from volstore.testing.pytest_plugin import ContainerFactory
from volstore.testing.strategies import ids, instances, keys, user_ids

M = TypeVar("M")
ROOT = Path(__file__).resolve().parents[1]


def stored_copy(store: volstore.Store, obj: M) -> M | None:
    """Put ``obj`` through a repository, then read it back by its key."""
    spec = volstore.spec_of(obj)
    store.repository(type(obj)).put(obj)
    if spec.time_field is None:
        return store.repository(type(obj)).get(spec.owner(obj), spec.object_id(obj))
    with store.session() as s:  # a time-bucketed object is found by its timestamp too
        return s.get(
            type(obj), spec.owner(obj), spec.object_id(obj), at=getattr(obj, spec.time_field)
        )


# -- models that use every kind of field the strategies know --------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(BaseModel):
    x: float
    y: float = 0.0


@attrs.define
class Tag:
    name: str
    weight: int = 0


@dataclasses.dataclass
class Span:
    start: dt.date
    end: dt.date | None = None


class Node(BaseModel):
    label: str
    children: list[Node] = []


class Everything(volstore.Model, resource_type="kit-everything"):
    """A pydantic model (pydantic models cannot hold attrs classes; Reading below does)."""

    id: str = volstore.id_field()
    user_id: str
    count: int = Field(ge=0, le=1000)
    ratio: float = Field(gt=0, lt=1)
    even: int = Field(multiple_of=2, ge=-10, le=10)
    code: str = Field(pattern=r"^[A-Z]{3}-[0-9]{2}$")
    short: str = Field(min_length=2, max_length=5)
    positive: PositiveInt
    amount: Decimal = Field(max_digits=8, decimal_places=2)
    price: Decimal
    uid: uuid.UUID
    when: AwareDatetime
    naive: NaiveDatetime
    anytime: dt.datetime
    utc_only: Annotated[dt.datetime, annotated_types.Timezone(...)]
    day: dt.date
    clock: dt.time
    duration: dt.timedelta
    color: Color
    level: Level
    mode: Literal["a", "b", 3]
    maybe: int | None = None
    either: int | str
    text_or_time: str | dt.datetime  # both are JSON strings: only values that read back
    raw: bytes
    spans: tuple[Span, ...] = ()
    pair: tuple[int, str]
    unique: set[int] = Field(default_factory=set)
    frozen: frozenset[str] = frozenset()
    index: dict[str, Point] = Field(default_factory=dict)
    by_number: dict[int, list[float]] = Field(default_factory=dict)
    point: Point
    tree: Node | None = None
    anything: Any = None
    mapping: Mapping[str, int] = Field(default_factory=dict)
    colors: Sequence[Color] = Field(default_factory=list)
    limited: list[Annotated[int, Field(ge=0, le=9)]] = Field(default_factory=list, max_length=3)


@volstore.resource("kit-readings", time_field="at")
@attrs.define
class Reading:
    """An attrs model, time-bucketed, with nested pydantic, attrs and dataclass values."""

    id: str
    user_id: str
    at: dt.datetime
    value: float
    unit: Literal["c", "f"] = "c"
    tags: list[Tag] = attrs.Factory(list)
    where: Point | None = None
    span: Span | None = None
    note: Annotated[str, annotated_types.MaxLen(3)] = ""


class Window(volstore.Model, resource_type="kit-windows"):
    id: str
    user_id: str
    start: int
    end: int

    @model_validator(mode="after")
    def ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError("a window ends after it starts")
        return self


KIT_MODELS = (Everything, Reading, Window)


# -- strategies -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS + KIT_MODELS, ids=lambda m: m.__name__)
def test_every_drawn_instance_round_trips_through_a_store(
    model: type[Any], store: volstore.Store
) -> None:
    @given(instances(model))
    def check(obj: Any) -> None:
        assert stored_copy(store, obj) == obj

    check()


@pytest.fixture(params=["mounted", "remote"])
def emulated_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[volstore.Store]:
    """A store in an emulated container, or through the emulated client API."""
    emulator = VolumeEmulator(tmp_path / "emulator")
    volume = emulator.Volume.from_name("test-volume", create_if_missing=True)
    if request.param == "remote":
        yield volume_store(volume, mode="remote")
        return
    containers = ContainerFactory(emulator, volume)
    try:
        yield containers().store
    finally:
        containers.close()


def test_drawn_instances_round_trip_on_emulated_volumes(emulated_store: volstore.Store) -> None:
    # Every model in one test: a commit per example makes volumes slower than folders.
    @given(st.one_of([instances(model) for model in ALL_MODELS + KIT_MODELS]))
    def check(obj: Any) -> None:
        assert stored_copy(emulated_store, obj) == obj

    check()


def test_instances_honour_the_constraints_of_each_field() -> None:
    @given(instances(Everything))
    def check(obj: Everything) -> None:
        assert 0 <= obj.count <= 1000
        assert 0 < obj.ratio < 1
        assert obj.even % 2 == 0
        assert re.fullmatch(r"[A-Z]{3}-[0-9]{2}", obj.code)
        assert 2 <= len(obj.short) <= 5
        assert obj.when.tzinfo is not None
        assert obj.naive.tzinfo is None
        assert obj.utc_only.tzinfo is not None
        assert isinstance(obj.text_or_time, str)
        assert all(0 <= n <= 9 for n in obj.limited)
        assert len(obj.limited) <= 3

    check()


def test_model_validators_are_respected() -> None:
    @given(instances(Window))
    def check(window: Window) -> None:
        assert window.start <= window.end

    check()


def test_time_bucketed_models_get_timezone_aware_timestamps() -> None:
    @given(instances(Event), instances(Reading))
    def check(event: Event, reading: Reading) -> None:
        assert event.timestamp.utcoffset() is not None
        assert reading.at.utcoffset() is not None

    check()


def test_key_fields_always_hold_valid_ids_even_when_they_have_defaults() -> None:
    @given(instances(Schedule), instances(Profile))
    def check(schedule: Schedule, profile: Profile) -> None:
        assert "id" in schedule.model_fields_set
        for obj in (schedule, profile):
            volstore.Store(volstore.MemoryBackend()).path_for(
                volstore.spec_of(obj), obj.user_id, obj.id
            )

    check()


def first(strategy: st.SearchStrategy[M], condition: Callable[[M], bool]) -> M:
    """The first drawn example that meets ``condition`` (not shrunk: that takes long)."""
    return find(strategy, condition, settings=settings(phases=[Phase.generate], database=None))


def test_fields_with_defaults_are_sometimes_left_out() -> None:
    # first() raises NoSuchExample when no draw meets the condition
    left_out = first(instances(Schedule), lambda s: "tags" not in s.model_fields_set)
    assert left_out.tags == []  # the default
    given = first(instances(Schedule), lambda s: "tags" in s.model_fields_set)
    assert "tags" in given.model_fields_set


def test_overrides_replace_the_strategy_of_named_fields() -> None:
    @given(instances(Schedule, user_id=st.just("ada"), tags=st.just(["x"])))
    def check(schedule: Schedule) -> None:
        assert schedule.user_id == "ada"
        assert schedule.tags == ["x"]  # always given, although it has a default

    check()


def test_overrides_are_checked() -> None:
    with pytest.raises(TypeError, match=r"has no field 'owner'.*user_id"):
        instances(Schedule, owner=st.just("ada"))
    with pytest.raises(TypeError, match=r"must be a strategy.*st\.just\('ada'\)"):
        instances(Schedule, user_id="ada")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a pydantic model, an attrs class or a dataclass"):
        instances(int)


def test_a_field_that_cannot_be_drawn_is_named_and_an_override_rescues_it() -> None:
    import collections

    class Queue(volstore.Model, resource_type="kit-queues"):
        id: str
        user_id: str
        items: collections.deque[int]

    with pytest.raises(TypeError, match=r"Queue\.items.*instances\(Queue, items=\.\.\.\)"):
        instances(Queue)
    strategy = instances(Queue, items=st.lists(st.integers()).map(collections.deque))
    assert isinstance(first(strategy, lambda q: len(q.items) > 1).items, collections.deque)


def test_ids_user_ids_and_keys_are_always_valid() -> None:
    @given(ids(), user_ids(), keys())
    def check(object_id: str, user_id: str, key: tuple[str, str]) -> None:
        store = volstore.Store(volstore.MemoryBackend())
        spec = volstore.spec_of(Schedule)
        store.path_for(spec, user_id, object_id)  # raises InvalidKeyError for a bad key
        store.path_for(spec, *key)

    check()


def test_ids_reach_the_length_limit_and_beyond_ascii() -> None:
    assert len(first(ids(), lambda s: len(s.encode()) > 190).encode()) <= volstore.MAX_ID_BYTES
    assert not first(ids(), lambda s: not s.isascii()).isascii()


def test_importing_volstore_testing_needs_neither_hypothesis_nor_pytest() -> None:
    code = (
        "import sys, volstore.testing; "
        "assert 'hypothesis' not in sys.modules and 'pytest' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- the pytest plugin --------------------------------------------------------------------------


# Warnings are errors in user runs too; but this process imported volstore before
# the user run starts, and pytest would like to rewrite its asserts.
STRICT = ("-W", "error", "-W", "ignore::pytest.PytestAssertRewriteWarning")


def plugin_args() -> list[str]:
    """Load the plugin in a pytester run, unless its entry point already does."""
    installed = importlib.metadata.entry_points(group="pytest11")
    if any(ep.value == "volstore.testing.pytest_plugin" for ep in installed):
        return []
    return ["-p", "volstore.testing.pytest_plugin"]


def run_user_tests(pytester: pytest.Pytester, source: str, passed: int) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(source))
    result = pytester.runpytest(*plugin_args(), *STRICT, "-q")
    result.assert_outcomes(passed=passed)


def test_a_user_test_gets_stores_on_one_emulated_volume(pytester: pytest.Pytester) -> None:
    run_user_tests(
        pytester,
        """
        import volstore
        from volstore.modal import MountedVolumeBackend, RemoteVolumeBackend
        from volstore.testing import EmulatedVolume, VolumeEmulator


        class Note(volstore.Model, resource_type="notes"):
            id: str
            user_id: str
            text: str


        def test_fixtures(volstore_emulator, volstore_volume, volstore_store,
                          volstore_remote_store, volstore_memory_store):
            assert isinstance(volstore_emulator, VolumeEmulator)
            assert isinstance(volstore_volume, EmulatedVolume)
            assert volstore_volume.name == "test-volume" and volstore_volume.version == 2
            assert isinstance(volstore_store.backend, MountedVolumeBackend)
            assert isinstance(volstore_remote_store.backend, RemoteVolumeBackend)
            assert isinstance(volstore_memory_store.backend, volstore.MemoryBackend)

            volstore_store.repository(Note).put(Note(id="n1", user_id="ada", text="hi"))
            # the session committed: the client API sees it at once
            assert volstore_remote_store.repository(Note).get("ada", "n1").text == "hi"
            assert volstore_memory_store.repository(Note).get("ada", "n1") is None


        def test_each_test_gets_a_fresh_volume(volstore_store, volstore_remote_store):
            assert volstore_store.repository(Note).get("ada", "n1") is None
            assert volstore_remote_store.repository(Note).get("ada", "n1") is None


        def test_the_first_container_commits_through_volstore_volume(
            volstore_volume, volstore_container
        ):
            first, second = volstore_container(), volstore_container()
            assert first.volume is volstore_volume and second.volume is not volstore_volume
            (first.path / "hand-written.txt").write_text("by hand")
            volstore_volume.commit()  # what the user's Modal code calls
            assert b"".join(volstore_volume.read_file("hand-written.txt")) == b"by hand"
        """,
        passed=3,
    )


def test_two_containers_see_each_others_data_only_after_commit_and_reload(
    pytester: pytest.Pytester,
) -> None:
    run_user_tests(
        pytester,
        """
        import volstore


        class Note(volstore.Model, resource_type="notes"):
            id: str
            user_id: str
            text: str


        def test_files(volstore_container):
            # Without background commits, only a's explicit commit publishes.
            a = volstore_container(background_commits=False)
            b = volstore_container()
            (a.path / "f.txt").write_text("from a")
            b.reload()
            assert not (b.path / "f.txt").exists(), "not committed yet"
            a.commit()
            assert not (b.path / "f.txt").exists(), "b has not reloaded"
            b.reload()
            assert (b.path / "f.txt").read_text() == "from a"


        def test_stores(volstore_container):
            a, b = volstore_container(), volstore_container()
            notes_a, notes_b = a.store.repository(Note), b.store.repository(Note)
            notes_a.put(Note(id="n1", user_id="ada", text="hi"))  # a session: one commit
            assert notes_b.get("ada", "n1") is None, "b's snapshot is older"
            b.reload()
            assert notes_b.get("ada", "n1").text == "hi"


        def test_reload_policy_option(volstore_container):
            a = volstore_container()
            b = volstore_container(reload=volstore.ReloadPolicy.ALWAYS)
            a.store.repository(Note).put(Note(id="n1", user_id="ada", text="hi"))
            assert b.store.repository(Note).get("ada", "n1") is not None


        def test_a_killed_container_loses_what_it_did_not_commit(volstore_container):
            a = volstore_container()
            (a.path / "lost.txt").write_text("never committed")
            a.kill()
            assert not (volstore_container().path / "lost.txt").exists()


        def test_background_commits_option(volstore_container):
            import time
            a = volstore_container(background_commit_interval=0.01)
            b = volstore_container()
            (a.path / "bg.txt").write_text("published on its own")
            deadline = time.monotonic() + 10
            while not (b.path / "bg.txt").exists():
                assert time.monotonic() < deadline, "no background commit"
                time.sleep(0.01)
                b.reload()


        def test_background_commits_are_on_by_default_as_on_modal(volstore_container):
            import time
            a, b = volstore_container(), volstore_container()
            assert a.mount.background_commit_interval == 0.02
            (a.path / "auto.txt").write_text("no commit() call")
            deadline = time.monotonic() + 10
            while not (b.path / "auto.txt").exists():
                assert time.monotonic() < deadline, "no background commit"
                time.sleep(0.01)
                b.reload()


        def test_background_commits_can_be_turned_off(volstore_container):
            import time
            a, b = volstore_container(background_commits=False), volstore_container()
            assert a.mount.background_commit_interval is None
            (a.path / "held.txt").write_text("until commit()")
            time.sleep(0.1)  # several default intervals: nothing may publish it
            b.reload()
            assert not (b.path / "held.txt").exists()
            a.commit()
            b.reload()
            assert (b.path / "held.txt").exists()


        def test_commit_never_refreshes(volstore_container):
            a = volstore_container(background_commits=False, commit_refreshes=False)
            b = volstore_container(background_commits=False, commit_refreshes=False)
            (a.path / "a.txt").write_text("a")
            a.commit()
            (b.path / "b.txt").write_text("b")
            b.commit()
            assert not (b.path / "a.txt").exists(), "only reload() brings in a's commit"
            b.reload()
            assert (b.path / "a.txt").exists()


        def test_the_dict_fixture(volstore_dict, volstore_emulator):
            assert volstore_dict.name == "test-dict"
            assert volstore_dict.put("claim", "mine", skip_if_exists=True)
            again = volstore_emulator.Dict.from_name("test-dict")
            assert not again.put("claim", "yours", skip_if_exists=True)
            assert again["claim"] == "mine"
        """,
        passed=9,
    )


def test_containers_stop_last_started_first_and_commit(tmp_path: Path) -> None:
    emulator = VolumeEmulator(tmp_path / "emulator")
    volume = emulator.Volume.from_name("test-volume", create_if_missing=True)
    factory = ContainerFactory(emulator, volume)
    # Only the exit commits publish here: background commits would race them.
    first, second = factory(background_commits=False), factory(background_commits=False)
    (first.path / "f.txt").write_text("first")
    (second.path / "f.txt").write_text("second")
    factory.close()
    assert not first.mount.active
    assert not second.mount.active
    # Each stop committed; the first container stopped last, so its file won.
    assert b"".join(volume.read_file("f.txt")) == b"first"


# -- the documentation's example ------------------------------------------------------------------


def doc_block(marker: str) -> str:
    """The code block of docs/testing.md that contains ``marker``."""
    page = (ROOT / "docs" / "testing.md").read_text()
    blocks = re.findall(r"^```py(?:thon)?[^\n]*\n(.*?)^```", page, re.M | re.S)
    (block,) = [block for block in blocks if marker in block]
    return str(block)


def test_the_documented_property_test_passes(pytester: pytest.Pytester) -> None:
    user_code = doc_block("# notes.py")
    test_code = doc_block("# test_notes.py")
    assert len(test_code.strip().splitlines()) < 20
    pytester.makepyfile(notes=user_code, test_notes=test_code)
    result = pytester.runpytest(*plugin_args(), *STRICT, "-q")
    result.assert_outcomes(passed=1)
