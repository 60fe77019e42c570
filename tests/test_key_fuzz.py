"""A fuzz of keys: whatever the id and user id, no path ever leaves the root.

Every key is either refused with InvalidKeyError (nothing written) or stored
and read back, inside the root. In CI the "ci" Hypothesis profile runs about a
hundred examples per test; ``scripts/thorough.sh`` runs the "thorough" profile
(10,000 examples per test).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import assume, event, given
from hypothesis import strategies as st

import volstore

# Pieces that make paths: separators, dots, encodings of them, look-alikes, controls,
# reserved and temporary-looking names, combining marks, surrogates, long runs.
PIECES = [
    "..", ".", "/", "\\", "\x00", "\n", "\x7f", "a", "Z", "0", "-", "_", " ", "~", ":", "*",
    "é", "e\u0301", "\u212b", "\ufb01", "%2e", "%2f", "%00", "\u2024", "\uff0e", "\uff0f",
    "\u2215", "\u29f8", "\u202e", "\u200b", "\ufeff", "CON", "nul", ".json", ".vstmp",
    ".volstore.json", "\ud800", "\udc2f", "\udcae", "😀", "x" * 50, "é" * 40,
]  # fmt: skip
path_like = st.lists(st.sampled_from(PIECES), max_size=10).map("".join)
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)
long_text = st.text(alphabet=st.sampled_from("ab/.é\\"), min_size=150, max_size=260)
plain_text = st.text(  # mostly acceptable keys, so that storing is fuzzed too
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30
)
ids = st.one_of(path_like, any_text, long_text, plain_text, st.emails())
user_ids = ids


class Item(volstore.Model, resource_type="items"):
    id: str
    user_id: str


def everything_below(base: Path) -> dict[str, bytes | None]:
    """Every entry below ``base`` (folders as None), symlinks not followed."""
    found: dict[str, bytes | None] = {}
    for folder, dirs, files in os.walk(base):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), base)] = None
        for name in files:
            full = os.path.join(folder, name)
            with open(full, "rb") as f:
                found[os.path.relpath(full, base)] = f.read()
    return found


@contextmanager
def store_in_a_fresh_folder() -> Iterator[tuple[Path, Path, volstore.Store]]:
    """(base, root, store): the store's root is the only thing in base."""
    with tempfile.TemporaryDirectory(prefix="volstore-fuzz-") as tmp:
        base = Path(tmp)
        root = base / "root"
        yield base, root, volstore.Store(volstore.LocalBackend(root))


def assert_nothing_outside(base: Path, root: Path) -> None:
    assert os.listdir(base) == ["root"]
    for path in everything_below(base):
        assert os.path.realpath(base / path).startswith(str(root.resolve()))


@given(object_id=ids, user_id=user_ids)
def test_a_key_is_refused_or_stored_inside_the_root(object_id: str, user_id: str) -> None:
    with store_in_a_fresh_folder() as (base, root, store):
        repo = store.repository(Item)
        try:
            repo.put(Item(id=object_id, user_id=user_id))
        except volstore.InvalidKeyError:
            event("refused")
            assert everything_below(root) == {}, "a refused key writes nothing"
            assert_nothing_outside(base, root)
            return
        event("stored")
        assert repo.get_one(user_id, object_id).id == object_id
        assert repo.ids(user_id) == [object_id]
        assert repo.for_user(user_id).ids() == [object_id]
        expected = f"items/{store.hasher(user_id)}/{object_id}.json"
        files = {p for p, data in everything_below(root).items() if data is not None}
        assert files == {expected, ".volstore.json"}
        assert_nothing_outside(base, root)
        assert repo.delete(user_id, object_id)
        assert repo.ids(user_id) == []


VICTIM = ("victim", "secret")


@given(object_id=ids, user_id=user_ids)
def test_reads_and_deletes_with_any_key_touch_nothing(object_id: str, user_id: str) -> None:
    """Whatever key a caller passes, another user's object stays put and unseen."""
    assume((user_id, object_id) != VICTIM)
    with store_in_a_fresh_folder() as (base, _, store):
        repo = store.repository(Item)
        repo.put(Item(id=VICTIM[1], user_id=VICTIM[0]))
        before = everything_below(base)

        def refused_or(call: object) -> object:
            try:
                return call() if callable(call) else None
            except volstore.InvalidKeyError:
                return "refused"

        assert refused_or(lambda: repo.get(user_id, object_id)) in (None, "refused")
        assert refused_or(lambda: repo.exists(user_id, object_id)) in (False, "refused")
        assert refused_or(lambda: repo.delete(user_id, object_id)) in (False, "refused")
        assert refused_or(lambda: repo.ids(user_id)) in ([], "refused")
        mine = refused_or(lambda: repo.for_user(user_id))
        if isinstance(mine, volstore.UserRepository):
            assert refused_or(lambda: mine.get(object_id)) in (None, "refused")
            assert refused_or(lambda: mine.delete(object_id)) in (False, "refused")
            assert mine.get(VICTIM[1]) is None or user_id == VICTIM[0]

        def delete_in_a_session() -> None:
            with store.session() as s:
                s.delete(Item, user_id, object_id)

        refused_or(delete_in_a_session)
        assert everything_below(base) == before


@given(path=path_like)
def test_a_backend_never_writes_outside_its_root(path: str) -> None:
    """The second line of defence: backends check every path they are given."""
    with store_in_a_fresh_folder() as (base, root, _):
        backend = volstore.LocalBackend(root)
        try:
            backend.write_batch({path: b"x"})
        except volstore.InvalidKeyError:
            assert everything_below(root) == {}
        except (OSError, ValueError):
            pass  # a name too long, a file in the way, an unencodable name: refused by the OS
        else:
            assert backend.read(path) == b"x"
        assert_nothing_outside(base, root)
