"""Model-based test: indexes stay equal to a rebuild from the stored objects.

Random sequences of add / change / delete / commit / rollback / a flush that
dies part way (a crash, or a background commit that published half of it) /
reindex run against a store with plain and unique indexes. After every step:

- without a crash since the last reindex, the index entries are exactly the
  entries a rebuild from the stored objects gives;
- after a crash, every object still has every entry (a half-published flush
  leaves entries too many, never too few), and queries still return exactly
  the objects that match; ``reindex`` makes the entries equal again;
- a flush refused for a unique value taken changes no file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import volstore
from volstore._index import IndexDef

ROOT = ".volstore-index"


class Card(
    volstore.Model,
    resource_type="scards",
    indexes=["color", "size", volstore.Index("code", unique=True, across_users=True)],
):
    id: str
    user_id: str
    color: str = "red"
    size: int = 0
    code: str | None = None


class Crash(Exception):
    """The process died in the middle of a flush."""


class CrashingBackend(volstore.MemoryBackend):
    """Writes (then deletes) only the first ``budget`` files of a batch, then dies."""

    budget: int | None = None

    def _spend(self, paths: list[str]) -> list[str]:
        if self.budget is None:
            return paths
        allowed, self.budget = paths[: self.budget], max(0, self.budget - len(paths))
        if len(allowed) < len(paths):
            self._cut = True
        return allowed

    def write_batch(self, files: Mapping[str, bytes]) -> None:
        self._cut = False
        allowed = self._spend(list(files))
        super().write_batch({p: files[p] for p in allowed})
        if self._cut:
            raise Crash

    def delete_batch(self, paths: Iterable[str]) -> None:
        self._cut = False
        allowed = self._spend(list(paths))
        super().delete_batch(allowed)
        if self._cut:
            raise Crash


ids = st.sampled_from(["c1", "c2", "c3", "c4"])
users = st.sampled_from(["ada", "bob"])
colors = st.sampled_from(["red", "blue", "green"])
codes = st.none() | st.sampled_from(["A", "B", "C"])


class IndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.backend = CrashingBackend()
        self.store = volstore.Store(self.backend)
        self.repo = self.store.repository(Card)
        self.indexes: tuple[IndexDef, ...] = self.store.engine.indexes(volstore.spec_of(Card))
        self.session: volstore.Session | None = None
        self.crashed = False

    def teardown(self) -> None:
        if self.session is not None:
            self.session.close()

    # -- what the store holds ---------------------------------------------------------------

    def files(self) -> dict[str, bytes]:
        return {path: self.backend.read(path) for path in self.backend.walk("")}

    def entries(self) -> set[str]:
        return {p for p in self.backend.walk(ROOT) if not p.rpartition("/")[2].startswith(".")}

    def rebuild(self) -> set[str]:
        return {
            path for card in self.repo.scan() for index in self.indexes
            for path, _ in index.entries_of(card)
        }  # fmt: skip

    def active(self) -> volstore.Session:
        if self.session is None:
            self.session = self.store.session().__enter__()
        return self.session

    # -- rules --------------------------------------------------------------------------------

    @rule(object_id=ids, user=users, color=colors, size=st.integers(-2, 2), code=codes)
    def add(self, object_id: str, user: str, color: str, size: int, code: str | None) -> None:
        card = Card(id=object_id, user_id=user, color=color, size=size, code=code)
        self.active().add(card)

    @rule(object_id=ids, user=users, color=colors, code=codes)
    def change(self, object_id: str, user: str, color: str, code: str | None) -> None:
        card = self.active().get(Card, user, object_id)
        if card is not None:
            card.color, card.code = color, code

    @rule(object_id=ids, user=users)
    def delete(self, object_id: str, user: str) -> None:
        self.active().delete(Card, user, object_id)

    @precondition(lambda self: self.session is not None)
    @rule()
    def commit(self) -> None:
        session, self.session = self.session, None
        assert session is not None
        before = self.files()
        try:
            session.commit()
        except volstore.UniqueViolationError:
            assert self.files() == before  # refused: nothing written
        finally:
            session.close()

    @precondition(lambda self: self.session is not None)
    @rule()
    def rollback(self) -> None:
        session, self.session = self.session, None
        assert session is not None
        session.rollback()
        session.close()

    @precondition(lambda self: self.session is not None)
    @rule(budget=st.integers(0, 8))
    def crash(self, budget: int) -> None:
        session, self.session = self.session, None
        assert session is not None
        self.backend.budget = budget
        try:
            session.commit()
        except Crash:
            self.crashed = True
        except volstore.UniqueViolationError:
            pass
        finally:
            self.backend.budget = None
            session.close()

    @rule()
    def reindex(self) -> None:
        volstore.reindex(self.store, Card, min_age=0, chunk_size=3)
        self.crashed = False

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def entries_match_a_rebuild(self) -> None:
        stored, rebuilt = self.entries(), self.rebuild()
        if self.crashed:
            assert rebuilt <= stored, rebuilt - stored  # never an object without its entry
        else:
            assert stored == rebuilt

    @invariant()
    def queries_are_right(self) -> None:
        cards = list(self.repo.scan())
        for color in ("red", "blue", "green"):
            found = self.repo.query(all_users=True).where(color=color).all()
            want = sorted((c for c in cards if c.color == color), key=lambda c: (c.id, c.user_id))
            assert found == want
        for code in ("A", "B", "C"):
            holders = [c for c in cards if c.code == code]
            found = self.repo.query(all_users=True).where(code=code).all()
            assert found == sorted(holders, key=lambda c: (c.id, c.user_id))
            if not self.crashed:
                assert len(holders) <= 1


IndexMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestIndexMachine = IndexMachine.TestCase
