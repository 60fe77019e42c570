"""A backend over S3-compatible object storage (AWS S3, R2, GCS's XML API, SeaweedFS, MinIO).

Files are objects under ``<prefix>/<path>`` in one bucket. An S3 ``PUT`` is
atomic per object (a reader sees the old object or the new one, never a
torn one), so nothing is ever written under a temporary name. Writes are
visible at once: ``commit`` and ``reload`` do nothing (the engine still
counts them).

- **Compare-and-swap for real.** The state token of an object is its ETag.
  ``apply_conditional`` writes with ``If-Match: <etag>`` (replace only that
  state) or ``If-None-Match: *`` (create only) and deletes with
  ``If-Match``. The server checks and writes in one step: HTTP 412 is a
  conflict (ConflictError), 409 (another conditional write to the same key
  in flight) is retried with backoff. This holds across threads, processes
  and machines, as far as the server implements conditional requests.
- **A batch is not atomic across objects.** Every expectation is checked
  (one ``HEAD`` per object, in parallel) before anything is written, so a
  conflict known at the start applies nothing. A conflict that appears
  between that check and the writes (a racing writer) stops the batch:
  objects written before it keep their new state, the rest keep their old
  one; each object is whole. Conditional writes go first, then the plain
  writes, then the deletes, so an object moved to a new path is never
  deleted before its new copy exists (the worst case is a duplicate, which
  ``check`` reports).
- **Speed.** S3 is latency-bound: a batch's uploads, the expectation checks
  and the deletes (``DeleteObjects``, 1,000 keys a request) run in parallel
  on a bounded pool of threads (``max_concurrency``). Listings use
  ``prefix`` + ``delimiter`` and page through results. Throttling
  (``503 SlowDown``, ``429``) and transient failures are retried with
  exponential backoff by botocore's ``standard`` retry mode.

The client is boto3, imported here only: it sends ``If-Match`` on
DeleteObject as well as ``If-Match``/``If-None-Match`` on PutObject and
CopyObject (see docs/s3.md, "Why boto3").
"""

from __future__ import annotations

import builtins
import errno
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial, wraps
from typing import Any, ClassVar, TypeVar, cast

from .._errors import ConflictError, short_reason
from .._keys import check_relative_path
from ._base import Backend, Entry, FileTooLargeError, check_expected
from ._s3_client import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    INSTALL_HINT,
    MISSING,
    STORAGE_ERRORS,
    WRITE_ID,
    AddressingStyle,
    BotoCoreError,
    ClientError,
    S3AccessError,
    S3BatchError,
    S3UnavailableError,
    access_error,
    backoff,
    check_bucket_name,
    code_of,
    content_type,
    etag_of,
    is_no_such_key,
    is_precondition_failed,
    make_client,
    normalize_prefix,
    status_of,
    was_retried,
)

