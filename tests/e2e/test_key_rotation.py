"""Key rotation and revocation between two real nodes on loopback.

gxib rotates its key while vnmn holds a pin of the old one and an agreement signed with
it: vnmn's next harvest follows the rotation (re-pins node.toml, audits it) and both
directions keep sharing under the unchanged agreement. Then gxib revokes its key as
stolen: vnmn refuses the revoked key and the agreement signed with it.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from node.core.config import load_config
from node.core.identity import create_identity, fingerprint
from node.store.agreement_book import AgreementBook
from node.store.audit import AuditLog
from node.store.key_statements import statements_path
from node.store.own_keys import retired_path
from node.store.state import connect
from node.wire.auth import sign_headers
from tests.e2e.conftest import AGREEMENT_ID, PURPOSE, Federation, cli
from tests.nodes import TestNode, running

OCCURRENCES = "gxib-karst-occurrences"


def key_events(node: TestNode) -> list[str]:
    conn = connect(node.home)
    try:
        return [e.detail or "" for e in AuditLog(conn).entries(event="key")]
    finally:
        conn.close()


def harvest(node: TestNode, peer: str) -> tuple[int, str]:
    result = cli("harvest", peer, "--home", str(node.home))
    return result.exit_code, result.output


def pinned(node: TestNode, peer: str) -> str:
    return load_config(node.home).peer(peer).key


async def test_rotation__the_partner_follows_without_a_hand_step_and_both_audit_it(
    federation: Federation,
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    old = gxib.identity.public_key_text
    async with running(gxib):
        code, output = await asyncio.to_thread(harvest, vnmn, "gxib")
    assert code == 0, output

    rotated = cli("key", "rotate", "--home", str(gxib.home))
    assert rotated.exit_code == 0, rotated.output
    new = gxib.identity.public_key_text
    assert new != old and retired_path(gxib.home, old).stat().st_mode & 0o077 == 0
    assert pinned(vnmn, "gxib") == old
    check = cli(
        "agreement",
        "check",
        str(federation.agreement_path("gxib")),
        "--json",
        "--home",
        str(gxib.home),
    )
    assert check.exit_code == 0 and json.loads(check.output)["status"] == "active", check.output

    (vnmn.home / "store" / "harvested" / "gxib").rename(vnmn.home / "store" / "before")
    async with running(gxib):  # restarted: it now signs with the new key
        code, output = await asyncio.to_thread(harvest, vnmn, "gxib")
    assert code == 0, output
    assert pinned(vnmn, "gxib") == new
    assert list((vnmn.home / "store" / "harvested" / "gxib").glob("*/*.parquet"))
    assert any(fingerprint(new) in d and "re-pinned" in d for d in key_events(vnmn))
    assert any(f"{fingerprint(old)} -> {fingerprint(new)}" in d for d in key_events(gxib))

    # The other way: gxib signs with its new key; vnmn honours it under the same agreement.
    async with running(vnmn):
        code, output = await asyncio.to_thread(harvest, gxib, "vnmn")
    assert code == 0, output
    assert "ok, 0 records" not in output and "ok," in output, output
    for node in (gxib, vnmn):
        entry = AgreementBook(load_config(node.home)).get(AGREEMENT_ID)
        assert entry is not None and entry.active, entry and entry.status_text


async def test_revocation__the_stolen_key_and_agreements_pinning_it_are_refused(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    stolen = gxib.identity
    revoked = cli("key", "revoke", "--reason", "laptop stolen", "--home", str(gxib.home))
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.output
    async with running(gxib):
        code, output = await asyncio.to_thread(harvest, vnmn, "gxib")
    # The successor is followed and re-pinned; the agreement signed with the revoked key is
    # what stops, on both sides: gxib itself refuses to serve under it.
    assert code == 1 and "is revoked; sign it again" in output, output
    assert pinned(vnmn, "gxib") == gxib.identity.public_key_text
    assert any("revoked" in d for d in key_events(vnmn)), key_events(vnmn)
    entry = AgreementBook(load_config(vnmn.home)).get(AGREEMENT_ID)
    assert entry is not None and not entry.active
    assert "revoked" in entry.status_text

    async with running(vnmn):
        url = f"{vnmn.url}/datasets/vnmn-karst-occurrences/archive"
        headers = sign_headers("GET", url, stolen, purpose=PURPOSE)
        async with http.get(url, headers=headers) as response:
            body = await response.json()
    assert response.status in (401, 403), body


async def test_a_key_no_rotation_leads_to__is_refused_and_nothing_is_re_pinned(
    federation: Federation,
) -> None:
    """Someone replaced gxib's key by hand (no statement signed by the pinned key)."""
    gxib, vnmn = federation.gxib, federation.vnmn
    old = gxib.identity.public_key_text
    (gxib.home / "keys" / "node.key").unlink()
    (gxib.home / "keys" / "node.pub").unlink()
    create_identity(gxib.home)
    async with running(gxib):
        code, output = await asyncio.to_thread(harvest, vnmn, "gxib")
    assert code == 1
    assert "no rotation signed by the pinned key" in output
    assert pinned(vnmn, "gxib") == old
    assert not statements_path(vnmn.home).exists()


async def test_a_damaged_statements_file__trusts_no_agreement(federation: Federation) -> None:
    vnmn = federation.vnmn
    statements_path(vnmn.home).write_text(json.dumps({"statements": ["x.y"]}), encoding="utf-8")
    entry = AgreementBook(load_config(vnmn.home)).get(AGREEMENT_ID)
    assert entry is not None and not entry.active
    assert "statements.json" in entry.status_text
