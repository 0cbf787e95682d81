"""Signed audit heads: a cut-off or rewritten log is caught, locally and by a partner.

gxib serves its archives to vnmn on loopback; then someone holding gxib's state.sqlite
deletes or rewrites entries (recomputing every later hash, as anyone can: they are plain
SHA-256) and `fednode audit verify` must say so and exit 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from pathlib import Path

import aiohttp
import rfc8785
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.constants import AUDIT_HEAD_HEADER, PEER_RATE_LIMIT_PER_MIN, PURPOSE_HEADER
from node.core.identity import Identity
from node.store.audit import GENESIS_HASH, AuditHead, AuditLog, chain_hash
from node.store.audit_anchor import open_head, sign_head
from node.store.state import connect
from node.wire.auth import sign_headers
from tests.e2e.conftest import PURPOSE, Federation, cli
from tests.nodes import TestNode, running

OCCURRENCES = "gxib-karst-occurrences"


def verify(node: TestNode, *extra: str) -> Result:
    return cli("audit", "verify", "--home", str(node.home), *extra)


async def serve_two_archives(federation: Federation, http: aiohttp.ClientSession) -> list[str]:
    """vnmn downloads two of gxib's archives; the heads they carried."""
    heads = []
    async with running(federation.gxib):
        for dataset in (OCCURRENCES, "gxib-karst-checklist"):
            url = f"{federation.gxib.url}/datasets/{dataset}/archive"
            headers = sign_headers("GET", url, federation.vnmn.identity, purpose=PURPOSE)
            async with http.get(url, headers=headers) as response:
                assert response.status == 200
                await response.read()
                heads.append(response.headers[AUDIT_HEAD_HEADER])
    return heads


def rewrite(home: Path, seq: int) -> None:
    """Edit entry `seq` and re-chain every later entry: the chain alone still verifies."""
    db = sqlite3.connect(home / "state.sqlite", isolation_level=None)
    rows = db.execute("SELECT seq, entry FROM audit WHERE seq >= ? ORDER BY seq", (seq,))
    rows = rows.fetchall()
    (prev,) = db.execute("SELECT hash FROM audit WHERE seq = ?", (seq - 1,)).fetchone() or (
        GENESIS_HASH,
    )
    for number, text in rows:
        content = json.loads(text)
        if number == seq:
            content["detail"] = "nothing left the node"
            content["counts"] = {"sent": 0}
        canonical = rfc8785.dumps(content)
        hash_ = chain_hash(prev, canonical)
        db.execute(
            "UPDATE audit SET entry = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (canonical.decode(), prev, hash_, number),
        )
        prev = hash_
    db.close()
    conn = connect(home)
    assert AuditLog(conn).verify().ok, "the rewrite must be a competent one"
    conn.close()


