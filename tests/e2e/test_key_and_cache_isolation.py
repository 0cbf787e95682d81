"""Attacks on a running node: a key pinned in one agreement reaching another agreement's
grants, and cached archives of one flow disturbed by another's."""

from __future__ import annotations

import datetime as dt

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agreements.signing import sign
from node.core.identity import Identity
from node.server.sharing import SHARING, Requester
from tests.e2e.conftest import Federation
from tests.e2e.test_sharing import OCCURRENCES, archive_url, signed_get
from tests.nodes import running

CHECKLIST = "gxib-karst-checklist"


def _side_agreement(
    federation: Federation, other: Identity, party_id: str, agreement_id: str, dataset: str
) -> None:
    """An agreement gxib signs with `other`, which calls itself `party_id`, sharing `dataset`."""
    today = dt.date.today()
    gxib = federation.gxib.identity
    text = f"""\
id = "{agreement_id}"
version = 1
title = "A small side agreement"
valid_from = {(today - dt.timedelta(days=1)).isoformat()}
valid_until = {(today + dt.timedelta(days=365)).isoformat()}

[parties.gxib]
name = "Guangxi Institute of Botany"
url = "{federation.gxib.url}"
key = "{gxib.public_key_text}"

[parties.{party_id}]
name = "Another institute"
url = "http://127.0.0.1:9"
key = "{other.public_key_text}"

[[flows]]
from = "gxib"
to = "{party_id}"
datasets = ["{dataset}"]
licence = "CC-BY-4.0"
attribution = "Guangxi Institute of Botany (GXIB)"
"""
    text = sign(text, "gxib", gxib.private_key)
    text = sign(text, party_id, other.private_key)
    path = federation.gxib.home / "agreements" / f"{agreement_id}.toml"
    path.write_text(text, encoding="utf-8")
    if party_id != "vnmn":  # gxib pinned the partner, as `fednode peer add` does
        peer = {"id": party_id, "url": "http://127.0.0.1:9", "key": other.public_key_text}
        federation.gxib.edit_config(peers=[peer])


async def test_a_key_pinned_in_one_agreement_gets_nothing_another_agreement_grants(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    """Party ids are chosen by each institution: a second institution calling itself "vnmn"
    in its own agreement with gxib must not receive what gxib-vnmn grants to the real vnmn,
    whose key is another one. Its agreement pins a key node.toml does not pin for vnmn, so
    it shares nothing at all, and says why."""
    mallory = Identity(Ed25519PrivateKey.generate())
    _side_agreement(federation, mallory, "vnmn", "gxib-mallory", CHECKLIST)
    async with running(federation.gxib):
        status, _, body = await signed_get(http, archive_url(federation, CHECKLIST), mallory)
        assert status == 403 and b"not the key node.toml pins" in body
        status, _, body = await signed_get(http, archive_url(federation), mallory)
        assert status == 403, body[:200]
        listing_url = f"{federation.gxib.url}/datasets"
        status, _, body = await signed_get(http, listing_url, mallory)
        assert status == 403
        # The real vnmn still receives both.
        vnmn = federation.vnmn.identity
        status, _, _ = await signed_get(http, archive_url(federation), vnmn)
        assert status == 200


async def test_a_key_pinned_under_two_party_ids_gets_what_each_agreement_grants(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    partner = Identity(Ed25519PrivateKey.generate())
    _side_agreement(federation, partner, "aaa-herbarium", "gxib-aaa", CHECKLIST)
    _side_agreement(federation, partner, "zzz-herbarium", "gxib-zzz", OCCURRENCES)
    async with running(federation.gxib):
        for dataset in (CHECKLIST, OCCURRENCES):
            status, _, body = await signed_get(http, archive_url(federation, dataset), partner)
            assert status == 200, (dataset, body[:200])


async def test_building_one_flows_archive_keeps_another_flows_cached_archive(
    federation: Federation,
) -> None:
    """Enforced archives are cached per flow; building one for one party must not delete
    the archive another party's request is about to stream (a 500 and a rebuild each)."""
    partner = Identity(Ed25519PrivateKey.generate())
    _side_agreement(federation, partner, "other", "gxib-other", OCCURRENCES)
    async with running(federation.gxib) as app:
        sharing = app[SHARING]
        sharing.book.refresh(force=True)
        vnmn = Requester("vnmn", federation.vnmn.identity.public_key_text, "research")
        other = Requester("other", partner.public_key_text, None)
        first = await sharing.archive(vnmn, OCCURRENCES)
        second = await sharing.archive(other, OCCURRENCES)
        assert first.path != second.path
        assert first.path.is_file() and second.path.is_file()


async def test_status_page_is_refused_through_a_reverse_proxy(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    """README: the proxy in front of a node connects from loopback and passes the public
    Host unchanged. Everyone on the internet would then count as the node's own machine."""
    async with running(federation.gxib):
        for path in ("/", "/status.json"):
            url = f"{federation.gxib.url}{path}"
            async with http.get(url) as response:
                assert response.status == 200
            headers = {"Host": "fednode.gxib.example", "X-Forwarded-For": "203.0.113.9"}
            async with http.get(url, headers=headers) as response:
                assert response.status == 403
            async with http.get(url, headers={"Host": "fednode.gxib.example"}) as response:
                assert response.status == 403  # also what a DNS-rebinding page sends
