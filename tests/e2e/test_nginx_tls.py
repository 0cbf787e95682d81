"""A node behind a real nginx with TLS, as deploy/nginx-fednode.conf ships it.

nginx runs as an unprivileged process with its own configuration, pid file and logs in a
temporary folder; its TLS server block is the shipped one, with only the listen port,
certificate paths and the node's port changed. Certificates come from a test CA
(trustme). The partner harvests through https:// in a separate process that trusts that
CA (SSL_CERT_FILE), with signed requests whose @target-uri is the public https URL; the
second harvest is one 304. Skipped, saying why, only when nginx is not installed
(`scripts/install-nginx.sh`, run by `make test`, installs it).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit
import trustme

from node.core.config import CONFIG_FILE
from node.demo import free_port
from node.store.store import write_atomic
from tests.e2e.conftest import Federation
from tests.nodes import running

DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx-fednode.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (scripts/install-nginx.sh installs it as root)"
)


def tls_server_block(node_port: int, port: int, cert: Path, key: Path) -> str:
    """The shipped TLS server block, pointed at this node, port and certificate."""
    text = DEPLOY_CONF.read_text(encoding="utf-8")
    blocks = re.findall(r"^server \{.*?^\}", text, flags=re.M | re.S)
    (block,) = [b for b in blocks if "ssl_certificate " in b]
    block = re.sub(r"^\s*listen \[::\]:443 ssl;\n", "", block, flags=re.M)
    block = block.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    block = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", block)
    block = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", block)
    assert "proxy_pass http://127.0.0.1:8701;" in block
    return block.replace("http://127.0.0.1:8701;", f"http://127.0.0.1:{node_port};")


@pytest.fixture
def nginx_tls(federation: Federation) -> Iterator[tuple[int, Path]]:
    """nginx on a free loopback port in front of gxib; (its port, the CA file)."""
    assert NGINX is not None
    work = Path(tempfile.mkdtemp(prefix="fednode-nginx-"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(work / "server.pem"))
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    port = free_port()
    server = tls_server_block(federation.gxib.port, port, work / "server.pem", work / "server.pem")
    temp = " ".join(
        f"{kind}_temp_path {work / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    (work / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'} warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\naccess_log off;\n{temp}\nuwsgi_temp_path {work / 'uwsgi'};\n"
        f"scgi_temp_path {work / 'scgi'};\n{server}\n}}\n",
        encoding="utf-8",
    )
    command = [
        NGINX,
        "-p",
        str(work),
        "-c",
        str(work / "nginx.conf"),
        "-e",
        str(work / "error.log"),
    ]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        # Unprivileged: the files it reads and writes belong to nobody.
        shutil.chown(work, "nobody", "nogroup")
        for path in work.iterdir():
            shutil.chown(path, "nobody", "nogroup")
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_tls(port, work / "ca.pem", process)
        yield port, work / "ca.pem"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _wait_for_tls(port: int, ca: Path, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"nginx stopped at start: {output}")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail("nginx did not answer TLS within 10 s")


def set_public_url(federation: Federation, url: str) -> None:
    """gxib is reached at `url` (through nginx); vnmn's pin of gxib points there too."""
    gxib_toml = federation.gxib.home / CONFIG_FILE
    document = tomlkit.parse(gxib_toml.read_text(encoding="utf-8"))
    document["node"]["url"] = url
    document.setdefault("server", tomlkit.table())["trusted_proxies"] = ["127.0.0.1"]
    write_atomic(gxib_toml, tomlkit.dumps(document).encode("utf-8"))
    vnmn_toml = federation.vnmn.home / CONFIG_FILE
    document = tomlkit.parse(vnmn_toml.read_text(encoding="utf-8"))
    for peer in document["peers"]:
        if peer["id"] == "gxib":
            peer["url"] = url
    write_atomic(vnmn_toml, tomlkit.dumps(document).encode("utf-8"))


def harvest_in_process(home: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    """`fednode harvest gxib` as its own process, trusting the test CA as an operator would."""
    env = {**os.environ, "SSL_CERT_FILE": str(ca)}
    return subprocess.run(
        [sys.executable, "-m", "node", "harvest", "gxib", "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_nginx_tls__a_partner_harvests_through_https_then_gets_a_304(
    federation: Federation, nginx_tls: tuple[int, Path]
) -> None:
    port, ca = nginx_tls
    set_public_url(federation, f"https://127.0.0.1:{port}")
    async with running(federation.gxib):
        first = await asyncio.to_thread(harvest_in_process, federation.vnmn.home, ca)
        second = await asyncio.to_thread(harvest_in_process, federation.vnmn.home, ca)
        untrusting = await asyncio.to_thread(
            harvest_in_process, federation.vnmn.home, Path("/nonexistent-ca.pem")
        )
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"peer:gxib: ok, [1-9][\d,]* records", first.stdout), first.stdout
    assert second.returncode == 0 and "peer:gxib: unchanged" in second.stdout, second.stdout
    # Without the CA, the certificate is not believed and nothing is harvested.
    assert untrusting.returncode == 1
    assert "certificate" in untrusting.stdout.lower(), untrusting.stdout
    records = federation.vnmn.home / "store" / "harvested" / "gxib"
    assert list(records.glob("*/*.parquet"))
