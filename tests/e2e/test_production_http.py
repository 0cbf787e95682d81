"""The node on the internet: behind a trusted proxy, in front of strangers.

Real nodes on loopback; the "proxy" is the test client sending the headers nginx sends,
from 127.0.0.1, which node.toml names (or does not name) as a trusted proxy.
"""

from __future__ import annotations

import json
import zipfile
from io import BytesIO

import aiohttp
import pytest

from node.store.audit import AuditLog
from node.store.state import connect
from node.wire.auth import sign_headers
from tests.e2e.conftest import AGREEMENT_ID, PURPOSE, Federation
from tests.nodes import running

OCCURRENCES = "gxib-karst-occurrences"
PUBLIC_URL = "https://node.gxib.example"


def _behind_proxy(federation: Federation, trusted: bool, **server: object) -> None:
    proxies = ["127.0.0.1", "::1"] if trusted else []
    federation.gxib.edit_config(
        node={"url": PUBLIC_URL}, server={"trusted_proxies": proxies, **server}
    )


@pytest.mark.parametrize("trusted", [True, False])
async def test_proxy__forwarded_https_is_honoured_only_from_trusted_proxies(
    federation: Federation, http: aiohttp.ClientSession, trusted: bool
) -> None:
    _behind_proxy(federation, trusted)
    path = f"/datasets/{OCCURRENCES}/archive"
    signed = sign_headers("GET", PUBLIC_URL + path, federation.vnmn.identity, purpose=PURPOSE)
    forwarded = {"Host": "node.gxib.example", "X-Forwarded-Proto": "https"}
    url = federation.gxib.url + path
    async with running(federation.gxib), http.get(url, headers={**signed, **forwarded}) as r:
        status, body = r.status, await r.read()
    if trusted:
        assert status == 200
    else:
        assert status == 401
        assert "not this node" in json.loads(body)["detail"]


async def test_proxy__links_use_the_configured_url_never_the_host_header(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    _behind_proxy(federation, True)
    listing_url = f"{PUBLIC_URL}/datasets"
    signed = sign_headers("GET", listing_url, federation.vnmn.identity)
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    ok = {"Host": "node.gxib.example", "X-Forwarded-Proto": "https"}
    async with running(federation.gxib):
        async with http.get(f"{federation.gxib.url}/rss", headers=evil) as r:
            rss = await r.text()
        async with http.get(f"{federation.gxib.url}/datasets", headers={**signed, **ok}) as r:
            assert r.status == 200
            listing = await r.json()
    assert "evil.example" not in rss
    assert PUBLIC_URL in rss
    assert listing["datasets"]
    for entry in listing["datasets"]:
        assert entry["archive"].startswith(PUBLIC_URL + "/datasets/")


async def test_proxy__forwarded_client_address_is_the_refused_source(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    _behind_proxy(federation, True)
    url = f"{federation.gxib.url}/datasets/{OCCURRENCES}/archive"
    through_proxy = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    async with running(federation.gxib), http.get(url, headers=through_proxy) as r:
        assert r.status == 404
    conn = connect(federation.gxib.home)
    try:
        (entry,) = AuditLog(conn).entries(event="denied")
    finally:
        conn.close()
    # The right-most hop not a trusted proxy: what the client wrote to its left proves nothing.
    assert entry.peer == "198.51.100.7"


async def test_strangers__unknown_and_withheld_datasets_get_one_answer(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    answers = []
    async with running(federation.gxib):
        for dataset in (OCCURRENCES, "no-such-dataset"):
            for leaf in ("archive", "eml"):
                url = f"{federation.gxib.url}/datasets/{dataset}/{leaf}"
                async with http.get(url) as r:
                    body = await r.json()
                answers.append((r.status, body["error"], body["detail"].replace(dataset, "ID")))
    assert len(set(answers)) == 1, answers
    assert answers[0][0] == 404


async def test_strangers__anonymous_requests_are_rate_limited_per_address(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    federation.gxib.edit_config(server={"anonymous_per_minute": 5})
    statuses = []
    retry_after = None
    async with running(federation.gxib):
        for _ in range(40):
            async with http.get(f"{federation.gxib.url}/datasets/{OCCURRENCES}/archive") as r:
                statuses.append(r.status)
                retry_after = r.headers.get("Retry-After", retry_after)
        signed = sign_headers("GET", f"{federation.gxib.url}/datasets", federation.vnmn.identity)
        async with http.get(f"{federation.gxib.url}/datasets", headers=signed) as r:
            partner_status = r.status
    assert statuses[:5] == [404] * 5
    assert set(statuses[5:]) == {429}
    assert retry_after is not None and int(retry_after) >= 1
    assert partner_status == 200, "a verified partner is not held to strangers' allowance"
    conn = connect(federation.gxib.home)
    try:
        denied = AuditLog(conn).entries(event="denied")
    finally:
        conn.close()
    assert len(denied) <= 4, "refusals are aggregated, not one row each"
    assert sum(sum(e.counts.values()) for e in denied) >= 36


async def test_strangers__metrics_only_on_loopback_or_with_the_token(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    _behind_proxy(federation, True, metrics_token="s3cret-scrape-token")
    url = f"{federation.gxib.url}/metrics"
    remote = {"X-Forwarded-For": "203.0.113.9"}
    async with running(federation.gxib):
        async with http.get(url) as r:
            local = r.status
        async with http.get(url, headers=remote) as r:
            stranger = r.status
        wrong = {**remote, "Authorization": "Bearer guessed"}
        async with http.get(url, headers=wrong) as r:
            guessed = r.status
        right = {**remote, "Authorization": "Bearer s3cret-scrape-token"}
        async with http.get(url, headers=right) as r:
            scraper, text = r.status, await r.text()
    assert (local, stranger, guessed, scraper) == (200, 404, 404, 200)
    assert "fednode_connections_refused" in text


async def test_partner__listing_counts_what_the_partner_receives(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    gxib = federation.gxib
    listing_url = f"{gxib.url}/datasets"
    async with running(gxib):
        signed = sign_headers("GET", listing_url, federation.vnmn.identity)
        async with http.get(listing_url, headers=signed) as r:
            listing = {d["id"]: d for d in (await r.json())["datasets"]}
        entry = listing[OCCURRENCES]
        archive_url = str(entry["archive"])
        headers = sign_headers("GET", archive_url, federation.vnmn.identity, purpose=PURPOSE)
        async with http.get(archive_url, headers=headers) as r:
            assert r.status == 200
            body = await r.read()
    with zipfile.ZipFile(BytesIO(body)) as archive:
        core = [n for n in archive.namelist() if n.endswith(".txt") and "occurrence" in n]
        rows = archive.read(core[0]).decode("utf-8").count("\n") - 1
    assert entry["agreement"] == f"{AGREEMENT_ID}@1"
    assert entry["records"] == rows
    assert entry["change_summary"] is None


async def test_strangers__deeply_nested_json_is_400_not_500(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    url = f"{federation.gxib.url}/agreements/{AGREEMENT_ID}/signatures"
    async with running(federation.gxib):
        signed = sign_headers("POST", url, federation.vnmn.identity)
        async with http.post(url, data=b"[" * 100_000, headers=signed) as r:
            nested = (r.status, (await r.json())["error"])
        signed = sign_headers("POST", url, federation.vnmn.identity)
        async with http.post(url, data=b" " * (3 * 1024**2), headers=signed) as r:
            too_big = r.status
    assert nested == (400, "bad_request")
    assert too_big == 413