_DELETE_CHUNK = 1000  # keys per DeleteObjects request (the S3 limit)
_LIST_PAGE = 1000  # keys per ListObjectsV2 page (the S3 maximum)
_CONFLICT_RETRIES = 8  # 409 ConditionalRequestConflict: attempts before giving up

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _storage_call(method: F) -> F:
    """Turn failures of access to the bucket into S3AccessError (see ``S3Backend._access``)."""

    @wraps(method)
    def call(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            error = access_error(exc, self.describe())
            if error is None:
                raise
            raise error from exc

    return cast(F, call)


class S3Backend(Backend):
    """Files as objects under ``prefix`` in an S3 bucket, reached through boto3.

    ``bucket`` must exist. ``endpoint_url`` names an S3-compatible server
    (default: AWS, or ``$AWS_ENDPOINT_URL_S3`` / ``$AWS_ENDPOINT_URL``);
    ``region``, ``profile`` and the credentials come from the usual boto3
    chain (environment, ``~/.aws/config`` and ``credentials``, instance
    roles) unless given. ``addressing_style`` defaults to ``"path"`` with an
    ``endpoint_url`` (what self-hosted servers expect) and to boto3's choice
    otherwise. ``client`` replaces all of these with a boto3 S3 client of
    your own (give it ``max_pool_connections >= max_concurrency``).
    ``max_concurrency`` bounds the requests in flight (1: one at a time);
    ``max_attempts`` the attempts per request on throttling and transient
    errors.

    Raises S3UnavailableError when boto3 is missing, ValueError for a bad
    bucket name or setting, InvalidKeyError for an unclean prefix. Nothing
    is sent to the server until the first call. Safe to share between
    threads; after a ``fork`` the child makes its own client and threads.
    """

    may_hold_temporary_files = False  # a PUT is atomic per object: no temporary files
    storage_errors: ClassVar[tuple[type[BaseException], ...]] = STORAGE_ERRORS

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        addressing_style: AddressingStyle | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        client: Any = None,
    ) -> None:
        if MISSING is not None:
            raise S3UnavailableError(INSTALL_HINT) from MISSING
        self.bucket = check_bucket_name(bucket)
        self.prefix = normalize_prefix(prefix)
        self._root = f"{self.prefix}/" if self.prefix else ""
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive int, not {max_concurrency!r}")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive int, not {max_attempts!r}")
        if addressing_style not in (None, "auto", "path", "virtual"):
            raise ValueError(
                f"addressing_style must be 'auto', 'path' or 'virtual', not {addressing_style!r}"
            )
        self.max_concurrency = max_concurrency
        # boto3 reads these itself; known here too, for the addressing style and describe().
        endpoint_url = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )
        self._settings: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region": region,
            "profile": profile,
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
            "session_token": session_token,
            "addressing_style": addressing_style or ("path" if endpoint_url else "auto"),
            "max_attempts": max_attempts,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
        }
        self._given_client = client
        self._lock = threading.Lock()
        self._pid = os.getpid()
        try:
            self._client: Any = (
                client if client is not None else make_client(self._settings, self.max_concurrency)
            )
        except BotoCoreError as exc:  # a profile that is not configured, say
            raise S3AccessError(f"{self.describe()}: {short_reason(exc)}") from exc
        self._pool: ThreadPoolExecutor | None = None
        self._multi_delete = True  # False once the server said it has no DeleteObjects

    # -- the client and the thread pool ------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 S3 client (a new one in a forked child: sockets are not shared)."""
        if self._pid != os.getpid():
            self._after_fork()
        return self._client

    def _after_fork(self) -> None:
        # The child runs one thread now; the parent's lock may have been held at the fork.
        self._lock = threading.Lock()
        self._pool = None  # the parent's threads do not exist here
        if self._given_client is None:
            self._client = make_client(self._settings, self.max_concurrency)
        self._pid = os.getpid()

    @property
    def endpoint_url(self) -> str:
        """The server's address, as the client resolved it."""
        return str(self.client.meta.endpoint_url)

    def _key(self, path: str) -> str:
        return self._root + check_relative_path(path)

    def _folder_key(self, prefix: str) -> str:
        """The key prefix of the folder ``prefix`` ("" is the root), ending with ``/``."""
        return self._root + (check_relative_path(prefix) + "/" if prefix else "")

    def _parallel(self, calls: Sequence[Callable[[], T]]) -> builtins.list[T]:
        """Run ``calls`` on the pool (bounded) and return their results in order.

        On the first failure, calls not yet started are skipped; every started
        call is waited for, then the first failure (in call order) is raised.
        """
        if len(calls) <= 1 or self.max_concurrency == 1:
            return [call() for call in calls]
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.max_concurrency, thread_name_prefix="volstore-s3"
                )
            pool = self._pool
        failed = threading.Event()
        skipped = object()

        def guarded(call: Callable[[], T]) -> Any:
            if failed.is_set():
                return skipped
            try:
                return call()
            except BaseException:
                failed.set()
                raise

        futures: builtins.list[Future[Any]] = [pool.submit(guarded, call) for call in calls]
        results: builtins.list[T] = []
        error: BaseException | None = None
        for future in futures:
            exc = future.exception()
            if exc is not None:
                error = error or exc
            elif error is None:
                results.append(future.result())
        if error is not None:
            raise error
        return results

    # -- reads --------------------------------------------------------------------------------

    @_storage_call
    def read(self, path: str, *, limit: int | None = None) -> bytes:
        """The object's bytes; FileNotFoundError when there is none (one GET).

        A missing object is not looked at further: when a folder stands at
        the path (keys below ``path/``) this is FileNotFoundError too; use
        ``exists`` to tell the two apart.
        """
        return self._get(path, limit)[0]

    @_storage_call
    def read_batch(
        self, paths: Sequence[str], *, limit: int | None = None
    ) -> builtins.list[bytes | OSError | None]:
        """The objects of ``paths``, fetched in parallel (S3 is latency-bound: one GET each)."""

        def one(path: str) -> Callable[[], bytes | OSError | None]:
            def get() -> bytes | OSError | None:
                try:
                    return self._get(path, limit)[0]
                except FileNotFoundError:
                    return None
                except FileTooLargeError as exc:
                    return exc

            return get

        return self._parallel([one(self._checked(path)) for path in paths])

    @_storage_call
    def read_token(self, path: str, *, limit: int | None = None) -> tuple[bytes, str]:
        """The object's bytes and its ETag, from one GET."""
        return self._get(path, limit)

    def _get(self, path: str, limit: int | None) -> tuple[bytes, str]:
        key = self._key(path)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_no_such_key(exc):
                raise FileNotFoundError(errno.ENOENT, "no such object", path) from None
            raise
        body = response["Body"]
        try:
            size = int(response.get("ContentLength", 0))
            if limit is not None and size > limit:
                raise FileTooLargeError(path, size, limit)
            data: bytes = body.read()
        finally:
            body.close()
        return data, etag_of(response["ETag"])

    def _head(self, path: str) -> tuple[str, dict[str, str]] | None:
        """The ETag and user metadata of the object at ``path``; None when there is none."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as exc:
            if is_no_such_key(exc):
                return None
            raise
        return etag_of(response["ETag"]), dict(response.get("Metadata") or {})

    def _head_token(self, path: str) -> str | None:
        found = self._head(path)
        return None if found is None else found[0]

    @_storage_call
    def exists(self, path: str) -> bool:
        """Whether an object is stored at ``path`` (one HEAD; one more LIST when there is none).

        Raises IsADirectoryError when keys are stored below ``path/`` (a folder).
        """
        if self._head(path) is not None:
            return True
        if self._folder_has_keys(self._key(path) + "/"):
            raise IsADirectoryError(errno.EISDIR, "a folder stands here", path)
        return False

    def _folder_has_keys(self, folder_key: str) -> bool:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=folder_key, MaxKeys=1)
        return bool(response.get("KeyCount") or response.get("Contents"))

    @_storage_call
    def list(self, prefix: str, *, hidden: bool = False, details: bool = False) -> list[Entry]:
        """The objects and sub-folders directly under ``prefix``: one paged LIST with "/"."""
        base = self._folder_key(prefix)
        cut = len(base)
        entries: list[Entry] = []
        for page in self._pages(base, delimiter="/"):
            for common in page.get("CommonPrefixes") or ():
                name = common["Prefix"][cut:-1]
                if name and (hidden or name[0] != "."):
                    entries.append(Entry(name, True))
            for item in page.get("Contents") or ():
                name = item["Key"][cut:]
                # "" is the folder's own marker (a zero-byte "folder/" key).
                if not name or (not hidden and name[0] == "."):
                    continue
                if details:
                    modified = item.get("LastModified")
                    mtime = modified.timestamp() if modified is not None else None
                    entries.append(Entry(name, False, int(item.get("Size", 0)), "file", mtime))
                else:
                    entries.append(Entry(name, False))
        return entries

    def _pages(self, base: str, *, delimiter: str | None) -> Iterator[dict[str, Any]]:
        options: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base}
        if delimiter:
            options["Delimiter"] = delimiter
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(**options, PaginationConfig={"PageSize": _LIST_PAGE})

    def _keys_below(self, prefix: str) -> builtins.list[str]:
        """Every object key below the folder ``prefix`` (folder markers left out): a flat LIST."""
        base = self._folder_key(prefix)
        return [
            item["Key"]
            for page in self._pages(base, delimiter=None)
            for item in page.get("Contents") or ()
            if not item["Key"].endswith("/")
        ]

    @_storage_call
    def walk(self, prefix: str) -> Iterator[str]:
        """Every file below ``prefix``: one flat, paged LIST instead of one per folder.

        Yields the order of the default (depth first, names sorted folder by
        folder) and, like it, leaves out paths with a hidden component.
        """
        cut = len(self._root)
        start = len(self._folder_key(prefix)) - cut
        paths = []
        for key in self._keys_below(prefix):
            path = key[cut:]
            if not any(part[:1] == "." for part in path[start:].split("/")):
                paths.append(path)
        return iter(sorted(paths, key=lambda p: p.split("/")))

    # -- writes -------------------------------------------------------------------------------

    @_storage_call
    def write_batch(self, files: Mapping[str, bytes]) -> None:
        """PUT every file, in parallel (each object atomic; on a failure, the rest skipped)."""
        keys = [(self._key(path), path) for path in files]
        self._parallel([partial(self._put, k, p, files[p]) for k, p in keys])

    def _put(self, key: str, path: str, data: bytes, **conditions: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=bytes(data),
            ContentType=content_type(path),
            **conditions,
        )
        return response

    @_storage_call
    def delete_batch(self, paths: Iterable[str]) -> None:
        """Delete the objects (absent ones are fine): DeleteObjects, 1,000 keys a request."""
        keys = sorted({self._key(path) for path in paths})
        self._delete_keys(keys)

    def _delete_keys(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        if len(keys) == 1 or not self._multi_delete:
            self._parallel([partial(self._delete_one, k) for k in keys])
            return
        chunks = [keys[i : i + _DELETE_CHUNK] for i in range(0, len(keys), _DELETE_CHUNK)]
        try:
            self._parallel([partial(self._delete_many, c) for c in chunks])
        except ClientError as exc:
            # GCS's XML API and some gateways have no multi-object delete.
            if code_of(exc) != "NotImplemented" and status_of(exc) != 501:
                raise
            self._multi_delete = False
            self._parallel([partial(self._delete_one, k) for k in keys])

    def _delete_one(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _delete_many(self, keys: Sequence[str]) -> None:
        response = self.client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        failures = [
            (str(error.get("Key")), f"{error.get('Code')}: {error.get('Message')}")
            for error in response.get("Errors") or ()
            if error.get("Code") != "NoSuchKey"
        ]
        if failures:
            raise S3BatchError(failures)

    @_storage_call
    def delete_tree(self, prefix: str) -> int:
        """Delete every object below ``prefix`` (hidden ones too) and its folder markers."""
        keys = self._keys_below(prefix)
        self._delete_keys(keys)
        # File-system-backed servers (SeaweedFS) keep emptied folders as "folder/" entries;
        # deleting one that is empty removes it, and is a no-op anywhere else.
        base = self._folder_key(prefix)  # "" for the bucket's root: no marker of its own
        folders = {base} if base else set()
        for key in keys:
            folder = key.rpartition("/")[0]
            while folder and len(folder) >= len(base):
                folders.add(folder + "/")
                folder = folder.rpartition("/")[0]
        by_depth: dict[int, builtins.list[str]] = {}
        for folder in folders:
            by_depth.setdefault(folder.count("/"), []).append(folder)
        for depth in sorted(by_depth, reverse=True):  # a folder empties after its sub-folders
            self._parallel([partial(self._delete_one, f) for f in sorted(by_depth[depth])])
        return len(keys)

    @_storage_call
    def remove_empty_folder(self, path: str) -> bool:
        """Remove a folder that holds nothing; return whether one was removed.

        On S3 a folder exists while keys are stored below it, and is gone when
        the last one is deleted; what may remain is a zero-byte ``folder/``
        marker (made by consoles, or kept by file-system-backed servers such
        as SeaweedFS). This removes such a marker when nothing else is below
        it. Deleting a marker never deletes an object written meanwhile.
        """
        base = self._folder_key(path)
        if not self._only_marker(base):
            return False
        self._delete_one(base)
        return not self._folder_has_keys(base)

    def _only_marker(self, base: str) -> bool:
        response = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=base, Delimiter="/", MaxKeys=2
        )
        if response.get("CommonPrefixes"):
            return False
        keys = [item["Key"] for item in response.get("Contents") or ()]
        return keys == [base]

    @_storage_call
    def move(self, source: str, target: str) -> None:
        """Copy ``source`` to ``target`` on the server (``If-None-Match: *``), then delete it.

        Raises FileNotFoundError when ``source`` is absent, FileExistsError when
        ``target`` exists. If ``source`` was replaced during the move, the new
        ``source`` stays (the delete is conditional on the state copied).
        """
        source_key, target_key = self._key(source), self._key(target)
        if self.exists(target):
            raise FileExistsError(errno.EEXIST, "an object is stored here", target)
        try:
            response = self.client.copy_object(
                Bucket=self.bucket,
                Key=target_key,
                CopySource={"Bucket": self.bucket, "Key": source_key},
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if is_precondition_failed(exc):
                raise FileExistsError(errno.EEXIST, "an object is stored here", target) from None
            if is_no_such_key(exc):
                raise FileNotFoundError(errno.ENOENT, "no such object", source) from None
            raise
        copied = etag_of(response["CopyObjectResult"]["ETag"])
        try:
            self.client.delete_object(Bucket=self.bucket, Key=source_key, IfMatch=copied)
        except ClientError as exc:
            if not (is_precondition_failed(exc) or is_no_such_key(exc)):
                raise

    # -- compare-and-swap ---------------------------------------------------------------------

    @_storage_call
    def apply_conditional(
        self,
        writes: Mapping[str, bytes],
        deletes: Iterable[str],
        expected: Mapping[str, str | None],
    ) -> dict[str, str]:
        """Check every expectation, then write and delete, conditionally where expected.

        Each expected write is a PUT with ``If-Match``/``If-None-Match`` and each
        expected delete a DELETE with ``If-Match``: the server's own atomic
        check, across every client of the bucket. When the call changes one
        expected object only, that request is the whole check (no HEAD first).
        Raises ConflictError for a failed expectation: before anything is
        written when it failed at the start; otherwise the objects written
        before it keep their new state (see the module's docstring).
        """
        writes = {self._checked(path): data for path, data in writes.items()}
        deletes = sorted({self._checked(path) for path in deletes})
        expected = {self._checked(path): token for path, token in expected.items()}
        mutated = [*writes, *deletes]
        one_step = (
            len(mutated) == 1
            and list(expected) == mutated
            and (mutated[0] in writes or expected[mutated[0]] is not None)
        )
        if expected and not one_step:
            paths = sorted(expected)
            found = self._parallel([partial(self._head_token, p) for p in paths])
            for path, token in zip(paths, found, strict=True):
                check_expected(path, expected[path], token)
        guarded = [p for p in writes if p in expected]
        new = self._parallel([partial(self._put_if, p, writes[p], expected[p]) for p in guarded])
        tokens = dict(zip(guarded, new, strict=True))
        self.write_batch({p: data for p, data in writes.items() if p not in expected})
        guarded_deletes = [(p, token) for p in deletes if (token := expected.get(p)) is not None]
        self._parallel([partial(self._delete_if, p, t) for p, t in guarded_deletes])
        self._delete_keys([self._key(p) for p in deletes if p not in expected])
        return tokens

    @staticmethod
    def _checked(path: str) -> str:
        return check_relative_path(path)

    def _put_if(self, path: str, data: bytes, token: str | None) -> str:
        """PUT only over the state ``token`` (None: only where nothing is); the new ETag."""
        key = self._key(path)
        write_id = uuid.uuid4().hex
        condition = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        for attempt in range(_CONFLICT_RETRIES):
            try:
                response = self._put(key, path, data, Metadata={WRITE_ID: write_id}, **condition)
            except ClientError as exc:
                if status_of(exc) == 409 and attempt + 1 < _CONFLICT_RETRIES:
                    backoff(attempt)  # another conditional write to this key is in flight
                    continue
                if not (is_precondition_failed(exc) or is_no_such_key(exc)):
                    raise
                stored = self._head(path)
                if stored is not None and stored[1].get(WRITE_ID) == write_id:
                    # An earlier attempt of this very PUT landed and its answer was lost.
                    return stored[0]
                raise ConflictError(path, token, None if stored is None else stored[0]) from None
            return etag_of(response["ETag"])
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _delete_if(self, path: str, token: str) -> None:
        """DELETE only the state ``token``."""
        key = self._key(path)
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=token)
            except ClientError as exc:
                if status_of(exc) == 409 and attempt + 1 < _CONFLICT_RETRIES:
                    backoff(attempt)
                    continue
                if not (is_precondition_failed(exc) or is_no_such_key(exc)):
                    raise
                found = self._head_token(path)
                if found is None and (attempt > 0 or was_retried(exc)):
                    return  # gone: an earlier attempt of this DELETE removed it
                raise ConflictError(path, token, found) from None
            return
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # -- the rest -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the pool's threads and close the client's connections."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if self._given_client is None and self._pid == os.getpid():
            self._client.close()

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        endpoint = self._settings["endpoint_url"]
        return f"{where} at {endpoint}" if endpoint else where

    def __repr__(self) -> str:
        return f"S3Backend({self.describe()})"


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "INSTALL_HINT",
    "WRITE_ID",
    "AddressingStyle",
    "S3AccessError",
    "S3Backend",
    "S3BatchError",
    "S3UnavailableError",
    "check_bucket_name",
    "normalize_prefix",
]
