"""A FastAPI app on Modal: per-user to-do lists on a Volume, through volstore's async API.

    modal deploy examples/fastapi_app.py    # on Modal (needs an account): a web endpoint
    python examples/fastapi_app.py          # offline: the same app, two emulated
                                            # containers, concurrent requests through httpx

Install: ``pip install "volstore[async,modal]" fastapi`` (and ``httpx`` for the
offline run and tests). The app itself is ``create_api(store)``: it takes an
``AsyncStore``, so the same code serves on Modal (a mounted volume), in a test
(an emulated container), or on a laptop (a local folder).

What it shows: one ``AsyncStore`` per container shared by every request
(``@modal.concurrent`` inputs on one event loop); each request's reads and
writes awaited (file I/O in worker threads, ``volume.commit``/``reload``
through ``.aio``); ``for_user`` repositories (a request can only reach its
user's objects); a session for a batch (one commit); ``update()`` for
read-modify-write under concurrency (versioned objects, retried on
conflicts: no lost update, even across containers).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import modal
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import volstore
import volstore.modal
from volstore.aio import AsyncStore

MOUNT = "/data"
app = modal.App("volstore-fastapi")
volume = modal.Volume.from_name("volstore-fastapi", create_if_missing=True, version=2)
# volstore is not on PyPI yet: the image gets its dependencies, and the copy
# installed here is shipped into it.
image = (
    modal.Image.debian_slim()
    .pip_install("pydantic>=2.6,<3", "attrs>=23.1", "greenlet>=3.0", "fastapi[standard]")
    .add_local_python_source("volstore")
)


class Todo(volstore.Model, resource_type="example-todos", version_field="version"):
    """One item of a user's to-do list (versioned: concurrent updates never overwrite)."""

    id: str = volstore.id_field()
    user_id: str
    title: str = Field(min_length=1, max_length=200)
    done: bool = False
    votes: int = 0
    version: int = 0


