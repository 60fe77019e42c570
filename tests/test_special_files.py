"""What stands where an object file should be and is not one (issue 13 items 8, 9, 10).

A FIFO, a socket, a folder, a file over the size limit, a layout marker nested
too deeply, a store root that is a file: each is a typed error naming the path,
or a finding of the check, and nothing ever blocks, reads a huge file whole or
formats one into an error message. A FIFO opened for reading blocks until a
writer comes, so those tests run under a watchdog (``no_hang``) that turns a
hang into a failure instead of a frozen test run.
"""

from __future__ import annotations

import os
import socket
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import volstore
from tests._faults import no_hang
from tests._hostile import Env, open_env
from tests._models import Doc, Note, Ping

AT = datetime(2024, 2, 29, 23, 30, tzinfo=timezone.utc)
USER = "ada"
GIB = 1 << 30


@pytest.fixture(params=["local", "mounted"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    with open_env(request.param, tmp_path) as env:
        yield env


def object_path(env: Env, model: type[Any], object_id: str = "x1") -> str:
    spec = env.store.register(model)
    return env.store.path_for(spec, USER, object_id, AT if spec.time_field else None)


def plant_fifo(env: Env, path: str) -> Path:
    full = env.root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(full)
    return full


def plant_socket(env: Env, path: str, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    full = env.root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with monkeypatch.context() as m:
        m.chdir(full.parent)  # a socket's path is limited to 108 bytes: bind by name
        server.bind(full.name)
    return server


def plant_sparse(env: Env, path: str, size: int) -> Path:
    """A file of ``size`` bytes that takes no room on disk (a hole, read as zeros)."""
    full = env.root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    with full.open("wb") as f:
        f.truncate(size)
    return full


def raises_corrupt(action: Callable[[], Any], path: str, reason: str) -> None:
    with pytest.raises(volstore.CorruptObjectError, match=reason) as info:
        action()
    assert info.value.path == path
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 500


# -- a FIFO, a socket -------------------------------------------------------------------------


def test_a_fifo_named_like_an_object_never_blocks_a_read(env: Env) -> None:
    env.store.repository(Note).put(Note(id="fine", user_id=USER))
    path = object_path(env, Note)
    plant_fifo(env, path)
    repo = env.store.repository(Note)
    seen: list[str] = []
    with no_hang():
        raises_corrupt(lambda: repo.get(USER, "x1"), path, "a FIFO stands where")
        raises_corrupt(lambda: repo.exists(USER, "x1"), path, "a FIFO stands where")
        raises_corrupt(lambda: repo.list(USER), path, "a FIFO stands where")
        assert [n.id for n in repo.list(USER, on_error="skip")] == ["fine"]
        assert [n.id for n in repo.list(USER, on_error=lambda e: seen.append(e.path))] == ["fine"]
        assert [n.id for n in repo.scan(on_error="skip")] == ["fine"]
        with pytest.raises(volstore.CorruptObjectError, match="FIFO"), env.store.session() as s:
            s.get(Note, USER, "x1")
        report = env.store.check()
    assert seen == [path]
    assert [(f.path, f.kind) for f in report.findings()] == [(path, "corrupt")]
    assert "FIFO" in report.corrupt[0].reason
    assert report.objects_checked == 1  # "fine": the FIFO is never opened


def test_a_fifo_named_like_an_object_never_blocks_a_range_query(env: Env) -> None:
    repo = volstore.bucketed(env.store, Ping)
    repo.put(Ping(id="fine", user_id=USER, at=AT))
    path = object_path(env, Ping)
    plant_fifo(env, path)
    window = (AT - timedelta(hours=1), AT + timedelta(hours=1))
    with no_hang():
        raises_corrupt(lambda: list(repo.range(*window)), path, "a FIFO stands where")
        assert [p.id for p in repo.range(*window, on_error="skip")] == ["fine"]
        assert [p.id for p in repo.latest(USER, on_error="skip")] == ["fine"]
        report = repo.purge_older_than(AT + timedelta(minutes=1), on_error="skip")
    # "fine" is older than the cutoff; the FIFO is no object: never opened, never removed
    assert [p.rpartition("/")[2] for p in report.trimmed_paths] == ["fine.json"]
    assert (env.root / path).exists()


def test_a_fifo_named_like_an_object_never_blocks_a_versioned_write(env: Env) -> None:
    path = object_path(env, Doc)
    plant_fifo(env, path)
    docs = env.store.repository(Doc)
    with no_hang():
        for doc in (Doc(id="x1", user_id=USER, version=1), Doc(id="x1", user_id=USER)):
            raises_corrupt(lambda: docs.put(doc), path, "a FIFO stands where")  # noqa: B023


def test_check_repair_moves_a_fifo_into_the_quarantine_without_opening_it(env: Env) -> None:
    path = object_path(env, Note)
    plant_fifo(env, path)
    with no_hang():
        report = env.store.check(repair=True)
    assert report.corrupt[0].action == f"moved to .volstore-quarantine/{path}"
    assert not os.path.lexists(env.root / path)
    with no_hang():
        assert env.store.check().ok


def test_a_fifo_as_the_layout_marker_is_a_corrupt_marker_not_a_hang(env: Env) -> None:
    plant_fifo(env, ".volstore.json")
    with no_hang():
        raises_corrupt(lambda: env.store.repository(Note).get(USER, "x"), ".volstore.json", "FIFO")
        with pytest.raises(volstore.CorruptObjectError, match="FIFO"):
            env.store.check()


def test_a_socket_named_like_an_object_is_a_corrupt_object(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = object_path(env, Note)
    server = plant_socket(env, path, monkeypatch)
    try:
        repo = env.store.repository(Note)
        raises_corrupt(lambda: repo.get(USER, "x1"), path, "a socket or device stands where")
        raises_corrupt(lambda: repo.exists(USER, "x1"), path, "a socket or device stands where")
        assert repo.list(USER, on_error="skip") == []
        assert [f.path for f in env.store.check().corrupt] == [path]
    finally:
        server.close()


# -- size --------------------------------------------------------------------------------------


def test_a_sparse_gigabyte_file_is_refused_unread_with_bounded_memory(env: Env) -> None:
    env.store.repository(Note).put(Note(id="fine", user_id=USER))
    path = object_path(env, Note)
    plant_sparse(env, path, GIB)
    repo = env.store.repository(Note)
    tracemalloc.start()
    try:
        raises_corrupt(lambda: repo.get(USER, "x1"), path, f"the file is {GIB} bytes, more than")
        assert [n.id for n in repo.list(USER, on_error="skip")] == ["fine"]
        report = env.store.check()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak  # a few MiB of bookkeeping, never the file
    assert [f.path for f in report.corrupt] == [path]
    assert "max_object_bytes" in report.corrupt[0].reason


def test_reads_apply_max_object_bytes(env: Env, tmp_path: Path) -> None:
    big = Note(id="big", user_id=USER, text="x" * 2000)
    env.store.repository(Note).put(big)
    small = volstore.Store(env.store.backend, max_object_bytes=1000)
    path = object_path(env, Note, "big")
    raises_corrupt(lambda: small.repository(Note).get(USER, "big"), path, "more than the store's")
    assert small.repository(Note).list(USER, on_error="skip") == []
    assert [f.path for f in small.check().corrupt] == [path]
    assert (
        volstore.Store(env.store.backend, max_object_bytes=None)
        .repository(Note)
        .get_one(USER, "big")
        == big
    )


def test_a_large_corrupt_file_gives_a_bounded_message_and_bounded_memory(env: Env) -> None:
    """The parse error of a 16 MiB corrupt file is one short line; reading it costs ~its size."""
    size = 16 << 20
    path = object_path(env, Note)
    full = env.root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(b'{"id": "x1", "user_id": "ada", "text": "' + b"\xff" * size + b'"}')
    repo = env.store.repository(Note)
    tracemalloc.start()
    try:
        with pytest.raises(volstore.CorruptObjectError) as info:
            repo.get(USER, "x1")
        report = env.store.check()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(str(info.value)) < 500
    assert "\n" not in str(info.value)
    assert peak < 3 * size, peak  # the bytes read, and no copy of them in a message
    assert len(report.corrupt[0].reason) < 500


# -- folders, nesting, the root ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "local", "mounted"])
def test_a_folder_where_an_object_file_should_be_is_reported_by_every_read(
    kind: str, tmp_path: Path
) -> None:
    with open_env(kind, tmp_path) as env:
        repo = env.store.repository(Note)
        repo.put(Note(id="fine", user_id=USER))
        path = object_path(env, Note)
        env.store.backend.write_batch({f"{path}/inside": b"a file in a folder named x1.json"})
        reason = "a folder stands where an object file should be"
        seen: list[str] = []
        raises_corrupt(lambda: repo.get(USER, "x1"), path, reason)
        raises_corrupt(lambda: repo.exists(USER, "x1"), path, reason)
        raises_corrupt(lambda: repo.list(USER), path, reason)
        raises_corrupt(lambda: list(repo.iter(USER)), path, reason)
        assert [n.id for n in repo.list(USER, on_error=lambda e: seen.append(e.path))] == ["fine"]
        assert seen == [path]
        assert [n.id for n in repo.list(USER, on_error="skip")] == ["fine"]
        with pytest.raises(volstore.CorruptObjectError, match=reason):
            repo.delete(USER, "x1")
        assert [f.path for f in env.store.check().corrupt] == [path]


@pytest.mark.parametrize("kind", ["memory", "local", "mounted"])
def test_a_folder_where_a_bucketed_object_should_be_is_reported_by_range_queries(
    kind: str, tmp_path: Path
) -> None:
    with open_env(kind, tmp_path) as env:
        repo = volstore.bucketed(env.store, Ping)
        repo.put(Ping(id="fine", user_id=USER, at=AT))
        path = object_path(env, Ping)
        env.store.backend.write_batch({f"{path}/inside": b"{}"})
        reason = "a folder stands where an object file should be"
        raises_corrupt(lambda: list(repo.range(None, None)), path, reason)
        raises_corrupt(lambda: repo.get(USER, "x1", AT), path, reason)
        raises_corrupt(lambda: repo.exists(USER, "x1", AT), path, reason)
        assert [p.id for p in repo.range(None, None, on_error="skip")] == ["fine"]
        assert [f.path for f in env.store.check().corrupt] == [path]


@pytest.mark.parametrize("kind", ["memory", "local"])
def test_a_deeply_nested_layout_marker_is_a_corrupt_marker(kind: str, tmp_path: Path) -> None:
    with open_env(kind, tmp_path) as env:
        env.store.backend.write_batch({".volstore.json": b"[" * 60_000})
        raises_corrupt(
            lambda: env.store.repository(Note).get(USER, "x"), ".volstore.json", "nested too deeply"
        )
        with pytest.raises(volstore.CorruptObjectError, match="nested too deeply"):
            env.store.check()


def test_a_store_whose_root_is_a_file_is_a_backend_error(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    with pytest.raises(volstore.BackendError, match="is a file, not a folder"):
        volstore.Store(a_file)
    with pytest.raises(volstore.BackendError, match="is below a file"):
        volstore.Store(a_file / "below")
    assert a_file.read_text() == "not a folder"
