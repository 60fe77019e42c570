"""Property: paging through a query gives exactly the brute-force filter-and-sort of the objects.

For random objects, conditions (every operator, AND/OR/NOT), orders and page
sizes, on every backend of tests/contract/backends.py, with and without
indexes, within one user and across users, and inside a session with pending
adds, changes and deletes: the pages, joined, are the objects a plain Python
filter and sort of what the store (plus the session's changes) holds gives.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, Field

import volstore
from tests.contract.backends import FACTORIES

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
FIELDS = ("status", "rank", "score", "name", "when")


class Indexed(
    volstore.Model,
    resource_type="prop-indexed",
    indexes=["status", "rank", "score", "name", "when"],
):
    id: str
    user_id: str
    status: Literal["a", "b", "c"] = "a"
    rank: int = 0
    score: float | None = None
    name: str = ""
    when: AwareDatetime = T0
    tags: list[str] = Field(default_factory=list)


class Plain(volstore.Model, resource_type="prop-plain"):
    id: str
    user_id: str
    status: Literal["a", "b", "c"] = "a"
    rank: int = 0
    score: float | None = None
    name: str = ""
    when: AwareDatetime = T0
    tags: list[str] = Field(default_factory=list)


USERS = ["ada", "bob", "cy"]
values: dict[str, st.SearchStrategy[Any]] = {
    "status": st.sampled_from(["a", "b", "c"]),
    "rank": st.integers(-3, 3),
    "score": st.none() | st.sampled_from([-1.5, 0.0, 0.5, 2.0, 1e30]),
    "name": st.sampled_from(["", "a", "ab", "abc", "b", "ba", "é", "z" * 120]),
    "when": st.integers(-2, 4).map(lambda h: T0 + timedelta(minutes=30 * h)),
}
docs = st.fixed_dictionaries(
    {
        "id": st.sampled_from([f"d{i}" for i in range(8)]),
        "user_id": st.sampled_from(USERS),
        **values,
        "tags": st.lists(st.sampled_from(["x", "y"]), max_size=2),
    }
)

# A condition is a tree: ("cmp", field, op, value), ("in", field, [values]),
# ("prefix", value), ("contains", tag), ("and"|"or", a, b), ("not", a).
leaves = st.one_of(
    st.sampled_from(FIELDS).flatmap(
        lambda f: st.tuples(
            st.just("cmp"),
            st.just(f),
            st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
            values[f].filter(lambda v: v is not None),
        )
    ),
    st.sampled_from(FIELDS).flatmap(
        lambda f: st.tuples(st.just("in"), st.just(f), st.lists(values[f], min_size=1, max_size=3))
    ),
    st.tuples(st.just("prefix"), st.sampled_from(["", "a", "ab", "b", "zz"])),
    st.tuples(st.just("contains"), st.sampled_from(["x", "y"])),
    st.tuples(st.just("none"), st.just("score")),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), inner, inner), st.tuples(st.just("not"), inner)
    ),
    max_leaves=4,
)
orders = st.lists(
    st.tuples(st.sampled_from(FIELDS), st.booleans()), max_size=2, unique_by=lambda o: o[0]
)

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def holds(tree: tuple[Any, ...], doc: Any) -> bool:
    """The brute force: plain Python, with the documented rules (ranges never match None)."""
    kind = tree[0]
    if kind == "cmp":
        _, field, op, value = tree
        mine = getattr(doc, field)
        if op in ("==", "!="):
            return _OPS[op](mine, value)
        return mine is not None and _OPS[op](mine, value)
    if kind == "in":
        return getattr(doc, tree[1]) in tree[2]
    if kind == "prefix":
        return bool(doc.name.startswith(tree[1]))
    if kind == "contains":
        return tree[1] in doc.tags
    if kind == "none":
        return doc.score is None
    if kind == "and":
        return holds(tree[1], doc) and holds(tree[2], doc)
    if kind == "or":
        return holds(tree[1], doc) or holds(tree[2], doc)
    return not holds(tree[1], doc)


def build(tree: tuple[Any, ...], d: Any) -> Any:
    """The same condition through the query API (a function of the object)."""
    kind = tree[0]
    if kind == "cmp":
        _, field, op, value = tree
        return _OPS[op](getattr(d, field), value)
    if kind == "in":
        return volstore.is_in(getattr(d, tree[1]), tree[2])
    if kind == "prefix":
        return d.name.startswith(tree[1])
    if kind == "contains":
        return volstore.contains(d.tags, tree[1])
    if kind == "none":
        return d.score == None  # noqa: E711 - recorded, not evaluated
    if kind == "and":
        return build(tree[1], d) & build(tree[2], d)
    if kind == "or":
        return build(tree[1], d) | build(tree[2], d)
    return volstore.not_(build(tree[1], d))


def brute_sorted(found: list[Any], order: list[tuple[str, bool]]) -> list[tuple[str, str]]:
    result = sorted(found, key=lambda d: (d.id, d.user_id))
    for field, descending in reversed(order):
        result.sort(
            key=lambda d, f=field: (0, 0) if getattr(d, f) is None else (1, getattr(d, f)),
            reverse=descending,
        )
    return [(d.user_id, d.id) for d in result]


def paged(query: volstore.Query[Any], size: int) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for page in query.pages(size):
        seen.extend((d.user_id, d.id) for d in page.items)
        assert len(page.items) <= size
    return seen


def run_query(
    repo: volstore.Repository[Any],
    scope: str | None,
    tree: tuple[Any, ...],
    order: list[tuple[str, bool]],
    size: int,
) -> list[tuple[str, str]]:
    query = repo.query(scope) if scope is not None else repo.query(all_users=True)
    query = query.where(lambda d: build(tree, d))
    query = query.order_by(*[("-" if desc else "") + f for f, desc in order])
    return paged(query, size)


BUDGET = {"memory": 60, "local": 40}


@pytest.mark.parametrize("backend_name", sorted(FACTORIES))
def test_paging_a_query_equals_the_brute_force(backend_name: str) -> None:
    @settings(
        max_examples=BUDGET.get(backend_name, 12),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        stored=st.lists(docs, max_size=12),
        pending=st.lists(st.tuples(st.sampled_from(["add", "change", "delete"]), docs), max_size=5),
        tree=conditions,
        order=orders,
        size=st.integers(1, 5),
        scope=st.none() | st.sampled_from(USERS),
    )
    def check(
        stored: list[dict[str, Any]],
        pending: list[tuple[str, dict[str, Any]]],
        tree: tuple[Any, ...],
        order: list[tuple[str, bool]],
        size: int,
        scope: str | None,
    ) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="volstore-prop-"))
        try:
            with ExitStack() as stack:
                store = volstore.Store(FACTORIES[backend_name](tmp, stack))
                for model in (Indexed, Plain):
                    _check_model(store, model, stored, pending, tree, order, size, scope)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    check()


def _check_model(
    store: volstore.Store,
    model: type[Any],
    stored: list[dict[str, Any]],
    pending: list[tuple[str, dict[str, Any]]],
    tree: tuple[Any, ...],
    order: list[tuple[str, bool]],
    size: int,
    scope: str | None,
) -> None:
    objects = {(d["user_id"], d["id"]): model.model_validate(d) for d in stored}
    store.repository(model).put_all(list(objects.values()))

    def brute(view: dict[tuple[str, str], Any]) -> list[tuple[str, str]]:
        chosen = [
            d for d in view.values() if (scope is None or d.user_id == scope) and holds(tree, d)
        ]
        return brute_sorted(chosen, order)

    assert run_query(store.repository(model), scope, tree, order, size) == brute(objects)
    # Inside a session: its pending changes count, as get sees them.
    view = dict(objects)
    with store.session() as session:
        repo = session.repository(model)
        for action, doc in pending:
            key = (doc["user_id"], doc["id"])
            if action == "add":
                view[key] = session.add(model.model_validate(doc))
            elif action == "delete":
                session.delete(model, *key)
                view.pop(key, None)
            else:
                loaded = session.get(model, *key)
                if loaded is not None:
                    loaded.status, loaded.rank = doc["status"], doc["rank"]
        assert run_query(repo, scope, tree, order, size) == brute(view)
    # ... and what the commit left is what the session saw.
    assert run_query(store.repository(model), scope, tree, order, size) == brute(view)
    if store.engine.indexes(volstore.spec_of(model)):
        assert store.check().ok, store.check().findings()
