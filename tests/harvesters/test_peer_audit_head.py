"""A partner's archive must carry its signed audit head; the harvester verifies and keeps it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harvesters.http import client_session
from harvesters.runs import RunLog
from harvesters.schedule import Runtime, run_source
from node.core.identity import Identity
from node.store.audit import AuditHead
from node.store.audit_anchor import ReceivedHeads, open_head, sign_head
from node.store.state import connect
from node.store.store import Store
from tests import nodes
from tests.harvesters.hostile_peer import (
    HostilePeer,
    occurrence_archive,
    occurrence_rows,
    serve,
)

DATASET = "karst-occurrences"
HEAD = AuditHead(7, "ab" * 32)


@pytest.fixture
async def harvest(tmp_path: Path) -> AsyncIterator[tuple[HostilePeer, Runtime]]:
    async with serve() as peer:
        node = nodes.make_node(tmp_path, "vnmn", "Vietnam National Museum of Nature", "VN")
        node.edit_config(peers=[peer.peer_config()])
        runs = RunLog(node.home)
        try:
            async with client_session() as session:
                yield peer, Runtime(node.config, node.identity, session, runs)
        finally:
            runs.close()


def kept_heads(runtime: Runtime) -> list[tuple[str, int, str]]:
    conn = connect(runtime.config.home)
    heads = ReceivedHeads(conn)  # creates the table if no head was ever kept
    rows = heads.conn.execute("SELECT peer, seq, token FROM audit_heads_received").fetchall()
    conn.close()
    return [tuple(row) for row in rows]


async def test_peer_harvest__genuine_head_is_verified_and_kept(harvest) -> None:
    peer, runtime = harvest
    now = dt.datetime.now(dt.UTC)
    token = sign_head(Identity(peer.key), "gxib", HEAD, now).token
    peer.offer(DATASET, occurrence_archive(occurrence_rows(5)), audit_head=token)
    result = await run_source(runtime, "peer:gxib")
    assert (result.outcome, result.records) == ("ok", 5), result.error
    assert kept_heads(runtime) == [("gxib", 7, token)]
    assert open_head(token, Identity(peer.key).public_key, "gxib").hash == HEAD.hash


@pytest.mark.parametrize(
    ("head", "words"),
    [
        ("", "sent no Fednode-Audit-Head"),
        ("forged", "signature does not verify"),
        ("other-node", "signed for node 'vnmn', not 'gxib'"),
        ("garbage", "is not of the form"),
    ],
)
async def test_peer_harvest__missing_or_bad_head_refuses_the_archive(
    harvest, head: str, words: str
) -> None:
    peer, runtime = harvest
    now = dt.datetime.now(dt.UTC)
    tokens = {
        "": "",
        "forged": sign_head(Identity(Ed25519PrivateKey.generate()), "gxib", HEAD, now).token,
        "other-node": sign_head(Identity(peer.key), "vnmn", HEAD, now).token,
        "garbage": "not a head",
    }
    peer.offer(DATASET, occurrence_archive(occurrence_rows(5)), audit_head=tokens[head])
    result = await run_source(runtime, "peer:gxib")
    assert result.outcome == "failed"
    assert words in result.error and "refusing the archive" in result.error, result.error
    assert not Store(runtime.config.home).harvested("gxib", DATASET).exists()
    assert kept_heads(runtime) == []


async def test_peer_harvest__a_head_going_back_or_changing_is_reported(
    harvest, caplog: pytest.LogCaptureFixture
) -> None:
    peer, runtime = harvest
    signer = Identity(peer.key)
    now = dt.datetime.now(dt.UTC)
    for rows, head in enumerate((HEAD, AuditHead(3, "cd" * 32), AuditHead(3, "ef" * 32)), 1):
        token = sign_head(signer, "gxib", head, now).token
        # A new body each time, so the archive is downloaded (not a 304) and its head read.
        peer.offer(DATASET, occurrence_archive(occurrence_rows(rows)), audit_head=token)
        result = await run_source(runtime, "peer:gxib")
        assert result.outcome == "ok", result.error
    warnings = [r.getMessage() for r in caplog.records if r.name == "fednode.audit"]
    assert warnings == [
        "gxib's audit log went back from entry 7 to 3: entries were deleted there",
        "gxib's audit log went back from entry 7 to 3: entries were deleted there",
        "gxib signed two different hashes for audit entry 3: its log was rewritten",
    ]
    assert [seq for _, seq, _ in kept_heads(runtime)] == [7, 3, 3], "the evidence is kept"
