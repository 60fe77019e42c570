"""The FastAPI example (examples/fastapi_app.py), served offline on the emulator.

The app runs unchanged in emulated containers on an emulated volume, and is
called through httpx's ASGI transport with many requests at once. pytest runs
with ``filterwarnings = error``: a blocking Modal call on the loop
(AsyncUsageWarning) would fail these tests.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

import volstore.modal
from volstore.aio import AsyncStore
from volstore.testing import VolumeEmulator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app", ROOT / "examples/fastapi_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fastapi_app"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AsyncStore]:
    volume = VolumeEmulator(tmp_path / "emu").Volume.from_name("todos", create_if_missing=True)
    with volume.mount() as mount:
        store = volstore.modal.async_volume_store(volume, mount_path=mount.path, mode="mounted")
        yield store
        store.close()


def client(example: ModuleType, store: AsyncStore) -> httpx.AsyncClient:
    api = example.create_api(store)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://app")


def test_two_containers_serve_concurrent_requests_and_lose_no_vote(example: ModuleType) -> None:
    outcome = example.offline()
    assert outcome == {
        "todos": {
            "user-0@example.com": 12,
            "user-1@example.com": 10,
            "user-2@example.com": 10,
            "user-3@example.com": 10,
        },
        "votes": 20,
    }


def test_each_route_reads_and_writes_one_users_objects(
    example: ModuleType, store: AsyncStore
) -> None:
    async def main() -> None:
        async with client(example, store) as http:
            made = await asyncio.gather(
                *(http.post("/users/ada/todos", json={"title": f"t{n}"}) for n in range(30)),
                *(http.post("/users/bob/todos", json={"title": "bob's"}) for _ in range(3)),
            )
            ids = sorted(r.json()["id"] for r in made[:30])
            page = await http.get("/users/ada/todos", params={"limit": 10})
            assert [t["id"] for t in page.json()] == ids[:10]
            rest = await http.get("/users/ada/todos", params={"after": ids[9], "limit": 100})
            assert [t["id"] for t in rest.json()] == ids[10:]
            assert len((await http.get("/users/bob/todos")).json()) == 3
            # Another user's id through ada's path: not found, never bob's object.
            bobs = made[30].json()["id"]
            assert (await http.get(f"/users/ada/todos/{bobs}")).status_code == 404
            changed = await http.patch(f"/users/ada/todos/{ids[0]}", json={"done": True})
            assert changed.json()["done"] is True
            assert changed.json()["version"] == 2
            assert (await http.delete(f"/users/ada/todos/{ids[1]}")).status_code == 204
            assert (await http.delete(f"/users/ada/todos/{ids[1]}")).status_code == 404
            assert len((await http.get("/users/ada/todos")).json()) == 29
            bad = await http.get("/users/ada/todos/..%2Fescape")
            assert bad.status_code in (404, 422)
            empty = await http.post("/users/ada/todos", json={"title": ""})
            assert empty.status_code == 422

    asyncio.run(main())
    assert store.stats.commits >= 30


def test_a_bad_user_id_is_a_422_naming_the_problem(example: ModuleType, store: AsyncStore) -> None:
    async def main() -> httpx.Response:
        async with client(example, store) as http:
            return await http.get("/users/bad%09id/todos")  # a tab: a control character

    response = asyncio.run(main())
    assert response.status_code == 422
    assert "user id" in response.json()["detail"]
