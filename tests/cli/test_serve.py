"""The daemon as users run it: `fednode serve` in its own process, real HTTP on loopback."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner
from dwca.read import DwCAReader

from node.cli import main
from node.core.identity import parse_public_key, verify
from tests.nodes import TestNode, add_sample_datasets, make_node

IPT = "{http://ipt.gbif.org/}"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _serve(node: TestNode) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "node", "serve", "--home", str(node.home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read() if process.stderr else "exited")
        try:
            if _get(f"{node.url}/health")[0] == 200:
                return process
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the daemon did not become healthy")


@pytest.fixture
def public_node(tmp_path: Path) -> TestNode:
    node = make_node(tmp_path, "gxib", "Guangxi Institute of Botany", "CN")
    add_sample_datasets(node, "gxib", public=True)
    result = CliRunner().invoke(main, ["publish", "--home", str(node.home)])
    assert result.exit_code == 0, result.output
    return node


def test_serve__public_dataset_is_served_signed_and_reads_back_whole(public_node: TestNode) -> None:
    process = _serve(public_node)
    try:
        status, _, body = _get(f"{public_node.url}/.well-known/fednode")
        identity = json.loads(body)
        assert status == 200 and identity["id"] == "gxib"
        listing = json.loads(_get(f"{public_node.url}/datasets")[2])["datasets"]
        assert {d["id"] for d in listing} == {"gxib-karst-checklist", "gxib-karst-occurrences"}
        status, headers, archive = _get(f"{public_node.url}/datasets/gxib-karst-checklist/archive")
        assert status == 200
        digest = hashlib.sha256(archive).hexdigest()
        assert headers["ETag"] == f'"{digest}"'
        key = parse_public_key(identity["public_key"])
        assert verify(key, headers["Fednode-Signature"], digest.encode())
        assert (
            _get(
                f"{public_node.url}/datasets/gxib-karst-checklist/archive",
                {"If-None-Match": headers["ETag"]},
            )[0]
            == 304
        )
        path = public_node.home / "downloaded.zip"
        path.write_bytes(archive)
        with DwCAReader(str(path)) as reader:
            assert len(list(reader)) == 258
        rss = ET.fromstring(_get(f"{public_node.url}/rss")[2])
        items = rss.findall("channel/item")
        assert len(items) == 2
        assert rss.findtext("channel/language") == "zh"  # both datasets' language, not en-us
        assert all(i.find(f"{IPT}dwca").text.endswith("/archive") for i in items)  # type: ignore[union-attr]
        eml = ET.fromstring(_get(f"{public_node.url}/datasets/gxib-karst-checklist/eml")[2])
        assert eml.find("dataset/title") is not None
        metrics = _get(f"{public_node.url}/metrics")[2].decode()
        assert (
            "fednode_http_requests_total" in metrics and "fednode_archives_served_total" in metrics
        )
        status, _, body = _get(f"{public_node.url}/datasets/nothing/archive")
        assert status == 404 and json.loads(body)["error"] == "not_found"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_serve__a_taken_port_gives_a_clear_message(public_node: TestNode) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", public_node.port))
        blocker.listen()
        done = subprocess.run(
            [sys.executable, "-m", "node", "serve", "--home", str(public_node.home)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"port {public_node.port} on 127.0.0.1 is already in use" in done.stderr


def test_serve__logs_are_json_lines_and_never_hold_the_private_key(public_node: TestNode) -> None:
    process = _serve(public_node)
    _get(f"{public_node.url}/datasets/gxib-karst-occurrences/archive")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    logs = process.stderr.read() if process.stderr else ""
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("node gxib ready") for line in lines)
    private = (public_node.home / "keys" / "node.key").read_text()
    body = private.split("-----")[2].strip()
    assert body not in logs
