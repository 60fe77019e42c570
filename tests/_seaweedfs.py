"""One SeaweedFS server for the whole test session, started on first use.

The contract suites, the stateful machines (which cannot take fixtures), the
CLI tests and the S3 tests all reach it through ``shared_server()``; each
test takes a fresh prefix of the shared bucket (``fresh_url()``), which costs
nothing, where a fresh bucket would cost the server a new collection.
``tests/conftest.py`` stops the server when the session ends, also when
tests failed; the server also dies with the test process (see
``volstore.testing.seaweedfs``).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import uuid

from volstore.backends.s3 import S3Backend
from volstore.testing.seaweedfs import SeaweedFS, seaweedfs_server

BUCKET = "volstore-tests"

_lock = threading.Lock()
_stack: contextlib.ExitStack | None = None
_server: SeaweedFS | None = None
_counter = itertools.count()


def shared_server() -> SeaweedFS:
    """The session's server (started now if it is not running yet), with ``BUCKET`` created."""
    global _stack, _server
    with _lock:
        if _server is None:
            stack = contextlib.ExitStack()
            _server = stack.enter_context(seaweedfs_server(buckets=(BUCKET,)))
            _stack = stack
        return _server


def stop_shared_server() -> None:
    """Stop the server if it was started (called once, at the end of the session)."""
    global _stack, _server
    with _lock:
        stack, _stack, _server = _stack, None, None
    if stack is not None:
        stack.close()


def fresh_url() -> str:
    """``s3://BUCKET/<a prefix no other test uses>``."""
    shared_server()
    return f"s3://{BUCKET}/t{next(_counter)}-{uuid.uuid4().hex[:8]}"


def fresh_backend(**options: object) -> S3Backend:
    """An S3Backend on a fresh prefix of the shared server."""
    return shared_server().backend(fresh_url(), **options)
