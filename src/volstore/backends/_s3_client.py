"""The S3 backend's plumbing: boto3, its clients, and what its errors mean.

The only module besides ``backends/s3.py`` (and the testing kit's SeaweedFS
helper) that imports boto3 or botocore; both are optional (``volstore[s3]``):
without them this module still imports, and ``S3Backend()`` raises
S3UnavailableError with the install hint.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

from .._errors import BackendError, VolstoreError, short_reason
from .._keys import check_relative_path

INSTALL_HINT = (
    "volstore's S3 backend needs boto3: pip install 'volstore[s3]' (or pip install boto3)"
)


class S3UnavailableError(VolstoreError, ImportError):
    """The ``boto3`` package (volstore's S3 client) is not installed."""


try:
    import boto3
    import botocore.loaders
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )
except ImportError as _exc:  # the optional extra is missing: S3Backend() says how to add it
    MISSING: ImportError | None = _exc
    STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError,)

    class BotoCoreError(Exception):  # type: ignore[no-redef]
        """Stands in for botocore's, so that ``except`` clauses compile (never raised)."""

    ClientError = BotoCoreError
else:
    MISSING = None
    STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)

AddressingStyle = Literal["auto", "path", "virtual"]

DEFAULT_CONCURRENCY = 32
"""Requests one backend has in flight at most (uploads, checks, deletes)."""

DEFAULT_MAX_ATTEMPTS = 8
"""Attempts per request for throttling and transient failures (botocore's standard mode)."""

WRITE_ID = "volstore-write"
"""User metadata on each conditional PUT: a unique id, so a retried PUT knows its own write."""

_CONFLICT_BACKOFF = 0.05  # seconds, doubled per attempt, with full jitter
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

_loader: Any = None  # botocore's loader of service models, shared by every client made here
_loader_lock = threading.Lock()


def check_bucket_name(bucket: str) -> str:
    """Raise ValueError unless ``bucket`` is a valid S3 bucket name (3-63 characters, ...)."""
    if not isinstance(bucket, str) or not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ValueError(
            f"{bucket!r} is not a valid S3 bucket name: 3 to 63 characters of lowercase "
            "letters, digits, dots and hyphens, starting and ending with a letter or digit"
        )
    return bucket


def normalize_prefix(prefix: str) -> str:
    """The key prefix without leading/trailing slashes ("" for the bucket's root).

    Raises InvalidKeyError for a prefix that is not a clean relative path.
    """
    prefix = prefix.strip("/")
    return check_relative_path(prefix) if prefix else ""


def etag_of(value: str) -> str:
    # Servers quote ETags in headers but some (SeaweedFS's CopyObject) not in XML bodies.
    return value if value.startswith(('"', "W/")) else f'"{value}"'


def status_of(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def code_of(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or "")


def was_retried(exc: BaseException) -> bool:
    """Whether botocore sent the request more than once (an earlier attempt may have landed)."""
    response = getattr(exc, "response", None) or {}
    return bool(response.get("ResponseMetadata", {}).get("RetryAttempts"))


def is_no_such_key(exc: BaseException) -> bool:
    # A HEAD has no body, so its 404 has no code; a missing bucket is never "no such key".
    return status_of(exc) == 404 and code_of(exc) != "NoSuchBucket"


def is_precondition_failed(exc: BaseException) -> bool:
    return status_of(exc) == 412 or code_of(exc) == "PreconditionFailed"


def content_type(path: str) -> str:
    # What a browser or a CloudBucketMount reader sees; the backend never reads it back.
    return "application/json" if path.endswith(".json") else "application/octet-stream"


# Error codes that say the bucket cannot be used at all (not that one object is missing).
_ACCESS_CODES = {
    "AccessDenied": "access denied",
    "AllAccessDisabled": "access denied",
    "InvalidAccessKeyId": "the access key is not known to the server",
    "SignatureDoesNotMatch": "the secret key does not match the access key",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is not valid",
    "NoSuchBucket": "no such bucket",
    "PermanentRedirect": "the bucket is in another region (give region=)",
    "AuthorizationHeaderMalformed": "the bucket is in another region (give region=)",
    "IllegalLocationConstraintException": "the bucket is in another region (give region=)",
}


class S3AccessError(BackendError):
    """The bucket cannot be used: credentials, permission, bucket name, region or endpoint.

    Raised by any call, so that such a failure never reads as "no object" nor
    as bad stored data; ``__cause__`` holds boto3's error.
    """


class S3BatchError(OSError):
    """Some keys of a DeleteObjects request were not deleted (the server named them)."""

    def __init__(self, failures: Sequence[tuple[str, str]]) -> None:
        shown = "; ".join(f"{key}: {reason}" for key, reason in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        super().__init__(f"{len(failures)} object(s) not deleted: {shown}{more}")
        self.failures = list(failures)


def make_client(s: dict[str, Any], max_concurrency: int) -> Any:
    """A boto3 S3 client for the settings of an S3Backend (see its docstring)."""
    config = Config(
        retries={"mode": "standard", "max_attempts": s["max_attempts"]},
        max_pool_connections=max_concurrency + 4,
        s3={"addressing_style": s["addressing_style"]},
        connect_timeout=s["connect_timeout"],
        read_timeout=s["read_timeout"],
    )
    with _loader_lock:
        # A fresh session reads the environment and profiles now (credentials too);
        # the shared loader keeps S3's parsed service model (a tenth of a second).
        global _loader
        if _loader is None:
            _loader = botocore.loaders.create_loader()
        core = botocore.session.get_session()
        core.register_component("data_loader", _loader)
        session = boto3.session.Session(botocore_session=core, profile_name=s["profile"])
        return session.client(
            "s3",
            endpoint_url=s["endpoint_url"],
            region_name=s["region"],
            aws_access_key_id=s["access_key_id"],
            aws_secret_access_key=s["secret_access_key"],
            aws_session_token=s["session_token"],
            config=config,
        )


def access_error(exc: BaseException, where: str) -> S3AccessError | None:
    """The S3AccessError for a failure that says the bucket cannot be used, else None."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return S3AccessError(
            f"{where}: no AWS credentials found (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or pass them)"
        )
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return S3AccessError(f"{where}: cannot reach the server: {short_reason(exc)}")
    if isinstance(exc, ClientError):
        code, status = code_of(exc), status_of(exc)
        reason = _ACCESS_CODES.get(code)
        if reason is None and status in (401, 403):
            reason = "access denied"  # a HEAD's answer has no code
        if reason is not None:
            return S3AccessError(f"{where}: {reason} ({short_reason(exc)})")
    return None


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, _CONFLICT_BACKOFF * 2**attempt))


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "INSTALL_HINT",
    "MISSING",
    "STORAGE_ERRORS",
    "WRITE_ID",
    "AddressingStyle",
    "BotoCoreError",
    "ClientError",
    "S3AccessError",
    "S3BatchError",
    "S3UnavailableError",
    "access_error",
    "backoff",
    "check_bucket_name",
    "code_of",
    "content_type",
    "etag_of",
    "is_no_such_key",
    "is_precondition_failed",
    "make_client",
    "normalize_prefix",
    "status_of",
    "was_retried",
]
