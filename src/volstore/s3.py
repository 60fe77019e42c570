"""volstore on S3-compatible object storage (AWS S3, R2, GCS, SeaweedFS, MinIO).

    import volstore.s3

    store = volstore.s3.s3_store("s3://my-bucket/app-data", region="eu-west-1")
    store = volstore.s3.s3_store(
        "s3://my-bucket/app-data", endpoint_url="https://<account>.r2.cloudflarestorage.com"
    )

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` and
friends, ``AWS_PROFILE``, ``~/.aws/credentials``, instance and task roles);
the endpoint from ``endpoint_url=`` or ``$AWS_ENDPOINT_URL_S3`` /
``$AWS_ENDPOINT_URL``; the region from ``region=``, ``$AWS_REGION``, or
boto3's chain. See docs/s3.md. This module and ``volstore.backends.s3`` are
the only ones that import ``boto3``, and only when a backend is made.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from ._store import Store
from .backends.s3 import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    INSTALL_HINT,
    AddressingStyle,
    S3AccessError,
    S3Backend,
    S3UnavailableError,
    check_bucket_name,
    normalize_prefix,
)

REGION_ENV = "AWS_REGION"


def parse_s3_url(url: str) -> tuple[str, str]:
    """``"s3://bucket/some/prefix"`` -> ``("bucket", "some/prefix")``.

    Raises ValueError for anything else (another scheme, no bucket, an
    invalid bucket name) and InvalidKeyError for an unclean prefix.
    """
    if not isinstance(url, str):
        raise TypeError(f"an S3 URL is a string like 's3://bucket/prefix', not {url!r}")
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not an S3 URL like 's3://bucket/prefix'")
    return check_bucket_name(parts.netloc), normalize_prefix(parts.path)


def s3_backend(
    url: str,
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
) -> S3Backend:
    """The backend for ``s3://bucket/prefix`` (see :class:`S3Backend` for the options).

    ``region`` defaults to ``$AWS_REGION``, then to boto3's chain
    (``$AWS_DEFAULT_REGION``, the profile). Raises S3UnavailableError with
    an install hint when boto3 is missing; ValueError for a bad URL.
    """
    bucket, prefix = parse_s3_url(url)
    return S3Backend(
        bucket,
        prefix,
        endpoint_url=endpoint_url,
        region=region or os.environ.get(REGION_ENV) or None,
        profile=profile,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        addressing_style=addressing_style,
        max_concurrency=max_concurrency,
        max_attempts=max_attempts,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        client=client,
    )


def s3_store(
    url: str,
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
    **store_options: Any,
) -> Store:
    """A Store on ``s3://bucket/prefix``; ``store_options`` go to :class:`volstore.Store`.

    Raises as ``s3_backend`` does. The bucket must exist; nothing is sent
    to it until the store's first read or write.
    """
    backend = s3_backend(
        url,
        endpoint_url=endpoint_url,
        region=region,
        profile=profile,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        addressing_style=addressing_style,
        max_concurrency=max_concurrency,
        max_attempts=max_attempts,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        client=client,
    )
    return Store(backend, **store_options)


__all__ = [
    "INSTALL_HINT",
    "S3AccessError",
    "S3Backend",
    "S3UnavailableError",
    "parse_s3_url",
    "s3_backend",
    "s3_store",
]