class NewTodo(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class TodoChange(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    done: bool | None = None


def create_api(store: AsyncStore) -> FastAPI:
    """The web app over ``store``: every route is per user, every storage call awaited."""
    api = FastAPI(title="volstore to-do lists")
    todos = store.repository(Todo)

    @api.exception_handler(volstore.InvalidKeyError)
    async def bad_key(request: Request, exc: volstore.InvalidKeyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @api.exception_handler(volstore.StaleObjectError)
    async def conflict(request: Request, exc: volstore.StaleObjectError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @api.get("/users/{user_id}/todos")
    async def list_todos(user_id: str, after: str | None = None, limit: int = 50) -> list[Todo]:
        """A page of the user's to-dos in id (creation) order; ``after``: the last id seen."""
        return await todos.for_user(user_id).list(after=after, limit=min(max(limit, 0), 500))

    @api.post("/users/{user_id}/todos", status_code=201)
    async def add_todo(user_id: str, new: NewTodo) -> Todo:
        return await todos.for_user(user_id).put(Todo(user_id=user_id, title=new.title))

    @api.post("/users/{user_id}/todos/batch", status_code=201)
    async def add_todos(user_id: str, batch: list[NewTodo]) -> list[Todo]:
        """Several to-dos in one session: written together, with one commit."""
        async with store.session() as session:
            return session.add_all([Todo(user_id=user_id, title=new.title) for new in batch])

    @api.get("/users/{user_id}/todos/{todo_id}")
    async def get_todo(user_id: str, todo_id: str) -> Todo:
        found = await todos.for_user(user_id).get(todo_id)
        if found is None:
            raise HTTPException(404, f"no to-do {todo_id!r}")
        return found

    @api.patch("/users/{user_id}/todos/{todo_id}")
    async def change_todo(user_id: str, todo_id: str, change: TodoChange) -> Todo:
        def apply(todo: Todo) -> None:
            if change.title is not None:
                todo.title = change.title
            if change.done is not None:
                todo.done = change.done

        return await _update(user_id, todo_id, apply)

    @api.post("/users/{user_id}/todos/{todo_id}/vote")
    async def vote(user_id: str, todo_id: str) -> Todo:
        """One more vote: a read-modify-write that concurrent requests never lose."""

        def add_vote(todo: Todo) -> None:
            todo.votes += 1

        return await _update(user_id, todo_id, add_vote)

    @api.delete("/users/{user_id}/todos/{todo_id}", status_code=204)
    async def delete_todo(user_id: str, todo_id: str) -> Response:
        if not await todos.for_user(user_id).delete(todo_id):
            raise HTTPException(404, f"no to-do {todo_id!r}")
        return Response(status_code=204)

    async def _update(user_id: str, todo_id: str, change: Callable[[Todo], None]) -> Todo:
        try:
            return await todos.for_user(user_id).update(todo_id, change, retries=30)
        except volstore.ObjectNotFoundError:
            raise HTTPException(404, f"no to-do {todo_id!r}") from None

    return api


@app.function(volumes={MOUNT: volume}, image=image)
@modal.concurrent(max_inputs=100)
@modal.asgi_app()
def web() -> FastAPI:
    # One store per container, shared by every request; reads see other
    # containers' commits within a second (a reload at most once a second).
    store = volstore.modal.async_volume_store(
        volume, mount_path=MOUNT, reload=volstore.ReloadPolicy.every(1.0)
    )
    return create_api(store)


# -- offline: the same app on the emulator, through an ASGI test client ----------------------


async def exercise(first: FastAPI, second: FastAPI) -> dict[str, Any]:
    """Concurrent requests to two containers of the app; what each user ends up with."""
    import httpx

    def client(api: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://app")

    async with client(first) as a, client(second) as b:
        users = [f"user-{n}@example.com" for n in range(4)]
        created = await asyncio.gather(
            *(
                a.post(f"/users/{user}/todos", json={"title": f"task {n}"})
                for user in users
                for n in range(10)
            )
        )
        assert all(response.status_code == 201 for response in created)
        batch = await b.post(
            f"/users/{users[0]}/todos/batch", json=[{"title": "x"}, {"title": "y"}]
        )
        assert batch.status_code == 201
        hot = created[0].json()["id"]
        votes = await asyncio.gather(
            *((a if n % 2 else b).post(f"/users/{users[0]}/todos/{hot}/vote") for n in range(20))
        )
        assert all(response.status_code == 200 for response in votes)
        await asyncio.sleep(1.1)  # the second container's next read reloads
        lists = await asyncio.gather(*(b.get(f"/users/{user}/todos") for user in users))
        missing = await a.get(f"/users/{users[1]}/todos/nothing-here")
        assert missing.status_code == 404
        final = await a.get(f"/users/{users[0]}/todos/{hot}")
        return {
            "todos": {user: len(page.json()) for user, page in zip(users, lists, strict=True)},
            "votes": final.json()["votes"],
        }


def offline() -> dict[str, Any]:
    """Serve the app in two emulated containers on one emulated volume; run requests."""
    from volstore.testing import VolumeEmulator

    with tempfile.TemporaryDirectory() as tmp:
        emulator = VolumeEmulator(Path(tmp))
        volume_a = emulator.Volume.from_name("volstore-fastapi", create_if_missing=True)
        volume_b = emulator.Volume.from_name("volstore-fastapi")
        # Each mount is one container, with background commits on, as on Modal.
        with volume_a.mount() as mount_a, volume_b.mount() as mount_b:
            stores = [
                volstore.modal.async_volume_store(
                    handle,
                    mount_path=mount.path,
                    mode="mounted",
                    reload=volstore.ReloadPolicy.every(1.0),
                )
                for handle, mount in ((volume_a, mount_a), (volume_b, mount_b))
            ]
            try:
                return asyncio.run(exercise(create_api(stores[0]), create_api(stores[1])))
            finally:
                for store in stores:
                    store.close()


if __name__ == "__main__":  # `modal deploy` imports this module instead
    outcome = offline()
    print(f"to-dos per user, as the second container sees them: {outcome['todos']}")
    print(f"votes on the hot to-do: {outcome['votes']} of 20 (none lost)")
