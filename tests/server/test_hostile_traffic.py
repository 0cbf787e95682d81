"""`fednode serve` under hostile traffic, bounded and on loopback only.

The daemon runs in its own process with systemd's default file limit (1,024). 1,100
connections send half a request and wait, from fifty loopback addresses (so the
per-client cap does not hide the global one); then a burst of anonymous refused requests.
The health check must keep answering fast, the log stay small and the audit log hold a
handful of aggregated rows.
"""

from __future__ import annotations

import http.client
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli import main
from node.store.audit import AuditLog
from node.store.state import connect
from tests.nodes import TestNode, add_sample_datasets, make_node

SLOW_CONNECTIONS = 1_100
ADDRESSES = 50
FILE_LIMIT = 1_024
REFUSED_BURST = 400


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def _get(port: int, path: str, source: str = "127.0.0.1") -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    try:
        conn.request("GET", path)
        status = conn.getresponse().status
    finally:
        conn.close()
    return status, time.perf_counter() - started


@pytest.fixture
def node(tmp_path: Path) -> TestNode:
    node = make_node(tmp_path, "gxib", "Guangxi Institute of Botany", "CN")
    add_sample_datasets(node, "gxib", public=False)
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert result.exit_code == 0, result.output
    return node


def test_serve__slow_clients_and_refusal_floods_leave_health_fast(
    node: TestNode, tmp_path: Path
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SLOW_CONNECTIONS + 200
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"this test process may open {hard} files; the attack needs {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "node", "serve", "--home", str(node.home)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_files,
        )
    slow: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(node.port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "no daemon"
            time.sleep(0.1)
        for n in range(SLOW_CONNECTIONS):
            sock = socket.socket()
            sock.bind((f"127.0.0.{2 + n % ADDRESSES}", 0))
            sock.settimeout(5)
            try:
                sock.connect(("127.0.0.1", node.port))
                sock.sendall(b"GET /datasets HTTP/1.1\r\nHost: x\r\n")  # never finished
            except OSError:
                sock.close()
                continue
            slow.append(sock)
        refused = [
            _get(node.port, "/datasets/gxib-karst-occurrences/archive")[0]
            for _ in range(REFUSED_BURST)
        ]
        timings = sorted(_get(node.port, "/health")[1] for _ in range(100))
        _, _, metrics = _metrics(node.port)
    finally:
        for sock in slow:
            sock.close()
        process.terminate()
        process.wait(timeout=30)
    p99 = timings[98]
    assert p99 < 0.1, f"/health p99 {p99 * 1000:.0f} ms under attack"
    assert set(refused) == {404, 429} and refused.count(429) > REFUSED_BURST // 2
    log_bytes = log_path.stat().st_size
    assert log_bytes < 1024**2, f"log grew {log_bytes} bytes"
    assert "Traceback" not in log_path.read_text(encoding="utf-8", errors="replace")
    assert 'fednode_connections_refused_total{reason="evicted"}' in metrics
    conn = connect(node.home)
    try:
        denied = AuditLog(conn).entries(event="denied")
    finally:
        conn.close()
    assert len(denied) <= 6, [e.counts for e in denied]
    assert sum(sum(e.counts.values()) for e in denied) == REFUSED_BURST


def _metrics(port: int) -> tuple[int, float, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        started = time.perf_counter()
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        return response.status, time.perf_counter() - started, response.read().decode()
    finally:
        conn.close()