def state(home: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(home / "state.sqlite") as db:
        rows = db.execute(sql, args).fetchall()
    db.close()
    return rows


async def test_verify__intact_log_and_its_checkpoints_pass(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    await serve_two_archives(federation, http)
    result = verify(federation.gxib)
    assert result.exit_code == 0, result.output
    assert "signed head(s) in this node's checkpoints agree" in result.output
    # Start-up, each archive's header, each export, shutdown: unchanged heads are reused.
    assert len(state(federation.gxib.home, "SELECT 1 FROM audit_checkpoints")) >= 3


async def test_verify__cutting_off_the_last_entries_is_caught(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    await serve_two_archives(federation, http)
    ((last,),) = state(federation.gxib.home, "SELECT max(seq) FROM audit")
    assert last >= 2
    state(federation.gxib.home, "DELETE FROM audit WHERE seq = ?", last)
    result = verify(federation.gxib)
    assert result.exit_code == 1
    assert f"The log ends at entry {last - 1} but the head signed" in result.output
    assert f"shows entry {last}: entries were deleted from the end" in result.output


async def test_verify__deleting_every_entry_is_caught(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    await serve_two_archives(federation, http)
    state(federation.gxib.home, "DELETE FROM audit")
    result = verify(federation.gxib)
    assert result.exit_code == 1
    assert "The log is empty but the head signed" in result.output


async def test_verify__rewritten_entry_with_recomputed_hashes_is_caught(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    await serve_two_archives(federation, http)
    ((export,),) = state(federation.gxib.home, "SELECT min(seq) FROM audit WHERE event='export'")
    rewrite(federation.gxib.home, export)
    result = verify(federation.gxib)
    assert result.exit_code == 1
    assert f"Audit entry {export} differs from the head signed" in result.output
    assert "the log was rewritten at that entry or before it" in result.output


async def test_verify__forged_or_altered_checkpoint_is_caught(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    await serve_two_archives(federation, http)
    home = federation.gxib.home
    ((export,),) = state(home, "SELECT min(seq) FROM audit WHERE event='export'")
    rewrite(home, export)
    # The rewriter also replaces the checkpoints, signing with a key of their own.
    (new_head,) = state(home, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
    forger = Identity(Ed25519PrivateKey.generate())
    forged = sign_head(forger, "gxib", AuditHead(*new_head), dt.datetime.now(dt.UTC))
    state(home, "DELETE FROM audit_checkpoints")
    state(
        home,
        "INSERT INTO audit_checkpoints (seq, hash, token) VALUES (?, ?, ?)",
        forged.seq,
        forged.hash,
        forged.token,
    )
    result = verify(federation.gxib)
    assert result.exit_code == 1
    assert "Signed head #1 in this node's checkpoints is not genuine" in result.output
    assert "signature does not verify" in result.output


async def test_harvest__keeps_the_verified_head_and_against_catches_what_local_cannot(
    federation: Federation,
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    async with running(gxib):
        harvested = await asyncio.to_thread(cli, "harvest", "gxib", "--home", str(vnmn.home))
    assert harvested.exit_code == 0, harvested.output
    kept = state(vnmn.home, "SELECT peer, seq, token FROM audit_heads_received ORDER BY seq")
    assert [peer for peer, _, _ in kept] == ["gxib", "gxib"]  # one per archive
    for _, seq, token in kept:
        assert open_head(token, gxib.identity.public_key, "gxib").seq == seq
    newest = kept[-1][1]
    assert newest >= 1, "the second archive's head covers the first export"

    async with running(vnmn):
        intact = await asyncio.to_thread(verify, gxib, "--against", "vnmn")
    assert intact.exit_code == 0, intact.output
    assert "signed head(s) held by vnmn agree" in intact.output

    # Rewrite the newest entry vnmn holds a head for, and delete gxib's own checkpoints.
    rewrite(gxib.home, newest)
    state(gxib.home, "DELETE FROM audit_checkpoints")
    local = verify(gxib)
    assert local.exit_code == 0, "with its checkpoints gone the node alone cannot tell"
    async with running(vnmn):
        against = await asyncio.to_thread(verify, gxib, "--against", "vnmn")
    assert against.exit_code == 1, against.output
    assert f"PROBLEM: Audit entry {newest} differs from the head signed" in against.output
    assert "held by vnmn: the log was rewritten at that entry" in against.output


async def test_audit_heads__only_for_the_node_that_signed_them(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    async with running(gxib):
        await asyncio.to_thread(cli, "harvest", "gxib", "--home", str(vnmn.home))
    url = f"{vnmn.url}/audit/heads"
    async with running(vnmn):
        async with http.get(url) as anonymous:
            assert anonymous.status == 401
        stranger = Identity(Ed25519PrivateKey.generate())
        async with http.get(url, headers=sign_headers("GET", url, stranger)) as unknown:
            assert unknown.status == 403
        async with http.get(url, headers=sign_headers("GET", url, gxib.identity)) as response:
            assert response.status == 200
            body = await response.json()
        async with http.get(url, headers=sign_headers("GET", url, vnmn.identity)) as own:
            assert own.status == 403  # vnmn is no party to its own agreements' pins
    assert body["party"] == "gxib"
    assert len(body["heads"]) == 2
    assert all(open_head(h, gxib.identity.public_key, "gxib") for h in body["heads"])


async def test_refusals__a_flood_of_2000_costs_a_handful_of_entries(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    home = federation.gxib.home
    conn = connect(home)
    before = AuditLog(conn).head().seq
    conn.close()
    url = f"{federation.gxib.url}/datasets/{OCCURRENCES}/archive"
    statuses: list[int] = []

    async def one() -> None:
        async with http.get(url, headers={PURPOSE_HEADER: PURPOSE}) as response:
            statuses.append(response.status)

    async with running(federation.gxib):
        for _ in range(20):
            await asyncio.gather(*(one() for _ in range(100)))
    # Withheld (the same 404 as an unknown id) until the address's allowance is spent.
    assert set(statuses) == {404, 429}
    assert statuses.count(429) > 1800
    refusals = state(home, "SELECT peer, entry FROM audit WHERE event = 'denied'")
    ((after,),) = state(home, "SELECT count(*) FROM audit")
    assert 2 <= after - before <= 8  # per reason: the first in full, the rest summed up
    assert len(refusals) == after - before
    assert {peer for peer, _ in refusals} == {"127.0.0.1"}
    counts = [json.loads(entry)["counts"] for _, entry in refusals]
    assert sum(sum(c.values()) for c in counts) == 2000
    verified = verify(federation.gxib)
    assert verified.exit_code == 0, verified.output


async def test_refusals__every_kind_is_audited_with_its_source_and_reason(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    path = f"/datasets/{OCCURRENCES}/archive"
    url = gxib.url + path
    vnmn_signed = sign_headers("GET", url, vnmn.identity, purpose=PURPOSE)
    tampered = {**vnmn_signed, PURPOSE_HEADER: "commercial"}
    stale = sign_headers("GET", url, vnmn.identity, created=int(time.time()) - 3600)
    elsewhere = "127.0.0.1:1"
    relayed = {**sign_headers("GET", f"http://{elsewhere}{path}", vnmn.identity), "Host": elsewhere}
    stranger = sign_headers("GET", url, Identity(Ed25519PrivateKey.generate()))
    refused_purpose = sign_headers("GET", url, vnmn.identity, purpose="commercial")
    expected = {
        "bad_signature": (tampered, 401),
        "stale": (stale, 401),
        "wrong_node": (relayed, 401),
        "unknown_key": (stranger, 403),
        "purpose": (refused_purpose, 403),
    }
    statuses = {}
    async with running(gxib):
        async with http.get(url, headers=vnmn_signed) as first:
            assert first.status == 200
            await first.read()
        async with http.get(url, headers=vnmn_signed) as replayed:
            statuses["replayed"] = replayed.status
        for reason, (headers, _) in expected.items():
            async with http.get(url, headers=headers) as response:
                statuses[reason] = response.status
        listing = f"{gxib.url}/datasets"
        limited = 0
        for _ in range(PEER_RATE_LIMIT_PER_MIN + 5):
            headers = sign_headers("GET", listing, vnmn.identity)
            async with http.get(listing, headers=headers) as response:
                limited += response.status == 429
    assert statuses == {"replayed": 401, **{r: status for r, (_, status) in expected.items()}}
    assert limited >= 1
    conn = connect(gxib.home)
    denied = AuditLog(conn).entries(event="denied")
    conn.close()
    by_reason: dict[str, tuple[set[str], int]] = {}
    for entry in denied:
        ((counted, number),) = entry.counts.items()
        peers, total = by_reason.get(counted, (set(), 0))
        by_reason[counted] = (peers | {entry.peer or ""}, total + number)
    # Unverified requests are known by address; verified ones by their party.
    assert by_reason == {
        "refused.replayed": ({"127.0.0.1"}, 1),
        "refused.bad_signature": ({"127.0.0.1"}, 1),
        "refused.stale": ({"127.0.0.1"}, 1),
        "refused.wrong_node": ({"127.0.0.1"}, 1),
        "refused.unknown_key": ({"127.0.0.1"}, 1),
        "refused.purpose": ({"vnmn"}, 1),
        "refused.rate_limited": ({"vnmn"}, limited),
    }
    (purpose,) = [e for e in denied if e.counts == {"refused.purpose": 1}]
    assert (purpose.agreement, purpose.dataset) == ("gxib-vnmn@1", OCCURRENCES)


async def test_archive__head_goes_to_partners_only(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    public_flow = """
[[flows]]
from = "gxib"
to = "public"
datasets = ["gxib-karst-checklist"]
licence = "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html"
attribution = "Guangxi Institute of Botany (GXIB)"

[signatures]
"""
    text = federation.agreement_text().replace("\n[signatures]\n", public_flow)
    federation.install_agreement(text)
    url = f"{federation.gxib.url}/datasets/gxib-karst-checklist/archive"
    async with running(federation.gxib):
        async with http.get(url) as anonymous:
            assert anonymous.status == 200
            assert AUDIT_HEAD_HEADER not in anonymous.headers
        signed = sign_headers("GET", url, federation.vnmn.identity, purpose=PURPOSE)
        async with http.get(url, headers=signed) as partner:
            assert partner.status == 200
            head = partner.headers[AUDIT_HEAD_HEADER]
    assert open_head(head, federation.gxib.identity.public_key, "gxib").seq >= 1
