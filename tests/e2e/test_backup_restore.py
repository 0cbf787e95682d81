"""Backup of a running node, restore on a fresh home: same archives, an intact audit log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from node.wire.auth import sign_headers
from tests.e2e.conftest import PURPOSE, Federation, cli
from tests.nodes import TestNode, running

OCCURRENCES = "gxib-karst-occurrences"


async def _etag(http: aiohttp.ClientSession, node: TestNode, federation: Federation) -> str:
    url = f"{node.url}/datasets/{OCCURRENCES}/archive"
    headers = sign_headers("GET", url, federation.vnmn.identity, purpose=PURPOSE)
    async with http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        await response.read()
        return response.headers["ETag"]


async def test_backup__of_a_running_node_restores_to_the_same_archives_and_audit(
    federation: Federation, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    gxib = federation.gxib
    backup_dir = tmp_path / "backups" / "gxib-1"
    async with running(gxib):
        before = await _etag(http, gxib, federation)
        made = await asyncio.to_thread(cli, "backup", str(backup_dir), "--home", str(gxib.home))
        await _etag(http, gxib, federation)  # the node keeps serving and auditing meanwhile
    assert made.exit_code == 0, made.output
    again = cli("backup", str(backup_dir), "--home", str(gxib.home))
    assert again.exit_code != 0 and "not empty" in again.output

    restored = TestNode(tmp_path / "fresh" / "gxib", gxib.port)
    result = cli("restore", str(backup_dir), "--home", str(restored.home))
    assert result.exit_code == 0, result.output
    assert not (restored.home / "store" / "cache").exists()
    verified = cli("audit", "verify", "--home", str(restored.home))
    assert verified.exit_code == 0 and "intact" in verified.output, verified.output
    async with running(restored):
        after = await _etag(http, restored, federation)
    assert after == before
    assert restored.identity.public_key_text == gxib.identity.public_key_text

    onto_a_node = cli("restore", str(backup_dir), "--home", str(gxib.home))
    assert onto_a_node.exit_code != 0 and "already holds a node" in onto_a_node.output
