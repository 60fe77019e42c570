"""The S3 backend against a real S3-compatible server (SeaweedFS), beyond the shared contract.

The contract suites, the unit-of-work suite and the stateful test run on it
in tests/contract/. Here: configuration, isolation by prefix, errors that
must never look like "no object", retries of throttling and of racing
conditional writes, a conditional write whose answer was lost, parallel
uploads, paging, batch deletes, and what a batch that fails midway leaves.
Faults are injected with botocore's event hooks into the real client: the
requests that are sent reach the real server.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

import volstore
import volstore.s3
from tests._models import Note
from tests._seaweedfs import BUCKET
from volstore.backends import Backend
from volstore.backends import s3 as s3_module
from volstore.backends.s3 import WRITE_ID, S3Backend, S3BatchError
from volstore.testing.seaweedfs import SeaweedFS

pytestmark = pytest.mark.usefixtures("seaweedfs")


class Counter(volstore.Model, resource_type="s3-counters", version_field="version"):
    id: str
    user_id: str
    count: int = 0
    version: int = 0


@pytest.fixture
def backend(seaweedfs: SeaweedFS, s3_url: str) -> Iterator[S3Backend]:
    backend = seaweedfs.backend(s3_url)
    yield backend
    backend.close()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def fake_response(status: int, code: str, message: str = "injected") -> AWSResponse:
    """An S3 error answer, as the server would send it."""
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return AWSResponse("http://injected", status, {"Content-Type": "application/xml"}, _Raw(body))


def inject(
    backend: S3Backend, operation: str, handler: Callable[[Any], AWSResponse | None]
) -> list[Any]:
    """Call ``handler(request)`` before each send of ``operation``; a response it returns
    replaces the server's. Returns the list of requests seen (attempts included)."""
    seen: list[Any] = []

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        seen.append(request)
        return handler(request)

    backend.client.meta.events.register(f"before-send.s3.{operation}", before_send)
    return seen


def send_for_real(request: Any) -> None:
    """Send a prepared (signed) request to the server, outside botocore: it is applied."""
    real = urllib.request.Request(
        request.url, data=request.body, method=request.method, headers=dict(request.headers)
    )
    with urllib.request.urlopen(real, timeout=10) as response:
        response.read()


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://my-bucket", "my-bucket", ""),
        ("s3://my-bucket/", "my-bucket", ""),
        ("s3://my-bucket/app/data/", "my-bucket", "app/data"),
        ("s3://a.b-c/x", "a.b-c", "x"),
    ],
)
def test_s3_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert volstore.s3.parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize(
    "url",
    [
        "my-bucket/app",
        "https://my-bucket/app",
        "s3:///app",
        "s3://ab/app",  # too short
        "s3://My_Bucket/app",  # not a valid S3 name
        "s3://-bucket/app",
        "s3://bucket-/app",
        "s3://a..b/app",
        "s3://bucket/app?versionId=1",
    ],
)
def test_bad_s3_urls_are_refused_naming_the_rule(url: str) -> None:
    with pytest.raises(ValueError, match="S3"):
        volstore.s3.parse_s3_url(url)


def test_an_unclean_prefix_is_refused() -> None:
    with pytest.raises(volstore.InvalidKeyError):
        volstore.s3.parse_s3_url("s3://bucket/a/../b")


def test_bad_settings_are_refused(seaweedfs: SeaweedFS) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        seaweedfs.backend(f"s3://{BUCKET}/x", max_concurrency=0)
    with pytest.raises(ValueError, match="addressing_style"):
        seaweedfs.backend(f"s3://{BUCKET}/x", addressing_style="sideways")


