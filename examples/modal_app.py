"""An example Modal app: one function writes through a session, another reads with reload.

    modal run examples/modal_app.py     # on Modal (needs an account)
    python examples/modal_app.py        # the same two functions, offline, on the emulator

The work lives in plain functions that take a Store, so the same code runs in a
Modal container (a mounted volume), in a test (an emulated container), or
from a laptop (the client API).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import modal

import volstore
import volstore.modal
from models import Schedule

MOUNT = "/data"
app = modal.App("volstore-example")
volume = modal.Volume.from_name("volstore-example", create_if_missing=True, version=2)
image = modal.Image.debian_slim().pip_install("volstore").add_local_python_source("models")


def record_schedules(store: volstore.Store, user_id: str, count: int) -> int:
    """Write ``count`` schedules for a user in one session: one commit."""
    with store.session() as session:
        for n in range(count):
            session.add(
                Schedule(id=f"job-{n:03d}", user_id=user_id, name=f"job {n}", cron="0 * * * *")
            )
    return count


def read_schedules(store: volstore.Store, user_id: str) -> list[str]:
    """The ids of a user's schedules; reloads first, to see other containers' commits."""
    return store.repository(Schedule).ids(user_id, reload=True)


@app.function(volumes={MOUNT: volume}, image=image)
def writer(user_id: str, count: int) -> int:
    return record_schedules(volstore.modal.volume_store(volume, mount_path=MOUNT), user_id, count)


@app.function(volumes={MOUNT: volume}, image=image)
def reader(user_id: str) -> list[str]:
    return read_schedules(volstore.modal.volume_store(volume, mount_path=MOUNT), user_id)


@app.local_entrypoint()
def main() -> None:
    written = writer.remote("ada@example.com", 5)
    print(f"writer wrote {written}; reader sees {reader.remote('ada@example.com')}")


def offline() -> None:
    """Run writer and reader in two emulated containers on one emulated volume."""
    from volstore.testing import VolumeEmulator

    with tempfile.TemporaryDirectory() as tmp:
        emulated = VolumeEmulator(Path(tmp)).Volume.from_name(
            "volstore-example", create_if_missing=True
        )
        reader_volume = type(emulated).from_name("volstore-example")
        # Each mount is one container, with background commits on, as on Modal.
        with emulated.mount() as writer_mount, reader_volume.mount() as reader_mount:
            writer_store = volstore.modal.volume_store(
                emulated, mount_path=writer_mount.path, mode="mounted"
            )
            reader_store = volstore.modal.volume_store(
                reader_volume, mount_path=reader_mount.path, mode="mounted"
            )
            record_schedules(writer_store, "ada@example.com", 5)
            print(f"writer committed {writer_store.stats.commits} time(s)")
            print(f"reader sees {read_schedules(reader_store, 'ada@example.com')}")


if __name__ == "__main__":  # `modal run` imports this module instead
    offline()
