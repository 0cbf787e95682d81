"""A real S3-compatible server on loopback for the tests: moto's standalone server.

It speaks the S3 REST protocol over HTTP, as MinIO or Ceph would; pyarrow, polars and the
node reach it through their ordinary endpoint settings, with throwaway credentials.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs
import pytest

KEY, SECRET, REGION = "fednode-test-key", "fednode-test-secret", "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def uri(self, bucket_and_prefix: str) -> str:
        """The URI a node is given: credentials from the environment, endpoint in the URI."""
        return f"s3://{bucket_and_prefix}?endpoint_override={self.endpoint}&scheme=http"

    def filesystem(self) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(
            access_key=KEY, secret_key=SECRET, region=REGION, scheme="http",
            endpoint_override=self.endpoint, allow_bucket_creation=True,
        )  # fmt: skip

    def create_bucket(self, name: str) -> None:
        self.filesystem().create_dir(name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = S3Server(f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(server.url + "/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment an operator would set; no instance metadata lookups."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    os.environ.pop("AWS_PROFILE", None)
