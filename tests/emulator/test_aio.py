"""``.aio`` forms and AsyncUsageWarning, as modal's synchronicity wrappers give them.

Sources: modal-volumes.md ("every method also has an async form .aio
(synchronicity). A blocking call made inside a running event loop emits
AsyncUsageWarning"), modal/_utils/async_utils.py ``_blocking_in_async_warning`` and
synchronicity's ``Synchronizer._run_function_sync`` (the warning fires when
``asyncio.get_running_loop()`` succeeds), modal/config.py ``async_warnings``.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from volstore.testing import EmulatedVolume, VolumeEmulator, errors


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro())  # type: ignore[arg-type]


def test_aio_forms_work_inside_an_event_loop_without_a_warning(volume: EmulatedVolume) -> None:
    async def main() -> list[str]:
        async with volume.batch_upload.aio(force=True) as batch:
            batch.put_file(io.BytesIO(b"hello"), "/a.txt")
        entries = await volume.listdir.aio("/")
        blocks = [b async for b in volume.read_file.aio("a.txt")]
        assert b"".join(blocks) == b"hello"
        with volume.mount(background_commit_interval=None) as mount:
            (mount.path / "b.txt").write_text("b")
            await volume.commit.aio()
            await volume.reload.aio()
        assert (await volume.hydrate.aio()) is volume
        return [e.path for e in entries] + [e.path async for e in volume.iterdir.aio("/")]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(main) == ["a.txt", "a.txt", "b.txt"]


def test_a_blocking_call_inside_an_event_loop_warns_like_modal(volume: EmulatedVolume) -> None:
    """modal's AsyncUsageWarning class (modal is installed here), worded like
    async_utils: "A blocking Modal interface is being used in an async context"."""

    async def main() -> None:
        volume.listdir("/")

    with pytest.warns(errors.AsyncUsageWarning, match="blocking Modal interface") as record:
        run(main)
    assert "await volume.listdir.aio(...)" in str(record[0].message)
    assert record[0].filename == __file__  # points at the user's line


def test_blocking_context_managers_warn_on_enter_not_on_async_with(
    emulator: VolumeEmulator, volume: EmulatedVolume
) -> None:
    async def blocking() -> None:
        with volume.batch_upload() as batch:
            batch.put_file(io.BytesIO(b"x"), "x.txt")

    async def asynchronous() -> str | None:
        async with emulator.Volume.ephemeral() as eph:
            assert await eph.listdir.aio("/") == []
            return eph.name

    with pytest.warns(errors.AsyncUsageWarning):
        run(blocking)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(asynchronous) is None


def test_no_warning_outside_an_event_loop_or_when_turned_off(
    volume: EmulatedVolume, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume.listdir("/")
        monkeypatch.setenv("MODAL_ASYNC_WARNINGS", "0")

        async def main() -> None:
            volume.listdir("/")

        run(main)


def test_dict_aio_and_warnings(emulator: VolumeEmulator) -> None:
    d = emulator.Dict.from_name("d", create_if_missing=True)

    async def main() -> tuple[bool, bool, Any, list[Any]]:
        first = await d.put.aio("k", 1, skip_if_exists=True)
        second = await d.put.aio("k", 2, skip_if_exists=True)
        await d.update.aio({"j": 3})
        keys = sorted([k async for k in d.keys.aio()])
        return first, second, await d.get.aio("k"), keys

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(main) == (True, False, 1, ["j", "k"])

    async def blocking() -> None:
        d["x"] = 1

    with pytest.warns(errors.AsyncUsageWarning):
        run(blocking)


def test_concurrent_aio_claims_have_one_winner(emulator: VolumeEmulator) -> None:
    """Many coroutines racing put(skip_if_exists=True): exactly one gets True."""
    d = emulator.Dict.from_name("claims", create_if_missing=True)

    async def main() -> list[bool]:
        claims = [d.put.aio("k", i, skip_if_exists=True) for i in range(12)]
        return list(await asyncio.gather(*claims))

    results = run(main)
    assert results.count(True) == 1
    assert d["k"] == results.index(True)
