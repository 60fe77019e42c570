"""Shared fixtures and Hypothesis settings profiles.

Profiles (choose with VOLSTORE_HYPOTHESIS_PROFILE): ``ci`` (the default; fast,
deterministic), ``dev`` (more examples), ``thorough`` (10,000+ examples; run by
scripts/thorough.sh).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import volstore
from tests._seaweedfs import fresh_url, shared_server, stop_shared_server
from volstore.testing.seaweedfs import SeaweedFS

pytest_plugins = ["pytester"]  # volstore's own plugin comes through its entry point

settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=500, deadline=None)
settings.register_profile(
    "thorough",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("VOLSTORE_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=["memory", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[volstore.Backend]:
    """Each core backend in turn."""
    if request.param == "memory":
        yield volstore.MemoryBackend()
    else:
        yield volstore.LocalBackend(tmp_path / "store")


@pytest.fixture
def store(backend: volstore.Backend) -> volstore.Store:
    return volstore.Store(backend)


@pytest.fixture
def local_store(tmp_path: Path) -> volstore.Store:
    return volstore.Store(volstore.LocalBackend(tmp_path / "store"))


# -- a real S3-compatible server (SeaweedFS), one per session ------------------------------------


@pytest.fixture(scope="session")
def seaweedfs() -> SeaweedFS:
    """The session's SeaweedFS server (started on first use, stopped at the session's end)."""
    return shared_server()


@pytest.fixture
def s3_url(seaweedfs: SeaweedFS) -> str:
    """``s3://bucket/prefix`` of the shared server, with a prefix no other test uses."""
    return fresh_url()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_shared_server()