def test_s3_store_from_a_url_and_environment(
    seaweedfs: SeaweedFS, s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials, endpoint and region as S3 users give them: the environment.
    for name, value in seaweedfs.environ().items():
        monkeypatch.setenv(name, value)
    store = volstore.s3.s3_store(s3_url)
    store.repository(Note).put(Note(id="n1", user_id="ada", text="hello"))
    assert store.repository(Note).get_one("ada", "n1").text == "hello"
    assert store.backend.describe() == f"{s3_url} at {seaweedfs.endpoint_url}"  # from the env
    assert store.stats.commits == 1  # commit does nothing on S3, and is still counted
    store.backend.close()


def test_describe_names_the_bucket_prefix_and_endpoint(seaweedfs: SeaweedFS) -> None:
    backend = seaweedfs.backend(f"s3://{BUCKET}/app/data")
    assert backend.describe() == f"s3://{BUCKET}/app/data at {seaweedfs.endpoint_url}"
    assert backend.may_hold_temporary_files is False
    assert backend.supports_conditional


def test_without_boto3_the_error_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['boto3'] = None\n"
        "sys.modules['botocore'] = None\n"
        "import volstore, volstore.s3\n"
        "try:\n"
        "    volstore.s3.s3_store('s3://bucket/app')\n"
        "except volstore.s3.S3UnavailableError as exc:\n"
        "    assert isinstance(exc, ImportError) and isinstance(exc, volstore.VolstoreError)\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "pip install '/path/to/volstore[s3]'" in result.stdout


def test_importing_volstore_imports_no_s3_client() -> None:
    code = (
        "import sys, volstore; print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# -- where the data is ----------------------------------------------------------------------


def test_prefixes_keep_stores_apart_and_the_bucket_root_sees_them(
    seaweedfs: SeaweedFS,
) -> None:
    bucket = seaweedfs.create_bucket()
    one = seaweedfs.store(f"s3://{bucket}/one")
    two = seaweedfs.store(f"s3://{bucket}/two/deeper")
    one.repository(Note).put(Note(id="a", user_id="ada"))
    two.repository(Note).put(Note(id="b", user_id="ada"))
    assert one.repository(Note).ids("ada") == ["a"]
    assert two.repository(Note).ids("ada") == ["b"]
    root = seaweedfs.backend(f"s3://{bucket}")
    assert sorted(e.name for e in root.list("")) == ["one", "two"]
    path = one.path_for(volstore.spec_of(Note), "ada", "a")
    assert root.read(f"one/{path}") == one.backend.read(path)
    head = root.client.head_object(Bucket=bucket, Key=f"one/{path}")
    assert head["ContentType"] == "application/json"


def test_walk_gives_the_order_of_the_default(backend: S3Backend) -> None:
    files = {
        "d/a-b.json": b"",
        "d/a/x.json": b"",
        "d/a/.hidden/y.json": b"",
        "d/.marker": b"",
        "d/b.json": b"",
        "d/a0/z.json": b"",
        "e/outside.json": b"",
    }
    backend.write_batch(files)
    assert list(backend.walk("d")) == list(Backend.walk(backend, "d"))
    assert list(backend.walk("d")) == ["d/a/x.json", "d/a-b.json", "d/a0/z.json", "d/b.json"]
    assert list(backend.walk("")) == list(Backend.walk(backend, ""))


def test_listings_page_through_the_results(
    backend: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_LIST_PAGE", 3)
    backend.write_batch({f"t/u{i}/x.json": b"" for i in range(4)})
    backend.write_batch({f"t/f{i:02d}.json": b"1" for i in range(7)})
    calls = inject(backend, "ListObjectsV2", lambda request: None)
    entries = backend.list("t", details=True)
    assert sorted(e.name for e in entries if e.is_dir) == ["u0", "u1", "u2", "u3"]
    assert sorted(e.name for e in entries if not e.is_dir) == [f"f{i:02d}.json" for i in range(7)]
    assert len(calls) >= 4  # 11 entries, 3 a page
    assert len(list(backend.walk("t"))) == 11


# -- errors that must never look like "no object" -------------------------------------------


def test_wrong_credentials_are_a_storage_error_not_a_missing_object(
    seaweedfs: SeaweedFS, s3_url: str
) -> None:
    store = volstore.Store(seaweedfs.backend(s3_url, secret_access_key="wrong", max_attempts=1))
    with pytest.raises(
        volstore.BackendError, match=r"does not match the access key \(.*SignatureDoesNotMatch"
    ):
        store.repository(Note).get("ada", "n1")


def test_a_missing_bucket_is_a_storage_error_not_an_empty_store(seaweedfs: SeaweedFS) -> None:
    store = seaweedfs.store("s3://no-such-bucket-here/app")
    with pytest.raises(volstore.BackendError, match=r"no-such-bucket-here.*: no such bucket"):
        store.repository(Note).get("ada", "n1")
    with pytest.raises(volstore.BackendError):
        store.repository(Note).put(Note(id="n1", user_id="ada"))


# -- retries ---------------------------------------------------------------------------------


def test_throttling_is_retried_with_backoff(backend: S3Backend) -> None:
    answers = [fake_response(503, "SlowDown"), fake_response(503, "SlowDown")]
    seen = inject(backend, "PutObject", lambda request: answers.pop(0) if answers else None)
    backend.write_batch({"t/a.json": b"1"})
    assert len(seen) == 3  # two throttled attempts, then the real one
    assert backend.read("t/a.json") == b"1"


def test_throttling_that_does_not_end_is_a_storage_error(seaweedfs: SeaweedFS, s3_url: str) -> None:
    backend = seaweedfs.backend(s3_url, max_attempts=2)
    seen = inject(backend, "PutObject", lambda request: fake_response(503, "SlowDown"))
    store = volstore.Store(backend)
    with pytest.raises(volstore.BackendError, match="SlowDown"):
        store.repository(Note).put(Note(id="n1", user_id="ada"))
    assert len(seen) >= 2


def test_a_racing_conditional_write_409_is_retried(backend: S3Backend) -> None:
    backend.write_batch({"c/a.json": b"v1"})
    _, token = backend.read_token("c/a.json")
    answers = [fake_response(409, "ConditionalRequestConflict")]
    seen = inject(backend, "PutObject", lambda request: answers.pop(0) if answers else None)
    tokens = backend.apply_conditional({"c/a.json": b"v2"}, [], {"c/a.json": token})
    assert len(seen) == 2
    assert backend.read_token("c/a.json") == (b"v2", tokens["c/a.json"])


def test_a_conditional_write_whose_answer_was_lost_is_not_a_conflict(backend: S3Backend) -> None:
    # The first attempt reaches the server and is applied; its answer is lost (a 500).
    # botocore sends it again, the server answers 412 (the state changed: by this very
    # write), and the backend recognises its own write by the id in its metadata.
    backend.write_batch({"c/a.json": b"v1"})
    _, token = backend.read_token("c/a.json")
    attempts: list[int] = []

    def apply_then_lose_the_answer(request: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) == 1:
            send_for_real(request)
            return fake_response(500, "InternalError")
        return None

    inject(backend, "PutObject", apply_then_lose_the_answer)
    tokens = backend.apply_conditional({"c/a.json": b"v2"}, [], {"c/a.json": token})
    assert len(attempts) == 2
    data, stored = backend.read_token("c/a.json")
    assert (data, stored) == (b"v2", tokens["c/a.json"])
    head = backend.client.head_object(Bucket=backend.bucket, Key=backend._key("c/a.json"))
    assert WRITE_ID in head["Metadata"]


def test_a_conditional_create_whose_answer_was_lost_is_not_a_conflict(backend: S3Backend) -> None:
    attempts: list[int] = []

    def apply_then_lose_the_answer(request: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) == 1:
            send_for_real(request)
            return fake_response(503, "ServiceUnavailable")
        return None

    inject(backend, "PutObject", apply_then_lose_the_answer)
    backend.apply_conditional({"c/new.json": b"n"}, [], {"c/new.json": None})
    assert backend.read("c/new.json") == b"n"


def test_another_writers_state_after_a_lost_answer_is_a_conflict(backend: S3Backend) -> None:
    # The same 412 after a retry, but the stored object is another writer's: a conflict.
    backend.write_batch({"c/a.json": b"v1"})
    _, token = backend.read_token("c/a.json")
    other = S3Backend(backend.bucket, backend.prefix, client=backend.client)
    answers = [fake_response(500, "InternalError")]

    def someone_else_writes_first(request: Any) -> AWSResponse | None:
        if answers:
            answer = answers.pop()  # first: the other writer's PUT comes through here too
            other.write_batch({"c/a.json": b"theirs"})
            return answer
        return None

    inject(backend, "PutObject", someone_else_writes_first)
    with pytest.raises(volstore.ConflictError) as info:
        backend.apply_conditional({"c/a.json": b"mine"}, [], {"c/a.json": token})
    assert info.value.found_token == backend.read_token("c/a.json")[1]
    assert backend.read("c/a.json") == b"theirs"


def test_a_conditional_delete_whose_answer_was_lost_is_done(backend: S3Backend) -> None:
    backend.write_batch({"c/a.json": b"v1", "c/keep.json": b"k"})
    _, token = backend.read_token("c/a.json")
    attempts: list[int] = []

    def apply_then_lose_the_answer(request: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) == 1:
            send_for_real(request)
            return fake_response(500, "InternalError")
        return None

    inject(backend, "DeleteObject", apply_then_lose_the_answer)
    backend.apply_conditional({}, ["c/a.json"], {"c/a.json": token})
    assert len(attempts) == 2
    assert not backend.exists("c/a.json")


# -- parallel uploads, batch deletes ------------------------------------------------------------


def _in_flight(backend: S3Backend) -> list[int]:
    """Track the requests in flight; returns [current, most seen]."""
    counts = [0, 0]
    lock = threading.Lock()

    def sent(**_: Any) -> None:
        with lock:
            counts[0] += 1
            counts[1] = max(counts)

    def answered(**_: Any) -> None:
        with lock:
            counts[0] -= 1

    backend.client.meta.events.register("before-send.s3.PutObject", sent)
    backend.client.meta.events.register("needs-retry.s3.PutObject", answered)
    return counts


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_batch_uploads_in_parallel_within_the_bound(
    seaweedfs: SeaweedFS, s3_url: str, concurrency: int
) -> None:
    backend = seaweedfs.backend(s3_url, max_concurrency=concurrency)
    counts = _in_flight(backend)
    backend.write_batch({f"t/{i:03d}.json": b"x" * 100 for i in range(64)})
    assert len(list(backend.walk("t"))) == 64
    if concurrency == 1:
        assert counts[1] == 1
    else:
        assert 1 < counts[1] <= concurrency
    backend.close()


def test_deletes_go_in_chunks_of_the_limit(
    backend: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_DELETE_CHUNK", 2)
    backend.write_batch({f"t/{i}.json": b"" for i in range(5)})
    calls = inject(backend, "DeleteObjects", lambda request: None)
    backend.delete_batch([f"t/{i}.json" for i in range(5)] + ["t/absent.json"])
    assert list(backend.walk("t")) == []
    assert len(calls) == 3


def test_servers_without_multi_object_delete_get_one_delete_per_object(
    backend: S3Backend,
) -> None:
    backend.write_batch({f"t/{i}.json": b"" for i in range(3)})
    multi = inject(backend, "DeleteObjects", lambda request: fake_response(501, "NotImplemented"))
    single = inject(backend, "DeleteObject", lambda request: None)
    backend.delete_batch([f"t/{i}.json" for i in range(3)])
    assert list(backend.walk("t")) == []
    assert (len(multi), len(single)) == (1, 3)
    backend.write_batch({"t/again.json": b""})
    backend.delete_batch(["t/again.json", "t/absent.json"])  # no second DeleteObjects try
    assert len(multi) == 1


def test_keys_a_batch_delete_could_not_remove_are_an_error(backend: S3Backend) -> None:
    backend.write_batch({"t/a.json": b"", "t/b.json": b""})

    def refuse_one(request: Any) -> AWSResponse:
        body = (
            b"<DeleteResult><Error><Key>t/b.json</Key><Code>AccessDenied</Code>"
            b"<Message>no</Message></Error></DeleteResult>"
        )
        return AWSResponse("http://injected", 200, {}, _Raw(body))

    inject(backend, "DeleteObjects", refuse_one)
    with pytest.raises(S3BatchError, match=r"t/b.json: AccessDenied"):
        backend.delete_batch(["t/a.json", "t/b.json"])


def test_delete_tree_leaves_no_empty_folder(backend: S3Backend) -> None:
    backend.write_batch({"d/x/a.json": b"", "d/x/y/b.json": b"", "d/.hidden": b"", "e/c.json": b""})
    assert backend.delete_tree("d") == 3
    assert [e.name for e in backend.list("", hidden=True)] == ["e"]


def test_delete_tree_of_the_root_empties_a_bucket(seaweedfs: SeaweedFS) -> None:
    bucket = seaweedfs.create_bucket()
    backend = seaweedfs.backend(f"s3://{bucket}")
    backend.write_batch({"a.json": b"", "d/x/b.json": b"", ".marker": b""})
    assert backend.delete_tree("") == 3
    assert backend.list("", hidden=True) == []
    backend.close()


def test_a_move_keeps_a_source_rewritten_after_the_copy(backend: S3Backend) -> None:
    backend.write_batch({"t/a.json": b"old", "t/b.json": b"b"})
    with pytest.raises(FileExistsError):
        backend.move("t/a.json", "t/b.json")

    def rewrite_source(**_: Any) -> None:
        backend.client.put_object(Bucket=backend.bucket, Key=backend._key("t/a.json"), Body=b"new")

    backend.client.meta.events.register("after-call.s3.CopyObject", rewrite_source)
    backend.move("t/a.json", "q/a.json")
    assert backend.read("q/a.json") == b"old"
    assert backend.read("t/a.json") == b"new"  # the conditional delete kept the rewrite


# -- a batch that fails midway ------------------------------------------------------------------


def test_a_conflict_found_at_the_start_applies_nothing(backend: S3Backend) -> None:
    backend.write_batch({"c/a.json": b"a", "c/b.json": b"b"})
    _, token_a = backend.read_token("c/a.json")
    puts = inject(backend, "PutObject", lambda request: None)
    with pytest.raises(volstore.ConflictError):
        backend.apply_conditional(
            {"c/a.json": b"a2", "c/b.json": b"b2", "c/new.json": b"n"},
            [],
            {"c/a.json": token_a, "c/b.json": '"stale"'},
        )
    assert puts == []  # the checks came first: not one request wrote anything


def test_a_conflict_that_races_the_checks_stops_the_batch_each_object_whole(
    seaweedfs: SeaweedFS, s3_url: str
) -> None:
    # One request at a time, so the order is known: a conditional write of a, then b
    # (which another writer changed after the checks), then the plain write of c.
    backend = seaweedfs.backend(s3_url, max_concurrency=1)
    backend.write_batch({"c/a.json": b"a1", "c/b.json": b"b1"})
    _, token_a = backend.read_token("c/a.json")
    _, token_b = backend.read_token("c/b.json")
    other = S3Backend(backend.bucket, backend.prefix, client=backend.client)
    heads = [0]

    def race_after_the_checks(**_: Any) -> None:
        heads[0] += 1
        if heads[0] == 2:  # both checks have passed
            other.write_batch({"c/b.json": b"theirs"})

    backend.client.meta.events.register("after-call.s3.HeadObject", race_after_the_checks)
    with pytest.raises(volstore.ConflictError) as info:
        backend.apply_conditional(
            {"c/a.json": b"a2", "c/b.json": b"b2", "c/c.json": b"c"},
            [],
            {"c/a.json": token_a, "c/b.json": token_b},
        )
    assert info.value.path == "c/b.json"
    assert backend.read("c/a.json") == b"a2"  # written before the conflict: stays
    assert backend.read("c/b.json") == b"theirs"  # the other writer's, whole
    assert not backend.exists("c/c.json")  # after the conflict: not written
    backend.close()


def test_after_a_failed_batch_check_finds_every_object_whole(
    seaweedfs: SeaweedFS, s3_url: str
) -> None:
    store = seaweedfs.store(s3_url)
    counters = store.repository(Counter)
    counters.put_all([Counter(id=f"k{i}", user_id="ada") for i in range(3)])
    other = seaweedfs.store(s3_url).repository(Counter)
    with pytest.raises(volstore.StaleObjectError), store.session() as s:
        for i in range(3):
            s.get_one(Counter, "ada", f"k{i}").count += 1
        theirs = other.get_one("ada", "k1")
        theirs.count = 100
        other.put(theirs)
    report = store.check()
    assert report.ok, report
    assert {c.id: c.count for c in counters.list("ada")}["k1"] == 100
    store.backend.close()
